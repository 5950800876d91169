"""Lifecycle scripts in the style of AWS's published samples (amazon-sagemaker-notebook-instance-lifecycle-
config-samples), run unchanged on the instance image: pip and conda into every environment, a variable from
a tag through jq, /etc/profile.d and a Jupyter restart, a persistent conda environment on the volume with a
kernel of its own, a notebook executed with nbconvert, and an idle auto-stop from cron that polls
https://localhost:8443. Each ends InService (or Stopped, for the idle one) with its effect visible.

These install from PyPI inside the instances: DirectInternetAccess is Enabled, as in AWS's samples.
"""

from __future__ import annotations

import base64
import json
import os
import textwrap
import time

import httpx
import pytest

from tests.conftest import ServerProcess, _stop_everything
from tests.e2e.jupyter_client import NotebookSession

WAIT = {"Delay": 2, "MaxAttempts": 300}
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
NOTEBOOK_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["sagemaker:ListTags", "sagemaker:DescribeNotebookInstance",
                                   "sagemaker:StopNotebookInstance"], "Resource": "*"}]})

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="instances run on the instance image as root only")


def _b64(text: str) -> str:
    return base64.b64encode(textwrap.dedent(text).encode()).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("aws-samples")
    proc = ServerProcess(base / "data", base / "home", lifecycle_timeout=600).start()
    yield proc
    _stop_everything(proc)


@pytest.fixture(scope="module")
def role(server) -> str:
    iam = server.client("iam")
    arn = iam.create_role(RoleName="SamplesRole", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName="SamplesRole", PolicyName="notebook", PolicyDocument=NOTEBOOK_POLICY)
    return arn


def _launch(server, role: str, name: str, on_start: str = "", on_create: str = "", **settings) -> NotebookSession:
    sm = server.client("sagemaker")
    scripts = {}
    if on_start:
        scripts["OnStart"] = [{"Content": _b64(on_start)}]
    if on_create:
        scripts["OnCreate"] = [{"Content": _b64(on_create)}]
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name, **scripts)
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=role,
                                LifecycleConfigName=name, **settings)
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
    return NotebookSession(sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"])


def _stop(server, name: str) -> None:
    sm = server.client("sagemaker")
    sm.stop_notebook_instance(NotebookInstanceName=name)
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=name, WaiterConfig=WAIT)


PIP_AND_CONDA_EVERYWHERE = """\
    #!/bin/bash
    set -e
    # Install a package with pip, and another with conda, in every environment (as AWS's samples do).
    sudo -u ec2-user -i <<'EOF'
    for env in base /home/ec2-user/anaconda3/envs/*; do
        source /home/ec2-user/anaconda3/bin/activate $(basename "$env")
        if [ "$(basename "$env")" = JupyterSystemEnv ]; then
            source /home/ec2-user/anaconda3/bin/deactivate
            continue
        fi
        pip install --quiet --upgrade six
        conda install --yes --quiet toolz
        source /home/ec2-user/anaconda3/bin/deactivate
    done
    conda env list
    EOF
    """


def test_pip_and_conda_into_every_environment_then_gone_after_stop(server, role):
    notebook = _launch(server, role, "pip-conda", on_start=PIP_AND_CONDA_EVERYWHERE)
    where = notebook.run("import sys, toolz, six\nprint(sys.executable, toolz.__file__)")
    assert where.startswith("/home/ec2-user/anaconda3/envs/python3/bin/python ")
    assert "/home/ec2-user/anaconda3/envs/python3/lib/" in where
    assert notebook.run("!/home/ec2-user/anaconda3/bin/python -c 'import toolz; print(\"base has toolz\")'").strip() \
        == "base has toolz"
    events = server.client("logs").get_log_events(
        logGroupName="/aws/sagemaker/NotebookInstances", logStreamName="pip-conda/LifecycleConfigOnStart")["events"]
    listing = [e["message"] for e in events]
    assert any(line.startswith("python3 ") and "/home/ec2-user/anaconda3/envs/python3" in line for line in listing)
    # A notebook's own `pip install --upgrade` replaces what the environment had (its site-packages are
    # writable), and `sudo` (RootAccess Enabled) reaches the system.
    assert notebook.run("!pip install --quiet 'toolz==0.12.0'\nimport toolz\nprint(toolz.__version__)").strip() \
        .endswith("0.12.0")
    assert notebook.run("!pip install --quiet --upgrade toolz\nimport toolz\nprint(toolz.__version__)").strip() \
        .split("\n")[-1] != "0.12.0"
    # A package that only conda's channels would have: refused with a message that says why.
    refused = notebook.run("!conda install -y selfmaker-no-such-conda-package 2>&1; echo code=$?")
    assert "PackagesNotFoundError" in refused and "PyPI" in refused and refused.strip().endswith("code=1"), refused
    notebook.run("!sudo touch /usr/local/from-sudo")
    assert notebook.run("!ls /usr/local/from-sudo").strip() == "/usr/local/from-sudo"

    sm = server.client("sagemaker")
    _stop(server, "pip-conda")
    sm.start_notebook_instance(NotebookInstanceName="pip-conda")
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="pip-conda", WaiterConfig=WAIT)
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName="pip-conda")["AuthorizedUrl"]
    again = NotebookSession(url)
    # Everything outside the volume is the image again: the file root made is gone.
    assert again.run("!test -e /usr/local/from-sudo && echo kept || echo gone").strip() == "gone"
    _stop(server, "pip-conda")


