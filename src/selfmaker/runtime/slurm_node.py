"""The node agent: what a Slurm batch job of a notebook instance runs, on the node Slurm chose.

``python -m selfmaker.runtime.slurm_node <job dir>`` reads the instance's spec from the job's directory on shared
storage (written by runtime/slurm.py, root only), starts the instance as the local runtime does on a single host
(the same image, overlay, namespaces, limits and lifecycle supervisor), with exactly the GPUs Slurm assigned,
and then:
  - serves the instance's Jupyter on a TCP port of the node, to connections that open with the relay key;
  - tells the server where (``READY`` with a one-time ticket: see runtime/node_link.py);
  - relays the instance's guest services (the API, the metadata service) to the server;
  - writes the log events to ``logs.jsonl`` in the job directory, which the server ships to CloudWatch Logs;
  - on SIGTERM (scancel, a time limit, preemption) stops the sandbox within Slurm's KillWait and exits.
A start that fails leaves its reason in ``failure`` there and exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from selfmaker.runtime import node_link
from selfmaker.runtime.base import InstanceSpec, LifecycleFailure
from selfmaker.runtime.local import LocalRuntime
from selfmaker.runtime.sandbox.limits import Limits
from selfmaker.runtime.sandbox.network import GuestService, splice

log = logging.getLogger("selfmaker.slurm_node")

SPEC_FILE = "spec.json"
LOGS_FILE = "logs.jsonl"
FAILURE_FILE = "failure"
GATEWAY_FILE = "gateway.json"
ALIVE_INTERVAL = 2.0
READY_ATTEMPTS = 30  # one a second: the server may be restarting


class EventLog:
    """Log events appended as JSON lines, one batch a line; a line is written whole or not at all."""

    def __init__(self, path: Path):
        self.path = path

    async def sink(self, stream: str, events: list[tuple[int, str]]) -> None:
        line = json.dumps({"stream": stream, "events": events}) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def assigned_gpus() -> list[int] | None:
    """The GPUs Slurm gave this job: their indexes on the node (SLURM_JOB_GPUS, else CUDA_VISIBLE_DEVICES)."""
    for name in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES"):
        value = os.environ.get(name, "").strip()
        if value and all(part.isdigit() for part in value.split(",")):
            return [int(part) for part in value.split(",")]
    return None


def instance_spec(job_dir: Path, config: dict, guest: tuple[str, int], on_failure) -> InstanceSpec:
    fields = dict(config["instance"])
    limits = Limits(**fields.pop("limits"))
    services = [GuestService(address, port, _guest_relay(job_dir, guest, config, index))
                for index, (address, port) in enumerate(config["services"])]
    return InstanceSpec(**fields, volume_dir=Path(config["volume_dir"]), limits=limits, services=services,
                        on_failure=on_failure, gpu_ids=assigned_gpus() if fields.get("gpus") else None)


def current_gateway(job_dir: Path, first: tuple[str, int]) -> tuple[str, int]:
    """Where the server's gateway is now: a restarted server that adopted the job says so in gateway.json."""
    try:
        host, port = json.loads((job_dir / GATEWAY_FILE).read_text())
        return str(host), int(port)
    except (OSError, ValueError, TypeError):
        return first


def _guest_relay(job_dir: Path, gateway: tuple[str, int], config: dict, index: int):
    opening = f"GUEST {config['instance']['instance_id']} {config['guest_key']} {index}\n".encode()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up = await asyncio.open_connection(*current_gateway(job_dir, gateway))
        except OSError:
            node_link.close(writer)
            return
        up[1].write(opening)
        await splice((reader, writer), up)

    return relay


def _jupyter_relay(socket_path: str, relay_key: str):
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        words = await node_link.read_line(reader)
        if words is None or len(words) != 1 or not node_link.same(relay_key, words[0]):
            node_link.close(writer)
            return
        try:
            jupyter = await asyncio.open_unix_connection(socket_path)
        except OSError:
            node_link.close(writer)
            return
        await splice((reader, writer), jupyter)

    return relay


