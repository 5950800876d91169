"""Reading and writing budgets, notifications and their subscribers in the store."""

from __future__ import annotations

from sqlalchemy import Connection, Row, and_, insert, select

from selfmaker.services.budgets.errors import duplicate
from selfmaker.services.budgets.shapes import check_notification, notification_key
from selfmaker.services.budgets.tables import budget_notifications, budgets


def budget(conn: Connection, account_id: str, name: str) -> Row | None:
    return conn.execute(select(budgets).where(budgets.c.account_id == account_id, budgets.c.name == name)).first()


def notifications(conn: Connection, account_id: str, name: str) -> list[Row]:
    return conn.execute(select(budget_notifications).where(
        budget_notifications.c.account_id == account_id, budget_notifications.c.budget_name == name,
    ).order_by(budget_notifications.c.id)).all()


def notification(conn: Connection, account_id: str, name: str, given: dict) -> Row | None:
    kind, operator, threshold, threshold_type = notification_key(given)
    return conn.execute(select(budget_notifications).where(and_(
        budget_notifications.c.account_id == account_id, budget_notifications.c.budget_name == name,
        budget_notifications.c.notification_type == kind, budget_notifications.c.comparison_operator == operator,
        budget_notifications.c.threshold == threshold, budget_notifications.c.threshold_type == threshold_type,
    ))).first()


def add_notification(conn: Connection, account_id: str, name: str, given: dict, subscribers: list[dict],
                     now: float) -> None:
    check_notification(given)
    if notification(conn, account_id, name, given) is not None:
        raise duplicate(f"Error creating notification: {name} - the notification already exists.")
    kind, operator, threshold, threshold_type = notification_key(given)
    conn.execute(insert(budget_notifications).values(
        account_id=account_id, budget_name=name, notification_type=kind, comparison_operator=operator,
        threshold=threshold, threshold_type=threshold_type, subscribers=subscribers, alarm_period=None,
        created=now))


def notification_shape(row: Row, period_start: float) -> dict:
    """A notification as Budgets shows it: ALARM while the period it fired in lasts."""
    return {"NotificationType": row.notification_type, "ComparisonOperator": row.comparison_operator,
            "Threshold": row.threshold, "ThresholdType": row.threshold_type,
            "NotificationState": "ALARM" if row.alarm_period == period_start else "OK"}
