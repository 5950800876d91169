"""``!sudo`` in a notebook, through the proxy, as SageMaker's RootAccess says: Enabled (the default) makes
ec2-user root, Disabled does not."""

from __future__ import annotations

import os

import pytest

from tests.e2e.jupyter_client import NotebookSession

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
WAIT = {"Delay": 1, "MaxAttempts": 120}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ec2-user and root are one user without root")


def _notebook(server, name: str, **settings) -> NotebookSession:
    sm = server.client("sagemaker")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE, **settings)
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]
    return NotebookSession(url)


@pytest.fixture
def cleanup(server):
    yield
    sm = server.client("sagemaker")  # the shared server: leave no instance running for the other tests
    for name in ("sudo-enabled", "sudo-disabled"):
        sm.stop_notebook_instance(NotebookInstanceName=name)
        sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
        sm.delete_notebook_instance(NotebookInstanceName=name)


def test_sudo_in_a_notebook_follows_root_access(server, cleanup):
    enabled = _notebook(server, "sudo-enabled")
    assert enabled.run("!id -un").strip() == "ec2-user"
    assert enabled.run("!sudo id -u").strip() == "0"
    assert enabled.run("!echo from-a-notebook | sudo tee /root/note > /dev/null; sudo cat /root/note").strip() \
        == "from-a-notebook"

    disabled = _notebook(server, "sudo-disabled", RootAccess="Disabled")
    out = disabled.run("!sudo id -u 2>&1; echo code=$?").strip().splitlines()
    assert out == ["ec2-user is not in the sudoers file.  This incident will be reported.", "code=1"]
