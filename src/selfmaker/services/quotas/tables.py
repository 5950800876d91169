"""The quota tables, on the store's metadata (created with the rest at start, emptied by the test reset)."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, String, Table

from selfmaker.store.tables import metadata

# The value an administrator applied to an account's quota in a region; without a row, the default holds.
quota_values = Table(
    "quota_values",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("service_code", String(63), primary_key=True),
    Column("quota_code", String(128), primary_key=True),
    Column("value", Float, nullable=False),
    Column("last_updated", Float, nullable=False),
)

# RequestServiceQuotaIncrease's requests, taken up and decided by the administrator (`desk`).
quota_requests = Table(
    "quota_requests",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("service_code", String(63), nullable=False),
    Column("quota_code", String(128), nullable=False),
    Column("quota_name", String(256), nullable=False),  # as it was named when asked for
    Column("desired_value", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("requester", String(2048), nullable=False),  # the caller's ARN
    Column("created", Float, nullable=False),
    Column("last_updated", Float, nullable=False),
    Index("ix_quota_requests_quota", "account_id", "region", "service_code", "quota_code"),
)
