"""Opaque NextToken paging over an already sorted list."""

from __future__ import annotations

import base64
import json

from selfmaker import bounded_json
from selfmaker.services.base import ServiceError


def page(items: list, max_results: int | None, next_token: str | None, default: int = 10) -> tuple[list, str | None]:
    start = 0
    if next_token:
        try:
            start = bounded_json.loads(base64.urlsafe_b64decode(next_token.encode()))["offset"]
            if not isinstance(start, int) or start < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise ServiceError("ValidationException", "Invalid pagination token (NextToken).") from None
    size = max_results or default
    end = start + size
    token = None
    if end < len(items):
        token = base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode()
    return items[start:end], token
