"""The web console: server-rendered pages over the same providers as the API, in English and Korean."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from selfmaker.config import Settings
from selfmaker.console.sessions import SessionStore
from selfmaker.console.web import Console
from selfmaker.domain.instance_types import InstanceType
from selfmaker.gateway.api import ApiHandler
from selfmaker.services.metering import Meter
from selfmaker.services.sagemaker.orchestrator import NotebookOrchestrator


def console_routes(engine: Engine, api: ApiHandler, settings: Settings, catalogue: dict[str, InstanceType],
                   account_id: str, orchestrator: NotebookOrchestrator, meter: Meter) -> list[BaseRoute]:
    from selfmaker.console.pages import billing, cloudformation, home, logs, mail, quotas, sagemaker, signin

    console = Console(api, SessionStore(engine), settings, catalogue, account_id, orchestrator.volume_used,
                      orchestrator.runtime.unenforced(), meter)
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
