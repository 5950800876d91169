"""SlurmRuntime: every notebook instance is a Slurm batch job; the node Slurm chose runs its sandbox.

Start writes the instance's spec into its job directory on shared storage (``<slurm dir>/jobs/<id>/``, root
only) and submits ``python -m selfmaker.runtime.slurm_node <job dir>`` with ``sbatch``, asking for the instance
type's CPUs, memory and GPUs in the type's partition. While the job waits in the queue the instance stays
Pending and its jupyter.log stream says why (Slurm's reason: Priority, Resources …). On the node the agent starts
the sandbox exactly as the local runtime does and reports back (runtime/node_link.py: a one-time ticket, the port
its Jupyter relay listens on). From then on the gateway reaches Jupyter through a Unix socket of this process
that joins each connection to the node with the instance's relay key, so nothing else changes for the proxy.

What the server keeps of a job is in ``state.json`` beside the spec (job id, node address, log offset), so a
restarted server (or another Selfmaker process) re-adopts a running job. A job that ends without a Stop
(``scancel`` by someone else, preemption, a time limit, a node failure) makes the instance Stopped or Failed
with Slurm's words. Volumes are ext4 images under ``<slurm dir>/volumes``, loop-mounted by the node that runs
the instance, so VolumeSizeInGB holds on any shared file system that stores sparse files.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
import shlex
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from selfmaker.runtime import node_link
from selfmaker.runtime.base import (
    JUPYTER_STREAM,
    ON_CREATE_STREAM,
    ON_START_STREAM,
    Endpoint,
    InstanceSpec,
    LifecycleFailure,
    LogSink,
)
from selfmaker.runtime.jupyter import answers
from selfmaker.runtime.local import disk_usage, volume_image
from selfmaker.runtime.sandbox.disks import DiskImages
from selfmaker.runtime.sandbox.network import splice
from selfmaker.runtime.slurm_jobs import LIVE_STATES, Job, Slurm, SlurmError, Submission, ended_reason
from selfmaker.runtime.slurm_node import FAILURE_FILE, GATEWAY_FILE, LOGS_FILE, SPEC_FILE

log = logging.getLogger(__name__)

POLL = 1.0  # seconds between looks at the queue while a job starts
WATCH_INTERVAL = 3.0  # … while it runs
STOP_TIMEOUT = 180.0  # scancel → gone: Slurm's KillWait (30 s by default) and then some
READY_TIMEOUT = 60.0  # Jupyter answering through the relay once the node said READY
READ_CHUNK = 1 << 20  # log bytes read per pass
MAX_UNPROVEN = 256  # gateway connections at once that have not yet opened with their line
PEER_RECHECK = 2.0  # seconds a relay to another server's instance is trusted before its state is read again
STREAMS = {ON_CREATE_STREAM, ON_START_STREAM, JUPYTER_STREAM}
IMAGE_SETTINGS = ("packages.txt", "environments.yaml")  # <data dir>/image/*: what the image is built from
NODE_ENV = ("SELFMAKER_IMAGE", "SELFMAKER_IMAGE_DIR", "SELFMAKER_IMAGE_SUITE", "SELFMAKER_DEBIAN_MIRROR",
            "SELFMAKER_SCRATCH_GB", "SELFMAKER_ENVIRONMENTS_FILE")


@dataclass
class SlurmSettings:
    shared_dir: Path  # on every node, at the same path
    gateway_host: str = "0.0.0.0"  # where node agents reach this server (bound here)
    gateway_port: int = 0
    advertised_host: str = ""  # the name nodes use for it ("": this host's name, or the bound address)
    partition: str = ""  # "": Slurm's default partition
    partitions: dict[str, str] = field(default_factory=dict)  # instance type → partition
    time_limit: str = ""  # "": the partition's
    python: str = sys.executable  # the same installation of Selfmaker on every node


@dataclass
class _Job:
    instance_id: str
    dir: Path
    token: str = ""  # Jupyter's secret (as the gateway sends it)
    relay_key: str = ""  # what opens the node's Jupyter relay
    guest_key: str = ""  # what opens this server's guest services to the node
    ticket: str | None = None  # the one-time READY ticket, until used
    job_id: str = ""
    address: tuple[str, int] | None = None  # the node's Jupyter relay
    offset: int = 0  # of logs.jsonl, shipped so far
    spec: InstanceSpec | None = None
    sink: LogSink | None = None
    ready: asyncio.Future | None = None
    relay: asyncio.Server | _LazyServer | None = None
    socket_path: str = ""
    watch: asyncio.Task | None = None
    waiting: str = ""  # the queue's last reason, as said in the log
    checked: float = 0.0  # of a peer's: when its state.json was last read


class SlurmRuntime:
    def __init__(self, data_dir: Path, settings: SlurmSettings, on_gpus: Callable[[list[int]], None] | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.settings = settings
        self.shared = Path(settings.shared_dir).resolve()
        self.slurm = Slurm()
        digest = hashlib.sha256(str(self.shared).encode()).hexdigest()[:8]
        self.socket_root = Path(f"/tmp/selfmaker-slurm-{digest}")
        self.node_dir = str(node_dir(self.shared))
        self.disks = DiskImages()
        self._jobs: dict[str, _Job] = {}
        self._peers: dict[str, _Job] = {}  # instances other servers run, reached through relays of ours
        self._gateway: asyncio.Server | None = None
        self._gateway_address: tuple[str, int] | None = None
        self._unproven = 0  # gateway connections still to send their opening line
        self._queue: dict[str, Job] = {}
        self._queue_at = 0.0
        self._queue_lock = asyncio.Lock()
        self._gpus: dict[str, tuple[int, str]] = {}
        self.on_gpus = on_gpus
        if self.slurm.unavailable() is None:
            self.refresh_gpus()

    # --- the Runtime protocol ---

    def unenforced(self) -> list[str]:
        reason = self.slurm.unavailable()
        return [reason] if reason else []

    async def start(self, spec: InstanceSpec, log_sink: LogSink) -> Endpoint:
        await self.stop(spec.instance_id)
        job = _Job(spec.instance_id, self._job_dir(spec.instance_id), token=secrets.token_urlsafe(32),
                   relay_key=secrets.token_urlsafe(32), guest_key=secrets.token_urlsafe(32),
                   ticket=secrets.token_urlsafe(32), spec=spec, sink=log_sink)
        job.ready = asyncio.get_running_loop().create_future()
        self._jobs[spec.instance_id] = job
        self._drop_peer(spec.instance_id)  # one another server ran until now
        try:
            gateway = await self._ensure_gateway()
            await asyncio.to_thread(self._write_job, spec, job, gateway)
            try:
                job.job_id = await self.slurm.submit(self._submission(spec, job))
            except SlurmError as err:
                raise LifecycleFailure(f"Notebook Instance '{spec.arn}' failed to start: Slurm refused its job: "
                                       f"{err}") from None
            self._save(job)
            await self._say(job, f"Selfmaker: submitted Slurm job {job.job_id}.")
            job.address = await self._wait_ready(spec, job)
            await self._open_relay(job)
            if not await self._answers(job, spec):
                raise LifecycleFailure(f"Notebook Instance '{spec.arn}' failed to start: its Jupyter server on "
                                       f"{job.address[0]} did not answer.")
            self._save(job)
        except BaseException:
            await self.stop(spec.instance_id)  # also when cancelled: no job left in the queue
            raise
        job.watch = asyncio.create_task(self._watch(job))
        return self._endpoint(job)

    async def stop(self, instance_id: str) -> None:
        job = self._jobs.pop(instance_id, None) or self._load(instance_id)
        if job is None:
            return
        if job.watch is not None and job.watch is not asyncio.current_task():
            job.watch.cancel()
            await asyncio.gather(job.watch, return_exceptions=True)
        self._close_relay(job)
        if job.job_id:
            try:
                await self.slurm.cancel(job.job_id)
                await self._wait_gone(job.job_id)
            except SlurmError as err:
                log.warning("cancelling Slurm job %s of %s: %s", job.job_id, instance_id, err)
        if job.sink is not None:
            with contextlib.suppress(Exception):  # the last lines often hold the reason a script failed
                await self._ship(job, flush=True)
        job.job_id, job.address = "", None
        self._save(job)

    async def delete(self, instance_id: str, volume_dir: Path) -> None:
        await self.stop(instance_id)
        volume = self.volume_dir(instance_id)
        await asyncio.to_thread(self._remove_volume, volume)
        await asyncio.to_thread(shutil.rmtree, self._job_dir(instance_id), True)

    async def adopt(self, spec: InstanceSpec, log_sink: LogSink) -> Endpoint | None:
        job = self._jobs.get(spec.instance_id) or self._load(spec.instance_id)
        if job is not None and job.job_id and job.address is not None:
            live = (await self._states([job.job_id])).get(job.job_id)
            job.spec, job.sink = spec, log_sink
            if live is not None and live.state == "RUNNING":
                self._jobs[spec.instance_id] = job
                self._drop_peer(spec.instance_id)  # ours now: the relay opened below replaces the peer's
                gateway = await self._ensure_gateway()  # the node's guest services come back through it
                await asyncio.to_thread(_write_private, job.dir / GATEWAY_FILE, json.dumps(list(gateway)))
                await self._open_relay(job)
                if await answers(self._endpoint(job), spec.base_url):
                    if job.watch is None:
                        job.watch = asyncio.create_task(self._watch(job))
                    return self._endpoint(job)
        await self.stop(spec.instance_id)
        return None

    def endpoint(self, instance_id: str) -> Endpoint | None:
        job = self._jobs.get(instance_id)
        if job is not None:
            return self._endpoint(job) if job.relay is not None else None
        return self._peer_endpoint(instance_id)

    async def release(self, instance_id: str) -> None:
        """Let go of an instance another server took over: its job runs on, and this process no longer watches
        it, relays to it or writes its state."""
        job = self._jobs.pop(instance_id, None)
        if job is None:
            return
        if job.watch is not None:
            job.watch.cancel()
            await asyncio.gather(job.watch, return_exceptions=True)
        self._close_relay(job)

    def _peer_endpoint(self, instance_id: str) -> Endpoint | None:
        """An instance another server runs (several servers on one store): a relay of this process to its node,
        from its state.json, without taking it over. Opened here without waiting: the socket listens at once,
        the server behind it starts on the event loop."""
        peer = self._peers.get(instance_id)
        if peer is not None and time.monotonic() - peer.checked < PEER_RECHECK:
            return self._endpoint(peer)  # read again only now and then: this runs for every proxied request
        job = self._load(instance_id)
        if job is None or job.address is None:
            self._drop_peer(instance_id)
            return None
        if peer is None or peer.address != job.address:
            self._drop_peer(instance_id)
            job.socket_path = str(self.socket_root / f"{instance_id}.peer.sock")
            listener = _listening_unix_socket(self.socket_root, job.socket_path)
            job.relay = _LazyServer(asyncio.ensure_future(
                asyncio.start_unix_server(self._relay_handler(job), sock=listener)))
            self._peers[instance_id] = peer = job
        peer.checked = time.monotonic()
        return self._endpoint(peer)

    def _drop_peer(self, instance_id: str) -> None:
        peer = self._peers.pop(instance_id, None)
        if peer is not None:
            self._close_relay(peer)

    def alive(self, instance_id: str) -> bool:
        return self.endpoint(instance_id) is not None

    def volume_dir(self, instance_id: str) -> Path:
        return self.shared / "volumes" / instance_id

    def volume_used(self, volume_dir: Path) -> int:
        volume = self.volume_dir(volume_dir.name)  # the orchestrator names it by instance id
        image = volume_image(volume)
        return image.stat().st_blocks * 512 if image.exists() else disk_usage(volume)

    async def close(self) -> None:
        watches = [job.watch for job in self._jobs.values() if job.watch is not None]
        for watch in watches:
            watch.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
        for job in self._jobs.values():
            job.watch = None
            self._close_relay(job)
            self._save(job)
        for instance_id in list(self._peers):
            self._drop_peer(instance_id)
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None

    # --- what the console and the quotas read ---

    def placement(self, instance_id: str) -> dict | None:
        """Where an instance runs or waits: its job, state, reason, node and GPUs."""
        job = self._jobs.get(instance_id)
        if job is None or not job.job_id:
            return None
        queued = self._queue.get(job.job_id)
        placed = _read_json(job.dir / "placement.json")
        return {"runtime": "slurm", "job_id": job.job_id, "state": queued.state if queued else "",
                "reason": queued.reason if queued else "", "node": placed.get("node") or (queued.node if queued
                                                                                         else ""),
                "gpu_ids": placed.get("gpu_ids", []), "gpu_models": placed.get("gpu_models", [])}

    def refresh_gpus(self) -> None:
        """Read the cluster's GPUs per node and tell ``on_gpus`` (the quotas' cap); blocks briefly."""
        try:
            self._gpus = self.slurm.gpus_per_node()
        except SlurmError as err:
            log.warning("reading the Slurm cluster's GPUs: %s", err)
            return
        if self.on_gpus is not None:
            self.on_gpus([count for count, _ in self._gpus.values()])

    # --- starting ---

    def _job_dir(self, instance_id: str) -> Path:
        return self.shared / "jobs" / instance_id

    def _submission(self, spec: InstanceSpec, job: _Job) -> Submission:
        limits = spec.limits
        return Submission(
            script=str(job.dir / "job.sh"), job_name=f"selfmaker-{spec.name}", output=str(job.dir / "slurm.log"),
            workdir=str(job.dir), cpus=math.ceil(limits.cpus) if limits.cpus else 0,
            memory_mib=math.ceil(limits.memory_bytes / 2**20) if limits.memory_bytes else 0, gpus=spec.gpus,
            partition=self.settings.partitions.get(spec.instance_type) or self.settings.partition,
            time_limit=self.settings.time_limit)

    def _write_job(self, spec: InstanceSpec, job: _Job, gateway: tuple[str, int]) -> None:
        for path in (self.shared, self.shared / "jobs", self.shared / "volumes"):
            path.mkdir(mode=0o711, exist_ok=True)
        shutil.rmtree(job.dir, ignore_errors=True)
        job.dir.mkdir(mode=0o700)
        instance = {
            "instance_id": spec.instance_id, "name": spec.name, "arn": spec.arn, "base_url": spec.base_url,
            "on_create": spec.on_create, "on_start": spec.on_start, "first_start": spec.first_start,
            "lifecycle_arn": spec.lifecycle_arn, "lifecycle_timeout": spec.lifecycle_timeout, "gpus": spec.gpus,
            "accelerators": spec.accelerators, "env": spec.env, "metadata": spec.metadata,
            "volume_size_gb": spec.volume_size_gb, "internet": spec.internet, "root_access": spec.root_access,
            "aws_config": spec.aws_config, "instance_type": spec.instance_type,
            "limits": {"memory_bytes": spec.limits.memory_bytes, "cpus": spec.limits.cpus,
                       "pids": spec.limits.pids},
        }
        image_files = {name: (self.data_dir / "image" / name).read_text(errors="replace")
                       for name in IMAGE_SETTINGS if (self.data_dir / "image" / name).is_file()}
        config = {"instance": instance, "volume_dir": str(self.volume_dir(spec.instance_id)),
                  "services": [[service.address, service.port] for service in spec.services],
                  "token": job.token, "relay_key": job.relay_key, "guest_key": job.guest_key, "ticket": job.ticket,
                  "gateway": list(gateway), "node_dir": self.node_dir, "image_files": image_files}
        _write_private(job.dir / SPEC_FILE, json.dumps(config))
        env = "".join(f"export {name}={shlex.quote(os.environ[name])}\n" for name in NODE_ENV if name in os.environ)
        _write_private(job.dir / "job.sh", (
            f"#!/bin/sh\n# Selfmaker notebook instance {spec.name} ({spec.arn})\n"
            "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8\n"
            f"{env}exec {shlex.quote(self.settings.python)} -m selfmaker.runtime.slurm_node "
            f"{shlex.quote(str(job.dir))}\n"
        ), mode=0o700)

    async def _wait_ready(self, spec: InstanceSpec, job: _Job) -> tuple[str, int]:
        while True:
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(job.ready), POLL)
            await self._ship(job)
            try:
                queued = (await self._states([job.job_id])).get(job.job_id)
            except SlurmError as err:  # the controller is away for a moment: the job waits on regardless
                log.warning("reading the Slurm queue: %s", err)
                continue
            if queued is None or queued.state not in LIVE_STATES:
                if job.ready.done():
                    return job.ready.result()
                await self._ship(job, flush=True)
                raise LifecycleFailure(await self._failure(spec, job))
            if queued.state == "PENDING" and queued.reason != job.waiting:
                job.waiting = queued.reason
                await self._say(job, f"Selfmaker: Slurm job {job.job_id} is waiting in the queue: {queued.reason}.")
            elif queued.state == "RUNNING" and job.waiting != "RUNNING":
                job.waiting = "RUNNING"
                await self._say(job, f"Selfmaker: Slurm job {job.job_id} runs on {queued.node}.")

    async def _failure(self, spec: InstanceSpec, job: _Job) -> str:
        reason = await asyncio.to_thread(_read_text, job.dir / FAILURE_FILE)
        if reason:
            return reason
        _, ended = ended_reason(await self.slurm.show(job.job_id), job.job_id)
        return (f"Notebook Instance '{spec.arn}' failed to start: {ended}. "
                "Please check your CloudWatch logs for more details on the error.")

    async def _answers(self, job: _Job, spec: InstanceSpec) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if await answers(self._endpoint(job), spec.base_url):
                return True
            await asyncio.sleep(0.2)
        return False

    # --- running ---

    async def _watch(self, job: _Job) -> None:
        """Ship the logs; when the job ends without a Stop, tell the control plane why."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                await self._ship(job)
                queued = (await self._states([job.job_id])).get(job.job_id)
            except Exception:  # noqa: BLE001 - Slurm or the log service hiccuped: look again later
                log.exception("watching Slurm job %s", job.job_id)
                continue
            if queued is not None and queued.state in LIVE_STATES:
                continue
            await self._ship(job, flush=True)
            reason = await asyncio.to_thread(_read_text, job.dir / FAILURE_FILE)
            failed, ended = (True, reason) if reason else ended_reason(await self.slurm.show(job.job_id), job.job_id)
            self._close_relay(job)
            job.watch = None
            if job.spec is not None and job.spec.on_ended is not None:
                await job.spec.on_ended(failed, ended)
            return

    async def _states(self, job_ids: list[str]) -> dict[str, Job]:
        """The queue, read at most once a POLL for every job this runtime knows, whoever asks."""
        async with self._queue_lock:
            if time.monotonic() - self._queue_at >= POLL * 0.9 or any(i not in self._queue for i in job_ids):
                known = {job.job_id for job in self._jobs.values() if job.job_id} | set(job_ids)
                self._queue = await self.slurm.jobs(sorted(known))
                self._queue_at = time.monotonic()
            return self._queue

    async def _wait_gone(self, job_id: str) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            queued = (await self.slurm.jobs([job_id])).get(job_id)
            if queued is None or queued.state not in LIVE_STATES:
                return
            await asyncio.sleep(0.5)
        log.warning("Slurm job %s is still there %.0f s after scancel", job_id, STOP_TIMEOUT)

    # --- the relay to the node and the gateway for the nodes ---

    def _endpoint(self, job: _Job) -> Endpoint:
        return Endpoint(socket_path=job.socket_path or self._socket_path(job.instance_id), token=job.token)

    def _socket_path(self, instance_id: str) -> str:
        return str(self.socket_root / f"{instance_id}.sock")

    async def _open_relay(self, job: _Job) -> None:
        self._close_relay(job)
        self.socket_root.mkdir(mode=0o700, exist_ok=True)
        job.socket_path = self._socket_path(job.instance_id)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(job.socket_path)
        job.relay = await asyncio.start_unix_server(self._relay_handler(job), path=job.socket_path)
        os.chmod(job.socket_path, 0o600)

    @staticmethod
    def _relay_handler(job: _Job):
        address, opening = job.address, f"{job.relay_key}\n".encode()

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                node = await asyncio.open_connection(*address)
            except OSError:
                node_link.close(writer)
                return
            node[1].write(opening)
            await splice((reader, writer), node)

        return relay

    def _close_relay(self, job: _Job) -> None:
        if job.relay is not None:
            job.relay.close()
            job.relay = None
        if job.socket_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(job.socket_path)

    async def _ensure_gateway(self) -> tuple[str, int]:
        if self._gateway is None:
            self._gateway = await asyncio.start_server(self._serve_node, self.settings.gateway_host,
                                                       self.settings.gateway_port)
            port = self._gateway.sockets[0].getsockname()[1]
            host = self.settings.advertised_host or (
                socket.gethostname() if self.settings.gateway_host in ("0.0.0.0", "::", "") else
                self.settings.gateway_host)
            self._gateway_address = (host, port)
        return self._gateway_address

    async def _serve_node(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._unproven >= MAX_UNPROVEN:  # many connections that have not said their line: refuse more
            node_link.close(writer)
            return
        self._unproven += 1
        try:
            words = await node_link.read_line(reader)
        finally:
            self._unproven -= 1
        job = self._jobs.get(words[1]) if words and len(words) == 4 else None
        try:
            if job is not None and words[0] == "READY" and job.ticket and node_link.same(job.ticket, words[2]):
                port = int(words[3]) if words[3].isdigit() else 0
                if 0 < port < 65536 and job.ready is not None and not job.ready.done():
                    job.ticket = None  # once only
                    job.ready.set_result((writer.get_extra_info("peername")[0], port))
                    writer.write(b"OK\n")
                    await writer.drain()
                    return
            elif job is not None and words[0] == "GUEST" and node_link.same(job.guest_key, words[2]):
                services = job.spec.services if job.spec is not None else []
                index = int(words[3]) if words[3].isdigit() else -1
                if 0 <= index < len(services):
                    await services[index].handler(reader, writer)
                    return
            if words and words[0] == "READY":
                writer.write(b"REFUSED\n")
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            node_link.close(writer)

    # --- logs and state ---

    async def _say(self, job: _Job, message: str) -> None:
        if job.sink is not None:
            with contextlib.suppress(Exception):
                await job.sink(JUPYTER_STREAM, [(int(time.time() * 1000), message)])

    async def _ship(self, job: _Job, flush: bool = False) -> None:
        """Ship what the node agent wrote to logs.jsonl since the last pass."""
        if job.sink is None:
            return
        while True:
            batches, job.offset, more = await asyncio.to_thread(_read_events, job.dir / LOGS_FILE, job.offset)
            for stream, events in batches:
                await job.sink(stream, events)
            if batches:
                self._save(job)
            if not (flush and more):
                return

    def _save(self, job: _Job) -> None:
        if not job.dir.is_dir():
            return
        written = _read_json(job.dir / "state.json").get("job_id")
        if job.job_id and written and written != job.job_id:
            return  # another server started the instance anew since (it took it over): the state is its
        state = {"job_id": job.job_id, "address": list(job.address) if job.address else None, "offset": job.offset}
        _write_private(job.dir / "state.json", json.dumps(state))

    def _load(self, instance_id: str) -> _Job | None:
        job_dir = self._job_dir(instance_id)
        state, config = _read_json(job_dir / "state.json"), _read_json(job_dir / SPEC_FILE)
        if not state:
            return None
        address = state.get("address")
        return _Job(instance_id, job_dir, token=config.get("token", ""), relay_key=config.get("relay_key", ""),
                    guest_key=config.get("guest_key", ""), job_id=state.get("job_id") or "",
                    address=(address[0], int(address[1])) if address else None, offset=int(state.get("offset", 0)))

    def _remove_volume(self, volume: Path) -> None:
        if self.disks.supported:
            self.disks.remove(volume_image(volume), volume)
        if not self.disks.mounted(volume):
            shutil.rmtree(volume, ignore_errors=True)


class _LazyServer:
    """A relay server still starting on the event loop; closing it closes what it became."""

    def __init__(self, starting: asyncio.Future):
        self.starting = starting

    def close(self) -> None:
        if self.starting.done() and not self.starting.cancelled() and self.starting.exception() is None:
            self.starting.result().close()
        else:
            self.starting.add_done_callback(lambda done: done.cancelled() or done.exception() or done.result().close())


def _listening_unix_socket(folder: Path, path: str) -> socket.socket:
    folder.mkdir(mode=0o700, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(100)
    listener.setblocking(False)
    return listener


def node_dir(shared_dir: Path) -> Path:
    """Where a node keeps the sandboxes of one server's instances (scratch disks, their state): node-local."""
    digest = hashlib.sha256(str(Path(shared_dir).resolve()).encode()).hexdigest()[:8]
    return Path(f"/var/tmp/selfmaker-node-{digest}")


def _read_events(path: Path, offset: int) -> tuple[list[tuple[str, list[tuple[int, str]]]], int, bool]:
    """Whole lines of logs.jsonl from ``offset``: the batches, the new offset, and whether more is there."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read(READ_CHUNK)
    except FileNotFoundError:
        return [], offset, False
    end = chunk.rfind(b"\n") + 1
    if end == 0 and len(chunk) == READ_CHUNK:  # one line longer than a chunk is no batch of ours: skip it
        return [], offset + len(chunk), True
    batches = []
    for line in chunk[:end].splitlines():
        try:
            record = json.loads(line)
            stream, events = record["stream"], [(int(at), str(text)) for at, text in record["events"]]
        except (ValueError, KeyError, TypeError):
            continue  # not ours to ship: never let one bad line stop the rest
        if stream in STREAMS and events:
            batches.append((stream, events))
    return batches, offset + end, len(chunk) == READ_CHUNK


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def _write_private(path: Path, text: str, mode: int = 0o600) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
