"""How a stack's resources reach the service providers: the same operations, validation and IAM checks as
an API request, in-process.

Template values are text (``"7"``, ``"true"``); each call first shapes its input to the operation's
botocore input shape, as the wire protocol would have, then validates it, then authorizes it as the
principal that started the stack operation. A provider's ServiceError becomes a ResourceFailure worded as
CloudFormation words a resource handler's error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

from botocore.model import Shape

from selfmaker.protocol.models import operation_model, service_model
from selfmaker.protocol.validate import validate
from selfmaker.services.base import RequestContext, ServiceError, invoke

# What each JSON service calls a request that breaks its model (Query services say ValidationError).
_VALIDATION_CODES = {"sagemaker": "ValidationException", "logs": "InvalidParameterException"}
_HANDLER_CODES = (  # (words in an AWS error code, CloudFormation's HandlerErrorCode)
    (("NotFound", "NoSuchEntity", "RecordNotFound"), "NotFound"),
    (("AlreadyExists", "EntityAlreadyExists", "ResourceInUse"), "AlreadyExists"),
    (("AccessDenied", "Unauthorized", "AuthorizationError"), "AccessDenied"),
    (("Validation", "InvalidParameter", "MalformedPolicy"), "InvalidRequest"),
    (("LimitExceeded", "ResourceLimitExceeded"), "ServiceLimitExceeded"),
)

Authorize = Callable[[RequestContext, str, str, dict], None]


class ResourceFailure(Exception):
    """A resource could not be created, updated or deleted; ``reason`` is its event's ResourceStatusReason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ProviderError(ResourceFailure):
    """A provider refused a call; ``code`` is its AWS error code."""

    def __init__(self, service: str, err: ServiceError, request_id: str):
        service_id = service_model(service).service_id.replace(" ", "")
        handler_code = next((code for words, code in _HANDLER_CODES if any(w in err.code for w in words)),
                            "GeneralServiceException")
        super().__init__(
            f'Resource handler returned message: "{err.message} (Service: {service_id}, Status Code: {err.status}, '
            f'Request ID: {request_id})" (HandlerErrorCode: {handler_code})'
        )
        self.code = err.code
        self.message = err.message


class ProviderCalls:
    """``await calls("logs", "CreateLogGroup", {...})`` for one stack operation."""

    def __init__(self, providers: Mapping[str, object], authorize: Authorize | None, account_id: str, region: str,
                 principal_arn: str, access_key_id: str, endpoint_url: str):
        self.providers = providers
        self.authorize = authorize
        self.account_id = account_id
        self.region = region
        self.principal_arn = principal_arn
        self.access_key_id = access_key_id
        self.endpoint_url = endpoint_url

    def context(self) -> RequestContext:
        return RequestContext(self.account_id, self.region, self.principal_arn, self.access_key_id,
                              str(uuid.uuid4()), self.endpoint_url)

    async def __call__(self, service: str, operation: str, params: dict) -> dict:
        provider = self.providers.get(service)
        if provider is None:
            raise ResourceFailure(f"This Selfmaker server does not offer the {service} service, which this "
                                  "resource needs.")
        method = getattr(provider, operation, None)
        model = operation_model(service, operation)
        if method is None or model is None:
            raise ResourceFailure(f"This Selfmaker server's {service} service does not implement {operation} yet, "
                                  "which this resource needs.")
        ctx = self.context()
        try:
            shaped = shape_input(model.input_shape, params, "") if model.input_shape is not None else {}
            validate(model.input_shape, shaped, _VALIDATION_CODES.get(service, "ValidationError"), service)
            if self.authorize is not None:
                self.authorize(ctx, service, operation, shaped)
            result = await invoke(method, ctx, shaped)
        except ServiceError as err:
            raise ProviderError(service, err, ctx.request_id) from None
        return result or {}


def shape_input(shape: Shape, value, path: str):
    """``value`` in the types of ``shape``; a misfit is a ResourceFailure naming the property."""
    kind = shape.type_name
    where = path or "input"
    if kind == "structure":
        if not isinstance(value, dict):
            raise ResourceFailure(f"Value of property {where} must be an object")
        out = {}
        for key, item in value.items():
            if key not in shape.members:
                raise ResourceFailure(f"Encountered unsupported property {_join(path, key)}")
            out[key] = shape_input(shape.members[key], item, _join(path, key))
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise ResourceFailure(f"Value of property {where} must be of type List")
        return [shape_input(shape.member, item, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise ResourceFailure(f"Value of property {where} must be an object")
        return {str(key): shape_input(shape.value, item, _join(path, str(key))) for key, item in value.items()}
    if isinstance(value, dict | list):
        raise ResourceFailure(f"Value of property {where} must be of type {_TYPE_NAMES.get(kind, 'String')}")
    try:
        return _scalar(kind, value)
    except (ValueError, TypeError):
        raise ResourceFailure(
            f"Value of property {where} must be of type {_TYPE_NAMES.get(kind, 'String')}"
        ) from None


_TYPE_NAMES = {"integer": "Integer", "long": "Long", "boolean": "Boolean", "float": "Double", "double": "Double"}


def _scalar(kind: str, value):
    if kind in ("integer", "long"):
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if number != int(number):
            raise ValueError
        return int(number)
    if kind in ("float", "double"):
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        lowered = str(value).lower()
        if lowered not in ("true", "false"):
            raise ValueError
        return lowered == "true"
    if kind == "blob":
        return value.encode() if isinstance(value, str) else value
    if kind == "timestamp":
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
