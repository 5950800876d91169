"""An instance's own network: a named network namespace, user-mode NAT to the outside, and the host's
services (the API, instance metadata) listening inside it.

Per instance there is a namespace `/run/netns/<prefix><id>` with its own loopback and, at
169.254.169.254 on that loopback, the metadata address. The sandbox joins it and holds no capability to
change it (no CAP_NET_ADMIN, no CAP_NET_RAW). What the instance may reach is what listens in there:
this server creates those listening sockets itself, from a thread that enters the namespace for a
moment, and serves them on its event loop, so a socket tells which instance is calling. With
DirectInternetAccess, slirp4netns (in a mount namespace of its own, sandboxed, seccomp-filtered) gives
the namespace a NAT to the outside; the host's loopback, the host's own addresses and link-local
169.254.0.0/16 (a cloud host's metadata service) are unreachable routes there. Without it, nothing
but loopback exists.

The namespace outlives this process, as sandboxes do: after a restart the server serves it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
METADATA_ADDRESS = "169.254.169.254"
DNS_ADDRESS = "10.0.2.3"  # slirp4netns's resolver, forwarding to the host's
READY_TIMEOUT = 10.0
MAX_CONNECTIONS = 128  # per service and instance: a guest cannot run the server out of descriptors
_CLONE_NEWNET = 0x40000000

ConnectionHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass(frozen=True)
class GuestService:
    """A service of the host that an instance finds at address:port in its own network."""

    address: str
    port: int
    handler: ConnectionHandler


class NetworkError(Exception):
    pass


def unsupported_reason() -> str | None:
    """Why this host cannot give instances networks of their own, or None when it can."""
    if os.geteuid() != 0:
        return "network isolation needs the server to run as root"
    missing = [tool for tool in ("ip", "slirp4netns", "unshare", "nsenter") if shutil.which(tool) is None]
    return f"network isolation needs {', '.join(missing)}" if missing else None


class Networks:
    def __init__(self, prefix: str):
        self.prefix = prefix  # keeps the namespaces of two servers on one host apart

    def path(self, instance_id: str) -> Path:
        return NETNS_DIR / f"{self.prefix}{instance_id}"

    def exists(self, instance_id: str) -> bool:
        return self.path(instance_id).exists()

    # --- blocking: call from a worker thread ---

    def create(self, instance_id: str, internet: bool, log_path: Path) -> int | None:
        """Make the namespace afresh; returns the pid of its NAT (None without internet access)."""
        self.destroy(instance_id, None)
        name = self.path(instance_id).name
        _ip("netns", "add", name)
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "addr", "add", f"{METADATA_ADDRESS}/32", "dev", "lo")
        if not internet:
            return None
        for blocked in ["169.254.0.0/16", *(f"{address}/32" for address in _host_addresses())]:
            _ip("-n", name, "route", "add", "unreachable", blocked)
        return _start_nat(self.path(instance_id), log_path)

    def destroy(self, instance_id: str, nat_pid: int | None) -> None:
        path = self.path(instance_id)
        # The recorded NAT, or any left by a server that died before it recorded one.
        for pid in [nat_pid] if nat_pid and _is_nat_of(nat_pid, path) else _nats_of(path):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if path.exists():
            subprocess.run(["ip", "netns", "delete", path.name], capture_output=True, timeout=30)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a stale file whose namespace is already gone

    def ensure_nat(self, instance_id: str, nat_pid: int | None, log_path: Path) -> int | None:
        """After a restart: the namespace's NAT, started again if it died meanwhile."""
        if nat_pid and _is_nat_of(nat_pid, self.path(instance_id)):
            return nat_pid
        return _start_nat(self.path(instance_id), log_path)

    # --- on the event loop ---

    async def serve(self, instance_id: str, services: list[GuestService]) -> list[asyncio.Server]:
        """Listen for each service inside the instance's namespace; the servers run until closed."""
        sockets = await asyncio.to_thread(_sockets_in, self.path(instance_id), [(s.address, s.port) for s in services])
        servers = []
        try:
            for service, sock in zip(services, sockets, strict=True):
                servers.append(await asyncio.start_server(_bounded(service.handler), sock=sock))
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        return servers


