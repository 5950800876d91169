"""The Slurm runtime end to end: boto3 → a real `selfmaker up --runtime slurm` → sbatch on a real single-node
Slurm cluster (tests/slurm.py) → the node agent's sandbox → Jupyter through the proxy.

The cluster's two GPUs are stand-in device files (there is no GPU here): Slurm assigns them to jobs as it would
real ones, and the tests check that an instance gets exactly the ones Slurm assigned (CUDA_VISIBLE_DEVICES);
that CUDA works with them is for a GPU machine.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.e2e.jupyter_client import NotebookSession
from tests.slurm_server import clear, slurm_server

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
WAIT = {"Delay": 1, "MaxAttempts": 120}
GROUP = "/aws/sagemaker/NotebookInstances"
# GPU types go to the `gpu` partition; ml.t3.large stays on this host (the per-type runtime).
INSTANCE_TYPES = """\
ml.g4dn.xlarge: {partition: gpu, vcpus: 2, memory_gib: 2}
ml.t3.large: {runtime: local}
"""
QUOTAS = "defaults:\n  ml.g4dn.xlarge: 4\n"


@pytest.fixture(scope="module")
def cluster(slurm_cluster):
    clear(slurm_cluster)
    return slurm_cluster


@pytest.fixture(scope="module")
def server(tmp_path_factory, cluster):
    files = {"instance-types.yaml": INSTANCE_TYPES, "quotas.yaml": QUOTAS}
    with slurm_server(tmp_path_factory.mktemp("slurm"), cluster, files) as proc:
        yield proc


def _jobs(cluster, name: str) -> list[tuple[str, str, str]]:
    """(job id, state, reason) of the instance's jobs, by the job name the runtime gives them."""
    out = cluster.run("squeue", "--noheader", "--all", "--states=all", f"--name=selfmaker-{name}",
                      "--format=%i|%T|%r")
    return [tuple(line.split("|", 2)) for line in out.splitlines()]


def _live_job(cluster, name: str) -> str:
    live = [job for job, state, _ in _jobs(cluster, name) if state in ("RUNNING", "PENDING", "CONFIGURING")]
    assert len(live) == 1, _jobs(cluster, name)
    return live[0]


def _messages(server, stream: str) -> list[str]:
    logs = server.client("logs")
    try:
        return [e["message"] for e in logs.get_log_events(logGroupName=GROUP, logStreamName=stream)["events"]]
    except logs.exceptions.ResourceNotFoundException:
        return []


def _wait_status(sm, name: str, status: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        described = sm.describe_notebook_instance(NotebookInstanceName=name)
        if described["NotebookInstanceStatus"] == status:
            return described
        assert time.monotonic() < deadline, described
        time.sleep(0.5)


def _session(sm, name: str) -> NotebookSession:
    return NotebookSession(sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"])


def _config(sm, name: str, on_create: str = "", on_start: str = "") -> None:
    kwargs = {}
    if on_create:
        kwargs["OnCreate"] = [{"Content": base64.b64encode(on_create.encode()).decode()}]
    if on_start:
        kwargs["OnStart"] = [{"Content": base64.b64encode(on_start.encode()).decode()}]
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name, **kwargs)


def test_an_instance_is_a_slurm_job_and_keeps_its_volume_across_stop_and_start(server, cluster):
    sm = server.client("sagemaker")
    _config(sm, "hello", on_create="#!/bin/bash\necho made on create\n")
    sm.create_notebook_instance(NotebookInstanceName="sj", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                LifecycleConfigName="hello")
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="sj", WaiterConfig=WAIT)
    job = _live_job(cluster, "sj")
    assert dict((j, s) for j, s, _ in _jobs(cluster, "sj"))[job] == "RUNNING"
    fields = cluster.run("scontrol", "--oneliner", "show", "job", job)
    assert "NumCPUs=2" in fields and "MinMemoryNode=4G" in fields  # ml.t3.medium: 2 vCPUs, 4 GiB

    out = _session(sm, "sj").run(
        "open('/home/ec2-user/SageMaker/kept.txt', 'w').write('on the shared volume')\n"
        "print(2 + 2)\n")
    assert out.strip() == "4"
    assert _messages(server, "sj/LifecycleConfigOnCreate") == ["made on create"]
    assert f"Selfmaker: submitted Slurm job {job}." in _messages(server, "sj/jupyter.log")

    sm.stop_notebook_instance(NotebookInstanceName="sj")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="sj", WaiterConfig=WAIT)
    assert cluster.job(job)[0] in ("CANCELLED", "COMPLETED")  # the job is gone: its allocation is free
    assert not [j for j, state, _ in _jobs(cluster, "sj") if state in ("RUNNING", "PENDING")]

    sm.start_notebook_instance(NotebookInstanceName="sj")
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="sj", WaiterConfig=WAIT)
    assert _live_job(cluster, "sj") != job  # a new job, on the same volume
    read = "print(open('/home/ec2-user/SageMaker/kept.txt').read())"
    assert _session(sm, "sj").run(read).strip() == "on the shared volume"
    assert (server.data_dir / "slurm" / "volumes" / f"{_instance_id(server, 'sj')}.ext4").exists()
    sm.stop_notebook_instance(NotebookInstanceName="sj")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="sj", WaiterConfig=WAIT)


