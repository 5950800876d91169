"""Two Selfmaker servers on one PostgreSQL database and one data dir, both with the Slurm runtime (a lease of 3 s):
each serves the instances the other runs (through a relay of its own to the job's node), and when one dies the
other adopts its running jobs rather than starting them anew.

The tests run in order on the same pair: A runs the instance, then A is killed and B takes it over.
"""

from __future__ import annotations

import glob
import signal

import pytest

from tests.conftest import ServerProcess
from tests.e2e.test_notebook_lifecycle import _b64, _open
from tests.e2e.test_slurm_runtime import ROLE, WAIT, _jobs, _live_job
from tests.e2e.test_two_servers import LEASE, READ_BOOT_ID, _runner_pids, _text, _wait_held
from tests.slurm import ENDED
from tests.slurm_server import clear, stop_all

NAME = "on-slurm"
READ_INSTANCE_TYPE = ("import urllib.request as u\nprint(u.urlopen("
                      "'http://169.254.169.254/latest/meta-data/instance-type', timeout=5).read().decode())")
ON_START = "#!/bin/bash\necho onstart-ran\nhead -c 8 /dev/urandom | od -An -tx1 | tr -d ' ' > /tmp/boot-id\n"


@pytest.fixture(scope="module")
def pair(tmp_path_factory, postgres, slurm_cluster):
    clear(slurm_cluster)
    base = tmp_path_factory.mktemp("two-slurm-servers")
    url = postgres.create_database()
    env = {**slurm_cluster.env, "SELFMAKER_RUNTIME": "slurm", "SELFMAKER_SLURM_GATEWAY": "127.0.0.1",
           "SELFMAKER_LEASE_SECONDS": str(LEASE)}
    a = ServerProcess(base / "data", base / "home-a", lifecycle_timeout=30, extra_env=env, database_url=url)
    b = ServerProcess(base / "data", base / "home-b", lifecycle_timeout=30, extra_env=env, database_url=url)
    try:
        a.start()
        b.start()
        a.client("sagemaker").create_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName="boot-id", OnStart=[{"Content": _b64(ON_START)}])
        yield a, b
    finally:
        stop_all(b, slurm_cluster)  # each: either may be the one whose jobs are left
        stop_all(a, slurm_cluster)


def _peer_sockets(server: ServerProcess) -> list[str]:
    """The relays a server opened to jobs another server runs (<socket dir>/<instance id>.peer.sock)."""
    instance_ids = [path.name for path in (server.data_dir / "slurm" / "jobs").iterdir()]
    return [found for instance_id in instance_ids
            for found in glob.glob(f"/tmp/selfmaker-slurm-*/{instance_id}.peer.sock")]


def _wait(server: ServerProcess, waiter: str = "notebook_instance_in_service") -> None:
    server.client("sagemaker").get_waiter(waiter).wait(NotebookInstanceName=NAME, WaiterConfig=WAIT)


def test_b_describes_and_serves_the_job_a_runs(pair, slurm_cluster):
    a, b = pair
    a.client("sagemaker").create_notebook_instance(NotebookInstanceName=NAME, InstanceType="ml.t3.medium",
                                                   RoleArn=ROLE, LifecycleConfigName="boot-id")
    _wait(b)  # B reads the status A writes
    assert _runner_pids(a)[NAME] == a.proc.pid
    assert _open(b, NAME).run("print(6 * 7)").strip() == "42"  # A's job, through B's own relay to its node
    assert _open(a, NAME).run("print(6 * 7)").strip() == "42"
    assert len(_peer_sockets(b)) == 1  # B's relay, from the job's state.json
    _live_job(slurm_cluster, NAME)  # exactly one job, though two servers serve it


def test_when_a_dies_b_adopts_its_job_then_stops_and_starts_it(pair, slurm_cluster):
    a, b = pair
    job = _live_job(slurm_cluster, NAME)
    boot_id = _open(a, NAME).run(READ_BOOT_ID).strip()
    assert len(boot_id) == 16
    a.kill(signal.SIGKILL)
    assert slurm_cluster.job(job)[0] == "RUNNING"  # the job outlives its server

    _wait_held(b, (NAME,), by=b)  # B's sweep took it over once A's heartbeat aged
    sm = b.client("sagemaker")
    assert sm.describe_notebook_instance(NotebookInstanceName=NAME)["NotebookInstanceStatus"] == "InService"
    session = _open(b, NAME)
    assert session.run(READ_BOOT_ID).strip() == boot_id  # the same sandbox, not restarted
    # Its guest services (here the metadata service) come through B's gateway now: A's is gone.
    assert session.run(READ_INSTANCE_TYPE).strip() == "ml.t3.medium"
    assert _live_job(slurm_cluster, NAME) == job
    assert _peer_sockets(b) == []  # B's relay to a job of its own took the place of the peer one
    assert _text(b, NAME, "LifecycleConfigOnStart").count("onstart-ran") == 1

    sm.stop_notebook_instance(NotebookInstanceName=NAME)
    _wait(b, "notebook_instance_stopped")
    assert slurm_cluster.job(job)[0] in ENDED  # B cancelled A's job: its allocation is free
    assert not [j for j, state, _ in _jobs(slurm_cluster, NAME) if state not in ENDED]

    sm.start_notebook_instance(NotebookInstanceName=NAME)
    _wait(b)
    assert _live_job(slurm_cluster, NAME) != job  # a new job, submitted by B
    assert _runner_pids(b)[NAME] == b.proc.pid
    assert _open(b, NAME).run(READ_BOOT_ID).strip() != boot_id
    assert _text(b, NAME, "LifecycleConfigOnStart").count("onstart-ran") == 2
    sm.stop_notebook_instance(NotebookInstanceName=NAME)
    _wait(b, "notebook_instance_stopped")
