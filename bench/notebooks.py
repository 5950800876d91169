"""Notebook instances driven through boto3, as the benchmarks need them: create → InService, stop → Stopped;
and the benchmarks' scratch directory."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROLE = "arn:aws:iam::123456789012:role/Bench"


def wait_status(sm, name: str, wanted: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sm.describe_notebook_instance(NotebookInstanceName=name)
        if described["NotebookInstanceStatus"] == wanted:
            return
        if described["NotebookInstanceStatus"] == "Failed":
            raise RuntimeError(f"{name} failed: {described.get('FailureReason')}")
        time.sleep(0.02)
    raise RuntimeError(f"{name} not {wanted} within {timeout} s")


def create(sm, name: str, instance_type: str = "ml.t3.medium") -> None:
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType=instance_type, RoleArn=ROLE)


def create_to_in_service(sm, name: str, instance_type: str = "ml.t3.medium") -> float:
    """Seconds from CreateNotebookInstance to the first Describe that says InService."""
    started = time.perf_counter()
    create(sm, name, instance_type)
    wait_status(sm, name, "InService")
    return time.perf_counter() - started


def stop(sm, name: str) -> None:
    sm.stop_notebook_instance(NotebookInstanceName=name)
    wait_status(sm, name, "Stopped")


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory for a run's servers, removed after; kept after a failure, for its servers' logs."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    except BaseException:
        print(f"failed: the servers' logs are kept in {path}", file=sys.stderr)
        raise
    shutil.rmtree(path, ignore_errors=True)
