"""The test-mode metering clock: ``POST /_selfmaker/clock`` with ``{"now": <epoch seconds>}`` freezes the clock
that usage is metered by at that moment, ``{"now": null}`` lets it run with the wall clock again.

Only served with ``--test-mode`` (loopback only). The setting is kept in the store, so a server killed and started
again meters on from where the test left the clock; the test-mode reset releases it. Signatures, sessions and
tokens never read this clock.
"""

from __future__ import annotations

import json
import math

from sqlalchemy import Engine, delete, insert, select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from selfmaker.clock import Clock
from selfmaker.gateway.guest_services import INSTANCE_SOURCE
from selfmaker.store.tables import settings_kv

CLOCK_PATH = "/_selfmaker/clock"
_KEY = "test_metering_clock"


def restore_clock(engine: Engine, clock: Clock) -> None:
    with engine.connect() as conn:
        value = conn.execute(select(settings_kv.c.value).where(settings_kv.c.key == _KEY)).scalar()
    clock.set(None if value is None else float(value))


def release_clock(engine: Engine, clock: Clock) -> None:
    with engine.begin() as conn:
        conn.execute(delete(settings_kv).where(settings_kv.c.key == _KEY))
    clock.set(None)


def clock_routes(engine: Engine, clock: Clock, own_origins: set[str]) -> list[Route]:
    async def set_clock(request: Request) -> JSONResponse:
        origin = request.headers.get("origin")
        if (origin is not None and origin not in own_origins) or (
                request.client is not None and request.client.host == INSTANCE_SOURCE):
            return JSONResponse({"error": "refused"}, status_code=403)
        try:
            now = json.loads(await request.body())["now"]
            if now is not None and (isinstance(now, bool) or not isinstance(now, int | float)
                                    or not math.isfinite(now) or now < 0):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'send {"now": <seconds since the epoch> | null}'}, status_code=400)
        with engine.begin() as conn:
            conn.execute(delete(settings_kv).where(settings_kv.c.key == _KEY))
            if now is not None:
                conn.execute(insert(settings_kv).values(key=_KEY, value=repr(float(now))))
        clock.set(None if now is None else float(now))
        return JSONResponse({"now": clock.now(), "frozen": clock.frozen is not None})

    async def get_clock(_request: Request) -> JSONResponse:
        return JSONResponse({"now": clock.now(), "frozen": clock.frozen is not None})

    return [Route(CLOCK_PATH, set_clock, methods=["POST"]), Route(CLOCK_PATH, get_clock, methods=["GET"])]
