"""The CloudFormation service: stacks, change sets and exports, made of resources that the engine creates
through the same service providers the API serves."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine
from starlette.routing import Route

from selfmaker.config import Settings
from selfmaker.services.cloudformation.calls import Authorize
from selfmaker.services.cloudformation.change_sets import ChangeSets
from selfmaker.services.cloudformation.engine import StackEngine
from selfmaker.services.cloudformation.exports import Exports
from selfmaker.services.cloudformation.queries import Queries
from selfmaker.services.cloudformation.records import StackStore
from selfmaker.services.cloudformation.resources import resource_types
from selfmaker.services.cloudformation.signals import WaitSignals
from selfmaker.services.cloudformation.stacks import Stacks
from selfmaker.services.cloudformation.template_source import TemplateSource


class CloudFormationService(Stacks, ChangeSets, Queries):
    def __init__(self, engine: Engine, settings: Settings, providers: Mapping[str, object],
                 authorize: Authorize | None = None):
        """``providers``: the services by botocore name, as the API serves them (it may be filled in after
        this is made: it is only read when a stack operation runs)."""
        self.engine = engine
        self.store = StackStore(engine)
        self.exports = Exports(engine)
        self.signals = WaitSignals(engine, settings.endpoint_url)
        self.types = resource_types(self.signals)
        self.attributes = {name: kind.attributes for name, kind in self.types.items()}
        self.source = TemplateSource(settings.template_allow_private_urls, settings.host, settings.port)
        self.stack_engine = StackEngine(engine, self.types, providers, authorize, settings.endpoint_url)

    def routes(self) -> list[Route]:
        """The wait condition handles' URLs."""
        return self.signals.routes()

    async def start(self) -> None:
        """Settle the stack operations a previous run left under way."""
        await self.stack_engine.reconcile()

    async def close(self) -> None:
        await self.stack_engine.close()