def _instance_id(server, name: str) -> str:
    folders = [p.name for p in (server.data_dir / "slurm" / "jobs").iterdir()
               if f"instance {name} (" in (p / "job.sh").read_text()]
    assert len(folders) == 1
    return folders[0]


def test_a_job_held_in_the_queue_keeps_the_instance_pending_with_slurms_reason(server, cluster):
    sm = server.client("sagemaker")
    cluster.drain("maintenance")
    try:
        sm.create_notebook_instance(NotebookInstanceName="queued", InstanceType="ml.t3.medium", RoleArn=ROLE)
        deadline = time.monotonic() + 30
        while not any("waiting in the queue" in m for m in _messages(server, "queued/jupyter.log")):
            assert time.monotonic() < deadline, _messages(server, "queued/jupyter.log")
            time.sleep(0.5)
        waiting = [m for m in _messages(server, "queued/jupyter.log") if "waiting in the queue" in m]
        job, state, reason = _jobs(cluster, "queued")[0]
        assert state == "PENDING"
        assert waiting[0].startswith(f"Selfmaker: Slurm job {job} is waiting in the queue: ")
        assert any(word in " ".join(waiting) for word in ("ReqNodeNotAvail", "DRAINED"))
        time.sleep(3)  # longer than a start takes here: no time-out turns waiting into Failed
        assert sm.describe_notebook_instance(NotebookInstanceName="queued")["NotebookInstanceStatus"] == "Pending"
    finally:
        cluster.resume()
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="queued", WaiterConfig=WAIT)
    sm.stop_notebook_instance(NotebookInstanceName="queued")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="queued", WaiterConfig=WAIT)


def test_scancel_from_outside_makes_the_instance_stopped(server, cluster):
    sm = server.client("sagemaker")
    sm.create_notebook_instance(NotebookInstanceName="cancelled", InstanceType="ml.t3.medium", RoleArn=ROLE)
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="cancelled", WaiterConfig=WAIT)
    job = _live_job(cluster, "cancelled")
    cluster.run("scancel", job)  # an admin, or a reservation ending
    described = _wait_status(sm, "cancelled", "Stopped")
    assert "FailureReason" not in described
    assert any(m.startswith(f"Slurm job {job} ended: CANCELLED") for m in _messages(server, "cancelled/jupyter.log"))
    sm.start_notebook_instance(NotebookInstanceName="cancelled")  # and it starts again as any Stopped one
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="cancelled", WaiterConfig=WAIT)
    instance_id = _instance_id(server, "cancelled")
    sm.stop_notebook_instance(NotebookInstanceName="cancelled")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="cancelled", WaiterConfig=WAIT)
    sm.delete_notebook_instance(NotebookInstanceName="cancelled")
    _wait_gone(sm, "cancelled")
    shared = server.data_dir / "slurm"
    assert not list((shared / "volumes").glob(f"{instance_id}*")) and not (shared / "jobs" / instance_id).exists()


def _wait_gone(sm, name: str) -> None:
    deadline = time.monotonic() + 60
    while name in [i["NotebookInstanceName"] for i in sm.list_notebook_instances()["NotebookInstances"]]:
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_a_failing_lifecycle_script_on_the_node_fails_the_instance_with_its_reason(server, cluster):
    sm = server.client("sagemaker")
    _config(sm, "broken", on_create="#!/bin/bash\necho 'pip install exploded' >&2\nexit 7\n")
    sm.create_notebook_instance(NotebookInstanceName="broken", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                LifecycleConfigName="broken")
    described = _wait_status(sm, "broken", "Failed")
    assert "exit code 7" in described["FailureReason"]
    assert described["FailureReason"].startswith("Notebook Instance Lifecycle Config")
    assert _messages(server, "broken/LifecycleConfigOnCreate") == ["pip install exploded"]
    assert not [j for j, state, _ in _jobs(cluster, "broken") if state in ("RUNNING", "PENDING")]


