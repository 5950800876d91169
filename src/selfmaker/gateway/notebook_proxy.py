"""Opening Jupyter: presigned-URL sign-in, then an authenticated proxy to the instance's Jupyter.

Each instance is served on a host of its own (``notebook_hosts``); the gateway hands this proxy every
request to such a host, and nothing else. ``/?authToken=…`` on it trades a single-use, five-minute token
for a session cookie for that host alone; every other request must carry a live session, and is forwarded
(HTTP and WebSocket) to Jupyter's Unix socket with the browser's Host, Origin and cookies, plus the
instance's secret (``SECRET_HEADER``), which no browser ever sees. Jupyter's own XSRF and origin checks
then apply as to any browser.

Requests to an instance go through one httpx client of its own (``net.instance_clients``), made cheaply and
closed within ``SWEEP_SECONDS`` of the instance leaving InService, so that a long-running server with many
students holds clients only for the instances that run.

It also notes, for the idle auto-stop, when a person last did something there (``by_a_person``): an open
JupyterLab tab polls the API all day long, which must not keep an instance running forever.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urlsplit

import httpx
import websockets
from sqlalchemy import Engine, delete, func, insert, select, update
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from selfmaker.config import Settings
from selfmaker.domain import notebook_states as st
from selfmaker.net.instance_clients import InstanceClients, unix_transport
from selfmaker.runtime.base import Endpoint
from selfmaker.runtime.jupyter import SECRET_HEADER, secret_headers
from selfmaker.services.sagemaker.idle_activity import BrowserActivity
from selfmaker.services.sagemaker.notebook_hosts import host_label, parse_notebook_host, shortened_prefix
from selfmaker.services.sagemaker.orchestrator import NotebookOrchestrator
from selfmaker.store.tables import notebook_instances, notebook_sessions, notebook_tokens

log = logging.getLogger("selfmaker.notebook_proxy")

SESSION_COOKIE = "selfmaker-notebook-session"
SWEEP_SECONDS = 60.0  # how often kept clients are checked against the instances still InService
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus ones we set ourselves or that
# must never reach Jupyter from a browser (a token there would skip Jupyter's XSRF checks; the secret
# header is ours alone).
_HOP_HEADERS = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "authorization", "content-length", "cookie", SECRET_HEADER.lower(),
}
# websockets writes Host (from the URI), Origin and the handshake's own headers itself.
_WS_SKIP = _HOP_HEADERS | {"host", "origin", "sec-websocket-key", "sec-websocket-version",
                           "sec-websocket-extensions", "sec-websocket-protocol"}


class NotebookProxy:
    """An ASGI app for requests to notebook hosts."""

    def __init__(self, engine: Engine, orchestrator: NotebookOrchestrator, settings: Settings,
                 activity: BrowserActivity | None = None, sweep_seconds: float = SWEEP_SECONDS):
        self.engine = engine
        self.orchestrator = orchestrator
        self.settings = settings
        self.activity = activity if activity is not None else BrowserActivity()
        self.sweep_seconds = sweep_seconds
        self._clients = InstanceClients(_build_client)
        self._sweeper: asyncio.Task | None = None
        self._app = Starlette(routes=[
            WebSocketRoute("/{path:path}", self.websocket),
            Route("/{path:path}", self.http, methods=_METHODS),
        ])

    async def __call__(self, scope, receive, send) -> None:
        await self._app(scope, receive, send)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        await self._clients.close()

    # --- sign-in ----------------------------------------------------------------------------------

    async def auth(self, request: Request, instance) -> Response:
        token = request.query_params.get("authToken", "")
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(select(notebook_tokens).where(notebook_tokens.c.token == token)).first()
            valid = (
                instance is not None
                and row is not None
                and not row.used
                and row.expires > now
                and row.instance_id == instance.instance_id
            )
            if not valid:
                return _forbidden("This sign-in link is invalid, already used or expired. Create a new one with "
                                  "CreatePresignedNotebookInstanceUrl (it is valid for 5 minutes, once).")
            conn.execute(update(notebook_tokens).where(notebook_tokens.c.token == token).values(used=True))
            session_id = secrets.token_urlsafe(32)
            conn.execute(
                insert(notebook_sessions).values(
                    session_id=session_id, instance_id=instance.instance_id, expires=now + row.session_seconds
                )
            )
            conn.execute(delete(notebook_sessions).where(notebook_sessions.c.expires < now))  # keep it small
        view = "lab" if request.query_params.get("view") == "lab" else "tree"
        response = RedirectResponse("/" + view, status_code=302)
        # No Domain: the cookie goes back to this instance's host only, never to the console or another one.
        response.set_cookie(
            SESSION_COOKIE, session_id, max_age=row.session_seconds, path="/", httponly=True, samesite="lax",
            secure=request.url.scheme == "https" or self.settings.endpoint_url.startswith("https:"),
        )
        return response

    # --- the proxy --------------------------------------------------------------------------------

    def _instance(self, conn: HTTPConnection):
        target = parse_notebook_host(conn.headers.get("host", ""), self.settings.notebook_domain)
        if target is None:
            return None
        here = (notebook_instances.c.account_id == target.account_id, notebook_instances.c.region == target.region)
        with self.engine.connect() as db:
            found = db.execute(
                select(notebook_instances).where(*here, func.lower(notebook_instances.c.name) == target.name)
            ).first()
            prefix = shortened_prefix(target.name) if found is None else None
            if prefix is not None:  # a name too long for one DNS label: find the one whose label this is
                label = f"{target.name}-{target.account_id}"
                candidates = db.execute(select(notebook_instances).where(
                    *here, func.lower(notebook_instances.c.name).startswith(prefix, autoescape=True))).all()
                found = next((row for row in candidates if host_label(row.name, row.account_id) == label), None)
        return found

    def _authorized(self, instance, cookies: dict[str, str]) -> tuple[object | None, str | None]:
        """(instance, None) when the caller holds a live session for it, else (None, why)."""
        session_id = cookies.get(SESSION_COOKIE)
        if instance is None or not session_id:
            return None, "Open this notebook through a presigned URL (CreatePresignedNotebookInstanceUrl)."
        with self.engine.connect() as conn:
            session = conn.execute(
                select(notebook_sessions).where(notebook_sessions.c.session_id == session_id)
            ).first()
        if session is None or session.instance_id != instance.instance_id or session.expires < time.time():
            return None, "Your notebook session has expired or is not valid here; open a new presigned URL."
        return instance, None

    def _endpoint(self, instance) -> Endpoint | None:
        if instance.status != st.IN_SERVICE:
            return None
        return self.orchestrator.endpoint(instance.instance_id)

    async def _client(self, instance_id: str, endpoint: Endpoint) -> httpx.AsyncClient:
        client = await self._clients.get(instance_id, endpoint.socket_path)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return client

    async def _sweep(self) -> None:
        """While any client is kept: every ``sweep_seconds``, close those of instances no longer InService
        (stopped, deleted, failed), which no request would ever ask for again."""
        while self._clients:
            await asyncio.sleep(self.sweep_seconds)
            kept = self._clients.instance_ids()
            try:
                running = await asyncio.to_thread(self._in_service)
            except Exception:  # noqa: BLE001 - the store may be busy: the next round tries again
                log.exception("could not read which notebook instances are InService")
                continue
            # Only those kept before the store was read: one made since is for an instance just InService.
            await self._clients.keep_only(self._clients.instance_ids() - (kept - running))

    def _in_service(self) -> set[str]:
        nb = notebook_instances
        with self.engine.connect() as conn:
            return set(conn.execute(select(nb.c.instance_id).where(nb.c.status == st.IN_SERVICE)).scalars())

    async def http(self, request: Request) -> Response:
        instance = self._instance(request)
        if request.url.path == "/" and "authToken" in request.query_params:
            return await self.auth(request, instance)
        instance, why = self._authorized(instance, request.cookies)
        if instance is None:
            return _forbidden(why)
        endpoint = self._endpoint(instance)
        if endpoint is None:
            return PlainTextResponse(
                f"Notebook instance {instance.name} is {instance.status}; start it and open it again.", 503
            )
        if by_a_person(request):
            self.activity.note(instance.instance_id)
        headers = _forward_headers(request, _HOP_HEADERS) + list(secret_headers(endpoint).items())
        body = await request.body()
        # The client is taken only once the body is in, right before sending: no sweep closes it in between.
        client = await self._client(instance.instance_id, endpoint)
        upstream = client.build_request(
            request.method,
            request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            headers=headers,
            content=body,
        )
        try:
            reply = await client.send(upstream, stream=True)
        except httpx.TransportError:
            return PlainTextResponse(f"Jupyter on {instance.name} is not answering; try again shortly.", 502)
        response = StreamingResponse(
            reply.aiter_raw(), status_code=reply.status_code, background=BackgroundTask(reply.aclose)
        )
        # Raw pairs, not a dict: Jupyter sends several Set-Cookie headers.
        response.raw_headers = [
            (k.lower().encode("latin-1"), (_host_only(v) if k.lower() == "set-cookie" else v).encode("latin-1"))
            for k, v in reply.headers.multi_items()
            if k.lower() not in _HOP_HEADERS or k.lower() == "content-length"
        ]
        return response

    async def websocket(self, ws: WebSocket) -> None:
        instance, _why = self._authorized(self._instance(ws), ws.cookies)
        host = ws.headers.get("host", "")
        origin = ws.headers.get("origin")
        if origin and urlsplit(origin).netloc != host:
            instance = None  # a page on another site may not drive this notebook's kernels
        endpoint = self._endpoint(instance) if instance is not None else None
        if endpoint is None:
            await ws.close(code=1008)
            return
        path = ws.url.path + (f"?{ws.url.query}" if ws.url.query else "")
        headers = _forward_headers(ws, _WS_SKIP) + list(secret_headers(endpoint).items())
        offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        try:
            # The URI only names the Host header (the browser's, a notebook host we parsed); the socket is the path.
            upstream = await websockets.unix_connect(
                endpoint.socket_path, uri=f"ws://{host}{path}", origin=origin, additional_headers=headers,
                subprotocols=offered or None, max_size=None, compression=None,
            )
        except (OSError, websockets.InvalidHandshake):
            await ws.close(code=1011)
            return
        await ws.accept(subprotocol=upstream.subprotocol)
        async with upstream:
            await _pump(ws, upstream, lambda: self.activity.note(instance.instance_id))


def _build_client(socket_path: str) -> httpx.AsyncClient:
    # A jar that keeps nothing: one client serves every browser, and Jupyter's cookies are theirs.
    jar = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(transport=unix_transport(socket_path), base_url="http://jupyter", timeout=None,
                             cookies=jar, trust_env=False)


def _forward_headers(conn: HTTPConnection, skip: set[str]) -> list[tuple[str, str]]:
    """The browser's headers for Jupyter, less ``skip``; its cookies less our session cookie, which is the
    gateway's business alone."""
    headers = [(k, v) for k, v in conn.headers.items() if k not in skip]
    cookies = [
        part.strip() for header in conn.headers.getlist("cookie") for part in header.split(";")
        if part.strip() and part.split("=", 1)[0].strip() != SESSION_COOKIE
    ]
    if cookies:
        headers.append(("cookie", "; ".join(cookies)))
    return headers


