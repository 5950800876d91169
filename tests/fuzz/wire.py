"""Bodies as the fuzzer puts them on the wire itself, for what boto3 cannot or will not send: JSON with raw
fragments (5,000-digit numbers, ``[[[…]]]``, NaN, nulls), Query forms with any key, and outright garbage."""

from __future__ import annotations

import base64
import json
import random
from datetime import datetime
from urllib.parse import quote

from botocore.model import OperationModel, Shape

from tests.fuzz.documents import deep_json, huge_number
from tests.fuzz.values import DeepKey, Raw

_PLACEHOLDER = "\x00RAW{}\x00"


def json_body(params: dict, rng: random.Random) -> bytes:
    fragments: list[str] = []

    def encode(value):
        if isinstance(value, DeepKey):
            value = Raw(deep_json(value.depth, rng))
        if isinstance(value, Raw):
            fragments.append(str(value))
            return _PLACEHOLDER.format(len(fragments) - 1)
        if isinstance(value, dict):
            return {str(key): encode(item) for key, item in value.items()}
        if isinstance(value, list):
            return [encode(item) for item in value]
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        return value

    # ensure_ascii: a lone surrogate goes out as the escape \ud800, which is valid JSON text.
    text = json.dumps(encode(params))
    for index, fragment in enumerate(fragments):
        text = text.replace(json.dumps(_PLACEHOLDER.format(index)), fragment, 1)
    return text.encode()


def form_body(operation: OperationModel, params: dict) -> bytes:
    fields = [("Action", operation.name), ("Version", operation.service_model.api_version)]
    _flatten(operation.input_shape, params, "", fields)
    return "&".join(f"{_quote(key)}={_quote(value)}" for key, value in fields).encode()


def _quote(text: str) -> str:
    # surrogatepass: a lone surrogate becomes bytes that are not UTF-8, which the server must refuse cleanly.
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _flatten(shape: Shape | None, value, prefix: str, out: list[tuple[str, str]]) -> None:
    """Query's flattening (``Tags.member.1.Key``) by the shape where the value fits it, else by the value."""
    kind = shape.type_name if shape is not None else None
    if isinstance(value, DeepKey):
        out.append((prefix + ".member.1" * value.depth, "x"))
    elif value is None:
        out.append((prefix, ""))
    elif isinstance(value, dict) and kind == "map":
        base = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        for index, (key, item) in enumerate(value.items(), start=1):
            out.append((f"{base}.{index}.{key_name}", _text(key)))
            _flatten(shape.value, item, f"{base}.{index}.{value_name}", out)
    elif isinstance(value, dict):
        members = shape.members if kind == "structure" else {}
        for key, item in value.items():
            member = members.get(key)
            name = member.serialization.get("name", key) if member is not None else key
            _flatten(member, item, _join(prefix, name), out)
    elif isinstance(value, list):
        flattened = kind == "list" and shape.serialization.get("flattened")
        base = prefix if flattened else f"{prefix}.member"
        member = shape.member if kind == "list" else None
        if not value:
            out.append((prefix, ""))
        for index, item in enumerate(value, start=1):
            _flatten(member, item, f"{base}.{index}", out)
    else:
        out.append((prefix, _text(value)))


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def garbage_json(rng: random.Random) -> bytes:
    return rng.choice([
        b"", b"null", b"[]", b"1", b'"s"', b"{", b"{}}", b"\xff\xfe\x00", '{"a": 1}'.encode("utf-16"),
        b"\xef\xbb\xbf{}", deep_json(5000, rng).encode(), deep_json(900, rng).encode(),
        ('{"a": ' + huge_number(rng) + "}").encode(), b'{"a": NaN}', b'{"a": "\\ud800"}', b'{"a": "\\u0000"}',
        b"{" + b'"a": 1, ' * 50_000 + b'"b": 2}', b'{"a": "' + b"x" * 2_000_000 + b'"}', b"\x00" * 100,
        b'{"a": 1e999999}', b"[" * 100_000,
    ])


def garbage_form(operation: OperationModel, rng: random.Random) -> bytes:
    action = f"Action={operation.name}&Version={operation.service_model.api_version}"
    return rng.choice([
        f"{action}&%zz=1", f"{action}&a=%E2%82", "&&&&", "=", "Action", "Action=", "Action=Nope",
        f"{action}&" + "a=1&" * 20_000, f"{action}&Tags.member.0.Key=a", f"{action}&Tags.member.-1.Key=a",
        f"{action}&Tags.member.{'9' * 30}.Key=a", f"{action}&" + "A." * 3000 + "B=1", f"Action={operation.name}",
        f"{action}&Version=1999-01-01", "Action=" + "A" * 100_000, f"{action};x=1", f"{action}&Action=Other",
        f"{action}&Parameters.member.1.ParameterKey=" + "k" * 5000, f"{action}&Tags.member.1=&Tags.member.1.Key=a",
    ]).encode() if rng.random() < 0.9 else b"\xff\xfe" + rng.randbytes(64)
