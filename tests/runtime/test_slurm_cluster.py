"""The tests' own Slurm cluster (tests/slurm.py) behaves as the Slurm runtime expects of a cluster: batch jobs run,
GPUs are handed out one per job, a full or drained node holds jobs pending with Slurm's reason, scancel ends a job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.slurm import ENDED, SlurmCluster

GPU_JOB = ("--partition=gpu", "--gres=gpu:1", "--cpus-per-task=2", "--mem=1G")


@pytest.fixture
def cluster(slurm_cluster: SlurmCluster) -> Iterator[SlurmCluster]:
    slurm_cluster.wait_idle()
    yield slurm_cluster
    slurm_cluster.wait_idle()


def _running(state: str, _reason: str) -> bool:
    return state == "RUNNING"


def _file(path: Path, cluster: SlurmCluster, job_id: str) -> str:
    """The text a running job writes first, once there."""
    cluster.wait_for(job_id, lambda state, _: state != "RUNNING" or (path.exists() and path.read_text().endswith("\n")))
    return path.read_text()


def test_batch_job_runs_and_writes_a_file(cluster: SlurmCluster, tmp_path: Path) -> None:
    job = cluster.submit("echo hello from $SLURM_JOB_ID > result", f"--chdir={tmp_path}",
                         f"--output={tmp_path}/job.log")
    assert cluster.wait_for(job, lambda state, _: state == "COMPLETED") == ("COMPLETED", "None")
    assert (tmp_path / "result").read_text() == f"hello from {job}\n"


def test_gpu_job_sees_its_gpu_cpus_and_memory(cluster: SlurmCluster, tmp_path: Path) -> None:
    job = cluster.submit("env > env.txt", *GPU_JOB, f"--chdir={tmp_path}", f"--output={tmp_path}/job.log")
    cluster.wait_for(job, lambda state, _: state == "COMPLETED")
    env = dict(line.split("=", 1) for line in (tmp_path / "env.txt").read_text().splitlines() if "=" in line)
    assert env["SLURM_JOB_GPUS"] == env["CUDA_VISIBLE_DEVICES"]
    assert env["CUDA_VISIBLE_DEVICES"] in {"0", "1"}
    assert (env["SLURM_CPUS_PER_TASK"], env["SLURM_MEM_PER_NODE"], env["SLURM_JOB_PARTITION"]) == ("2", "1024", "gpu")


def test_two_gpu_jobs_get_different_gpus_and_a_third_waits_for_one(cluster: SlurmCluster, tmp_path: Path) -> None:
    jobs = [cluster.submit("echo $CUDA_VISIBLE_DEVICES > gpu-$SLURM_JOB_ID; exec sleep 300", *GPU_JOB,
                           f"--chdir={tmp_path}", f"--output={tmp_path}/%j.log") for _ in range(2)]
    for job in jobs:
        cluster.wait_for(job, _running)
    assert {_file(tmp_path / f"gpu-{job}", cluster, job) for job in jobs} == {"0\n", "1\n"}

    third = cluster.submit("echo $CUDA_VISIBLE_DEVICES > gpu-$SLURM_JOB_ID; exec sleep 300", *GPU_JOB,
                           f"--chdir={tmp_path}", f"--output={tmp_path}/%j.log")
    assert cluster.wait_for(third, lambda state, reason: reason != "None") == ("PENDING", "Resources")
    freed = _file(tmp_path / f"gpu-{jobs[0]}", cluster, jobs[0])
    cluster.run("scancel", jobs[0])
    cluster.wait_for(third, _running)
    assert _file(tmp_path / f"gpu-{third}", cluster, third) == freed


def test_drained_node_holds_a_new_job_until_resumed(cluster: SlurmCluster, tmp_path: Path) -> None:
    cluster.drain("selfmaker test")
    try:
        assert cluster.node_state() == "drained"
        job = cluster.submit("true", f"--output={tmp_path}/job.log")
        state, reason = cluster.wait_for(job, lambda _, reason: reason != "None")
        # Slurm says it in two ways: at once, and once the scheduler has passed over the job.
        assert state == "PENDING"
        assert reason in (f"ReqNodeNotAvail, UnavailableNodes:{cluster.node}",
                          "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions")
    finally:
        cluster.resume()
    assert cluster.wait_for(job, lambda state, _: state == "COMPLETED") == ("COMPLETED", "None")


def test_scancel_ends_a_running_job(cluster: SlurmCluster, tmp_path: Path) -> None:
    job = cluster.submit("trap 'echo terminated > signal; exit 3' TERM; echo started > signal; sleep 300 & wait",
                         f"--chdir={tmp_path}", f"--output={tmp_path}/job.log")
    cluster.wait_for(job, _running)
    assert _file(tmp_path / "signal", cluster, job) == "started\n"
    cluster.run("scancel", job)
    # COMPLETING (the job's processes being ended) on the way: ended means one of ENDED.
    assert cluster.wait_for(job, lambda state, _: state in ENDED) == ("CANCELLED", "None")
    cluster.wait_for(job, lambda *_: (tmp_path / "signal").read_text() == "terminated\n", timeout=10)
