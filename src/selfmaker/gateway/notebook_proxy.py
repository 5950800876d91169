"""Opening Jupyter: presigned-URL sign-in, then an authenticated proxy to the instance's Jupyter.

``/notebook/<account>/<region>/<name>/auth?authToken=…`` trades a single-use, five-minute token for a
session cookie scoped to that instance's path; every other request under the path must carry a live
session, and is forwarded (HTTP and WebSocket) to Jupyter's Unix socket with Jupyter's secret token,
which no browser ever sees.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from urllib.parse import urlsplit

import httpx
import websockets
from sqlalchemy import Engine, delete, insert, select, update
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from selfmaker.domain import notebook_states as st
from selfmaker.runtime.base import Endpoint
from selfmaker.services.sagemaker.orchestrator import NotebookOrchestrator, notebook_base_path
from selfmaker.store.tables import notebook_instances, notebook_sessions, notebook_tokens

SESSION_COOKIE = "selfmaker-notebook-session"
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus ones we set ourselves.
_HOP_HEADERS = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "authorization", "content-length",
}
_WS_SKIP = _HOP_HEADERS | {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                           "sec-websocket-protocol", "origin"}


class NotebookProxy:
    def __init__(self, engine: Engine, orchestrator: NotebookOrchestrator):
        self.engine = engine
        self.orchestrator = orchestrator
        self._clients: dict[str, httpx.AsyncClient] = {}

    def routes(self) -> list:
        prefix = "/notebook/{account}/{region}/{name}"
        return [
            Route(prefix + "/auth", self.auth, methods=["GET"]),
            WebSocketRoute(prefix + "/{path:path}", self.websocket),
            Route(prefix + "/{path:path}", self.http, methods=_METHODS),
        ]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    # --- sign-in ----------------------------------------------------------------------------------

    async def auth(self, request: Request) -> Response:
        instance = self._instance(request.path_params)
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
        base = notebook_base_path(instance.account_id, instance.region, instance.name)
        view = "lab" if request.query_params.get("view") == "lab" else "tree"
        response = RedirectResponse(base + view, status_code=302)
        response.set_cookie(
            SESSION_COOKIE, session_id, max_age=row.session_seconds, path=base, httponly=True, samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    # --- the proxy --------------------------------------------------------------------------------

    def _instance(self, path_params: dict):
        with self.engine.connect() as conn:
            return conn.execute(
                select(notebook_instances).where(
                    notebook_instances.c.account_id == path_params["account"],
                    notebook_instances.c.region == path_params["region"],
                    notebook_instances.c.name == path_params["name"],
                )
            ).first()

    def _authorized(self, path_params: dict, cookies: dict[str, str]) -> tuple[object | None, str | None]:
        """(instance, None) when the caller holds a live session for it, else (None, why)."""
        instance = self._instance(path_params)
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

    def _client(self, endpoint: Endpoint) -> httpx.AsyncClient:
        client = self._clients.get(endpoint.socket_path)
        if client is None:
            transport = httpx.AsyncHTTPTransport(uds=endpoint.socket_path)
            client = httpx.AsyncClient(transport=transport, base_url="http://jupyter", timeout=None)
            self._clients[endpoint.socket_path] = client
        return client

    async def http(self, request: Request) -> Response:
        instance, why = self._authorized(request.path_params, request.cookies)
        if instance is None:
            return _forbidden(why)
        endpoint = self._endpoint(instance)
        if endpoint is None:
            return PlainTextResponse(
                f"Notebook instance {instance.name} is {instance.status}; start it and open it again.", 503
            )
        headers = [(k, v) for k, v in request.headers.items() if k not in _HOP_HEADERS]
        headers.append(("authorization", f"token {endpoint.token}"))
        client = self._client(endpoint)
        upstream = client.build_request(
            request.method,
            request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            headers=headers,
            content=await request.body(),
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
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in reply.headers.multi_items()
            if k.lower() not in _HOP_HEADERS or k.lower() == "content-length"
        ]
        return response

    async def websocket(self, ws: WebSocket) -> None:
        instance, _why = self._authorized(ws.path_params, ws.cookies)
        origin = ws.headers.get("origin")
        if origin and urlsplit(origin).netloc != ws.headers.get("host"):
            instance = None  # a page on another site may not drive this notebook's kernels
        endpoint = self._endpoint(instance) if instance is not None else None
        if endpoint is None:
            await ws.close(code=1008)
            return
        path = ws.url.path + (f"?{ws.url.query}" if ws.url.query else "")
        headers = [(k, v) for k, v in ws.headers.items() if k not in _WS_SKIP]
        headers.append(("Authorization", f"token {endpoint.token}"))
        offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        try:
            upstream = await websockets.unix_connect(
                endpoint.socket_path, uri=f"ws://jupyter{path}", additional_headers=headers,
                subprotocols=offered or None, max_size=None, compression=None,
            )
        except (OSError, websockets.InvalidHandshake):
            await ws.close(code=1011)
            return
        await ws.accept(subprotocol=upstream.subprotocol)
        async with upstream:
            await _pump(ws, upstream)


async def _pump(ws: WebSocket, upstream) -> None:
    async def client_to_jupyter() -> None:
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
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


def _forbidden(message: str | None) -> Response:
    return PlainTextResponse(f"403 Forbidden: {message}", 403)