async def report_ready(gateway: tuple[str, int], instance_id: str, ticket: str, port: int) -> bool:
    for _ in range(READY_ATTEMPTS):
        try:
            reader, writer = await asyncio.open_connection(*gateway)
            writer.write(f"READY {instance_id} {ticket} {port}\n".encode())
            await writer.drain()
            answer = await asyncio.wait_for(reader.readline(), node_link.LINE_TIMEOUT)
            node_link.close(writer)
            if answer.strip() == b"OK":
                return True
            if answer.strip() == b"REFUSED":  # the server does not expect us (any more): give up
                return False
        except (OSError, TimeoutError, ConnectionError):
            pass
        await asyncio.sleep(1.0)
    return False


def _write_placement(job_dir: Path, gpu_ids: list[int] | None) -> None:
    """Where the instance runs, for its page: the node, and its GPUs with their models as the driver names them."""
    models: list[str] = []
    smi = shutil.which("nvidia-smi")
    if gpu_ids and smi:
        try:
            listing = subprocess.run([smi, "--query-gpu=index,name", "--format=csv,noheader"], capture_output=True,
                                     text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            listing = ""
        names = dict(line.split(", ", 1) for line in listing.splitlines() if ", " in line)
        models = [names.get(str(index), "") for index in gpu_ids]
    placement = {"node": os.environ.get("SLURMD_NODENAME") or socket.gethostname(), "gpu_ids": gpu_ids or [],
                 "gpu_models": models}
    (job_dir / "placement.json").write_text(json.dumps(placement))


async def run(job_dir: Path) -> int:
    config = json.loads((job_dir / SPEC_FILE).read_text())
    node_dir = Path(config["node_dir"])
    (node_dir / "image").mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, text in config.get("image_files", {}).items():  # the admin's image settings, as the server has them
        (node_dir / "image" / Path(name).name).write_text(text)
    failure_file = job_dir / FAILURE_FILE
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)

    async def failed(reason: str) -> None:
        failure_file.write_text(reason)
        stop.set()

    gateway = (config["gateway"][0], int(config["gateway"][1]))
    spec = instance_spec(job_dir, config, gateway, failed)
    _write_placement(job_dir, spec.gpu_ids)  # known before the scripts run: the instance's page shows it
    runtime = LocalRuntime(node_dir, die_with_parent=True)
    events = EventLog(job_dir / LOGS_FILE)
    starting = asyncio.create_task(runtime.start(spec, events.sink, token=config["token"]))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():  # cancelled while starting: the local runtime leaves nothing running
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        return 0
    stopping.cancel()
    try:
        endpoint = starting.result()
    except LifecycleFailure as failure:
        failure_file.write_text(failure.reason)
        return 1
    server = await asyncio.start_server(_jupyter_relay(endpoint.socket_path, config["relay_key"]),
                                        host=config.get("bind") or "0.0.0.0", port=0)
    port = server.sockets[0].getsockname()[1]
    code = 0
    if not await report_ready(gateway, spec.instance_id, config["ticket"], port):
        failure_file.write_text(f"Notebook Instance '{spec.arn}' failed to start: its node could not reach the "
                                f"Selfmaker server at {gateway[0]}:{gateway[1]}.")
        code = 1
    else:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), ALIVE_INTERVAL)
            if not stop.is_set() and not runtime.alive(spec.instance_id):
                failure_file.write_text(f"Notebook Instance '{spec.arn}' stopped: its Jupyter server exited.")
                code = 1
                break
    server.close()
    await runtime.stop(spec.instance_id)
    await runtime.close()
    return code


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if len(sys.argv) != 2:
        sys.exit("usage: python -m selfmaker.runtime.slurm_node JOB_DIR")
    sys.exit(asyncio.run(run(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
