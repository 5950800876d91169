"""Settings of one Selfmaker server, from flags and SELFMAKER_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _env_floats(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    value = os.environ.get(name)
    return tuple(float(part) for part in value.split(",")) if value else default


@dataclass
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("SELFMAKER_DATA_DIR", "./data")))
    # The store: a SQLAlchemy URL (postgresql://user:pass@host/db); unset, SQLite in the data dir.
    database_url: str | None = field(default_factory=lambda: os.environ.get("SELFMAKER_DATABASE_URL") or None)
    host: str = "127.0.0.1"
    port: int = 8080
    default_region: str = field(default_factory=lambda: os.environ.get("SELFMAKER_REGION", "us-east-1"))
    # Lifecycle scripts get 5 minutes on SageMaker; tests shorten it.
    lifecycle_timeout: float = field(default_factory=lambda: _env_float("SELFMAKER_LIFECYCLE_TIMEOUT", 300.0))
    # How old a signed request may be (SigV4 allows 5 minutes of clock skew).
    signature_skew: float = 300.0
    presigned_url_ttl: float = 300.0
    # Mail: SMTP when a URL is given (smtp[s]://user:pass@host:port), else the outbox under data_dir.
    smtp_url: str | None = field(default_factory=lambda: os.environ.get("SELFMAKER_SMTP_URL") or None)
    mail_from: str = field(
        default_factory=lambda: os.environ.get("SELFMAKER_MAIL_FROM", "no-reply@selfmaker.localhost"))
    # SNS HTTP(S) endpoints on private, loopback or link-local addresses are refused unless allowed.
    sns_allow_private_endpoints: bool = field(
        default_factory=lambda: os.environ.get("SELFMAKER_SNS_ALLOW_PRIVATE_ENDPOINTS", "") in ("1", "true"))
    # CloudFormation TemplateURLs on private, loopback or link-local addresses are refused unless allowed.
    template_allow_private_urls: bool = field(
        default_factory=lambda: os.environ.get("SELFMAKER_TEMPLATE_ALLOW_PRIVATE_URLS", "") in ("1", "true"))
    # Seconds between SNS delivery attempts; one more attempt than delays (tests shorten them).
    sns_retry_delays: tuple[float, ...] = field(
        default_factory=lambda: _env_floats("SELFMAKER_SNS_RETRY_DELAYS", (10.0, 30.0, 60.0, 300.0, 900.0)))

    # The address people reach this server at (behind a proxy, or on a shared machine's LAN name), for the
    # links we hand out: the AWS profile, presigned Jupyter URLs, mail. Default: the listening address.
    public_url: str | None = field(default_factory=lambda: os.environ.get("SELFMAKER_PUBLIC_URL") or None)
    # Each notebook instance's Jupyter has a host name of its own under this domain
    # (<name>-<account>.notebook.<region>.<domain>), so no notebook page shares the console's origin.
    # Browsers resolve *.localhost to loopback; a shared machine needs a wildcard DNS name here.
    notebook_domain: str = field(
        default_factory=lambda: os.environ.get("SELFMAKER_NOTEBOOK_DOMAIN") or "localhost")

    # Idle auto-stop (services/sagemaker/idle.py): seconds between passes of the checker, and how many seconds
    # make one of its "minutes" (60; only tests shorten it, so that a limit of 1 minute lasts seconds).
    idle_check_seconds: float = field(default_factory=lambda: _env_float("SELFMAKER_IDLE_CHECK_SECONDS", 60.0))
    idle_minute_seconds: float = field(default_factory=lambda: _env_float("SELFMAKER_IDLE_MINUTE_SECONDS", 60.0))
    # Budgets (services/budgets/checker.py): seconds between the checks of every budget's thresholds.
    budget_check_seconds: float = field(default_factory=lambda: _env_float("SELFMAKER_BUDGET_CHECK_SECONDS", 60.0))
    # Several servers on one store (store/leases.py): a server whose heartbeat is older than this is dead, and
    # the others take over its notebook instances and its once-per-cluster loops.
    lease_seconds: float = field(default_factory=lambda: _env_float("SELFMAKER_LEASE_SECONDS", 30.0))

    # Where notebook instances run: "local" (this host) or "slurm" (batch jobs of a Slurm cluster; SLURM_CONF
    # and the Slurm commands say which). instance-types.yaml may send single types elsewhere.
    runtime: str = field(default_factory=lambda: os.environ.get("SELFMAKER_RUNTIME") or "local")
    # The Slurm runtime: a directory every node mounts at the same path (job directories and volumes); by
    # default <data dir>/slurm, which suits a single-node cluster.
    slurm_dir: Path | None = field(
        default_factory=lambda: Path(os.environ["SELFMAKER_SLURM_DIR"]) if os.environ.get("SELFMAKER_SLURM_DIR")
        else None)
    # HOST[:PORT] the nodes' agents reach this server on (bound here; default all addresses, any free port).
    slurm_gateway: str = field(default_factory=lambda: os.environ.get("SELFMAKER_SLURM_GATEWAY") or "0.0.0.0")
    slurm_partition: str = field(default_factory=lambda: os.environ.get("SELFMAKER_SLURM_PARTITION") or "")
    slurm_time_limit: str = field(default_factory=lambda: os.environ.get("SELFMAKER_SLURM_TIME_LIMIT") or "")

    # Test mode (``selfmaker up --test-mode``): answers moto's state reset, for test suites; loopback only.
    test_mode: bool = field(default_factory=lambda: os.environ.get("SELFMAKER_TEST_MODE", "") in ("1", "true"))

    @property
    def endpoint_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def local_url(self) -> str:
        """This server over loopback: what notebook sandboxes (sharing the host's network) call."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "selfmaker.db"

    @property
    def database(self) -> str | Path:
        """What ``open_store`` opens: the database URL if one is set, else the SQLite file in the data dir."""
        return self.database_url or self.database_path

    def has_store(self) -> bool:
        """Whether there is a store to read (a database server is assumed to be there)."""
        return self.database_url is not None or self.database_path.exists()

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"
