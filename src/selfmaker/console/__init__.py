"""The web console: server-rendered pages over the same providers as the API, in English and Korean."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import Engine, select
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from selfmaker.config import Settings
from selfmaker.console.sessions import SessionStore
from selfmaker.console.web import Console
from selfmaker.domain.instance_types import InstanceType
from selfmaker.gateway.api import ApiHandler
from selfmaker.services.metering import Meter
from selfmaker.services.sagemaker.orchestrator import NotebookOrchestrator
from selfmaker.store.tables import notebook_instances


def console_routes(engine: Engine, api: ApiHandler, settings: Settings, catalogue: dict[str, InstanceType],
                   account_id: str, orchestrator: NotebookOrchestrator, meter: Meter) -> list[BaseRoute]:
    from selfmaker.console.pages import billing, cloudformation, home, logs, mail, quotas, sagemaker, signin

    console = Console(api, SessionStore(engine), settings, catalogue, account_id, orchestrator.volume_used,
                      orchestrator.runtime.unenforced(), meter, placement_of(engine, orchestrator))
    return [
        Mount("/console/static", StaticFiles(directory=Path(__file__).parent / "static"), name="console-static"),
        *signin.routes(console, engine),
        *home.routes(console),
        *sagemaker.routes(console),
        *logs.routes(console),
        *mail.routes(console),
        *cloudformation.routes(console),
        *quotas.routes(console),
        *billing.routes(console),
    ]


def placement_of(engine: Engine, orchestrator: NotebookOrchestrator) -> Callable[[str, str, str],
                                                                               Awaitable[dict | None]]:
    """(account, region, name) -> where the instance runs or waits, as its runtime tells (None: on this host,
    or not started by this server). The caller has already been allowed to describe the instance."""
    placement = getattr(orchestrator.runtime, "placement", None)  # the router's; a bare runtime may lack it

    def find(account_id: str, region: str, name: str) -> dict | None:
        with engine.connect() as conn:
            instance_id = conn.execute(select(notebook_instances.c.instance_id).where(
                notebook_instances.c.account_id == account_id, notebook_instances.c.region == region,
                notebook_instances.c.name == name)).scalar()
        return placement(instance_id) if instance_id is not None and placement is not None else None

    async def placed(account_id: str, region: str, name: str) -> dict | None:
        return await asyncio.to_thread(find, account_id, region, name)  # a store read and a file on shared storage

    return placed
