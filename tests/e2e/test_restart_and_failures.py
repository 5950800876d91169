"""Restart safety, and lifecycle scripts that fail or overrun (limit shortened to 3 s in tests)."""

from __future__ import annotations

import base64
import os
import signal

import pytest
from botocore.exceptions import WaiterError

from tests.e2e.jupyter_client import NotebookSession

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
WAIT = {"Delay": 1, "MaxAttempts": 120}
GROUP = "/aws/sagemaker/NotebookInstances"


def _config(sm, name: str, on_create: str = "", on_start: str = "") -> None:
    kwargs = {}
    if on_create:
        kwargs["OnCreate"] = [{"Content": base64.b64encode(on_create.encode()).decode()}]
    if on_start:
        kwargs["OnStart"] = [{"Content": base64.b64encode(on_start.encode()).decode()}]
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name, **kwargs)


def _wait_failed(sm, name: str) -> dict:
    with pytest.raises(WaiterError):  # the waiter gives up when the instance fails
        sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
    described = sm.describe_notebook_instance(NotebookInstanceName=name)
    assert described["NotebookInstanceStatus"] == "Failed"
    return described


def test_overrunning_on_start_fails_with_sagemakers_reason(server):
    sm = server.client("sagemaker")
    _config(sm, "slow-start", on_start="#!/bin/bash\necho starting slowly\nsleep 30\n")
    sm.create_notebook_instance(NotebookInstanceName="slow", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                LifecycleConfigName="slow-start")
    described = _wait_failed(sm, "slow")
    config_arn = sm.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="slow-start")["NotebookInstanceLifecycleConfigArn"]
    assert described["FailureReason"].startswith(
        f"Notebook Instance Lifecycle Config '{config_arn}' for Notebook Instance "
        f"'{described['NotebookInstanceArn']}' took longer than 3 seconds."
    )
    events = server.client("logs").get_log_events(logGroupName=GROUP, logStreamName="slow/LifecycleConfigOnStart")
    assert [e["message"] for e in events["events"]] == ["starting slowly"]
    # Start works from Failed; the script still overruns
    sm.start_notebook_instance(NotebookInstanceName="slow")
    assert sm.describe_notebook_instance(NotebookInstanceName="slow")["NotebookInstanceStatus"] == "Pending"
    _wait_failed(sm, "slow")


def test_failing_on_create_fails_and_logs(server):
    sm = server.client("sagemaker")
    _config(sm, "broken-create", on_create="#!/bin/bash\necho 'pip install exploded' >&2\nexit 7\n")
    sm.create_notebook_instance(NotebookInstanceName="broken", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                LifecycleConfigName="broken-create")
    described = _wait_failed(sm, "broken")
    assert "exit code 7" in described["FailureReason"]
    events = server.client("logs").filter_log_events(
        logGroupName=GROUP, logStreamNames=["broken/LifecycleConfigOnCreate"], filterPattern='"pip install exploded"'
    )["events"]
    assert len(events) == 1


def test_sigkill_and_restart_keeps_every_instance(fresh_server):
    sm = fresh_server.client("sagemaker")
    _config(sm, "marker", on_create="#!/bin/bash\necho survived > /home/ec2-user/SageMaker/marker.txt\n",
            on_start="#!/bin/bash\nhead -c 8 /dev/urandom | od -An -tx1 | tr -d ' ' > /tmp/boot-id\n")
    sm.create_notebook_instance(NotebookInstanceName="survivor", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                LifecycleConfigName="marker")
    sm.create_notebook_instance(NotebookInstanceName="sleeper", InstanceType="ml.t3.medium", RoleArn=ROLE)
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="survivor", WaiterConfig=WAIT)
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="sleeper", WaiterConfig=WAIT)
    sm.stop_notebook_instance(NotebookInstanceName="sleeper")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="sleeper", WaiterConfig=WAIT)
    read_boot_id = "print(open('/tmp/boot-id').read().strip())"
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName="survivor")["AuthorizedUrl"]
    boot_id = NotebookSession(url).run(read_boot_id).strip()
    assert len(boot_id) == 16

    fresh_server.kill(signal.SIGKILL)
    fresh_server.start()

    sm = fresh_server.client("sagemaker")
    assert sm.describe_notebook_instance(NotebookInstanceName="sleeper")["NotebookInstanceStatus"] == "Stopped"
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="survivor", WaiterConfig=WAIT)
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName="survivor")["AuthorizedUrl"]
    session = NotebookSession(url)
    read_marker = "print(open('/home/ec2-user/SageMaker/marker.txt').read().strip())"
    assert session.run(read_marker).strip() == "survived"
    assert session.run(read_boot_id).strip() == boot_id  # the same sandbox, re-adopted, not restarted
    if os.geteuid() == 0:  # isolated: its network, metadata service and cgroups came back with it
        out = session.run(
            "import configparser, os, urllib.request as u\n"
            "print(u.urlopen('http://169.254.169.254/latest/meta-data/instance-type', timeout=5).read().decode())\n"
            "print('/selfmaker/nb-' in open('/proc/self/cgroup').read())\n"
            "c = configparser.ConfigParser(); c.read(os.path.expanduser('~/.aws/config'))\n"
            "print(u.urlopen(c['default']['endpoint_url'] + '/_selfmaker/health', timeout=5).status)\n"
        ).split()
        assert out == ["ml.t3.medium", "True", "200"], out
    sm.start_notebook_instance(NotebookInstanceName="sleeper")
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="sleeper", WaiterConfig=WAIT)
    for name in ("survivor", "sleeper"):
        sm.stop_notebook_instance(NotebookInstanceName=name)
    for name in ("survivor", "sleeper"):
        sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
