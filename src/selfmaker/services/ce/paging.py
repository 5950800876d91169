"""NextPageToken: where the next page starts, bound to the request it came from (a token handed to another
query is refused, not misread)."""

from __future__ import annotations

import base64
import hashlib
import json

from selfmaker.services.base import validation_error


def _fingerprint(params: dict) -> str:
    request = {key: value for key, value in params.items() if key not in ("NextPageToken", "MaxResults")}
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:16]


def offset(params: dict) -> int:
    token = params.get("NextPageToken")
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["q"] == _fingerprint(params) and isinstance(data["o"], int) and data["o"] > 0:
            return data["o"]
    except (ValueError, KeyError, TypeError):
        pass
    raise validation_error("Invalid NextPageToken")


def token(params: dict, next_offset: int) -> str:
    data = {"o": next_offset, "q": _fingerprint(params)}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def page(items: list, params: dict, size: int) -> tuple[list, str | None]:
    start = offset(params)
    end = start + size
    return items[start:end], (token(params, end) if end < len(items) else None)
