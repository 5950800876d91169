"""The console's own tables: signed-in sessions and the sign-in failure counts behind the lock-out."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Integer, String, Table

from selfmaker.store.tables import metadata

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the cookie: a leaked store signs no one in
    Column("account_id", String(12), nullable=False),
    Column("principal_arn", String(2048), nullable=False),
    Column("display_name", String(128), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("password_reset_required", Boolean, nullable=False, default=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
)

console_signin_failures = Table(
    "console_signin_failures",
    metadata,
    Column("key", String(200), primary_key=True),  # "<account>/<user name, lower case>" ("root" for root)
    Column("failures", Integer, nullable=False),
    Column("locked_until", Float, nullable=False),
)