ENV_FROM_TAG = """\
    #!/bin/bash
    set -e
    # Read a tag of this notebook instance and give its value to terminals and to Jupyter's kernels.
    ARN=$(jq -r '.ResourceArn' /opt/ml/metadata/resource-metadata.json)
    COURSE=$(aws sagemaker list-tags --resource-arn "$ARN" | jq -r '.Tags[] | select(.Key=="course") | .Value')
    echo "export COURSE=$COURSE" > /etc/profile.d/course.sh
    echo "export COURSE=$COURSE" >> /etc/profile.jupyter
    systemctl restart jupyter-server
    """


def test_env_var_from_a_tag_reaches_terminals_and_kernels(server, role):
    notebook = _launch(server, role, "env-from-tag", on_start=ENV_FROM_TAG,
                       Tags=[{"Key": "course", "Value": "fastai-2026"}])
    assert notebook.run("import os\nprint(os.environ.get('COURSE'))").strip() == "fastai-2026"
    assert notebook.run("!bash -lc 'echo $COURSE'").strip() == "fastai-2026"
    _stop(server, "env-from-tag")


PERSISTENT_ENV_ON_CREATE = """\
    #!/bin/bash
    set -e
    # A conda environment on the volume, so it survives Stop; its kernel is registered at every start.
    sudo -u ec2-user -i <<'EOF'
    conda create --yes --quiet -p /home/ec2-user/SageMaker/envs/course python=3 ipykernel
    EOF
    """
PERSISTENT_ENV_ON_START = """\
    #!/bin/bash
    set -e
    sudo -u ec2-user -i <<'EOF'
    source /home/ec2-user/anaconda3/bin/activate /home/ec2-user/SageMaker/envs/course
    python -m ipykernel install --user --name course --display-name "Course (persistent)"
    source /home/ec2-user/anaconda3/bin/deactivate
    EOF
    """
RUN_A_NOTEBOOK = """\
    #!/bin/bash
    set -e
    # Execute a notebook at start with nbconvert, in an environment, in the background.
    cat > /home/ec2-user/SageMaker/start.ipynb <<'EOF'
    {"cells": [{"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [],
      "source": ["open('/home/ec2-user/SageMaker/ran-at-start.txt', 'w').write('ran in conda_python3')"]}],
     "metadata": {"kernelspec": {"name": "conda_python3", "display_name": "conda_python3", "language": "python"}},
     "nbformat": 4, "nbformat_minor": 5}
    EOF
    chown ec2-user:ec2-user /home/ec2-user/SageMaker/start.ipynb
    sudo -u ec2-user -i <<'EOF'
    source /home/ec2-user/anaconda3/bin/activate python3
    nohup jupyter nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=conda_python3 \\
        /home/ec2-user/SageMaker/start.ipynb --output executed.ipynb > /home/ec2-user/SageMaker/nbconvert.log 2>&1 &
    source /home/ec2-user/anaconda3/bin/deactivate
    EOF
    """


