"""Wait condition handles: presigned URLs on this server that scripts PUT a JSON signal to.

The URL's last segment is a random token (the "signature"); the route refuses anything else. Signals
are kept per handle and UniqueId (a repeated UniqueId replaces the earlier signal, as on AWS).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from selfmaker import bounded_json
from selfmaker.services.cloudformation.tables import wait_handles, wait_signals

PATH = "/_selfmaker/cloudformation/wait-condition/"
MAX_SIGNAL_BYTES = 64 * 1024
_STATUSES = ("SUCCESS", "FAILURE")
MAX_UNIQUE_ID = 255  # wait_signals.unique_id's length, which PostgreSQL enforces


@dataclass(frozen=True)
class Signal:
    unique_id: str
    status: str
    reason: str
    data: str


class WaitSignals:
    def __init__(self, engine: Engine, endpoint_url: str):
        self.engine = engine
        self.endpoint_url = endpoint_url

    def new_handle(self, stack_id: str, logical_id: str) -> str:
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(insert(wait_handles).values(token=token, stack_id=stack_id, logical_id=logical_id))
        return f"{self.endpoint_url}{PATH}{token}"

    def token_of(self, url: str) -> str | None:
        """The handle's token if ``url`` is one of this server's live handles."""
        if PATH not in url:
            return None
        token = url.rsplit("/", 1)[-1]
        with self.engine.connect() as conn:
            found = conn.execute(select(wait_handles.c.token).where(wait_handles.c.token == token)).first()
        return token if found else None

    def received(self, url: str) -> list[Signal]:
        token = url.rsplit("/", 1)[-1]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(wait_signals).where(wait_signals.c.token == token).order_by(wait_signals.c.timestamp)
            ).all()
        return [Signal(row.unique_id, row.status, row.reason or "", row.data or "") for row in rows]

    def forget(self, url: str) -> None:
        token = url.rsplit("/", 1)[-1]
        with self.engine.begin() as conn:
            conn.execute(delete(wait_signals).where(wait_signals.c.token == token))
            conn.execute(delete(wait_handles).where(wait_handles.c.token == token))

    # --- the route scripts call ---------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [Route(PATH + "{token}", self._signal, methods=["PUT"])]

    async def _signal(self, request: Request) -> Response:
        token = request.path_params["token"]
        with self.engine.connect() as conn:
            known = conn.execute(select(wait_handles.c.token).where(wait_handles.c.token == token)).first()
        if known is None:
            return _refusal(403, "AccessDenied", "Access Denied")
        body = await request.body()
        if len(body) > MAX_SIGNAL_BYTES:
            return _refusal(400, "EntityTooLarge", "A signal may be at most 64 KiB")
        try:
            signal = bounded_json.loads(body)
            if not isinstance(signal, dict):
                raise ValueError
        except ValueError:
            return _refusal(400, "MalformedSignal", 'The signal must be JSON: {"Status": "SUCCESS", '
                                                   '"Reason": "...", "UniqueId": "...", "Data": "..."}')
        status = signal.get("Status")
        if status not in _STATUSES:
            return _refusal(400, "MalformedSignal", "Status must be SUCCESS or FAILURE")
        unique_id = str(signal.get("UniqueId") or "")
        if len(unique_id) > MAX_UNIQUE_ID:
            return _refusal(400, "MalformedSignal", f"UniqueId may be at most {MAX_UNIQUE_ID} characters")
        with self.engine.begin() as conn:
            conn.execute(delete(wait_signals).where(wait_signals.c.token == token,
                                                    wait_signals.c.unique_id == unique_id))
            conn.execute(insert(wait_signals).values(
                token=token, unique_id=unique_id, status=status, reason=str(signal.get("Reason") or ""),
                data=str(signal.get("Data") or ""), timestamp=time.time(),
            ))
        return Response(status_code=200)


def _refusal(status: int, code: str, message: str) -> Response:
    # The shape S3 answers a presigned URL with, which is what a wait condition handle is on AWS.
    body = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return Response(body, status_code=status, media_type="application/xml")
