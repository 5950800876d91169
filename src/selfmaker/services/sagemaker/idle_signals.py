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

import httpx

from selfmaker import bounded_json
from selfmaker.net.instance_clients import InstanceClients, unix_transport
from selfmaker.runtime.base import Endpoint
from selfmaker.runtime.jupyter import secret_headers

MAX_ANSWER_BYTES = 1 << 20  # a thousand kernels fit in a tenth of it
TIMEOUT = 5.0  # seconds for one instance's questions, all together
# Kernel states that mean work under way or about to be: never idle, whoever is connected.
ACTIVE_STATES = frozenset({"busy", "starting", "restarting"})
# Parsed once: httpx parses a URL given as text on every request. Asking is not itself activity.
KERNELS = httpx.URL("http://localhost/api/kernels?no_track_activity=1")
TERMINALS = httpx.URL("http://localhost/api/terminals?no_track_activity=1")


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
    """Asks instances' Jupyter over httpx, one client per instance, kept from pass to pass until the instance
    leaves InService (``keep_only``) or the checker stops (``close``); a question on a kept client over a
    Unix socket costs about a millisecond of CPU (see ``net.instance_clients``).
    """

    def __init__(self, timeout: float = TIMEOUT, max_bytes: int = MAX_ANSWER_BYTES):
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._clients = InstanceClients(self._build)

    async def read(self, instance_id: str, endpoint: Endpoint) -> JupyterActivity:
        client = await self._clients.get(instance_id, endpoint.socket_path)
        try:
            return await asyncio.wait_for(self._read(client, secret_headers(endpoint)), self.timeout)
        except (TimeoutError, httpx.TimeoutException):
            raise ProbeError(f"no answer within {self.timeout:g} s") from None
        except (httpx.LocalProtocolError, UnicodeEncodeError):  # its text is never repeated: it is a secret
            raise ProbeError("the instance's secret cannot be sent in a header") from None
        except httpx.RemoteProtocolError:  # nor is the answer: it may be anything, of any length
            raise ProbeError("the answer broke off or is no HTTP/1.1 response") from None
        except httpx.TransportError as err:  # cannot connect, or the connection broke
            raise ProbeError(f"cannot reach it: {err or type(err).__name__}") from None

    async def keep_only(self, instance_ids: set[str]) -> None:
        """Close the clients of instances that are no longer InService."""
        await self._clients.keep_only(instance_ids)

    async def close(self) -> None:
        await self._clients.close()

    def _build(self, socket_path: str) -> httpx.AsyncClient:
        # One connection, kept from pass to pass (a new one every pass adds a fifth to a pass's CPU); one the
        # instance closed in the meantime is noticed before it is used, and replaced.
        transport = unix_transport(socket_path, httpx.Limits(max_connections=1, keepalive_expiry=None))
        # ``identity``: the body is bounded as sent, with no decompression to blow it up.
        return httpx.AsyncClient(transport=transport, timeout=self.timeout, trust_env=False,
                                 headers={"Accept": "application/json", "Accept-Encoding": "identity"})

    async def _read(self, client: httpx.AsyncClient, secret: dict[str, str]) -> JupyterActivity:
        kernels = await self._list(client, secret, KERNELS)
        # A busy kernel settles it: no need to ask about terminals.
        busy = any(_text(kernel.get("execution_state")) in ACTIVE_STATES for kernel in kernels)
        terminals = [] if busy else await self._list(client, secret, TERMINALS, missing_ok=True)
        times = [_when(item.get("last_activity")) for item in kernels + terminals]
        return JupyterActivity(
            busy=busy,
            last_activity=max((t for t in times if t is not None), default=None),
            kernels=len(kernels),
            connections=sum(_count(kernel.get("connections")) for kernel in kernels),
            terminals=len(terminals),
        )

    async def _list(self, client: httpx.AsyncClient, secret: dict[str, str], url: httpx.URL,
                    missing_ok: bool = False) -> list[dict]:
        status, body = await self._get(client, secret, url)
        path = url.path
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

    async def _get(self, client: httpx.AsyncClient, secret: dict[str, str], url: httpx.URL) -> tuple[int, bytes]:
        """(status, body), the body read no further than ``max_bytes``: past it the connection is dropped."""
        # The secret per request, not the client's: a restarted instance has a new one behind the same socket.
        request = client.build_request("GET", url, headers=secret)
        response = await client.send(request, stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > self.max_bytes:
                    raise ProbeError(f"GET {url.path} answered more than {self.max_bytes} bytes")
            return response.status_code, bytes(body)
        finally:
            await response.aclose()


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
