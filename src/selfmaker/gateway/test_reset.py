"""The test-mode state reset: ``POST /moto-api/reset``, the call moto's server mode makes between tests,
so suites written against ``moto_server`` can run against Selfmaker unchanged.

Only served when the server runs with ``--test-mode`` (on a loopback address). A reset empties the
store but for what makes the server itself (the root's access key and console password, the settings),
deletes every notebook instance's sandbox and volume, and drops the caches that remember the old state.
It answers as moto does: 200 with ``{"status": "ok"}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import Engine, delete
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from selfmaker.gateway.guest_services import INSTANCE_SOURCE
from selfmaker.services.identity import Credential, CredentialStore
from selfmaker.services.sagemaker.orchestrator import NotebookOrchestrator
from selfmaker.store.tables import access_keys, metadata, settings_kv

RESET_PATH = "/moto-api/reset"


class Background(Protocol):
    """A part of the server with work of its own running (stack operations, SNS deliveries)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class StateReset:
    def __init__(self, engine: Engine, root: Credential, credentials: CredentialStore,
                 orchestrator: NotebookOrchestrator, background: list[Background],
                 forget: list[Callable[[], None]]):
        self.engine, self.root, self.credentials = engine, root, credentials
        self.orchestrator, self.background, self.forget = orchestrator, background, forget
        self._lock = asyncio.Lock()

    async def __call__(self) -> None:
        async with self._lock:
            for part in self.background:
                await part.close()
            await self.orchestrator.discard_all()
            await asyncio.to_thread(self._empty_store)
            for forget in (self.credentials.forget_all, *self.forget):
                forget()
            for part in self.background:
                await part.start()

    def _empty_store(self) -> None:
        with self.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):  # children before the rows they point at
                if table is settings_kv:
                    continue
                statement = delete(table)
                if table is access_keys:
                    statement = statement.where(access_keys.c.access_key_id != self.root.access_key_id)
                conn.execute(statement)

    def routes(self, own_origins: set[str]) -> list[Route]:
        async def reset(request: Request) -> JSONResponse:
            # No signature (moto's clients send none), so at least no web page may send it cross-site.
            origin = request.headers.get("origin")
            if origin is not None and origin not in own_origins:
                return JSONResponse({"status": "refused: cross-origin request"}, status_code=403)
            if request.client is not None and request.client.host == INSTANCE_SOURCE:
                return JSONResponse({"status": "refused: not from a notebook instance"}, status_code=403)
            await self()
            return JSONResponse({"status": "ok"})

        return [Route(RESET_PATH, reset, methods=["POST"])]
