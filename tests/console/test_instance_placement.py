"""The instance page of a Slurm instance says where it waits or runs: its job and Slurm's reason while the job
is queued (the part of the page that polls itself while Pending), then the node and the GPUs Slurm assigned, in
English and in Korean. A real `selfmaker up --runtime slurm` on the session's Slurm cluster (tests/slurm.py)."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.console.conftest import ROOT_PASSWORD, sign_in
from tests.slurm_server import clear, slurm_server

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
WAIT = {"Delay": 1, "MaxAttempts": 120}
FILES = {"instance-types.yaml": "ml.g4dn.xlarge: {partition: gpu, vcpus: 2, memory_gib: 2}\n",
         "quotas.yaml": "defaults:\n  ml.g4dn.xlarge: 2\n"}
PAGE = "/sagemaker/notebook-instances/placed?region=us-east-1"
KOREAN = {"Accept-Language": "ko-KR,ko;q=0.9"}  # what a Korean browser sends; the console follows it


@pytest.fixture(scope="module")
def server(tmp_path_factory, slurm_cluster):
    clear(slurm_cluster)
    with slurm_server(tmp_path_factory.mktemp("placement"), slurm_cluster, FILES,
                      SELFMAKER_ROOT_PASSWORD=ROOT_PASSWORD) as proc:
        yield proc


def _job(cluster) -> tuple[str, str]:
    """(job id, state) of the instance's one live job."""
    out = cluster.run("squeue", "--noheader", "--name=selfmaker-placed", "--format=%i|%T")
    jobs = [tuple(line.split("|")) for line in out.splitlines()]
    assert len(jobs) == 1, jobs
    return jobs[0]


def _wait_for_text(client: httpx.Client, path: str, pattern: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, page := client.get(path).text):
        assert time.monotonic() < deadline, f"no {pattern!r} in {path} after {timeout} s:\n{page}"
        time.sleep(0.5)
    return page


def test_the_page_shows_the_job_its_wait_the_node_and_the_gpus(server, slurm_cluster):
    sm = server.client("sagemaker")
    with httpx.Client(base_url=server.endpoint_url, timeout=30) as client:
        assert sign_in(client).status_code == 303
        slurm_cluster.drain("maintenance")
        try:
            sm.create_notebook_instance(NotebookInstanceName="placed", InstanceType="ml.g4dn.xlarge", RoleArn=ROLE)
            # What the page fetches every 2 s while Pending: the waiting reason comes with it.
            live = _wait_for_text(client, f"{PAGE}&fragment=status", r"Waiting in the Slurm queue: \w")
            job, state = _job(slurm_cluster)
            assert state == "PENDING"
            assert f"Slurm job {job} (PENDING)" in live
            # Slurm words it as "ReqNodeNotAvail, ..." or "Nodes required for job are DOWN, DRAINED or ...".
            assert re.search(r"Waiting in the Slurm queue: [^<]*(ReqNodeNotAvail|DRAINED)", live), live
            korean = client.get(f"{PAGE}&fragment=status", headers=KOREAN).text
            assert f"Slurm 작업 {job} (PENDING)" in korean and "Slurm 대기열에서 기다리는 중: " in korean
        finally:
            slurm_cluster.resume()

        sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="placed", WaiterConfig=WAIT)
        page = client.get(PAGE).text
        assert _job(slurm_cluster) == (job, "RUNNING")
        assert f"<span data-node>{slurm_cluster.node}</span>" in page and f"Slurm job {job} (RUNNING)" in page
        assert "Waiting in the Slurm queue" not in page
        # No driver here: the model is the catalogue's for the type; the index is the one Slurm assigned.
        assert re.search(r'<dd id="placement-gpus">GPU [01] — NVIDIA T4</dd>', page), page
        korean = client.get(PAGE, headers=KOREAN).text
        assert "실행 위치" in korean and re.search(r"GPU [01]번 — NVIDIA T4", korean)

        sm.stop_notebook_instance(NotebookInstanceName="placed")
        sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="placed", WaiterConfig=WAIT)
        assert 'id="placement"' not in client.get(PAGE).text  # a stopped instance runs nowhere
