"""The Budgets tables, on the store's metadata (created with the rest at start, emptied by the test reset)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table, UniqueConstraint

from selfmaker.store.tables import metadata

# One budget: what CreateBudget/UpdateBudget gave (``spec``, the Budget shape without its computed members).
budgets = Table(
    "budgets",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("created", Float, nullable=False),
    Column("last_updated", Float, nullable=False),
)

# A budget's notification with its subscribers. ``alarm_period`` is the start of the budget period in which
# its threshold was crossed and its messages went out: ALARM while that period lasts, OK in the next one.
budget_notifications = Table(
    "budget_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("budget_name", String(100), nullable=False),
    Column("notification_type", String(16), nullable=False),  # ACTUAL | FORECASTED
    Column("comparison_operator", String(16), nullable=False),
    Column("threshold", Float, nullable=False),
    Column("threshold_type", String(16), nullable=False),  # PERCENTAGE | ABSOLUTE_VALUE
    Column("subscribers", JSON, nullable=False),  # [{"SubscriptionType": …, "Address": …}], in order given
    Column("alarm_period", Float),
    Column("created", Float, nullable=False),
    UniqueConstraint("account_id", "budget_name", "notification_type", "comparison_operator", "threshold",
                     "threshold_type"),
)

# A budget action (CreateBudgetAction). ``spec`` holds the request's members; ``ran_period`` the budget period
# whose crossing it last acted on, so that it runs once per period.
budget_actions = Table(
    "budget_actions",
    metadata,
    Column("action_id", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("budget_name", String(100), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("status", String(32), nullable=False),
    Column("ran_period", Float),
    Column("created", Float, nullable=False),
    Index("ix_budget_actions_budget", "account_id", "budget_name"),
)
