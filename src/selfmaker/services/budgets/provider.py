"""The AWS Budgets operations: budgets over the metered notebook usage, their notifications and subscribers."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from selfmaker.clock import Clock
from selfmaker.services.base import RequestContext, blocking
from selfmaker.services.budgets import records
from selfmaker.services.budgets.actions import ActionRunner, BudgetActions
from selfmaker.services.budgets.errors import duplicate, not_found, over_limit, own_account
from selfmaker.services.budgets.paging import page
from selfmaker.services.budgets.periods import current_period
from selfmaker.services.budgets.shapes import (
    MAX_NOTIFICATIONS,
    budget_shape,
    check_notification,
    check_subscriber,
    check_subscribers,
    checked_budget,
    notification_key,
)
from selfmaker.services.budgets.spend import spend
from selfmaker.services.budgets.tables import budget_actions, budget_notifications, budgets
from selfmaker.services.metering import Meter


def _no_budget(verb: str, name: str) -> Exception:
    return not_found(f"Unable to {verb} budget: {name} - the budget doesn't exist. Try creating it first. ")


class BudgetsService(BudgetActions):
    def __init__(self, engine: Engine, meter: Meter, runner: ActionRunner):
        self.engine, self.meter, self.runner = engine, meter, runner

    @property
    def clock(self) -> Clock:
        return self.meter.clock

    # --- helpers ------------------------------------------------------------------------------------

    def _budget(self, conn, account: str, name: str, verb: str):
        row = records.budget(conn, account, name)
        if row is None:
            if verb == "get":
                raise not_found(f"Unable to get budget: {name} - the budget doesn't exist.")
            raise _no_budget(verb, name)
        return row

    def _shape(self, row) -> dict:
        start, end = current_period(row.spec, self.clock.now())
        spent = spend(self.meter, row.account_id, row.spec, start, end)
        return budget_shape(row.spec, row.last_updated, spent.actual, spent.forecast)

    def _notification(self, conn, account: str, name: str, given: dict, doing: str):
        """The notification ``given`` names; ``doing`` ("update notification") words the NotFound."""
        if records.budget(conn, account, name) is None:
            raise not_found(f"Unable to {doing} - the budget doesn't exist.")
        row = records.notification(conn, account, name, given)
        if row is None:
            raise not_found(f"Unable to {doing} - the notification doesn't exist.")
        return row

    def _set_subscribers(self, conn, row, subscribers: list[dict]) -> None:
        conn.execute(update(budget_notifications).where(budget_notifications.c.id == row.id)
                     .values(subscribers=check_subscribers(subscribers)))

    # --- budgets ------------------------------------------------------------------------------------

    def CreateBudget(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "CreateBudget", params)
        now = self.clock.now()
        spec = checked_budget(params["Budget"], now)
        name = spec["BudgetName"]
        wanted = [(entry["Notification"], check_subscribers(entry["Subscribers"]))
                  for entry in params.get("NotificationsWithSubscribers") or []]
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(budgets).values(account_id=account, name=name, spec=spec, created=now,
                                                    last_updated=now))
                for notification, subscribers in wanted:
                    records.add_notification(conn, account, name, notification, subscribers, now)
        except IntegrityError:
            raise duplicate(f"Error creating budget: {name} - the budget already exists.") from None
        return {}

    @blocking
    def DescribeBudget(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "DescribeBudget", params)
        with self.engine.connect() as conn:
            row = self._budget(conn, account, params["BudgetName"], "get")
        return {"Budget": self._shape(row)}

    @blocking
    def DescribeBudgets(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "DescribeBudgets", params)
        with self.engine.connect() as conn:
            rows = conn.execute(select(budgets).where(budgets.c.account_id == account)
                                .order_by(budgets.c.name)).all()
        items, token = page(rows, params, "budgets")
        return {"Budgets": [self._shape(row) for row in items], "NextToken": token}

    def UpdateBudget(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "UpdateBudget", params)
        given = params["NewBudget"]
        now = self.clock.now()
        with self.engine.begin() as conn:
            old = self._budget(conn, account, given["BudgetName"], "update")
            if "TimePeriod" not in given and given["TimeUnit"] == old.spec["TimeUnit"]:
                given = {**given, "TimePeriod": old.spec["TimePeriod"]}  # the budget keeps its start
            spec = checked_budget(given, now)
            conn.execute(update(budgets).where(budgets.c.account_id == account, budgets.c.name == old.name)
                         .values(spec=spec, last_updated=now))
        return {}

    def DeleteBudget(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "DeleteBudget", params)
        name = params["BudgetName"]
        with self.engine.begin() as conn:
            self._budget(conn, account, name, "delete")
            conn.execute(delete(budget_notifications).where(budget_notifications.c.account_id == account,
                                                            budget_notifications.c.budget_name == name))
            conn.execute(delete(budget_actions).where(budget_actions.c.account_id == account,
                                                      budget_actions.c.budget_name == name))
            conn.execute(delete(budgets).where(budgets.c.account_id == account, budgets.c.name == name))
        return {}

    # --- notifications ------------------------------------------------------------------------------

    def CreateNotification(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "CreateNotification", params)
        name = params["BudgetName"]
        subscribers = check_subscribers(params["Subscribers"])
        with self.engine.begin() as conn:
            if records.budget(conn, account, name) is None:
                raise not_found("Unable to create notification - the budget doesn't exist.")
            if len(records.notifications(conn, account, name)) >= MAX_NOTIFICATIONS:
                raise over_limit()
            records.add_notification(conn, account, name, params["Notification"], subscribers, self.clock.now())
        return {}

    def DescribeNotificationsForBudget(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "DescribeNotificationsForBudget", params)
        with self.engine.connect() as conn:
            row = self._budget(conn, account, params["BudgetName"], "get")
            rows = records.notifications(conn, account, row.name)
        start = current_period(row.spec, self.clock.now())[0]
        items, token = page(rows, params, "notifications")
        return {"Notifications": [records.notification_shape(item, start) for item in items], "NextToken": token}

    def UpdateNotification(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "UpdateNotification", params)
        name, new = params["BudgetName"], params["NewNotification"]
        check_notification(new)
        with self.engine.begin() as conn:
            row = self._notification(conn, account, name, params["OldNotification"], "update notification")
            changed = notification_key(new) != notification_key(params["OldNotification"])
            if changed and records.notification(conn, account, name, new) is not None:
                raise duplicate(f"Error updating notification: {name} - the notification already exists.")
            kind, operator, threshold, threshold_type = notification_key(new)
            conn.execute(update(budget_notifications).where(budget_notifications.c.id == row.id).values(
                notification_type=kind, comparison_operator=operator, threshold=threshold,
                threshold_type=threshold_type,
                # Another threshold is another alert: it may fire in this period even if the old one did.
                alarm_period=None if changed else row.alarm_period))
        return {}

    def DeleteNotification(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "DeleteNotification", params)
        with self.engine.begin() as conn:
            row = self._notification(conn, account, params["BudgetName"], params["Notification"], "delete notification")
            conn.execute(delete(budget_notifications).where(budget_notifications.c.id == row.id))
        return {}

    # --- subscribers --------------------------------------------------------------------------------

    def CreateSubscriber(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "CreateSubscriber", params)
        with self.engine.begin() as conn:
            row = self._notification(conn, account, params["BudgetName"], params["Notification"], "create subscriber")
            self._set_subscribers(conn, row, [*row.subscribers, params["Subscriber"]])
        return {}

    def DescribeSubscribersForNotification(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "DescribeSubscribersForNotification", params)
        with self.engine.connect() as conn:
            row = self._notification(conn, account, params["BudgetName"], params["Notification"], "get subscribers")
        items, token = page(row.subscribers, params, "subscribers")
        return {"Subscribers": items, "NextToken": token}

    def UpdateSubscriber(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "UpdateSubscriber", params)
        old, new = check_subscriber(params["OldSubscriber"]), check_subscriber(params["NewSubscriber"])
        with self.engine.begin() as conn:
            row = self._notification(conn, account, params["BudgetName"], params["Notification"], "update subscriber")
            if old not in row.subscribers:
                raise not_found("Unable to update subscriber - the subscriber doesn't exist.")
            self._set_subscribers(conn, row, [new if one == old else one for one in row.subscribers])
        return {}

    def DeleteSubscriber(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "DeleteSubscriber", params)
        gone = check_subscriber(params["Subscriber"])
        with self.engine.begin() as conn:
            row = self._notification(conn, account, params["BudgetName"], params["Notification"], "delete subscriber")
            if gone not in row.subscribers:
                raise not_found("Unable to delete subscriber - the subscriber doesn't exist.")
            conn.execute(update(budget_notifications).where(budget_notifications.c.id == row.id)
                         .values(subscribers=[one for one in row.subscribers if one != gone]))
        return {}
