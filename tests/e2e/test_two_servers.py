"""Two Selfmaker servers on one PostgreSQL database and one data dir (`selfmaker up` twice, a lease of 3 s): each
serves every instance, neither runs another's transition, and one carries on the work of the other when it dies.

The tests run in order on the same pair of servers: A runs the instances, B is restarted beside it, then A is
killed and B takes over.
"""

from __future__ import annotations

import signal
import time

import pytest
import sqlalchemy

from tests.conftest import ServerProcess, _stop_everything
from tests.e2e.test_notebook_lifecycle import WAIT, _b64, _open, _stream
from tests.e2e.test_restart_and_failures import ROLE

LEASE = 3.0  # seconds: a runner whose heartbeat is older is dead
ON_CREATE = "#!/bin/bash\necho oncreate-ran\nsleep 4\n"  # long enough to be cut short by a death
ON_START = "#!/bin/bash\necho onstart-ran\nhead -c 8 /dev/urandom | od -An -tx1 | tr -d ' ' > /tmp/boot-id\n"
READ_BOOT_ID = "print(open('/tmp/boot-id').read().strip())"
LOOPS = ("idle-checker", "budget-checker")  # the leases of the loops that run in one server at a time


@pytest.fixture(scope="module")
def pair(tmp_path_factory, postgres):
    base = tmp_path_factory.mktemp("two-servers")
    url = postgres.create_database()
    env = {"SELFMAKER_LEASE_SECONDS": str(LEASE), "SELFMAKER_IDLE_CHECK_SECONDS": "0.5",
           "SELFMAKER_BUDGET_CHECK_SECONDS": "0.5"}
    a = ServerProcess(base / "data", base / "home-a", lifecycle_timeout=60, extra_env=env, database_url=url)
    b = ServerProcess(base / "data", base / "home-b", lifecycle_timeout=60, extra_env=env, database_url=url)
    a.start()
    try:
        b.start()
        try:
            a.client("sagemaker").create_notebook_instance_lifecycle_config(
                NotebookInstanceLifecycleConfigName="slow-create",
                OnCreate=[{"Content": _b64(ON_CREATE)}], OnStart=[{"Content": _b64(ON_START)}])
            yield a, b
        finally:
            b.kill(signal.SIGTERM)
    finally:
        _stop_everything(a)  # and every sandbox of the shared data dir


def _runner_pids(server: ServerProcess) -> dict[str, int]:
    """Instance name (or a loop's lease name) → the pid of the server that holds it, from the store's leases
    (runner ids are host:pid:…)."""
    engine = sqlalchemy.create_engine(server.database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text(
                "SELECT COALESCE(n.name, l.name), l.holder FROM leases l "
                "LEFT JOIN notebook_instances n ON l.name = 'notebook-instance/' || n.instance_id")).all()
    finally:
        engine.dispose()
    return {name: int(holder.split(":")[1]) for name, holder in rows}


def _wait_held(server: ServerProcess, names: tuple[str, ...], by: ServerProcess) -> None:
    deadline = time.time() + 10 * LEASE
    while any(_runner_pids(server).get(name) != by.proc.pid for name in names):
        assert time.time() < deadline, f"{names} never came to the server with pid {by.proc.pid}"
        time.sleep(0.2)


def _create(server: ServerProcess, name: str, config: str | None = None) -> None:
    extra = {"LifecycleConfigName": config} if config else {}
    server.client("sagemaker").create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
                                                        RoleArn=ROLE, **extra)


def _wait(server: ServerProcess, name: str, waiter: str = "notebook_instance_in_service") -> None:
    server.client("sagemaker").get_waiter(waiter).wait(NotebookInstanceName=name, WaiterConfig=WAIT)


def _wait_for_line(server: ServerProcess, name: str, suffix: str, line: str) -> None:
    deadline = time.time() + 60
    while line not in _text(server, name, suffix):
        assert time.time() < deadline, f"{line!r} never came in {name}/{suffix}"
        time.sleep(0.2)


