"""Budgets' NextToken: an opaque offset into one listing (naming it, so it cannot be replayed into another)."""

from __future__ import annotations

import base64
import binascii
import json

from selfmaker import bounded_json
from selfmaker.services.base import ServiceError

DEFAULT_PAGE = 100


def page(items: list, params: dict, listing: str) -> tuple[list, str | None]:
    start = 0
    if params.get("NextToken"):
        try:
            value = bounded_json.loads(base64.urlsafe_b64decode(params["NextToken"].encode()))
        except (ValueError, binascii.Error):
            value = None
        # type() rather than isinstance(): JSON true is no offset
        if not isinstance(value, list) or len(value) != 2 or value[0] != listing or type(value[1]) is not int \
                or not 0 <= value[1] <= len(items):
            raise ServiceError("InvalidNextTokenException", "Invalid NextToken")
        start = value[1]
    end = start + (params.get("MaxResults") or DEFAULT_PAGE)  # its range is the model's, checked before
    token = None
    if end < len(items):
        token = base64.urlsafe_b64encode(json.dumps([listing, end], separators=(",", ":")).encode()).decode()
    return items[start:end], token
