"""The whole server as one ASGI app: the AWS API at ``/``, Jupyter under ``/notebook/…``."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from selfmaker.config import Settings
from selfmaker.domain.instance_types import load_catalogue
from selfmaker.gateway.api import ApiHandler, Service
from selfmaker.gateway.notebook_proxy import NotebookProxy
from selfmaker.runtime.local import LocalRuntime
from selfmaker.services.identity import Credential, CredentialStore, bootstrap_root
from selfmaker.services.logs.provider import LogsService
from selfmaker.services.sagemaker.orchestrator import NotebookOrchestrator
from selfmaker.services.sagemaker.provider import SageMakerService
from selfmaker.services.sts.provider import STSService
from selfmaker.store.db import open_store


@dataclass
class Server:
    app: object  # the ASGI callable
    root: Credential
    orchestrator: NotebookOrchestrator


def build_server(settings: Settings) -> Server:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_store(settings.database_path)
    credentials = CredentialStore(engine)
    root = bootstrap_root(engine, credentials)
    catalogue = load_catalogue(settings.data_dir)
    logs = LogsService(engine)
    orchestrator = NotebookOrchestrator(engine, LocalRuntime(settings.data_dir), logs, settings, catalogue)
    api = ApiHandler(
        [
            Service("sagemaker", SageMakerService(engine, settings, catalogue, orchestrator)),
            Service("logs", logs),
            Service("sts", STSService()),
        ],
        credentials,
        settings.endpoint_url,
        settings.signature_skew,
    )
    proxy = NotebookProxy(engine, orchestrator)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        await orchestrator.reconcile()
        yield
        await proxy.close()
        await orchestrator.close()

    async def health(_request):
        return JSONResponse({"status": "ok"})

    web = Starlette(routes=[Route("/_selfmaker/health", health), *proxy.routes()], lifespan=lifespan)

    async def app(scope, receive, send):
        # The API hot path skips the router: every AWS call is a request to "/".
        if scope["type"] == "http" and scope["path"] == "/":
            await api(scope, receive, send)
        else:
            await web(scope, receive, send)

    return Server(app, root, orchestrator)
