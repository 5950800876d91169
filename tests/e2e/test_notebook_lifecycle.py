"""The guide's journey, for real: create, open Jupyter, run code, stop, start, find files, delete."""

from __future__ import annotations

import base64
import textwrap
import time

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.e2e.jupyter_client import NotebookSession

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
WAIT = {"Delay": 1, "MaxAttempts": 120}
GROUP = "/aws/sagemaker/NotebookInstances"

ON_CREATE = textwrap.dedent("""\
    #!/bin/bash
    set -e
    echo "oncreate as $(whoami) in $(pwd)"
    echo kept > /home/ec2-user/SageMaker/kept.txt
    sudo -u ec2-user bash -c 'echo "ec2-user sees $(whoami)"'
    sudo -i -u ec2-user bash <<EOF
    echo "login shell home is \\$HOME"
    EOF
    cat /opt/ml/metadata/resource-metadata.json
    """)
ON_START = textwrap.dedent("""\
    #!/bin/bash
    echo "onstart run" >> /home/ec2-user/SageMaker/starts.txt
    echo lost > /home/ec2-user/scratch.txt
    nohup sleep 1000 > /dev/null 2>&1 &
    echo "onstart done"
    """)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _stream(server, name: str, suffix: str) -> str:
    events = server.client("logs").get_log_events(logGroupName=GROUP, logStreamName=f"{name}/{suffix}",
                                                  startFromHead=True)["events"]
    return "\n".join(event["message"] for event in events)


@pytest.fixture(scope="module")
def notebook(server):
    sm = server.client("sagemaker")
    name = "fastai-journey"
    sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="journey-config",
        OnCreate=[{"Content": _b64(ON_CREATE)}], OnStart=[{"Content": _b64(ON_START)}],
    )
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                LifecycleConfigName="journey-config", VolumeSizeInGB=5)
    assert sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"] == "Pending"
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
    return name


def _open(server, name: str, **kwargs) -> NotebookSession:
    url = server.client("sagemaker").create_presigned_notebook_instance_url(
        NotebookInstanceName=name, **kwargs)["AuthorizedUrl"]
    return NotebookSession(url)


def test_lifecycle_scripts_ran_as_on_sagemaker(server, notebook):
    on_create = _stream(server, notebook, "LifecycleConfigOnCreate")
    assert "oncreate as root in /" in on_create
    assert "ec2-user sees ec2-user" in on_create
    assert "login shell home is /home/ec2-user" in on_create
    assert f"notebook-instance/{notebook}" in on_create  # resource-metadata.json
    assert "onstart done" in _stream(server, notebook, "LifecycleConfigOnStart")


def test_presigned_url_opens_lab_and_tree_once(server, notebook):
    # The instance's own origin, as AWS's https://<name>.notebook.<region>.sagemaker.aws?authToken=…
    host = f"{notebook}-{server.account_id}.notebook.{server.region}.localhost:{server.port}"
    described = server.client("sagemaker").describe_notebook_instance(NotebookInstanceName=notebook)
    assert described["Url"] == host
    session = _open(server, notebook)
    assert str(session.first.request.url).startswith(f"http://{host}/?authToken=")
    assert session.first.status_code == 302
    assert session.first.headers["location"] == "/tree"
    assert session.get("tree").status_code == 200
    lab = session.get("lab")
    assert lab.status_code == 200 and "JupyterLab" in lab.text
    # the link is single-use
    again = httpx.get(session.first.request.url, follow_redirects=False)
    assert again.status_code == 403
    # no session, no notebook
    anonymous = httpx.get(f"{session.origin}{session.base}api/contents")
    assert anonymous.status_code == 403
    lab_session = _open(server, notebook, SessionExpirationDurationInSeconds=1800)
    assert lab_session.first.status_code == 302


def test_open_jupyterlab_view(server, notebook):
    url = server.client("sagemaker").create_presigned_notebook_instance_url(
        NotebookInstanceName=notebook)["AuthorizedUrl"]
    reply = httpx.get(url + "&view=lab", follow_redirects=False)
    assert reply.headers["location"].endswith("/lab")


