"""The whole server as one ASGI app: the AWS API at ``/``, the console's pages, and each notebook instance's
Jupyter on a host name of its own (``<name>-<account>.notebook.<region>.<notebook domain>``)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from selfmaker.clock import Clock
from selfmaker.config import Settings
from selfmaker.console import console_routes
from selfmaker.console.root_password import ensure_root_password
from selfmaker.domain.instance_types import load_catalogue
from selfmaker.gateway.api import ApiHandler, Service
from selfmaker.gateway.authz import Authorizer
from selfmaker.gateway.guest_services import GuestServices
from selfmaker.gateway.instance_credentials import instance_credentials_routes
from selfmaker.gateway.notebook_links import legacy_notebook_routes
from selfmaker.gateway.notebook_proxy import NotebookProxy
from selfmaker.gateway.sns_links import sns_link_routes
from selfmaker.gateway.test_clock import clock_routes, release_clock, restore_clock
from selfmaker.gateway.test_reset import StateReset
from selfmaker.mail import open_mailer
from selfmaker.runtime.choice import build_runtime
from selfmaker.services.budgets import ActionRunner, AlertSender, BudgetChecker, BudgetsService
from selfmaker.services.ce import CostExplorerService
from selfmaker.services.cloudformation import CloudFormationService
from selfmaker.services.iam.directory import Directory
from selfmaker.services.iam.provider import IAMService
from selfmaker.services.identity import Credential, CredentialStore, bootstrap_root
from selfmaker.services.logs.provider import LogsService
from selfmaker.services.metering import Meter
from selfmaker.services.quotas import ServiceQuotasService, load_quota_book
from selfmaker.services.sagemaker.idle import IdleChecker
from selfmaker.services.sagemaker.idle_activity import BrowserActivity
from selfmaker.services.sagemaker.idle_config import load_idle_defaults
from selfmaker.services.sagemaker.notebook_hosts import parse_notebook_host
from selfmaker.services.sagemaker.orchestrator import NotebookOrchestrator
from selfmaker.services.sagemaker.provider import SageMakerService
from selfmaker.services.sns import SNSService
from selfmaker.services.sts.instance_credentials import InstanceCredentials
from selfmaker.services.sts.provider import STSService
from selfmaker.store.db import open_store
from selfmaker.store.leases import Runner


@dataclass
class Server:
    app: object  # the ASGI callable
    root: Credential
    orchestrator: NotebookOrchestrator
    meter: Meter
    generated_root_password: str | None  # set on first start when none was given: printed once


def build_server(settings: Settings) -> Server:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_store(settings.database)
    credentials = CredentialStore(engine)
    root = bootstrap_root(engine, credentials)
    generated_root_password = ensure_root_password(engine)
    catalogue = load_catalogue(settings.data_dir)
    quotas = load_quota_book(settings.data_dir, catalogue)  # QuotaConfigError names what is wrong in quotas.yaml
    idle_defaults = load_idle_defaults(settings.data_dir)  # IdleConfigError names what is wrong in idle.yaml
    logs = LogsService(engine)
    directory = Directory(engine)  # IAM as the gateway and STS read it, with its policy cache
    instance_credentials = InstanceCredentials(engine, credentials, directory)
    guest = GuestServices(engine, settings, instance_credentials)
    clock = Clock()  # what usage is metered by; tests set it (test mode only)
    if settings.test_mode:
        restore_clock(engine, clock)
    meter = Meter(engine, catalogue, clock)  # usage and cost, for Cost Explorer, Budgets, the console
    runner = Runner(engine, settings.lease_seconds)  # this process among the servers sharing the store
    orchestrator = NotebookOrchestrator(engine, build_runtime(settings, catalogue), logs, settings, catalogue, guest,
                                        clock, runner)
    mailer = open_mailer(settings.outbox_dir, settings.smtp_url, settings.mail_from)
    sns = SNSService(engine, mailer, allow_private_endpoints=settings.sns_allow_private_endpoints,
                     own_host=settings.host, own_port=settings.port, retry_delays=settings.sns_retry_delays)
    authorize = Authorizer(engine, directory)
    providers: dict[str, object] = {}  # stacks call the very providers the API serves (filled in below)
    budget_actions = ActionRunner(engine, meter, logs, providers, settings.endpoint_url)  # stop instances
    budget_checker = BudgetChecker(engine, meter, AlertSender(mailer, providers, settings.endpoint_url),
                                   budget_actions, settings.budget_check_seconds,  # alerts and actions
                                   lease=lambda: runner.hold("budget-checker"))  # one server checks at a time
    cloudformation = CloudFormationService(engine, settings, providers, authorize)
    iam = IAMService(engine, credentials, directory)
    api = ApiHandler(
        [
            Service("sagemaker", SageMakerService(engine, settings, catalogue, orchestrator, quotas, clock)),
            Service("service-quotas", ServiceQuotasService(engine, quotas, mailer)),  # signed as "servicequotas"
            Service("ce", CostExplorerService(meter)),
            Service("logs", logs),
            Service("sns", sns),
            Service("sts", STSService(engine, credentials, directory)),
            Service("iam", iam),
            Service("cloudformation", cloudformation),
            Service("budgets", BudgetsService(engine, meter, budget_actions)),
        ],
        credentials,
        settings.endpoint_url,
        settings.signature_skew,
        authorize=authorize,
        note_key_use=iam.key_usage.note,
    )
    providers.update({name: service.provider for name, service in api.services.items()})
    activity = BrowserActivity()  # what people do in Jupyter, noted by the proxy, read by the idle checker
    proxy = NotebookProxy(engine, orchestrator, settings, activity)
    idle = IdleChecker(engine, orchestrator, logs, catalogue, idle_defaults, activity,
                       settings.idle_check_seconds, settings.idle_minute_seconds,
                       lease=lambda: runner.hold("idle-checker"))

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        await runner.start()
        await orchestrator.reconcile()
        # Stack operations and SNS deliveries are not leased one by one yet: a server resumes those left under
        # way only when no other server is alive (theirs, else; a survivor does not finish a dead peer's).
        if await asyncio.to_thread(runner.alive) == {runner.id}:
            await sns.start()
            await cloudformation.start()
        await budget_checker.start()
        idle.start()
        yield
        await idle.close()
        await budget_checker.close()
        await cloudformation.close()
        await sns.close()
        await proxy.close()
        await orchestrator.close()
        await runner.close()

    async def health(_request):
        return JSONResponse({"status": "ok"})

    test_routes = []
    if settings.test_mode:
        reset = StateReset(engine, root, credentials, orchestrator,
                           [cloudformation, sns, budget_checker],
                           [directory.changed, iam.key_usage.forget_all, lambda: release_clock(engine, clock)])
        own_origins = {settings.endpoint_url, settings.local_url}
        test_routes = [*reset.routes(own_origins), *clock_routes(engine, clock, own_origins)]

    web = Starlette(
        routes=[
            Route("/_selfmaker/health", health),
            *test_routes,
            *instance_credentials_routes(instance_credentials),
            *sns_link_routes(sns),
            *cloudformation.routes(),
            *legacy_notebook_routes(engine, settings),
            *console_routes(engine, api, settings, catalogue, root.account_id, orchestrator, meter),
        ],
        lifespan=lifespan,
    )

    domain = settings.notebook_domain

    async def app(scope, receive, send):
        if scope["type"] != "lifespan" and parse_notebook_host(_host(scope), domain) is not None:
            # A notebook's host reaches its Jupyter and nothing else: no API, console or other pages there.
            await proxy(scope, receive, send)
        elif scope["type"] == "http" and scope["path"] == "/":
            # The API hot path skips the router: every AWS call is a request to "/".
            await api(scope, receive, send)
        else:
            await web(scope, receive, send)

    return Server(app, root, orchestrator, meter, generated_root_password)


def _host(scope) -> str:
    for key, value in scope["headers"]:
        if key == b"host":
            return value.decode("latin-1")
    return ""
