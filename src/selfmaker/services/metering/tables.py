"""The metering tables: every notebook state change with its time, who created each instance, and the billed
periods derived from the changes (kept with them, in the same transaction, so a report never replays history)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table

from selfmaker.store.tables import metadata

# Every status an instance entered, when (the metering clock), kept after the instance is deleted.
notebook_transitions = Table(
    "notebook_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance_id", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_notebook_transitions_instance", "instance_id", "at"),
)

# Who created an instance (the caller's ARN): usage by user, and per-user quotas.
notebook_owners = Table(
    "notebook_owners",
    metadata,
    Column("instance_id", String(32), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("owner_arn", String(2048), nullable=False),
)

# One row per stretch of billed time (InService until the stop call, a failure or a delete); ended is None
# while it lasts. The instance's name, type, owner and tags are copied in, so a deleted instance's usage stays
# whole, and a type changed later (UpdateNotebookInstance) does not reprice the past.
usage_periods = Table(
    "usage_periods",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance_id", String(32), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("instance_arn", String(2048), nullable=False),
    Column("instance_name", String(63), nullable=False),
    Column("instance_type", String(32), nullable=False),
    Column("owner_arn", String(2048), nullable=False),
    Column("tags", JSON, nullable=False),  # {key: value}, kept current while the period is open
    Column("started", Float, nullable=False),
    Column("ended", Float),
    Index("ix_usage_periods_account", "account_id", "started"),
    Index("ix_usage_periods_open", "instance_id", "ended"),
)