def test_kernel_runs_code_over_the_websocket_proxy(server, notebook):
    session = _open(server, notebook)
    assert session.run("1+1").strip() == "2"


def test_stop_start_keeps_the_volume_and_resets_home(server, notebook):
    sm = server.client("sagemaker")
    session = _open(server, notebook)
    assert session.run("print(open('/home/ec2-user/scratch.txt').read())").strip() == "lost"
    put = session.put("api/contents/notebook-file.txt",
                      json={"type": "file", "format": "text", "content": "written in Jupyter"})
    assert put.status_code in (200, 201), put.text
    sm.stop_notebook_instance(NotebookInstanceName=notebook)
    assert sm.describe_notebook_instance(NotebookInstanceName=notebook)["NotebookInstanceStatus"] in (
        "Stopping", "Stopped")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=notebook, WaiterConfig=WAIT)
    assert session.get("api/status").status_code == 503  # nothing runs while Stopped
    sm.update_notebook_instance(NotebookInstanceName=notebook, VolumeSizeInGB=6)
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=notebook, WaiterConfig=WAIT)
    with pytest.raises(ClientError) as exc:
        sm.update_notebook_instance(NotebookInstanceName=notebook, VolumeSizeInGB=5)
    assert "can only grow" in exc.value.response["Error"]["Message"]
    assert sm.describe_notebook_instance(NotebookInstanceName=notebook)["VolumeSizeInGB"] == 6
    sm.start_notebook_instance(NotebookInstanceName=notebook)
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=notebook, WaiterConfig=WAIT)
    session = _open(server, notebook)
    code = ("import os; print(open('/home/ec2-user/SageMaker/kept.txt').read().strip(), "
            "open('/home/ec2-user/SageMaker/notebook-file.txt').read().strip(), "
            "open('/home/ec2-user/SageMaker/starts.txt').read().count('onstart'), sep='|')")
    assert session.run(code).strip() == "kept|written in Jupyter|2"
    # OnCreate ran once; OnStart ran on both starts
    assert _stream(server, notebook, "LifecycleConfigOnCreate").count("oncreate as root") == 1


def test_jupyter_log_stream_and_cli_tail(server, notebook):
    deadline = time.time() + 20
    while time.time() < deadline and "Jupyter" not in _stream(server, notebook, "jupyter.log"):
        time.sleep(0.5)
    assert "Jupyter" in _stream(server, notebook, "jupyter.log")
    # (`aws logs tail` is AWS CLI v2, which PyPI does not carry; it pages FilterLogEvents like this.)
    since = str(int((time.time() - 3600) * 1000))
    found = server.aws_json("logs", "filter-log-events", "--log-group-name", GROUP, "--start-time", since,
                            "--log-stream-name-prefix", f"{notebook}/LifecycleConfigOn", "--filter-pattern", "onstart")
    assert any(event["message"] == "onstart done" for event in found["events"])
    got = server.aws_json("logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name",
                          f"{notebook}/LifecycleConfigOnStart", "--start-from-head")
    assert "onstart done" in [event["message"] for event in got["events"]]


def test_delete_needs_stop_then_deletes(server, notebook):
    sm = server.client("sagemaker")
    with pytest.raises(ClientError) as exc:
        sm.delete_notebook_instance(NotebookInstanceName=notebook)
    assert "Status (InService) not in ([Stopped, Failed]). Unable to transition to (Deleting)" in str(exc.value)
    sm.stop_notebook_instance(NotebookInstanceName=notebook)
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=notebook, WaiterConfig=WAIT)
    sm.delete_notebook_instance(NotebookInstanceName=notebook)
    sm.get_waiter("notebook_instance_deleted").wait(NotebookInstanceName=notebook, WaiterConfig=WAIT)
    listed = server.aws_json("sagemaker", "list-notebook-instances")["NotebookInstances"]
    assert notebook not in [item["NotebookInstanceName"] for item in listed]
