"""botocore's service models: the single source of truth for every operation's wire shape."""

from __future__ import annotations

from functools import cache

from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel

_loader = create_loader()


@cache
def service_model(service: str) -> ServiceModel:
    return ServiceModel(_loader.load_service_model(service, "service-2"), service_name=service)


@cache
def operation_model(service: str, operation: str) -> OperationModel | None:
    model = service_model(service)
    if operation not in model.operation_names:
        return None
    return model.operation_model(operation)