def _text(server: ServerProcess, name: str, suffix: str) -> str:
    try:
        return _stream(server, name, suffix)
    except server.client("logs").exceptions.ResourceNotFoundException:
        return ""


def test_b_describes_and_serves_what_a_runs(pair):
    a, b = pair
    _create(a, "run-by-a")
    _wait(b, "run-by-a")  # B reads the status A writes
    assert _runner_pids(a)["run-by-a"] == a.proc.pid
    assert _open(b, "run-by-a").run("print(6 * 7)").strip() == "42"  # A's Jupyter through B's proxy
    assert _open(a, "run-by-a").run("print(6 * 7)").strip() == "42"
    _wait_held(a, LOOPS, by=a)  # the loops that run once per cluster run in A only, the first to start
    time.sleep(LEASE)
    assert all(_runner_pids(b)[name] == a.proc.pid for name in LOOPS)


def test_a_stop_through_b_is_carried_out_by_b(pair):
    a, b = pair
    b.client("sagemaker").stop_notebook_instance(NotebookInstanceName="run-by-a")
    _wait(a, "run-by-a", "notebook_instance_stopped")
    assert _runner_pids(a)["run-by-a"] == b.proc.pid
    b.client("sagemaker").start_notebook_instance(NotebookInstanceName="run-by-a")
    _wait(a, "run-by-a")
    assert _runner_pids(a)["run-by-a"] == b.proc.pid
    time.sleep(LEASE)  # A's sweeps meanwhile: it let go of the sandbox it ran, and keeps off the new one
    for server in (a, b):
        assert _open(server, "run-by-a").run("print(6 * 7)").strip() == "42"


def test_a_server_started_beside_a_live_one_leaves_its_instances_alone(pair):
    a, b = pair
    _create(a, "pending-on-a", "slow-create")
    _wait_for_line(a, "pending-on-a", "LifecycleConfigOnCreate", "oncreate-ran")  # Pending, OnCreate running
    b.kill(signal.SIGTERM)
    b.start()  # its first sweep runs before it answers
    _wait(b, "pending-on-a")
    assert _runner_pids(a)["pending-on-a"] == a.proc.pid
    assert _text(a, "pending-on-a", "LifecycleConfigOnCreate").count("oncreate-ran") == 1
    assert _text(a, "pending-on-a", "LifecycleConfigOnStart").count("onstart-ran") == 1


def test_when_a_dies_b_finishes_its_start_and_adopts_its_running_instance(pair):
    a, b = pair
    boot_id = _open(a, "pending-on-a").run(READ_BOOT_ID).strip()
    assert len(boot_id) == 16
    _create(a, "cut-short", "slow-create")
    _wait_for_line(a, "cut-short", "LifecycleConfigOnCreate", "oncreate-ran")
    a.kill(signal.SIGKILL)

    _wait(b, "cut-short")  # B took it over once A's heartbeat aged, and started it anew
    assert _text(b, "cut-short", "LifecycleConfigOnCreate").count("oncreate-ran") == 1  # OnCreate runs once
    assert _text(b, "cut-short", "LifecycleConfigOnStart").count("onstart-ran") == 1
    _wait_held(b, ("pending-on-a", *LOOPS), by=b)  # adopted by the same sweep, or the next; the loops too
    sm = b.client("sagemaker")
    assert sm.describe_notebook_instance(NotebookInstanceName="pending-on-a")["NotebookInstanceStatus"] == "InService"
    assert _open(b, "pending-on-a").run(READ_BOOT_ID).strip() == boot_id  # the same sandbox, not restarted
    assert _text(b, "pending-on-a", "LifecycleConfigOnStart").count("onstart-ran") == 1
    sm.stop_notebook_instance(NotebookInstanceName="pending-on-a")
    _wait(b, "pending-on-a", "notebook_instance_stopped")
    sm.start_notebook_instance(NotebookInstanceName="pending-on-a")
    _wait(b, "pending-on-a")
    assert _text(b, "pending-on-a", "LifecycleConfigOnStart").count("onstart-ran") == 2
    assert _open(b, "pending-on-a").run(READ_BOOT_ID).strip() != boot_id
