"""Opaque pagination tokens: a kind and a position, as base64url-encoded JSON.

The kind keeps a token minted by one listing from being replayed into another. Anything that does not
decode to the expected kind and shape is answered as CloudWatch Logs does, never with a server error.
"""

from __future__ import annotations

import base64
import json

from selfmaker import bounded_json
from selfmaker.services.base import ServiceError

_INT64 = range(-(2**63), 2**63)  # what SQLite can bind; a larger int would fail deep in the driver


def invalid_token() -> ServiceError:
    return ServiceError("InvalidParameterException", "The specified nextToken is invalid.")


def encode_token(kind: str, *position: int | str) -> str:
    raw = json.dumps([kind, *position], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, kind: str, *types: type) -> tuple:
    """The position in ``token``, whose members must have ``types`` (int or str)."""
    try:
        value = bounded_json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:  # bad base64, bad UTF-8 and bad JSON are all ValueErrors
        raise invalid_token() from None
    if not isinstance(value, list) or len(value) != len(types) + 1 or value[0] != kind:
        raise invalid_token()
    position = tuple(value[1:])
    for item, expected in zip(position, types, strict=True):
        # type() rather than isinstance(): JSON true must not pass for an int.
        if type(item) is not expected or (expected is int and item not in _INT64):
            raise invalid_token()
    return position
