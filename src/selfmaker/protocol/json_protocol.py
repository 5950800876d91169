"""AWS JSON 1.0/1.1 (SageMaker, CloudWatch Logs): the body is a JSON object of the input shape."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from botocore.model import OperationModel, Shape

from selfmaker.protocol.wire import WireResponse
from selfmaker.services.base import ServiceError

_INT_TYPES = ("integer", "long")
_FLOAT_TYPES = ("float", "double")


def _serialization_error(message: str) -> ServiceError:
    return ServiceError("SerializationException", message)


def parse(operation: OperationModel, body: bytes) -> dict:
    if not body.strip():
        raw: object = {}
    else:
        try:
            raw = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise _serialization_error(f"Start of structure or map found where not expected: {exc}") from None
    if not isinstance(raw, dict):
        raise _serialization_error("Start of structure or map expected")
    shape = operation.input_shape
    return _coerce(shape, raw, shape.name if shape else "") if shape is not None else {}


def _coerce(shape: Shape, value, where: str):
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _serialization_error(f"Expected an object for '{where}'")
        members = shape.members
        return {
            name: _coerce(members[name], item, name)
            for name, item in value.items()
            if name in members and item is not None
        }
    if kind == "list":
        if not isinstance(value, list):
            raise _serialization_error(f"Expected a list for '{where}'")
        return [_coerce(shape.member, item, where) for item in value]
    if kind == "map":
        if not isinstance(value, dict):
            raise _serialization_error(f"Expected a map for '{where}'")
        return {
            _coerce(shape.key, key, where): _coerce(shape.value, item, where) for key, item in value.items()
        }
    if kind == "string":
        if not isinstance(value, str):
            raise _serialization_error(f"STRING_VALUE can not be converted to a String at '{where}'")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _serialization_error(f"Expected a boolean for '{where}'")
        return value
    if kind in _INT_TYPES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _serialization_error(f"NUMBER_VALUE can not be converted to an Integer at '{where}'")
        return value
    if kind in _FLOAT_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _serialization_error(f"Expected a number for '{where}'")
        return float(value)
    if kind == "timestamp":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                pass
        raise _serialization_error(f"Expected a timestamp for '{where}'")
    if kind == "blob":
        try:
            return base64.b64decode(value, validate=True)
        except (TypeError, ValueError):
            raise _serialization_error(f"Expected base64 data for '{where}'") from None
    return value


def _plain(value):
    """Drop absent members; timestamps become epoch seconds, bytes base64 (the JSON protocol's forms)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _headers(request_id: str, content_type: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), (b"x-amzn-requestid", request_id.encode())]


def serialize(operation: OperationModel, result: dict | None, request_id: str) -> WireResponse:
    body = json.dumps(_plain(result or {}), separators=(",", ":"), ensure_ascii=False).encode()
    content_type = f"application/x-amz-json-{operation.metadata.get('jsonVersion', '1.1')}".encode()
    return WireResponse(200, body, _headers(request_id, content_type))


def error(err: ServiceError, request_id: str, json_version: str = "1.1") -> WireResponse:
    body = json.dumps({"__type": err.code, "message": err.message}, ensure_ascii=False).encode()
    headers = _headers(request_id, f"application/x-amz-json-{json_version}".encode())
    headers.append((b"x-amzn-errortype", err.code.encode()))
    return WireResponse(err.status, body, headers)