def test_gpu_instances_get_exactly_the_gpus_slurm_assigned(server, cluster):
    sm = server.client("sagemaker")
    for name in ("gpu-a", "gpu-b"):
        sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.g4dn.xlarge", RoleArn=ROLE)
    seen = {}
    for name in ("gpu-a", "gpu-b"):
        sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
        job = _live_job(cluster, name)
        fields = cluster.run("scontrol", "--oneliner", "show", "job", job)
        assert "Partition=gpu" in fields and "gres:gpu:1" in fields
        seen[name] = _session(sm, name).run("import os; print(os.environ['CUDA_VISIBLE_DEVICES'])").strip()
    assert sorted(seen.values()) == ["0", "1"]  # one GPU each, never the same one
    # The cluster has two GPUs: the quota of 4 is capped at what it can run.
    quota = server.client("service-quotas").list_service_quotas(ServiceCode="sagemaker")["Quotas"]
    capped = [q["Value"] for q in quota if q["QuotaName"].startswith("ml.g4dn.xlarge for notebook")]
    assert capped == [2.0]
    for name in ("gpu-a", "gpu-b"):
        sm.stop_notebook_instance(NotebookInstanceName=name)
    for name in ("gpu-a", "gpu-b"):
        sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=name, WaiterConfig=WAIT)


def test_a_type_kept_local_runs_on_this_host_without_a_job(server, cluster):
    sm = server.client("sagemaker")
    sm.create_notebook_instance(NotebookInstanceName="here", InstanceType="ml.t3.large", RoleArn=ROLE)
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="here", WaiterConfig=WAIT)
    assert _jobs(cluster, "here") == []
    assert _session(sm, "here").run("print('local')").strip() == "local"
    sm.stop_notebook_instance(NotebookInstanceName="here")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="here", WaiterConfig=WAIT)


def test_sigkill_of_the_server_re_adopts_the_running_job(tmp_path, cluster):
    with slurm_server(tmp_path, cluster) as server:
        sm = server.client("sagemaker")
        _config(sm, "boot", on_start="#!/bin/bash\nhead -c 8 /dev/urandom | od -An -tx1 | tr -d ' ' > /tmp/boot\n")
        sm.create_notebook_instance(NotebookInstanceName="kept", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                    LifecycleConfigName="boot")
        sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="kept", WaiterConfig=WAIT)
        job = _live_job(cluster, "kept")
        read_boot = "print(open('/tmp/boot').read().strip())"
        boot = _session(sm, "kept").run(read_boot).strip()

        server.kill(signal.SIGKILL)
        assert cluster.job(job)[0] == "RUNNING"  # the job outlives the server
        server.start()
        sm = server.client("sagemaker")
        assert sm.describe_notebook_instance(NotebookInstanceName="kept")["NotebookInstanceStatus"] == "InService"
        session = _session(sm, "kept")
        assert session.run(read_boot).strip() == boot  # the same sandbox, not restarted
        assert _live_job(cluster, "kept") == job
        # Its guest services came back too: the metadata service answers inside.
        out = session.run("import urllib.request as u\nprint(u.urlopen("
                          "'http://169.254.169.254/latest/meta-data/instance-type', timeout=5).read().decode())")
        assert out.strip() == "ml.t3.medium"
        sm.stop_notebook_instance(NotebookInstanceName="kept")
        sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="kept", WaiterConfig=WAIT)
        assert cluster.job(job)[0] in ("CANCELLED", "COMPLETED")


def _exchange(address: tuple[str, int], data: bytes) -> bytes:
    """What a peer gets back for ``data`` before the other side closes (or 5 s pass)."""
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(data)
        received = b""
        with contextlib.suppress(TimeoutError):
            while chunk := conn.recv(4096):
                received += chunk
        return received


