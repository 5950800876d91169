"""What a protocol hands back to the gateway: a finished HTTP response."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WireResponse:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
