"""Runners and leases (store/leases.py): which Selfmaker process holds what, when several share one store.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "runner_heartbeats",
        sa.Column("runner", sa.String(length=128), nullable=False),
        sa.Column("beat_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("runner"),
    )


def downgrade() -> None:
    op.drop_table("runner_heartbeats")
    op.drop_table("leases")
