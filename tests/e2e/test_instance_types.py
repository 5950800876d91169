"""Every notebook instance type botocore knows is offered: new CPU types run here, whatever their size; unknown
names and types whose devices this host lacks are refused with the errors SageMaker clients expect."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

from selfmaker.runtime import gpus, neuron
from tests.conftest import VENV_BIN

ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"
WAIT = {"Delay": 1, "MaxAttempts": 180}


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _refusal(sm, instance_type: str) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance(NotebookInstanceName=_unique("refused"), InstanceType=instance_type,
                                    RoleArn=ROLE)
    error = exc.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize("instance_type", [
    "ml.m5d.large",  # missing from the catalogue before
    "ml.r7i.48xlarge",  # 192 vCPUs and 1.5 TiB on a small host: its limits are more than the host has
])
def test_a_cpu_type_from_the_enum_reaches_in_service(server, instance_type):
    sm = server.client("sagemaker")
    name = _unique("enum-type")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType=instance_type, RoleArn=ROLE)
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
    described = sm.describe_notebook_instance(NotebookInstanceName=name)
    assert (described["NotebookInstanceStatus"], described["InstanceType"]) == ("InService", instance_type)
    sm.stop_notebook_instance(NotebookInstanceName=name)
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
    sm.delete_notebook_instance(NotebookInstanceName=name)


def test_a_name_outside_the_enum_is_refused_by_the_enum_check(server):
    code, message, status = _refusal(server.client("sagemaker"), "ml.x9.mega")
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("1 validation error detected: Value 'ml.x9.mega' at 'instanceType' failed to "
                              "satisfy constraint: Member must satisfy enum value set: [")
    assert "ml.m5d.large" in message and "ml.trn1.2xlarge" in message


@pytest.mark.skipif(gpus.count_gpus() > 0, reason="this host has GPUs")
def test_a_gpu_type_is_refused_on_a_host_without_gpus(server):
    code, message, _ = _refusal(server.client("sagemaker"), "ml.g5.12xlarge")
    assert code == "ResourceLimitExceeded"
    assert "ml.g5.12xlarge needs 4 GPU(s) (NVIDIA A10G), but this Selfmaker host has 0" in message


@pytest.mark.skipif(neuron.count_devices() > 0, reason="this host has AWS Neuron devices")
@pytest.mark.parametrize(("instance_type", "needs"), [
    ("ml.inf1.xlarge", "needs 1 AWS Inferentia accelerator(s)"),
    ("ml.trn1.32xlarge", "needs 16 AWS Trainium accelerator(s)"),
])
def test_a_neuron_type_is_refused_on_a_host_without_neuron_devices(server, instance_type, needs):
    sm = server.client("sagemaker")
    code, message, _ = _refusal(sm, instance_type)
    assert code == "ResourceLimitExceeded"
    assert f"{instance_type} {needs}, but this Selfmaker host has 0 AWS Neuron devices" in message
    listed = sm.list_notebook_instances(NameContains="refused")["NotebookInstances"]
    assert listed == []  # refused before anything was recorded


@pytest.mark.skipif(neuron.count_devices() > 0, reason="this host has AWS Neuron devices")
def test_launch_refuses_a_neuron_type_before_anything_is_created(server):
    result = subprocess.run([str(VENV_BIN / "selfmaker"), "launch", "fastai", "--instance-type", "ml.inf2.xlarge",
                             "--stack-name", "neuron-refused"], env=server.env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1
    assert ("ml.inf2.xlarge needs 1 AWS Inferentia2 accelerator(s), but this host has 0 AWS Neuron devices"
            in result.stderr)
    stacks = server.aws_json("cloudformation", "list-stacks")["StackSummaries"]
    assert "neuron-refused" not in [stack["StackName"] for stack in stacks]
