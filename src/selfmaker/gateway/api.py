"""The AWS API endpoint: one ASGI handler for every service.

route (X-Amz-Target, or Action + the SigV4 scope) → verify the signature → parse and validate against
botocore's model → call the provider → serialize in the service's protocol.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from botocore.model import OperationModel
from sqlalchemy.exc import DataError

from selfmaker.gateway import sigv4
from selfmaker.protocol import json_protocol, query_protocol
from selfmaker.protocol.models import operation_model, service_model
from selfmaker.protocol.validate import validate
from selfmaker.protocol.wire import WireResponse
from selfmaker.services.base import RequestContext, ServiceError, invoke
from selfmaker.services.identity import CredentialStore

log = logging.getLogger("selfmaker.api")

MAX_BODY = 16 * 1024 * 1024
# What each service calls a request that breaks its model's constraints (Query services: ValidationError).
_VALIDATION_CODES = {"sagemaker": "ValidationException", "logs": "InvalidParameterException",
                     "service-quotas": "ValidationException", "ce": "ValidationException",
                     "budgets": "ValidationException"}
_FORM = "application/x-www-form-urlencoded"


# (ctx, service, operation, params) -> None, raising ServiceError when IAM denies the request.
Authorize = Callable[[RequestContext, str, str, dict], None]
# (access key id, service, region): told of each request signed with a long-term key (GetAccessKeyLastUsed).
NoteKeyUse = Callable[[str, str, str], None]


@dataclass
class Service:
    name: str  # botocore's service name (its SigV4 signing name is the model's: service-quotas → servicequotas)
    provider: object


@dataclass
class _Call:
    """A request once routed: which service and operation, in which protocol."""

    service: str
    operation: str
    protocol: str  # "json" or "query"
    params: dict[str, str] | None = None  # Query's form fields


class ApiHandler:
    def __init__(
        self,
        services: list[Service],
        credentials: CredentialStore,
        endpoint_url: str,
        skew: float,
        authorize: Authorize | None = None,
        note_key_use: NoteKeyUse | None = None,
    ):
        self.services = {service.name: service for service in services}
        self.by_target = {
            service_model(s.name).metadata["targetPrefix"]: s.name
            for s in services
            if service_model(s.name).protocol == "json"
        }
        self.credentials = credentials
        self.endpoint_url = endpoint_url
        self.skew = skew
        self.authorize = authorize
        self.note_key_use = note_key_use

    async def __call__(self, scope, receive, send) -> None:
        request_id = str(uuid.uuid4())
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        body = await _read_body(receive)
        response = await self._respond(scope, headers, body, request_id)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [*response.headers, (b"content-length", str(len(response.body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    async def _respond(self, scope, headers: dict[str, str], body: bytes | None, request_id: str) -> WireResponse:
        raw_query = scope.get("query_string", b"").decode("latin-1")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        call = None
        try:
            if body is None:
                raise ServiceError("RequestEntityTooLarge", "Request body is larger than 16 MiB.", 413)
            signed = sigv4.read_signature(headers, query)
            call = self._route(signed, headers, query, body)
            signing_name = service_model(call.service).signing_name  # "servicequotas" for service-quotas
            if signing_name != signed.service:
                raise sigv4.AuthError(
                    "signature", f"Credential should be scoped to correct service: '{signing_name}'."
                )
            ctx = self._authenticate(signed, scope, headers, raw_query, body, request_id)
            operation = operation_model(call.service, call.operation)
            if operation is None:
                raise _unknown_operation(call)
            params = (
                json_protocol.parse(operation, body)
                if call.protocol == "json"
                else query_protocol.parse(operation, call.params or {})
            )
            result = await self._invoke(call.service, operation, ctx, params)
            if call.protocol == "json":
                return json_protocol.serialize(operation, result, request_id)
            return query_protocol.serialize(operation, result, request_id)
        except ServiceError as err:
            return self._error(call, err, headers, request_id)
        except RecursionError:
            # Whatever walked it, a value nested past the interpreter's limit is the client's doing: answer
            # as the service answers an invalid value (the parsers refuse most such input earlier, by name).
            log.warning("request %s (%s) nested too deeply", request_id, _operation_name(call))
            code = _VALIDATION_CODES.get(call.service, "ValidationError") if call else "ValidationError"
            err = ServiceError(code, "A value in the request is nested too deeply.")
            return self._error(call, err, headers, request_id)
        except DataError as refused:
            # A value the store refused (PostgreSQL enforces column lengths, SQLite never did): the services
            # check lengths themselves, so this is a last line, answered as an invalid value, never a 500.
            code = _VALIDATION_CODES.get(call.service, "ValidationError") if call else "ValidationError"
            if "NUL (0x00)" in str(refused.orig):  # psycopg's own refusal: PostgreSQL text never holds NUL
                log.warning("request %s (%s): a NUL character in a value", request_id, _operation_name(call))
                err = ServiceError(code, "A value in the request contains a NUL character, which is not allowed.")
                return self._error(call, err, headers, request_id)
            log.warning("request %s (%s): the store refused a value", request_id, _operation_name(call), exc_info=True)
            err = ServiceError(code, "A value in the request is longer than this service allows.")
            return self._error(call, err, headers, request_id)
        except Exception:
            log.exception("request %s (%s) failed", request_id, _operation_name(call))
            err = ServiceError("InternalFailure", "The request processing has failed because of an unknown error.",
                               500, sender_fault=False)
            return self._error(call, err, headers, request_id)

    def _route(self, signed: sigv4.SignedRequest, headers: dict[str, str], query: dict[str, str], body: bytes) -> _Call:
        signed_service = signed.service
        target = headers.get("x-amz-target")
        if target:
            prefix, _, operation = target.partition(".")
            service = self.by_target.get(prefix)
            if service is None:
                raise ServiceError("UnknownOperationException", f"Unknown target '{target}'.")
            return _Call(service, operation, "json")
        params = dict(query)
        # A presigned request's parameters are its signed query string's alone (a body on it is refused).
        if headers.get("content-type", "").startswith(_FORM) and not signed.presigned:
            params.update(query_protocol.read_form(body))
        for key in [k for k in params if k.startswith("X-Amz-")]:
            del params[key]
        action = params.pop("Action", None)
        params.pop("Version", None)
        if signed_service not in self.services or service_model(signed_service).protocol != "query":
            raise ServiceError(
                "InvalidAction", f"This endpoint does not serve the '{signed_service}' service by Query."
            )
        if not action:
            raise ServiceError("MissingAction", "Missing Action")
        return _Call(signed_service, action, "query", params)

    def _authenticate(self, signed, scope, headers, raw_query: str, body: bytes, request_id: str) -> RequestContext:
        credential = self.credentials.lookup(signed.access_key_id)
        if credential is None:
            raise sigv4.AuthError("unknown-key", "The security token included in the request is invalid.")
        sigv4.check_freshness(signed, self.skew)
        raw_path = scope.get("raw_path", b"/").decode("latin-1").split("?", 1)[0]
        sigv4.verify(signed, credential.secret_access_key, scope["method"], raw_path, raw_query, headers, body)
        if credential.session_token is not None:
            if signed.security_token != credential.session_token:
                raise sigv4.AuthError("unknown-key", "The security token included in the request is invalid.")
            if credential.expires is not None and credential.expires < time.time():
                raise sigv4.AuthError("expired-token", "The security token included in the request is expired")
        elif self.note_key_use is not None:
            self.note_key_use(credential.access_key_id, signed.service, signed.region)
        return RequestContext(
            account_id=credential.account_id,
            region=signed.region,
            principal_arn=credential.principal_arn,
            access_key_id=credential.access_key_id,
            request_id=request_id,
            endpoint_url=self.endpoint_url,
        )

    async def call(self, ctx: RequestContext, service: str, operation: str, params: dict) -> dict:
        """One operation as ``ctx``'s principal, in-process (the console's way in): validated and
        authorized exactly as a signed request is."""
        model = operation_model(service, operation)
        if model is None:
            raise ServiceError("UnknownOperationException", f"Unknown operation '{operation}'.")
        return await self._invoke(service, model, ctx, params)

    async def _invoke(self, service: str, operation: OperationModel, ctx: RequestContext, params: dict):
        validate(operation.input_shape, params, _VALIDATION_CODES.get(service, "ValidationError"), service)
        if self.authorize is not None:
            self.authorize(ctx, service, operation.name, params)
        method = getattr(self.services[service].provider, operation.name, None)
        if method is None:
            raise ServiceError(
                "NotImplementedException",
                f"Selfmaker does not implement {operation.service_model.service_id} operation "
                f"{operation.name} yet.",
                400,
            )
        return await invoke(method, ctx, params)

    def _error(self, call: _Call | None, err: ServiceError, headers: dict[str, str], request_id: str) -> WireResponse:
        protocol = call.protocol if call else ("json" if "x-amz-target" in headers else "query")
        if protocol == "json":
            return json_protocol.error(err, request_id)
        if isinstance(err, sigv4.AuthError):
            err = err.for_query()
        namespace = service_model(call.service).metadata.get("xmlNamespace", "") if call else ""
        return query_protocol.error(err, request_id, namespace)


def _operation_name(call: _Call | None) -> str:
    return f"{call.service} {call.operation}" if call else "not routed"


def _unknown_operation(call: _Call) -> ServiceError:
    if call.protocol == "json":
        return ServiceError("UnknownOperationException", f"Unknown operation '{call.operation}'.")
    version = service_model(call.service).api_version
    return ServiceError("InvalidAction", f"Could not find operation {call.operation} for version {version}")


async def _read_body(receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)
