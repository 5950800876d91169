"""The fast.ai guide, end to end: `selfmaker launch fastai --email …` creates the stack, a real SMTP
server receives the subscription confirmation, the student follows its link, the lifecycle script builds
the kernel environment and mails a link that opens Jupyter with the fastai kernel.

The kernel's packages come from PyPI (a registry CI reaches); the test installs a small one instead of
fastai and its multi-gigabyte PyTorch, through the template's PipPackages parameter."""

from __future__ import annotations

import re
import subprocess

import httpx
import pytest

from tests.conftest import VENV_BIN, ServerProcess, _stop_everything
from tests.e2e.jupyter_client import NotebookSession
from tests.smtp_sink import SmtpSink

STUDENT = "student@example.com"
_LINK = re.compile(r"https?://\S+")


def _links(message) -> list[str]:
    return _LINK.findall(message.get_body(("plain",)).get_content())


@pytest.fixture(scope="module")
def smtp():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def course_server(tmp_path_factory, smtp) -> ServerProcess:
    base = tmp_path_factory.mktemp("fastai")
    proc = ServerProcess(base / "data", base / "home", lifecycle_timeout=300,
                         extra_env={"SELFMAKER_SMTP_URL": smtp.url}).start()
    yield proc
    _stop_everything(proc)


def test_launch_confirm_ready_mail_open_jupyter_and_delete(course_server, smtp):
    launch = subprocess.Popen(
        [str(VENV_BIN / "selfmaker"), "launch", "fastai", "--email", STUDENT, "--stack-name", "FastaiSageMakerStack",
         "--parameter", "PipPackages=six"],
        env=course_server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    confirmation = smtp.wait_for(STUDENT, "Subscription Confirmation", timeout=60)
    (confirm_link,) = _links(confirmation)
    assert httpx.get(confirm_link).status_code == 200
    out, err = launch.communicate(timeout=300)
    assert launch.returncode == 0, err
    assert "Notebook" in out and "CREATE_COMPLETE" in out
    host = f"fastai-{course_server.account_id}.notebook.{course_server.region}.localhost"
    assert f"://{host}:" in out.rsplit("Jupyter", 1)[1]  # the link printed at the end: the instance's own host

    ready = smtp.wait_for(STUDENT, "Your fastai notebook is ready", timeout=280)
    body = ready.get_body(("plain",)).get_content()
    assert "The fastai environment is installed" in body, body
    (jupyter_link,) = [link for link in _links(ready) if "authToken=" in link]
    session = NotebookSession(jupyter_link)
    assert session.first.status_code == 302
    assert session.get("tree").status_code == 200
    kernels = session.get("api/kernelspecs").json()["kernelspecs"]
    assert kernels["fastai"]["spec"]["display_name"] == "Python 3 (fastai)"

    cloudformation = course_server.client("cloudformation")
    cloudformation.delete_stack(StackName="FastaiSageMakerStack")
    cloudformation.get_waiter("stack_delete_complete").wait(StackName="FastaiSageMakerStack",
                                                            WaiterConfig={"Delay": 2, "MaxAttempts": 90})
    listed = course_server.client("sagemaker").list_notebook_instances()["NotebookInstances"]
    assert "fastai" not in [item["NotebookInstanceName"] for item in listed]
