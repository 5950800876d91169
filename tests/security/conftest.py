"""Fixtures for the notebook-origin tests: a server with a console password and two running notebook
instances, and Debian's Chromium as tests/browser drives it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.browser.conftest import browser  # noqa: F401  (the fixture, shared with the browser tests)
from tests.conftest import ServerProcess, running_server

ROOT_PASSWORD = "security-root-password-0001"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
WAIT = {"Delay": 1, "MaxAttempts": 180}


@dataclass(frozen=True)
class Instances:
    """``mallory``: the notebook an attacker's page runs on; ``alice``: another instance of the same browser's
    user (mixed case, as instance names may be), whose files the page is after."""

    mallory: str = "mallory"
    alice: str = "Alice-Notes"


@pytest.fixture(scope="package")
def security_server(tmp_path_factory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("security"), SELFMAKER_ROOT_PASSWORD=ROOT_PASSWORD) as proc:
        yield proc


@pytest.fixture(scope="package")
def instances(security_server) -> Instances:
    names = Instances()
    sagemaker = security_server.client("sagemaker")
    for name in (names.mallory, names.alice):
        sagemaker.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE)
    for name in (names.mallory, names.alice):
        sagemaker.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
    return names


def presigned(server: ServerProcess, name: str) -> str:
    return server.client("sagemaker").create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]


def notebook_origin(server: ServerProcess, name: str) -> str:
    return f"http://{name.lower()}-{server.account_id}.notebook.{server.region}.localhost:{server.port}"
