"""The SageMaker service: notebook instances, their lifecycle configurations, code repositories, and tags."""

from __future__ import annotations

from sqlalchemy import Engine

from selfmaker.clock import Clock
from selfmaker.config import Settings
from selfmaker.domain.instance_types import InstanceType
from selfmaker.services.quotas import QuotaBook
from selfmaker.services.sagemaker.code_repositories import CodeRepositories
from selfmaker.services.sagemaker.lifecycle_configs import LifecycleConfigs
from selfmaker.services.sagemaker.notebooks import NotebookInstances
from selfmaker.services.sagemaker.orchestrator import NotebookOrchestrator
from selfmaker.services.sagemaker.tags import Tags


class SageMakerService(NotebookInstances, LifecycleConfigs, CodeRepositories, Tags):
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        catalogue: dict[str, InstanceType],
        orchestrator: NotebookOrchestrator,
        quotas: QuotaBook | None = None,  # the notebook quotas; without, their defaults
        clock: Clock | None = None,  # the metering clock; without, the wall clock
    ):
        self.engine = engine
        self.settings = settings
        self.catalogue = catalogue
        self.orchestrator = orchestrator
        self.quotas = quotas if quotas is not None else QuotaBook(catalogue)
        self.clock = clock if clock is not None else orchestrator.clock