def test_persistent_environment_with_its_own_kernel_and_a_notebook_run_at_start(server, role):
    sm = server.client("sagemaker")
    name = "persistent-env"
    notebook = _launch(server, role, name, on_create=PERSISTENT_ENV_ON_CREATE,
                       on_start=PERSISTENT_ENV_ON_START + RUN_A_NOTEBOOK.replace("#!/bin/bash\n", ""))
    specs = notebook.get("api/kernelspecs").json()
    assert {"conda_python3", "course"} <= set(specs["kernelspecs"])
    assert specs["default"] == "conda_python3"
    assert "JupyterSystemEnv" not in json.dumps(specs["kernelspecs"]["conda_python3"]["spec"]["argv"])
    deadline = time.monotonic() + 120
    ran = ""
    while time.monotonic() < deadline and "ran in" not in ran:
        time.sleep(1)
        ran = notebook.run("print(open('/home/ec2-user/SageMaker/ran-at-start.txt').read())"
                           " if __import__('os').path.exists('/home/ec2-user/SageMaker/ran-at-start.txt') else None")
    assert ran.strip() == "ran in conda_python3"
    _stop(server, name)
    sm.start_notebook_instance(NotebookInstanceName=name)  # OnCreate does not run again; the env is still there
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
    again = NotebookSession(sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"])
    assert "course" in again.get("api/kernelspecs").json()["kernelspecs"]
    _stop(server, name)


EXTENSION = """\
    #!/bin/bash
    set -e
    # Install a Jupyter server and JupyterLab extension into Jupyter's own environment, then restart it.
    sudo -u ec2-user -i <<'EOF'
    source /home/ec2-user/anaconda3/bin/activate JupyterSystemEnv
    pip install --quiet jupyter-resource-usage
    jupyter server extension list 2>&1 | grep -i resource
    source /home/ec2-user/anaconda3/bin/deactivate
    EOF
    systemctl restart jupyter-server
    """


def test_a_jupyter_extension_installed_into_jupyter_system_env_is_served(server, role):
    notebook = _launch(server, role, "extension", on_start=EXTENSION)
    metrics = notebook.get("api/metrics/v1")  # jupyter-resource-usage's endpoint
    assert metrics.status_code == 200, metrics.text
    assert "rss" in metrics.json()
    _stop(server, "extension")


IDLE_AUTO_STOP = """\
    #!/bin/bash
    set -e
    # Stop this notebook instance when it has had no kernel session for a while (from cron, every minute).
    cat > /usr/local/bin/autostop.sh <<'EOF'
    #!/bin/bash
    SESSIONS=$(curl -sk https://localhost:8443/api/sessions)
    if [ "$(echo "$SESSIONS" | jq length)" = 0 ]; then
        NAME=$(jq -r '.ResourceName' /opt/ml/metadata/resource-metadata.json)
        aws sagemaker stop-notebook-instance --notebook-instance-name "$NAME"
    fi
    EOF
    chmod +x /usr/local/bin/autostop.sh
    echo "* * * * * root /usr/local/bin/autostop.sh >> /home/ec2-user/SageMaker/autostop.log 2>&1" \
        > /etc/cron.d/autostop
    """


def test_idle_auto_stop_from_cron_stops_the_instance(server, role):
    notebook = _launch(server, role, "idle-stop", on_start=IDLE_AUTO_STOP)
    sm = server.client("sagemaker")
    deadline = time.monotonic() + 180
    status = "InService"
    while time.monotonic() < deadline and status != "Stopped":
        time.sleep(3)
        status = sm.describe_notebook_instance(NotebookInstanceName="idle-stop")["NotebookInstanceStatus"]
    assert status == "Stopped", notebook.run("!cat /home/ec2-user/SageMaker/autostop.log")


def test_jupyter_answers_on_localhost_8443_without_a_token_only_inside(server, role, tmp_path):
    notebook = _launch(server, role, "https-inside", on_start="#!/bin/bash\ntrue\n")
    out = notebook.run("!curl -sk -o /dev/null -w '%{http_code}' https://localhost:8443/api/status")
    assert out.strip() == "200"
    # From the host, nothing listens there for this instance (its loopback is its own).
    with pytest.raises(httpx.TransportError):
        httpx.get("https://127.0.0.1:8443/api/status", verify=False, timeout=3)
    _stop(server, "https-inside")


@pytest.fixture(scope="module", autouse=True)
def _cleanup(server):
    yield
    sm = server.client("sagemaker")
    for page in sm.get_paginator("list_notebook_instances").paginate():
        for nb in page["NotebookInstances"]:
            if nb["NotebookInstanceStatus"] == "InService":
                sm.stop_notebook_instance(NotebookInstanceName=nb["NotebookInstanceName"])