def test_the_links_between_server_and_node_refuse_anyone_without_the_keys(server, cluster):
    """Another user of the cluster who can reach the server's gateway and the node's Jupyter port gets nothing
    without the per-start secrets in the job directory (root only)."""
    sm = server.client("sagemaker")
    sm.create_notebook_instance(NotebookInstanceName="guarded", InstanceType="ml.t3.medium", RoleArn=ROLE)
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="guarded", WaiterConfig=WAIT)
    job_dir = server.data_dir / "slurm" / "jobs" / _instance_id(server, "guarded")
    assert oct(job_dir.stat().st_mode & 0o777) == "0o700" and oct((job_dir / "spec.json").stat().st_mode)[-3:] == "600"
    spec = json.loads((job_dir / "spec.json").read_text())
    gateway = tuple(spec["gateway"])
    node = tuple(json.loads((job_dir / "state.json").read_text())["address"])
    instance_id = spec["instance"]["instance_id"]
    request = b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n"
    # The node's Jupyter: nothing without the relay key, not even Jupyter's own answer.
    assert _exchange(node, request) == b""
    assert _exchange(node, b"wrong-key\n" + request) == b""
    assert _exchange(node, f"{spec['guest_key']}\n".encode() + request) == b""  # the other key is no use either
    # The gateway: a READY with a wrong ticket, or a spent one, is refused; a GUEST without the key gets nothing.
    assert _exchange(gateway, f"READY {instance_id} not-the-ticket 1\n".encode()) == b"REFUSED\n"
    assert _exchange(gateway, f"READY {instance_id} {spec['ticket']} 1\n".encode()) == b"REFUSED\n"  # used once
    metadata = b"GET /latest/meta-data/instance-type HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n"
    assert _exchange(gateway, f"GUEST {instance_id} {spec['relay_key']} 1\n".encode() + metadata) == b""
    assert _exchange(gateway, b"x" * 100_000) == b""  # no line at all
    # With the keys, both work (so the refusals above are the keys' doing), and the instance is unharmed.
    assert b"200 OK" in _exchange(gateway, f"GUEST {instance_id} {spec['guest_key']} 1\n".encode() + metadata)
    # The instance (root in it included: same mounts, same network) sees neither the job's directory nor the host's
    # loopback, where the gateway listens.
    probe = (f"import os, socket\nprint(os.path.exists({str(job_dir / 'spec.json')!r}))\n"
             f"s = socket.socket(); s.settimeout(3)\nprint(s.connect_ex({gateway!r}) != 0)\n")
    assert _session(sm, "guarded").run(probe).split() == ["False", "True"]
    sm.stop_notebook_instance(NotebookInstanceName="guarded")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="guarded", WaiterConfig=WAIT)


def test_a_type_change_between_runtimes_takes_the_volume_along(server, cluster):
    sm = server.client("sagemaker")
    sm.create_notebook_instance(NotebookInstanceName="mover", InstanceType="ml.t3.large", RoleArn=ROLE)
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="mover", WaiterConfig=WAIT)
    assert _jobs(cluster, "mover") == []  # ml.t3.large stays on this host
    _session(sm, "mover").run("open('/home/ec2-user/SageMaker/moved.txt', 'w').write('came along')")
    sm.stop_notebook_instance(NotebookInstanceName="mover")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="mover", WaiterConfig=WAIT)
    sm.update_notebook_instance(NotebookInstanceName="mover", InstanceType="ml.t3.medium")  # a Slurm type
    _wait_status(sm, "mover", "Stopped")
    sm.start_notebook_instance(NotebookInstanceName="mover")
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="mover", WaiterConfig=WAIT)
    _live_job(cluster, "mover")
    read = "print(open('/home/ec2-user/SageMaker/moved.txt').read())"
    assert _session(sm, "mover").run(read).strip() == "came along"
    sm.stop_notebook_instance(NotebookInstanceName="mover")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="mover", WaiterConfig=WAIT)


def _processes_with(*words: str) -> list[int]:
    """Processes whose command line has every one of ``words`` in it."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                cmdline = (proc / "cmdline").read_bytes()
                if all(word.encode() in cmdline for word in words):
                    found.append(int(proc.name))
    return found


def test_a_node_agent_killed_hard_takes_its_sandbox_along(server, cluster):
    """The node agent is the job: if it is killed before it can stop the sandbox (SIGKILL, the OOM killer),
    the sandbox dies with it, so nothing keeps using the volume while the instance starts elsewhere."""
    sm = server.client("sagemaker")
    sm.create_notebook_instance(NotebookInstanceName="orphan", InstanceType="ml.t3.medium", RoleArn=ROLE)
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="orphan", WaiterConfig=WAIT)
    instance_id = _instance_id(server, "orphan")
    _session(sm, "orphan").run("open('/home/ec2-user/SageMaker/still.txt', 'w').write('here')")
    sandbox = f"/run/{instance_id}/"  # in the sandbox's bwrap command line (its node-local run directory)
    assert _processes_with(sandbox)
    agents = _processes_with("selfmaker.runtime.slurm_node", str(server.data_dir / "slurm" / "jobs" / instance_id))
    assert len(agents) == 1
    os.kill(agents[0], signal.SIGKILL)
    described = _wait_status(sm, "orphan", "Failed")
    assert "Slurm job" in described["FailureReason"]
    deadline = time.monotonic() + 10
    while _processes_with(sandbox):
        assert time.monotonic() < deadline, "the sandbox outlived its node agent"
        time.sleep(0.2)
    sm.start_notebook_instance(NotebookInstanceName="orphan")  # what the agent left behind is cleared first
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="orphan", WaiterConfig=WAIT)
    assert _session(sm, "orphan").run("print(open('/home/ec2-user/SageMaker/still.txt').read())").strip() == "here"
    sm.stop_notebook_instance(NotebookInstanceName="orphan")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="orphan", WaiterConfig=WAIT)