def by_a_person(request: Request) -> bool:
    """Whether a request is something a person did rather than a page polling in the background: anything
    that changes something (run, save, rename, start a kernel; JupyterLab's polls are all GETs), or loading a
    page or a file in the browser's window (browsers mark those ``Sec-Fetch-Mode: navigate``). Messages on a
    kernel's or terminal's WebSocket from the browser count too (see ``_pump``): code sent to run, keys typed."""
    return request.method not in ("GET", "HEAD", "OPTIONS") or request.headers.get("sec-fetch-mode") == "navigate"


async def _pump(ws: WebSocket, upstream, on_browser_message) -> None:
    async def client_to_jupyter() -> None:
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                on_browser_message()
                await upstream.send(message["bytes"] if message.get("bytes") is not None else message["text"])
        except WebSocketDisconnect:
            return

    async def jupyter_to_client() -> None:
        try:
            async for message in upstream:
                if isinstance(message, bytes):
                    await ws.send_bytes(message)
                else:
                    await ws.send_text(message)
        except websockets.ConnectionClosed:
            pass
        await ws.close()

    tasks = [asyncio.create_task(client_to_jupyter()), asyncio.create_task(jupyter_to_client())]
    _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _host_only(set_cookie: str) -> str:
    """A cookie from Jupyter without its Domain attribute: root inside an instance runs what answers there,
    and must not set cookies for the parent domain, where the console or other notebooks would get them."""
    return ";".join(part for part in set_cookie.split(";") if part.strip().lower().split("=", 1)[0] != "domain")


def _forbidden(message: str | None) -> Response:
    return PlainTextResponse(f"403 Forbidden: {message}", 403)
