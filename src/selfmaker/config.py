"""Settings of one Selfmaker server, from flags and SELFMAKER_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


@dataclass
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("SELFMAKER_DATA_DIR", "./data")))
    host: str = "127.0.0.1"
    port: int = 8080
    default_region: str = field(default_factory=lambda: os.environ.get("SELFMAKER_REGION", "us-east-1"))
    # Lifecycle scripts get 5 minutes on SageMaker; tests shorten it.
    lifecycle_timeout: float = field(default_factory=lambda: _env_float("SELFMAKER_LIFECYCLE_TIMEOUT", 300.0))
    # How old a signed request may be (SigV4 allows 5 minutes of clock skew).
    signature_skew: float = 300.0
    presigned_url_ttl: float = 300.0

    @property
    def endpoint_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "selfmaker.db"
