"""The budget checker: every few seconds (``Settings.budget_check_seconds``, 60 by default) it reads each
budget's spend from the meter, and for each notification and action whose threshold is crossed in the
current budget period, acts once.

Once: the ALARM (a notification's ``alarm_period``, an action's ``ran_period``) is written before anything is
sent or stopped, and only by the update that changes it, so neither a later check nor a restarted server sends
or stops again in that period; a new period starts OK. The store work runs off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, Row, or_, select, update

from selfmaker.services.budgets.actions import ActionRunner
from selfmaker.services.budgets.alerts import Alert, AlertSender
from selfmaker.services.budgets.periods import current_period
from selfmaker.services.budgets.spend import Spend, spend
from selfmaker.services.budgets.tables import budget_actions, budget_notifications, budgets
from selfmaker.services.metering import Meter

log = logging.getLogger(__name__)

def crossed(value: float, operator: str, threshold: float) -> bool:
    if operator == "GREATER_THAN":
        return value > threshold
    if operator == "LESS_THAN":
        return value < threshold
    return round(value, 2) == round(threshold, 2)  # EQUAL_TO: to the cent, as amounts are shown


def threshold_amount(limit: float, threshold: float, threshold_type: str) -> float:
    return limit * threshold / 100.0 if threshold_type == "PERCENTAGE" else threshold


@dataclass(frozen=True)
class DueAction:
    row: Row
    alert: Alert  # what crossed, for the subscribers' mail


class BudgetChecker:
    def __init__(self, engine: Engine, meter: Meter, sender: AlertSender, runner: ActionRunner,
                 interval: float, lease: Callable[[], bool] | None = None):
        self.engine, self.meter, self.sender, self.runner = engine, meter, sender, runner
        self.interval = interval  # seconds between checks
        # Whether this server holds the budget checker's lease (blocks: the store), when several share one store.
        self.lease = lease if lease is not None else lambda: True
        self._holding = False  # whether it held the lease at the last pass
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        if self._task is None:
            self._holding = False
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                held = await asyncio.to_thread(self.lease)
                if held and not self._holding:  # the first pass of this server, or it took over a dead one's
                    await asyncio.to_thread(self._interrupted)
                self._holding = held
                if held:
                    await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad pass (a locked store) must not end the checking
                log.exception("budget check failed")
            await asyncio.sleep(self.interval)

    async def check(self) -> None:
        alerts, actions = await asyncio.to_thread(self._due)
        for alert in alerts:
            await self.sender.send(alert.account_id, alert.subscribers, alert.subject, alert.text)
        for due in actions:
            try:
                await self._run(due)
            except Exception:  # claimed already: the others still run, and this one can be retried
                log.exception("budget action %s failed", due.row.action_id)
                await asyncio.to_thread(self._set_action_status, due.row.action_id, "EXECUTION_FAILURE")

    async def _run(self, due: DueAction) -> None:
        row, alert = due.row, due.alert
        if row.spec["ApprovalModel"] == "AUTOMATIC":
            why = (f"budget {row.budget_name} crossed its {row.spec['NotificationType']} action threshold of "
                   f"{alert.money(alert.threshold_amount)} (now {alert.money(alert.amount)})")
            status = await self.runner.run(row, why)
            await asyncio.to_thread(self._set_action_status, row.action_id, status)
            outcome = how = "ran" if status == "EXECUTION_SUCCESS" else "failed"
        else:
            outcome, how = "awaits your approval", "awaits your approval (ExecuteBudgetAction APPROVE_BUDGET_ACTION)"
        instances = ", ".join(row.spec["Definition"]["SsmActionDefinition"]["InstanceIds"])
        text = f"{alert.text}\nBudget action {row.action_id} (stop notebook instances {instances}) {how}.\n"
        await self.sender.send(row.account_id, tuple(row.spec["Subscribers"]),
                               f"AWS Budgets: the action of {row.budget_name} {outcome}", text)

    # --- in a worker thread -------------------------------------------------------------------------

    def _due(self) -> tuple[list[Alert], list[DueAction]]:
        now = self.meter.clock.now()
        with self.engine.connect() as conn:
            rows = conn.execute(select(budgets)).all()
        alerts: list[Alert] = []
        actions: list[DueAction] = []
        for budget in rows:
            period = current_period(budget.spec, now)
            spent = spend(self.meter, budget.account_id, budget.spec, *period)
            alerts += self._due_alerts(budget, period, spent)
            actions += self._due_actions(budget, period, spent)
        return alerts, actions

    def _alert(self, budget: Row, period: tuple[float, float], spent: Spend, kind: str, operator: str,
               threshold: float, threshold_type: str, subscribers) -> Alert | None:
        limit = float(budget.spec["BudgetLimit"]["Amount"])
        amount = spent.forecast if kind == "FORECASTED" else spent.actual
        target = threshold_amount(limit, threshold, threshold_type)
        if not crossed(amount, operator, target):
            return None
        return Alert(budget.account_id, budget.name, budget.spec["BudgetType"], limit,
                     budget.spec["BudgetLimit"]["Unit"], kind, operator, threshold, threshold_type, target, amount,
                     period, tuple(subscribers))

    def _due_alerts(self, budget: Row, period: tuple[float, float], spent: Spend) -> list[Alert]:
        due: list[Alert] = []
        with self.engine.begin() as conn:
            rows = conn.execute(select(budget_notifications).where(
                budget_notifications.c.account_id == budget.account_id,
                budget_notifications.c.budget_name == budget.name)).all()
            for row in rows:
                if row.alarm_period == period[0]:
                    continue
                alert = self._alert(budget, period, spent, row.notification_type, row.comparison_operator,
                                    row.threshold, row.threshold_type, row.subscribers)
                if alert is None:
                    continue
                claimed = conn.execute(update(budget_notifications).where(
                    budget_notifications.c.id == row.id,
                    or_(budget_notifications.c.alarm_period.is_(None),
                        budget_notifications.c.alarm_period != period[0]),
                ).values(alarm_period=period[0])).rowcount
                if claimed:
                    due.append(alert)
        return due

    def _due_actions(self, budget: Row, period: tuple[float, float], spent: Spend) -> list[DueAction]:
        due: list[DueAction] = []
        with self.engine.begin() as conn:
            rows = conn.execute(select(budget_actions).where(
                budget_actions.c.account_id == budget.account_id,
                budget_actions.c.budget_name == budget.name)).all()
            for row in rows:
                if row.ran_period == period[0]:
                    continue
                threshold = row.spec["ActionThreshold"]
                alert = self._alert(budget, period, spent, row.spec["NotificationType"], "GREATER_THAN",
                                    threshold["ActionThresholdValue"], threshold["ActionThresholdType"],
                                    row.spec["Subscribers"])
                if alert is None:
                    if row.ran_period is not None and row.status != "STANDBY":
                        # A new period: the action waits for its threshold again.
                        conn.execute(update(budget_actions).where(budget_actions.c.action_id == row.action_id)
                                     .values(status="STANDBY", ran_period=None))
                    continue
                status = "EXECUTION_IN_PROGRESS" if row.spec["ApprovalModel"] == "AUTOMATIC" else "PENDING"
                claimed = conn.execute(update(budget_actions).where(
                    budget_actions.c.action_id == row.action_id,
                    or_(budget_actions.c.ran_period.is_(None), budget_actions.c.ran_period != period[0]),
                ).values(ran_period=period[0], status=status)).rowcount
                if claimed:
                    due.append(DueAction(row, alert))
        return due

    def _interrupted(self) -> None:
        """Actions a stopped server left running failed: RETRY_BUDGET_ACTION runs them again (never by itself)."""
        with self.engine.begin() as conn:
            conn.execute(update(budget_actions).where(budget_actions.c.status == "EXECUTION_IN_PROGRESS")
                         .values(status="EXECUTION_FAILURE"))

    def _set_action_status(self, action_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(budget_actions).where(budget_actions.c.action_id == action_id).values(status=status))
