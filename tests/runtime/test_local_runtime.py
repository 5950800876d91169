"""LocalRuntime against real bubblewrap sandboxes and real JupyterLab servers (needs root and bwrap)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from selfmaker.runtime.base import (
    JUPYTER_STREAM,
    ON_CREATE_STREAM,
    ON_START_STREAM,
    Endpoint,
    InstanceSpec,
    LifecycleFailure,
)
from selfmaker.runtime.jupyter import SECRET_HEADER
from selfmaker.runtime.local import LocalRuntime

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None, reason="needs root and bubblewrap")

VOLUME = "/home/ec2-user/SageMaker"


@pytest.fixture
def data_dir(tmp_path: Path):
    path = tmp_path / "data"
    yield path
    shutil.rmtree(LocalRuntime(path).socket_root, ignore_errors=True)  # the runtime keeps it for reuse


class Sink:
    """A log sink that keeps the lines of each stream."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = defaultdict(list)

    async def __call__(self, stream: str, events: list[tuple[int, str]]) -> None:
        self.lines[stream] += [message for _, message in events]


def make_spec(tmp_path: Path, **overrides) -> InstanceSpec:
    fields = {
        "instance_id": "nb-0123456789ab",
        "name": "test-nb",
        "arn": "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/test-nb",
        "volume_dir": tmp_path / "volume",
        "base_url": "/notebooks/test-nb/",
        "lifecycle_arn": "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance-lifecycle-config/lcc",
        "metadata": {"ResourceName": "test-nb", "ResourceArn": "arn:nb"},
    }
    return InstanceSpec(**(fields | overrides))


async def api_status(endpoint: Endpoint, base_url: str, token: str | None) -> int:
    headers = {SECRET_HEADER: token} if token else {}  # the gateway's way in (runtime/jupyter.py)
    transport = httpx.AsyncHTTPTransport(uds=endpoint.socket_path)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(f"http://localhost{base_url}api/status", headers=headers)
    return response.status_code


def stat_fields(pid: int | str) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ...); [] if no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat[stat.rindex(")") + 2 :].split()


def is_live(pid: int) -> bool:
    fields = stat_fields(pid)
    return bool(fields) and fields[0] != "Z"  # a zombie is dead, it only waits for its parent


def sandbox_pgid(data_dir: Path, spec: InstanceSpec) -> int:
    """The sandbox's outer bwrap, whose pid is also the process group of the sandbox."""
    return json.loads((data_dir / "run" / spec.instance_id / "state.json").read_text())["pid"]


def sandbox_pids(data_dir: Path, spec: InstanceSpec) -> list[int]:
    """Live processes of the instance's sandbox: those of its process group."""
    pgid = sandbox_pgid(data_dir, spec)
    return [
        int(name)
        for name in filter(str.isdigit, os.listdir("/proc"))
        if (fields := stat_fields(name)) and fields[2] == str(pgid) and fields[0] != "Z"
    ]


def processes_running(argv: str) -> list[int]:
    """Pids of live processes whose command line is exactly `argv` (space separated)."""
    wanted = argv.replace(" ", "\0") + "\0"
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{name}/cmdline").read_text() == wanted and is_live(int(name)):
                found.append(int(name))
        except OSError:
            continue
    return found


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


ON_CREATE = f"""
echo creating
echo create >> {VOLUME}/runs
"""

FIRST_ON_START = f"""
set -e
echo start >> {VOLUME}/runs
touch /home/ec2-user/home-file /tmp/tmp-file
cp /opt/ml/metadata/resource-metadata.json {VOLUME}/metadata.json
sudo -u ec2-user whoami > {VOLUME}/whoami
sudo -u ec2-user python -c "import multiprocessing; multiprocessing.Lock()"  # needs a writable /dev/shm
test ! -e /run/dbus  # the host's /run is not shared
sudo -i -u ec2-user bash <<EOF
echo "\\$(whoami) \\$HOME \\$(which python)" > ~/SageMaker/login
EOF
nohup sleep 86401 > /dev/null 2>&1 &
echo "started in background"
"""

SECOND_ON_START = f"""
echo start >> {VOLUME}/runs
ls -A /home/ec2-user > {VOLUME}/home-listing
ls -A /tmp > {VOLUME}/tmp-listing
"""


