"""The schema: every table of the control plane, in SQLAlchemy Core.

Times are stored as float seconds since the epoch (what the wire protocols speak); log event
timestamps as integer milliseconds (what CloudWatch Logs speaks).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# --- identity -------------------------------------------------------------------------------------

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("secret_access_key", String(128), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("principal_arn", String(2048), nullable=False),  # arn:aws:iam::<acct>:root, user or role
    Column("session_token", Text),  # set for temporary (STS) credentials
    Column("expires", Float),  # None: never
    Column("status", String(16), nullable=False, default="Active"),
    Column("created", Float, nullable=False),
)

settings_kv = Table(
    "settings_kv",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
)

# --- SageMaker ------------------------------------------------------------------------------------

notebook_instances = Table(
    "notebook_instances",
    metadata,
    Column("instance_id", String(32), primary_key=True),  # our own short id, names its directories
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(63), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("status", String(16), nullable=False),
    Column("instance_type", String(32), nullable=False),
    Column("role_arn", String(2048), nullable=False),
    Column("lifecycle_config_name", String(63)),
    Column("volume_size_gb", Integer, nullable=False),
    Column("settings", JSON, nullable=False),  # the rest of the request, echoed by Describe
    Column("failure_reason", Text),
    Column("on_create_done", Boolean, nullable=False, default=False),  # OnCreate ran on a first start
    Column("creation_time", Float, nullable=False),
    Column("last_modified_time", Float, nullable=False),
    UniqueConstraint("account_id", "region", "name"),
)

lifecycle_configs = Table(
    "lifecycle_configs",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(63), primary_key=True),
    Column("arn", String(2048), nullable=False),
    Column("on_create", JSON, nullable=False),  # [{"Content": base64}] as given
    Column("on_start", JSON, nullable=False),
    Column("creation_time", Float, nullable=False),
    Column("last_modified_time", Float, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("resource_arn", String(2048), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

# Presigned-URL tokens (single use, short-lived) and the browser sessions they open.
notebook_tokens = Table(
    "notebook_tokens",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("instance_id", String(32), nullable=False),
    Column("expires", Float, nullable=False),
    Column("session_seconds", Integer, nullable=False),
    Column("used", Boolean, nullable=False, default=False),
)

notebook_sessions = Table(
    "notebook_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("instance_id", String(32), nullable=False),
    Column("expires", Float, nullable=False),
)

# --- CloudWatch Logs ------------------------------------------------------------------------------

log_groups = Table(
    "log_groups",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("creation_time", BigInteger, nullable=False),  # ms
    Column("retention_days", Integer),
    Column("kms_key_id", String(256)),
)

log_streams = Table(
    "log_streams",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("group_name", String(512), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("first_event_timestamp", BigInteger),
    Column("last_event_timestamp", BigInteger),
    Column("last_ingestion_time", BigInteger),
    Column("stored_bytes", BigInteger, nullable=False, default=0),
    ForeignKeyConstraint(
        ["account_id", "region", "group_name"],
        ["log_groups.account_id", "log_groups.region", "log_groups.name"],
        ondelete="CASCADE",
    ),
)

log_events = Table(
    "log_events",
    metadata,
    # 64 bits on PostgreSQL (a busy server outgrows a SERIAL's 2^31); SQLite's rowid is an INTEGER key.
    Column("event_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("group_name", String(512), nullable=False),
    Column("stream_name", String(512), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("ingestion_time", BigInteger, nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_log_events_stream", "account_id", "region", "group_name", "stream_name", "timestamp"),
)
