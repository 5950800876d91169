"""AWS Query (STS, IAM, SNS, CloudFormation): form-encoded input, XML output.

Input keys flatten the shape: ``Tags.member.1.Key``, ``Attributes.entry.1.key``; output nests
``<OpResponse><OpResult>…</OpResult><ResponseMetadata>…</ResponseMetadata></OpResponse>``.
"""

from __future__ import annotations

import base64
import math
import re
from bisect import bisect_left
from datetime import UTC, datetime
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape as _escape

from botocore.model import OperationModel, Shape

from selfmaker.protocol.wire import WireResponse
from selfmaker.services.base import ServiceError

_XML = b"text/xml"


def _invalid(message: str) -> ServiceError:
    return ServiceError("ValidationError", message)


# Far above what any operation takes (CreateStack: 200 parameters and 50 tags, a few fields each), and low
# enough that reading the form stays quick: parsing takes time in the number of fields.
MAX_FORM_FIELDS = 10_000
_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_SHOWN = 256  # characters of a bad value that an error message repeats


def read_form(body: bytes) -> list[tuple[str, str]]:
    """A form-encoded body's fields, refused (MalformedQueryString) when not UTF-8 or past MAX_FORM_FIELDS."""
    try:
        return parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except UnicodeDecodeError:
        raise ServiceError("MalformedQueryString", "The request body is not valid UTF-8.") from None
    except ValueError:  # parse_qsl's word for too many fields
        raise ServiceError("MalformedQueryString",
                           f"The request has more than {MAX_FORM_FIELDS} parameters.") from None


class _Form:
    """The flat fields, their names also sorted, so that whether a structure or list is present (some name
    starts with ``key.``) costs a binary search rather than a pass over every field."""

    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        self._names = sorted(fields)

    def has_members(self, key: str) -> bool:
        dotted = key + "."
        index = bisect_left(self._names, dotted)
        return index < len(self._names) and self._names[index].startswith(dotted)


def parse(operation: OperationModel, form: dict[str, str]) -> dict:
    shape = operation.input_shape
    if shape is None:
        return {}
    if len(form) > MAX_FORM_FIELDS:
        raise ServiceError("MalformedQueryString", f"The request has more than {MAX_FORM_FIELDS} parameters.")
    return _parse_structure(shape, _Form(form), "")


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _parse_structure(shape: Shape, form: _Form, prefix: str) -> dict:
    out = {}
    for name, member in shape.members.items():
        key = _key(prefix, member.serialization.get("name", name))
        value = _parse(member, form, key)
        if value is not None:
            out[name] = value
    return out


def _parse(shape: Shape, form: _Form, key: str):
    kind = shape.type_name
    fields = form.fields
    if kind == "structure":
        return _parse_structure(shape, form, key) if form.has_members(key) else None
    if kind == "list":
        if key in fields and fields[key] == "":
            return []  # "Names=" is how Query spells an empty list
        if not form.has_members(key):
            return None
        base = key if shape.serialization.get("flattened") else f"{key}.member"
        items, index = [], 1
        while (item := _parse(shape.member, form, f"{base}.{index}")) is not None:
            items.append(item)
            index += 1
        return items
    if kind == "map":
        if not form.has_members(key):
            return None
        base = key if shape.serialization.get("flattened") else f"{key}.entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out, index = {}, 1
        while f"{base}.{index}.{key_name}" in fields:
            out[fields[f"{base}.{index}.{key_name}"]] = _parse(shape.value, form, f"{base}.{index}.{value_name}")
            index += 1
        return out
    if key not in fields:
        return None
    return _scalar(kind, fields[key], key)


def _scalar(kind: str, raw: str, key: str):
    try:
        if kind in _INT_RANGES:
            value = int(raw)  # past 4,300 digits Python refuses, with a ValueError too
            low, high = _INT_RANGES[kind]
            if not low <= value <= high:
                raise ValueError
            return value
        if kind in ("float", "double"):
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError
            return number
        if kind == "boolean":
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        if kind == "timestamp":
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        if kind == "blob":
            return base64.b64decode(raw, validate=True)
    except (ValueError, OverflowError, OSError):
        shown = raw if len(raw) <= _SHOWN else raw[:_SHOWN] + "…"
        raise _invalid(f"Invalid value '{shown}' for parameter {key}") from None
    return raw


# Characters XML 1.0 cannot carry at all, not even as &#…; references: a client's XML parser rejects the
# whole response. A value holding one (echoed in a message, or stored where no pattern forbade it) shows
# U+FFFD there instead.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    return _escape(_NOT_XML.sub("\ufffd", text))


def _iso(value) -> str:
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _xml(shape: Shape, value, name: str, out: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        out.append(f"<{name}>")
        _xml_members(shape, value, out)
        out.append(f"</{name}>")
    elif kind == "list":
        item_name = shape.member.serialization.get("name", "member")
        if shape.serialization.get("flattened"):
            for item in value:
                _xml(shape.member, item, name, out)
        else:
            out.append(f"<{name}>")
            for item in value:
                _xml(shape.member, item, item_name, out)
            out.append(f"</{name}>")
    elif kind == "map":
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out.append(f"<{name}>")
        for key, item in value.items():
            out.append(f"<entry><{key_name}>{escape(str(key))}</{key_name}>")
            _xml(shape.value, item, value_name, out)
            out.append("</entry>")
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{escape(_text(kind, value))}</{name}>")


def _text(kind: str, value) -> str:
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return _iso(value)
    if kind == "blob":
        return base64.b64encode(value).decode()
    return str(value)


def _xml_members(shape: Shape, value: dict, out: list[str]) -> None:
    for name, member in shape.members.items():
        item = value.get(name)
        if item is not None:
            _xml(member, item, member.serialization.get("name", name), out)


def _namespace(operation: OperationModel) -> str:
    return operation.service_model.metadata.get("xmlNamespace", "")


def serialize(operation: OperationModel, result: dict | None, request_id: str) -> WireResponse:
    name = operation.name
    out = [f'<{name}Response xmlns="{_namespace(operation)}">']
    shape = operation.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{name}Result")
        out.append(f"<{wrapper}>")
        _xml_members(shape, result or {}, out)
        out.append(f"</{wrapper}>")
    out.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>")
    return WireResponse(200, "".join(out).encode(), [(b"content-type", _XML)])


def error(err: ServiceError, request_id: str, namespace: str = "") -> WireResponse:
    kind = "Sender" if err.sender_fault else "Receiver"
    body = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>{kind}</Type><Code>{escape(err.code)}</Code>'
        f"<Message>{escape(err.message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return WireResponse(err.status, body.encode(), [(b"content-type", _XML)])
