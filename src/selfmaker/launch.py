"""``selfmaker launch``: create a bundled stack through the API and follow it, event by event."""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from urllib.parse import urlsplit

import boto3

from selfmaker.domain.instance_types import load_catalogue
from selfmaker.runtime import neuron
from selfmaker.runtime.gpus import count_gpus

_DONE = {"CREATE_COMPLETE"}
_FAILED = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_COMPLETE", "DELETE_FAILED"}


class LaunchError(Exception):
    pass


def bundled_template(name: str) -> str:
    path = resources.files("selfmaker.templates").joinpath(f"{name}.yaml")
    if not path.is_file():
        known = sorted(p.name.removesuffix(".yaml") for p in resources.files("selfmaker.templates").iterdir()
                       if p.name.endswith(".yaml"))
        raise LaunchError(f"No bundled template '{name}'. Bundled: {', '.join(known)}.")
    return path.read_text()


def check_instance_type(instance_type: str, endpoint_url: str) -> None:
    """Refuse a GPU (or Inferentia/Trainium) type up front when the server runs here and this host has too few."""
    kind = load_catalogue().get(instance_type)
    if kind is None:
        raise LaunchError(f"Unknown instance type {instance_type}.")
    local = urlsplit(endpoint_url).hostname in ("127.0.0.1", "localhost", "::1")
    if local and kind.gpus > count_gpus():
        raise LaunchError(
            f"{instance_type} needs {kind.gpus} GPU ({kind.gpu_model}), but this host has {count_gpus()}. "
            "Use a CPU type such as ml.t3.medium (--instance-type ml.t3.medium), or run Selfmaker on a GPU host."
        )
    if local and kind.accelerators > neuron.count_devices():
        raise LaunchError(
            f"{instance_type} needs {kind.accelerators} {kind.accelerator_model} accelerator(s), but this host has "
            f"{neuron.count_devices()} AWS Neuron devices (/dev/neuron*). Use a CPU type such as ml.t3.medium "
            "(--instance-type ml.t3.medium), or run Selfmaker on a host with Inferentia or Trainium chips."
        )


def launch(
    session: boto3.Session,
    endpoint_url: str,
    template: str,
    stack_name: str,
    parameters: dict[str, str],
    say: Callable[[str], None],
    poll: float = 1.0,
) -> str:
    """Create the stack, print its events as they come, and return the notebook's Jupyter link."""
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    sagemaker = session.client("sagemaker", endpoint_url=endpoint_url)
    stack_id = cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=bundled_template(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )["StackId"]
    seen: set[str] = set()
    while True:
        events = cloudformation.describe_stack_events(StackName=stack_id)["StackEvents"]
        for event in reversed(events):  # oldest first
            if event["EventId"] in seen:
                continue
            seen.add(event["EventId"])
            reason = f"  {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
            say(f"{event['Timestamp']:%H:%M:%S}  {event['LogicalResourceId']:<20} {event['ResourceStatus']}{reason}")
        status = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        if status in _DONE:
            break
        if status in _FAILED:
            raise LaunchError(f"Stack {stack_name} ended in {status}; the events above say why.")
        time.sleep(poll)
    outputs = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0].get("Outputs", [])
    name = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "NotebookInstanceName")
    return sagemaker.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]
