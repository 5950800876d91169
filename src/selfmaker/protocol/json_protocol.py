"""AWS JSON 1.0/1.1 (SageMaker, CloudWatch Logs): the body is a JSON object of the input shape."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from botocore.model import OperationModel, Shape

from selfmaker import bounded_json
from selfmaker.protocol.wire import WireResponse
from selfmaker.services.base import ServiceError

# What a member of each type may hold, as the Java types behind AWS's services can.
_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_FLOAT_TYPES = ("float", "double")
# Epoch seconds of 0001-01-01 and 9999-12-31T23:59:59: what datetime (and so every provider) can represent.
_TIMESTAMP_RANGE = (-62_135_596_800, 253_402_300_799)


def _serialization_error(message: str) -> ServiceError:
    return ServiceError("SerializationException", message)


def parse(operation: OperationModel, body: bytes) -> dict:
    if not body.strip():
        raw: object = {}
    else:
        try:
            # Depth is left to the interpreter's limit: _coerce walks no deeper than the input shape.
            raw = bounded_json.loads(body, check_depth=False)
        except bounded_json.JSONLimitError as exc:
            raise _serialization_error(f"The request body cannot be read: {exc}") from None
        except ValueError as exc:  # not JSON, or not UTF-8
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
        return [_coerce(shape.member, item, where) for item in _within_max(shape, value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _serialization_error(f"Expected a map for '{where}'")
        return {
            _coerce(shape.key, key, where): _coerce(shape.value, item, where)
            for key, item in _within_max(shape, list(value.items()))
        }
    if kind == "string":
        if not isinstance(value, str):
            raise _serialization_error(f"STRING_VALUE can not be converted to a String at '{where}'")
        if not value.isascii():
            _ensure_unicode(value, where)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _serialization_error(f"Expected a boolean for '{where}'")
        return value
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            noun = "an Integer" if kind == "integer" else "a Long"
            raise _serialization_error(f"NUMBER_VALUE can not be converted to {noun} at '{where}'")
        return value
    if kind in _FLOAT_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _serialization_error(f"Expected a number for '{where}'")
        return _finite(value, where)
    if kind == "timestamp":
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = _finite(value, where)
            if not _TIMESTAMP_RANGE[0] <= seconds <= _TIMESTAMP_RANGE[1]:
                raise _serialization_error(f"The timestamp at '{where}' is out of range")
            return seconds
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except (ValueError, OverflowError, OSError):
                pass
        raise _serialization_error(f"Expected a timestamp for '{where}'")
    if kind == "blob":
        try:
            return base64.b64decode(value, validate=True)
        except (TypeError, ValueError):
            raise _serialization_error(f"Expected base64 data for '{where}'") from None
    return value


def _within_max(shape: Shape, items: list) -> list:
    # One past the model's maximum is as refused as a million past it, and far cheaper to read.
    most = shape.metadata.get("max")
    return items[: most + 1] if most is not None and len(items) > most + 1 else items


def _finite(value: int | float, where: str) -> float:
    try:
        return float(value)  # an int of 309 digits or more has no float
    except OverflowError:
        raise _serialization_error(f"The number at '{where}' is out of range") from None


def _ensure_unicode(value: str, where: str) -> None:
    # A lone surrogate (\ud800) parses as JSON but is no Unicode text: no store or response could hold it.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _serialization_error(f"Invalid UTF-8 in the string at '{where}'") from None


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