def tcp_relay(host: str, port: int, source: str | None = None) -> ConnectionHandler:
    """A handler that joins the guest's connection to host:port (this server's API) byte for byte, from the
    address ``source`` when given (so the server can tell what comes from instances)."""
    local_addr = (source, 0) if source else None

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port, local_addr=local_addr)
        except OSError:
            writer.close()
            return
        await splice((reader, writer), (up_reader, up_writer))

    return relay


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def splice(a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 b: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
    """Join two connections byte for byte until both directions are done."""
    await asyncio.gather(pipe(a[0], b[1]), pipe(b[0], a[1]))


def _bounded(handler: ConnectionHandler) -> ConnectionHandler:
    active = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal active
        if active >= MAX_CONNECTIONS:
            writer.close()
            return
        active += 1
        try:
            await handler(reader, writer)
        except Exception:
            log.exception("a guest connection failed")
        finally:
            active -= 1
            with contextlib.suppress(Exception):
                writer.close()

    return serve


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _host_addresses() -> list[str]:
    """This host's own IPv4 addresses other than loopback: host services listen there too."""
    result = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, timeout=30)
    try:
        interfaces = json.loads(result.stdout or "[]")
    except ValueError:
        return []
    return sorted({
        info["local"] for interface in interfaces for info in interface.get("addr_info", [])
        if info.get("local") and not info["local"].startswith("127.")
    })


def _start_nat(netns: Path, log_path: Path) -> int:
    """slirp4netns for the namespace, detached like the sandbox; returns once the interface is up."""
    read_end, write_end = os.pipe()
    argv = [
        # A private mount namespace: slirp4netns's own sandbox would otherwise unmount /run/netns on the host.
        "unshare", "--mount", "--propagation", "private",
        "slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox",
        "--enable-seccomp", f"--ready-fd={write_end}", "--netns-type=path", str(netns), "tap0",
    ]
    try:
        with open(log_path, "ab") as out:
            nat = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   pass_fds=(write_end,), start_new_session=True)
        os.close(write_end)
        write_end = -1
        ready, _, _ = select.select([read_end], [], [], READY_TIMEOUT)
        if not ready or not os.read(read_end, 1):
            nat.kill()
            raise NetworkError(f"slirp4netns did not bring the network up (see {log_path})")
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    # Popen's object is dropped: the NAT is not our child to wait for once the server restarts.
    _reap_later(nat)
    return nat.pid


def _reap_later(process: subprocess.Popen) -> None:
    threading.Thread(target=process.wait, daemon=True).start()


def _is_nat_of(pid: int, netns: Path) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(netns).encode() in args


def _nats_of(netns: Path) -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit() and _is_nat_of(int(name), netns)]


def _setns(fd: int) -> None:
    if ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _sockets_in(netns: Path, addresses: list[tuple[str, int]]) -> list[socket.socket]:
    """Listening sockets inside a namespace, made by a short-lived thread that enters it.

    setns() changes only the calling thread; a thread of our own (not a pool's) keeps that contained.
    """
    result: list[socket.socket] = []
    failure: list[BaseException] = []

    def work() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            os.close(own)
            failure.append(NetworkError(f"the network namespace {netns} is gone ({err.strerror})"))
            return
        try:
            _setns(target)
            try:
                for address, port in addresses:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    result.append(sock)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((address, port))
                    sock.listen(64)
                    sock.setblocking(False)
            finally:
                _setns(own)
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            failure.append(err)
        finally:
            os.close(target)
            os.close(own)

    thread = threading.Thread(target=work, name="netns-listen")
    thread.start()
    thread.join()
    if failure:
        for sock in result:
            sock.close()
        raise failure[0]
    return result

