"""What an instance's own Jupyter says about its kernels and terminals, asked the way the gateway reaches it.

``GET /api/kernels`` and ``/api/terminals`` over the instance's Unix socket with its secret header (the
``Endpoint`` the notebook proxy uses), with ``no_track_activity=1`` so that asking is not itself activity.
Whatever runs inside an instance answers there, so every answer is bounded: in time, in size, and parsed
without trusting its shape.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from selfmaker import bounded_json
from selfmaker.runtime.base import Endpoint
from selfmaker.runtime.jupyter import secret_headers

MAX_ANSWER_BYTES = 1 << 20  # a thousand kernels fit in a tenth of it
TIMEOUT = 5.0  # seconds for one instance's questions, all together
# Kernel states that mean work under way or about to be: never idle, whoever is connected.
ACTIVE_STATES = frozenset({"busy", "starting", "restarting"})


class ProbeError(Exception):
    """The instance's Jupyter gave no usable answer; ``str()`` says what went wrong."""


@dataclass(frozen=True)
class JupyterActivity:
    busy: bool  # a kernel is busy, starting or restarting
    last_activity: float | None  # seconds since the epoch: the latest of any kernel's or terminal's
    kernels: int
    connections: int  # browser connections to those kernels (an open tab; not activity by itself)
    terminals: int


class JupyterProbe:
    """Asks instances' Jupyter, one short HTTP/1.1 exchange per question (``Connection: close``).

    A plain client on asyncio's streams rather than httpx: a pass asks a hundred instances twice, and an
    httpx client costs more to make (its TLS context) and to use than the whole exchange over a Unix socket.
    """

    def __init__(self, timeout: float = TIMEOUT, max_bytes: int = MAX_ANSWER_BYTES):
        self.timeout = timeout
        self.max_bytes = max_bytes

    async def read(self, endpoint: Endpoint) -> JupyterActivity:
        try:
            return await asyncio.wait_for(self._read(endpoint), self.timeout)
        except TimeoutError:
            raise ProbeError(f"no answer within {self.timeout:g} s") from None
        except OSError as err:
            raise ProbeError(f"cannot reach it: {err}") from None

    async def _read(self, endpoint: Endpoint) -> JupyterActivity:
        kernels = await self._list(endpoint, "/api/kernels")
        # A busy kernel settles it: no need to ask about terminals.
        busy = any(_text(kernel.get("execution_state")) in ACTIVE_STATES for kernel in kernels)
        terminals = [] if busy else await self._list(endpoint, "/api/terminals", missing_ok=True)
        times = [_when(item.get("last_activity")) for item in kernels + terminals]
        return JupyterActivity(
            busy=busy,
            last_activity=max((t for t in times if t is not None), default=None),
            kernels=len(kernels),
            connections=sum(_count(kernel.get("connections")) for kernel in kernels),
            terminals=len(terminals),
        )

    async def _list(self, endpoint: Endpoint, path: str, missing_ok: bool = False) -> list[dict]:
        status, body = await self._get(endpoint, f"{path}?no_track_activity=1")
        if status == 404 and missing_ok:  # Jupyter without terminals
            return []
        if status != 200:
            raise ProbeError(f"GET {path} answered {status}")
        try:
            items = bounded_json.loads(body, max_depth=8)
        except ValueError as err:
            raise ProbeError(f"GET {path} answered no JSON: {err}") from None
        if not isinstance(items, list):
            raise ProbeError(f"GET {path} answered no list")
        return [item for item in items if isinstance(item, dict)]

    async def _get(self, endpoint: Endpoint, target: str) -> tuple[int, bytes]:
        secret = secret_headers(endpoint)
        if any({"\r", "\n", "\0"} & set(text) or not text.isascii() for pair in secret.items() for text in pair):
            raise ProbeError("the instance's secret cannot be sent in a header")
        header_lines = "".join(f"{name}: {value}\r\n" for name, value in secret.items())
        request = (f"GET {target} HTTP/1.1\r\nHost: localhost\r\n{header_lines}Accept: application/json\r\n"
                   "Connection: close\r\n\r\n")
        reader, writer = await asyncio.open_unix_connection(endpoint.socket_path, limit=_MAX_HEAD)
        try:
            writer.write(request.encode("ascii"))
            return await self._response(reader, target)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            raise ProbeError(f"GET {target}: the answer is no complete HTTP response") from None
        finally:
            writer.close()

    async def _response(self, reader: asyncio.StreamReader, target: str) -> tuple[int, bytes]:
        """(status, body), read no further than the body's end: a server that keeps the connection open
        anyway costs no wait."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        version, status = (lines[0].split(b" ", 2) + [b""])[:2]
        if not version.startswith(b"HTTP/1.") or not status.isdigit():
            raise ValueError("no status line")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if headers.get(b"transfer-encoding", b"identity") != b"identity":
            body = await self._chunks(reader, target) if headers[b"transfer-encoding"] == b"chunked" else None
            if body is None:
                raise ValueError("an unknown transfer encoding")
        elif b"content-length" in headers:
            length = int(headers[b"content-length"])
            self._bound(length, target)
            body = await reader.readexactly(length)
        else:  # to the end of the connection
            body = bytearray()
            while chunk := await reader.read(1 << 16):
                body += chunk
                self._bound(len(body), target)
            body = bytes(body)
        return int(status), body

    async def _chunks(self, reader: asyncio.StreamReader, target: str) -> bytes:
        body = bytearray()
        while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
            self._bound(len(body) + size, target)
            body += await reader.readexactly(size)
            await reader.readexactly(2)  # the chunk's CRLF
        return bytes(body)

    def _bound(self, length: int, target: str) -> None:
        if length > self.max_bytes:
            raise ProbeError(f"GET {target} answered more than {self.max_bytes} bytes")


_MAX_HEAD = 16 << 10  # the status line and headers, and any one line of a chunked body


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _when(value) -> float | None:
    """Jupyter's ISO 8601 time (``2026-12-01T18:30:00.123456Z``) as seconds since the epoch; None if it is not."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None
