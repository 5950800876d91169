"""HTTP(S) subscription endpoints must be well-formed URLs; where they may point is net/outbound's call."""

from __future__ import annotations

import httpx

from selfmaker.services.sns.errors import invalid_parameter

_PORTS_BELOW_1024 = (80, 443)  # as SNS: 80, 443 and 1024–65535


def check_url(protocol: str, endpoint: str | None) -> httpx.URL:
    """An http/https endpoint's URL, or InvalidParameter (what Subscribe answers)."""
    if not endpoint:
        raise invalid_parameter("Endpoint")
    try:
        url = httpx.URL(endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
    except (httpx.InvalidURL, ValueError):
        raise invalid_parameter("Endpoint", "not a valid URL") from None
    if url.scheme != protocol or not url.host:
        raise invalid_parameter("Endpoint", f"an {protocol} endpoint must be a URL starting with {protocol}://")
    if port < 1024 and port not in _PORTS_BELOW_1024:
        raise invalid_parameter("Endpoint", "the port must be 80, 443 or between 1024 and 65535")
    return url