@pytest.mark.parametrize("image", ["image", "host"])
def test_start_restart_and_stop(tmp_path: Path, data_dir: Path, image: str, monkeypatch) -> None:
    if image == "host":  # the fallback without the instance image: the host's programs, read-only
        monkeypatch.setenv("SELFMAKER_IMAGE", "host")
    runtime = LocalRuntime(data_dir)
    assert (runtime.images is None) == (image == "host")
    volume = tmp_path / "volume"

    async def scenario() -> None:
        sink = Sink()
        spec = make_spec(tmp_path, on_create=ON_CREATE, on_start=FIRST_ON_START, first_start=True)
        started = time.monotonic()
        endpoint = await runtime.start(spec, sink)
        print(f"\nstart took {time.monotonic() - started:.2f} s")
        try:
            assert runtime.alive(spec.instance_id)
            assert runtime.endpoint(spec.instance_id) == endpoint
            assert await api_status(endpoint, spec.base_url, endpoint.token) == 200
            assert await api_status(endpoint, spec.base_url, None) == 403

            assert sink.lines[ON_CREATE_STREAM] == ["creating"]
            assert sink.lines[ON_START_STREAM] == ["started in background"]
            assert any("Jupyter Server" in line for line in sink.lines[JUPYTER_STREAM])
            assert json.loads((volume / "metadata.json").read_text()) == spec.metadata
            assert (volume / "whoami").read_text() == "ec2-user\n"
            login = (volume / "login").read_text().split()
            assert login[:2] == ["ec2-user", "/home/ec2-user"]
            # The image's /usr/bin/python (python-is-python3); without one, the server's venv comes first.
            assert login[2] == ("/usr/bin/python" if runtime.image else str(Path(runtime.python).parent / "python"))
            assert (volume / "login").stat().st_uid == 1000

            # The script is over, its background process lives on in the sandbox.
            sleepers = processes_running("sleep 86401")
            assert sleepers and set(sleepers) <= set(sandbox_pids(data_dir, spec))

            await asyncio.sleep(1)  # idle
            pids = sandbox_pids(data_dir, spec)
            jupyter_pids = [pid for pid in pids if pid not in sleepers]
            total = sum(rss_kib(pid) for pid in jupyter_pids)
            print(f"idle RSS of the sandbox (without the test's sleep): {total / 1024:.1f} MiB")
        finally:
            await runtime.stop(spec.instance_id)
        assert not runtime.alive(spec.instance_id)
        assert runtime.endpoint(spec.instance_id) is None
        assert not processes_running("sleep 86401")
        assert not Path(endpoint.socket_path).exists()
        await runtime.stop(spec.instance_id)  # idempotent

        # Second start: OnCreate does not run again, the volume is kept, /home/ec2-user and /tmp are new.
        spec = make_spec(tmp_path, on_create="echo create-again >> " + VOLUME + "/runs", on_start=SECOND_ON_START)
        endpoint = await runtime.start(spec, Sink())
        try:  # the volume is mounted from its image while the instance runs
            assert await api_status(endpoint, spec.base_url, endpoint.token) == 200
            assert (volume / "runs").read_text() == "create\nstart\nstart\n"
            assert "home-file" not in (volume / "home-listing").read_text().split()
            assert "tmp-file" not in (volume / "tmp-listing").read_text().split()
        finally:
            await runtime.stop(spec.instance_id)
        assert not runtime.disks.mounted(volume)  # a Stopped instance holds no mount

    asyncio.run(scenario())


def test_adopt_after_server_restart(tmp_path: Path, data_dir: Path) -> None:
    spec = make_spec(tmp_path, on_start="nohup setsid sleep 86402 > /dev/null 2>&1 &")

    async def scenario() -> None:
        first = LocalRuntime(data_dir)
        endpoint = await first.start(spec, Sink())
        first_pid = sandbox_pgid(data_dir, spec)
        await first.close()  # the server goes away; the sandbox stays
        second = LocalRuntime(data_dir)
        try:
            sink = Sink()
            assert await second.adopt(spec, sink) == endpoint
            assert second.alive(spec.instance_id)
            assert await api_status(endpoint, spec.base_url, endpoint.token) == 200
            pids = sandbox_pids(data_dir, spec)
            assert processes_running("sleep 86402")
        finally:
            await second.stop(spec.instance_id)
        assert not any(is_live(pid) for pid in pids)
        assert not processes_running("sleep 86402")  # escaped the process group, not the sandbox
        assert await LocalRuntime(data_dir).adopt(spec, Sink()) is None
        # The sandbox is still this test process's child (a restarted server's would be init's): reap it.
        os.waitpid(first_pid, 0)

    asyncio.run(scenario())


def test_failing_script_raises_with_exit_code(tmp_path: Path, data_dir: Path) -> None:
    runtime = LocalRuntime(data_dir)
    spec = make_spec(tmp_path, on_start="echo about to fail\nexit 3")
    sink = Sink()
    with pytest.raises(LifecycleFailure) as failure:
        asyncio.run(runtime.start(spec, sink))
    assert failure.value.reason == (
        f"Notebook Instance Lifecycle Config '{spec.lifecycle_arn}' for Notebook Instance '{spec.arn}' "
        "failed. Please check your CloudWatch logs for more details on the error. (exit code 3)"
    )
    assert sink.lines[ON_START_STREAM] == ["about to fail"]
    assert not runtime.alive(spec.instance_id)
    assert not (data_dir / "run" / spec.instance_id / "state.json").exists()


def test_overrunning_script_is_killed(tmp_path: Path, data_dir: Path) -> None:
    runtime = LocalRuntime(data_dir)
    spec = make_spec(tmp_path, on_start="echo waiting\nsleep 86403", lifecycle_timeout=2)
    sink = Sink()
    started = time.monotonic()
    with pytest.raises(LifecycleFailure) as failure:
        asyncio.run(runtime.start(spec, sink))
    assert 2 <= time.monotonic() - started < 10
    assert failure.value.reason == (
        f"Notebook Instance Lifecycle Config '{spec.lifecycle_arn}' for Notebook Instance '{spec.arn}' "
        "took longer than 2 seconds. Please check your CloudWatch logs for more details on the error."
    )
    assert sink.lines[ON_START_STREAM] == ["waiting"]
    assert not processes_running("sleep 86403")
