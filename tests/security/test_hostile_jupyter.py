"""Root inside an instance can replace its Jupyter with anything: what answers the idle checker's questions
(``JupyterProbe``) may lie, stall, flood or redirect. Each hostile server here is real, an asyncio server on a
Unix socket as an instance's Jupyter listens; each must give a ProbeError within the probe's time limit,
read no further than its size limit, follow no redirect, and name neither the instance's secret nor the
answer in its text. And one hostile instance must not keep the checker from stopping an idle one.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import insert

from selfmaker.domain.instance_types import load_catalogue
from selfmaker.runtime.base import Endpoint
from selfmaker.services.sagemaker.idle import IdleChecker
from selfmaker.services.sagemaker.idle_activity import BrowserActivity
from selfmaker.services.sagemaker.idle_config import TAG, IdleDefaults
from selfmaker.services.sagemaker.idle_signals import JupyterProbe, ProbeError
from selfmaker.store.db import open_store
from selfmaker.store.tables import notebook_instances, tags
from tests.conftest import run_async
from tests.postgres import store_at

TIMEOUT = 1.5  # the probe's, for all of one instance's questions
MAX_BYTES = 256 * 1024  # the probe's size limit here
# What the kernel's socket buffers and asyncio's may hold beyond what the probe read.
BUFFERED = 2 * 1024 * 1024
SECRET = "hostile-test-secret-5b1f0c9e"
MARK = "HOSTILE-ANSWER-7d3a"  # in every hostile answer: it must never reach an error's text
CHUNK = (MARK + "x" * 1000).encode() * 64  # 64 KiB or so

Handler = Callable[["Jupyter", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Jupyter:
    """A server on a Unix socket that reads each request's head and answers with ``handler``; it counts
    connections, the request heads it read and the bytes it managed to send."""

    def __init__(self, path: str, handler: Handler):
        self.path = path
        self.handler = handler
        self.connections = 0
        self.heads: list[bytes] = []
        self.sent = 0
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[asyncio.Task] = set()

    async def __aenter__(self) -> Jupyter:
        self._server = await asyncio.start_unix_server(self._serve, self.path)
        return self

    async def __aexit__(self, *_exc) -> None:
        self._server.close()
        # Each handler ends once the probe has hung up: one that does not is a connection the probe kept.
        await asyncio.wait_for(asyncio.gather(*self._handlers), 5)

    @property
    def open(self) -> int:
        """Connections still open (their handler still running)."""
        return sum(not task.done() for task in self._handlers)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._handlers.add(asyncio.current_task())
        self.connections += 1
        try:
            while True:
                self.heads.append(await reader.readuntil(b"\r\n\r\n"))
                await self.handler(self, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the probe hung up, as it should
        finally:
            writer.close()

    async def send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()
        self.sent += len(data)


# --- the hostile answers ------------------------------------------------------------------------------------

async def huge_content_length(jupyter: Jupyter, reader, writer) -> None:
    await jupyter.send(writer, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               b"Content-Length: 1000000000000000\r\n\r\n[")
    while not reader.at_eof():  # until the probe hangs up
        await jupyter.send(writer, CHUNK)


async def endless_chunks(jupyter: Jupyter, reader, writer) -> None:
    await jupyter.send(writer, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n")
    while not reader.at_eof():  # until the probe hangs up
        await jupyter.send(writer, b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))


async def endless_headers(jupyter: Jupyter, reader, writer) -> None:
    await jupyter.send(writer, b"HTTP/1.1 200 OK\r\n")
    line = f"X-{MARK}: {SECRET}\r\n".encode()
    while not reader.at_eof():  # until the probe hangs up
        await jupyter.send(writer, line * 1000)


def _gzip_bomb() -> bytes:
    """About 200 KiB of gzip that inflates to 192 MiB of a JSON list: the limit holds on what was sent."""
    member = gzip.compress(b"{}," * (1 << 20), compresslevel=9)
    members = b"".join([gzip.compress(b"[", 9)] + [member] * 64 + [gzip.compress(b"{}]", 9)])
    assert len(members) < MAX_BYTES
    return members


BOMB = _gzip_bomb()


async def gzip_bomb(jupyter: Jupyter, _reader, writer) -> None:
    await jupyter.send(writer, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                               b"Content-Length: %d\r\n\r\n%s" % (len(BOMB), BOMB))


async def deep_json(jupyter: Jupyter, _reader, writer) -> None:
    body = b"[" * 10_000 + MARK.encode() + b"]" * 10_000
    await jupyter.send(writer, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                       % (len(body), body))


async def not_json(jupyter: Jupyter, _reader, writer) -> None:
    body = b"<html>" + MARK.encode() + b"<pre>" + jupyter.heads[-1] + b"</pre></html>"  # the secret, echoed
    await jupyter.send(writer, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s"
                       % (len(body), body))


def redirect_to(location: str) -> Handler:
    async def redirect(jupyter: Jupyter, _reader, writer) -> None:
        await jupyter.send(writer, f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())
    return redirect


async def garbage_status(jupyter: Jupyter, _reader, writer) -> None:
    await jupyter.send(writer, f"SSH-2.0-{MARK} {SECRET}\r\n\r\n".encode())


async def silence(_jupyter: Jupyter, reader, _writer) -> None:
    await reader.read()  # until the probe hangs up


async def drip(jupyter: Jupyter, reader, writer) -> None:
    """A byte at a time, never long enough apart for a read timeout: only the probe's total limit stops it."""
    await jupyter.send(writer, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[")
    while not reader.at_eof():  # until the probe hangs up
        await asyncio.sleep(0.05)
        await jupyter.send(writer, b" ")


# --- the probe against each ---------------------------------------------------------------------------------

@pytest.fixture
def sockets():
    """A short directory for sockets (a Unix socket's path has at most 107 bytes)."""
    directory = tempfile.mkdtemp(prefix="hj-")
    yield Path(directory)
    shutil.rmtree(directory)


async def _probe(jupyter: Jupyter) -> tuple[str, float]:
    probe = JupyterProbe(timeout=TIMEOUT, max_bytes=MAX_BYTES)
    started = time.monotonic()
    try:
        with pytest.raises(ProbeError) as caught:
            await probe.read("nb-hostile", Endpoint(jupyter.path, SECRET))
        return str(caught.value), time.monotonic() - started
    finally:
        await probe.close()


def _check(text: str, elapsed: float) -> None:
    assert elapsed < TIMEOUT + 0.5, f"the probe took {elapsed:.2f} s"
    assert SECRET not in text and MARK not in text, text


@pytest.mark.parametrize(("handler", "says"), [
    (huge_content_length, f"answered more than {MAX_BYTES} bytes"),
    (endless_chunks, f"answered more than {MAX_BYTES} bytes"),
    (endless_headers, "the answer broke off or is no HTTP/1.1 response"),
    (gzip_bomb, "GET /api/kernels answered no JSON"),  # the raw gzip: never inflated
    (deep_json, "answered no JSON: JSON nested deeper than 8 levels"),
    (not_json, "GET /api/kernels answered no JSON"),
    (garbage_status, "the answer broke off or is no HTTP/1.1 response"),
    (silence, f"no answer within {TIMEOUT:g} s"),
    (drip, f"no answer within {TIMEOUT:g} s"),
])
def test_hostile_answer_is_a_bounded_probe_error(sockets, handler, says):
    async def scenario() -> None:
        async with Jupyter(str(sockets / "j.sock"), handler) as jupyter:
            text, elapsed = await _probe(jupyter)
        _check(text, elapsed)
        assert says in text
        assert jupyter.connections == 1 and len(jupyter.heads) == 1  # asked once, never again after a fault
        assert b"accept-encoding: identity" in jupyter.heads[0].lower()
        assert jupyter.sent < MAX_BYTES + BUFFERED, f"the server got {jupyter.sent} bytes out"

    run_async(scenario())


def test_redirects_are_not_followed(sockets):
    """Neither to another instance's socket nor to a server on this host's loopback."""
    async def scenario() -> None:
        other_hits = []

        async def elsewhere(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            other_hits.append(await reader.read(100))
            writer.close()

        loopback = await asyncio.start_server(elsewhere, "127.0.0.1", 0)
        port = loopback.sockets[0].getsockname()[1]
        other = sockets / "other.sock"
        another = await asyncio.start_unix_server(elsewhere, str(other))
        try:
            for location in (f"http://127.0.0.1:{port}/api/kernels",
                             f"http+unix://{str(other).replace('/', '%2F')}/api/kernels",
                             f"unix:{other}|http://localhost/api/kernels",
                             "/api/kernels?again=1"):
                async with Jupyter(str(sockets / "j.sock"), redirect_to(location)) as jupyter:
                    text, elapsed = await _probe(jupyter)
                _check(text, elapsed)
                assert text == "GET /api/kernels answered 302", text
                assert len(jupyter.heads) == 1, jupyter.heads  # not even a redirect to itself
        finally:
            loopback.close()
            another.close()
        assert other_hits == []

    run_async(scenario())


# --- the checker, with one hostile instance and one idle one ------------------------------------------------

class Orchestrator:
    def __init__(self, sockets: dict[str, str]):
        self.sockets = sockets
        self.stopped: list[str] = []

    def endpoint(self, instance_id: str) -> Endpoint | None:
        return Endpoint(self.sockets[instance_id], SECRET)

    def stop_on_own(self, instance_id: str, stopping_note: str, stopped_note: str) -> bool:
        self.stopped.append(instance_id)
        return True


class NoLogs:
    async def append(self, account_id, region, group, stream, events) -> None:
        return None


async def idle_jupyter(jupyter: Jupyter, _reader, writer) -> None:
    await jupyter.send(writer, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]")


def test_a_hostile_instance_does_not_keep_the_checker_from_stopping_an_idle_one(sockets, tmp_path):
    account, region, an_hour_ago = "123456789012", "us-east-1", time.time() - 3600
    engine = open_store(store_at(tmp_path / "selfmaker.db"))
    with engine.begin() as conn:
        for name in ("hostile", "idle"):
            arn = f"arn:aws:sagemaker:{region}:{account}:notebook-instance/{name}"
            conn.execute(insert(notebook_instances).values(
                instance_id=f"nb-{name}", account_id=account, region=region, name=name, arn=arn,
                status="InService", instance_type="ml.t3.medium", role_arn=f"arn:aws:iam::{account}:role/R",
                volume_size_gb=5, settings={}, on_create_done=True, creation_time=an_hour_ago,
                last_modified_time=an_hour_ago))
            conn.execute(insert(tags).values(resource_arn=arn, key=TAG, value="1"))
    paths = {"nb-hostile": str(sockets / "hostile.sock"), "nb-idle": str(sockets / "idle.sock")}
    orchestrator = Orchestrator(paths)

    async def scenario() -> float:
        # A "minute" of a millisecond: both have been idle long enough the moment the checker exists.
        checker = IdleChecker(engine, orchestrator, NoLogs(), load_catalogue(), IdleDefaults(), BrowserActivity(),
                              check_seconds=3600, minute_seconds=0.001,
                              probe=JupyterProbe(timeout=TIMEOUT, max_bytes=MAX_BYTES))
        await asyncio.sleep(0.01)
        async with Jupyter(paths["nb-hostile"], silence), Jupyter(paths["nb-idle"], idle_jupyter):
            started = time.monotonic()
            stopped = await checker.check_once()
            elapsed = time.monotonic() - started
            await checker.close()
        assert stopped == ["nb-idle"]
        return elapsed

    elapsed = run_async(scenario())
    assert orchestrator.stopped == ["nb-idle"]
    assert elapsed < TIMEOUT + 0.5  # the hostile one cost its time limit, no more

