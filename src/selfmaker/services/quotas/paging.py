"""Service Quotas' NextToken: standard base64 (the model's pattern ``^[a-zA-Z0-9/+]*={0,2}$`` refuses the
URL-safe alphabet), naming the listing it came from so it cannot be replayed into another."""

from __future__ import annotations

import base64
import binascii
import json

from selfmaker import bounded_json
from selfmaker.services.base import ServiceError

DEFAULT_PAGE = 100


def invalid_token() -> ServiceError:
    return ServiceError("InvalidPaginationTokenException", "Invalid pagination token (NextToken).")


def page(items: list, params: dict, listing: str) -> tuple[list, str | None]:
    start = 0
    if params.get("NextToken"):
        try:
            value = bounded_json.loads(base64.b64decode(params["NextToken"], validate=True))
        except (ValueError, binascii.Error):
            raise invalid_token() from None
        # type() rather than isinstance(): JSON true is no offset
        if not isinstance(value, list) or len(value) != 2 or value[0] != listing or type(value[1]) is not int \
                or not 0 <= value[1] <= len(items):
            raise invalid_token()
        start = value[1]
    end = start + (params.get("MaxResults") or DEFAULT_PAGE)
    token = None
    if end < len(items):
        token = base64.b64encode(json.dumps([listing, end], separators=(",", ":")).encode()).decode()
    return items[start:end], token
