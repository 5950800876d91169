"""Budget actions: AWS's shape (CreateBudgetAction, RUN_SSM_DOCUMENTS with STOP_EC2_INSTANCES), used to stop
notebook instances when a budget's threshold is crossed.

``SsmActionDefinition.InstanceIds`` names notebook instances in its ``Region`` (by name: the model's 63
characters hold no ARN). The id ``BUDGET_INSTANCES`` (no notebook instance can be named so: their names have
no "_") stands for the budget's own instances: those running now whose usage its CostFilters count (the model
wants at least one id, so an empty list cannot say it). They are stopped through SageMaker's
StopNotebookInstance, as the execution role, and each one's ``<name>/jupyter.log`` stream says why.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping

from sqlalchemy import Engine, Row, delete, insert, select, update

from selfmaker.domain import notebook_states as st
from selfmaker.services.base import RequestContext, ServiceError, invoke
from selfmaker.services.budgets import records
from selfmaker.services.budgets.errors import invalid, not_found, own_account
from selfmaker.services.budgets.paging import page
from selfmaker.services.budgets.shapes import check_subscribers
from selfmaker.services.budgets.spend import running_instances
from selfmaker.services.budgets.tables import budget_actions
from selfmaker.services.logs.provider import LogsService
from selfmaker.services.metering import Meter
from selfmaker.services.sagemaker.orchestrator import LOG_GROUP
from selfmaker.store.tables import notebook_instances

log = logging.getLogger(__name__)

BUDGET_INSTANCES = "BUDGET_INSTANCES"
_RUNS = ("EXECUTION_IN_PROGRESS",)


def action_shape(row: Row) -> dict:
    return {"ActionId": row.action_id, "BudgetName": row.budget_name, **row.spec, "Status": row.status}


def _check_definition(params: dict) -> None:
    ssm = params["Definition"].get("SsmActionDefinition")
    if params["ActionType"] != "RUN_SSM_DOCUMENTS" or ssm is None or ssm["ActionSubType"] != "STOP_EC2_INSTANCES":
        raise invalid("Selfmaker runs budget actions of type RUN_SSM_DOCUMENTS with an SsmActionDefinition of "
                      "ActionSubType STOP_EC2_INSTANCES: they stop notebook instances.")
    threshold = params["ActionThreshold"]["ActionThresholdValue"]
    if not threshold > 0:
        raise invalid("The action threshold must be greater than 0.")


class ActionRunner:
    """Carries an action out: stops its notebook instances through the SageMaker provider."""

    def __init__(self, engine: Engine, meter: Meter, logs: LogsService, providers: Mapping[str, object],
                 endpoint_url: str):
        self.engine, self.meter, self.logs, self.providers = engine, meter, logs, providers
        self.endpoint_url = endpoint_url

    def _targets(self, account_id: str, region: str, ids: list[str], budget_spec: dict) -> list[tuple[str, str]]:
        """(name, status) of the instances an action names; status "" for one that does not exist."""
        names: list[str] = []
        for given in ids:
            if given == BUDGET_INSTANCES:
                names += [period.instance_name for period in running_instances(self.meter, account_id, budget_spec)
                          if period.region == region]
            else:
                names.append(given)
        with self.engine.connect() as conn:
            found = dict(conn.execute(select(notebook_instances.c.name, notebook_instances.c.status).where(
                notebook_instances.c.account_id == account_id, notebook_instances.c.region == region,
                notebook_instances.c.name.in_(names))).all())
        return [(name, found.get(name, "")) for name in dict.fromkeys(names)]

    async def run(self, row: Row, why: str) -> str:
        """Stop the action's instances; the action's new status. ``why`` goes to each instance's jupyter.log."""
        ssm = row.spec["Definition"]["SsmActionDefinition"]
        region = ssm["Region"]
        with self.engine.connect() as conn:
            budget = records.budget(conn, row.account_id, row.budget_name)
        if budget is None:
            return "EXECUTION_FAILURE"
        targets = await asyncio.to_thread(self._targets, row.account_id, region, ssm["InstanceIds"], budget.spec)
        ctx = RequestContext(row.account_id, region, row.spec["ExecutionRoleArn"], "", str(uuid.uuid4()),
                             self.endpoint_url)
        stop = self.providers["sagemaker"].StopNotebookInstance  # type: ignore[attr-defined]
        ok = True
        for name, status in targets:
            if status != st.IN_SERVICE:
                ok = ok and status in (st.STOPPING, st.STOPPED)  # nothing to stop is no failure; a missing one is
                continue
            try:
                await invoke(stop, ctx, {"NotebookInstanceName": name})
            except ServiceError as err:
                log.warning("budget action %s could not stop %s: %s", row.action_id, name, err.message)
                ok = False
                continue
            message = f"Stopping: {why} (budget action {row.action_id})."
            try:
                await self.logs.append(row.account_id, region, LOG_GROUP, f"{name}/jupyter.log",
                                       [(int(time.time() * 1000), message)])
            except Exception:  # the stop happened; a lost log line must not make it a failure
                log.exception("could not write %s/jupyter.log", name)
        return "EXECUTION_SUCCESS" if ok else "EXECUTION_FAILURE"


class BudgetActions:
    """The budget-action operations (mixed into the Budgets provider)."""

    engine: Engine
    runner: ActionRunner

    def _action(self, conn, account: str, params: dict) -> Row:
        row = conn.execute(select(budget_actions).where(
            budget_actions.c.account_id == account, budget_actions.c.budget_name == params["BudgetName"],
            budget_actions.c.action_id == params["ActionId"])).first()
        if row is None:
            raise not_found(f"Unable to find budget action: {params['ActionId']} - the action doesn't exist.")
        return row

    def CreateBudgetAction(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "CreateBudgetAction", params)
        _check_definition(params)
        spec = {key: params[key] for key in ("NotificationType", "ActionType", "ActionThreshold", "Definition",
                                             "ExecutionRoleArn", "ApprovalModel")}
        spec["Subscribers"] = check_subscribers(params["Subscribers"])
        action_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            if records.budget(conn, account, params["BudgetName"]) is None:
                raise not_found("Unable to create budget action - the budget doesn't exist.")
            conn.execute(insert(budget_actions).values(action_id=action_id, account_id=account,
                                                       budget_name=params["BudgetName"], spec=spec,
                                                       status="STANDBY", ran_period=None, created=time.time()))
        return {"AccountId": account, "BudgetName": params["BudgetName"], "ActionId": action_id}

    def DescribeBudgetAction(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "DescribeBudgetAction", params)
        with self.engine.connect() as conn:
            row = self._action(conn, account, params)
        return {"AccountId": account, "BudgetName": row.budget_name, "Action": action_shape(row)}

    def DescribeBudgetActionsForBudget(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "DescribeBudgetActionsForBudget", params)
        with self.engine.connect() as conn:
            if records.budget(conn, account, params["BudgetName"]) is None:
                raise not_found(f"Unable to get budget: {params['BudgetName']} - the budget doesn't exist.")
            rows = conn.execute(select(budget_actions).where(
                budget_actions.c.account_id == account, budget_actions.c.budget_name == params["BudgetName"],
            ).order_by(budget_actions.c.created, budget_actions.c.action_id)).all()
        items, token = page(rows, params, "actions")
        return {"Actions": [action_shape(row) for row in items], "NextToken": token}

    def DeleteBudgetAction(self, ctx: RequestContext, params: dict) -> dict:
        account = own_account(ctx, "DeleteBudgetAction", params)
        with self.engine.begin() as conn:
            row = self._action(conn, account, params)
            if row.status in _RUNS:
                raise ServiceError("ResourceLockedException", "The budget action is running; try again later.")
            conn.execute(delete(budget_actions).where(budget_actions.c.action_id == row.action_id))
        return {"AccountId": account, "BudgetName": row.budget_name, "Action": action_shape(row)}

    async def ExecuteBudgetAction(self, ctx: RequestContext, params: dict) -> dict:
        """APPROVE a PENDING (MANUAL) action or RETRY a failed one: it runs now; RESET puts it back on STANDBY."""
        account = own_account(ctx, "ExecuteBudgetAction", params)
        kind = params["ExecutionType"]
        with self.engine.connect() as conn:
            row = self._action(conn, account, params)
        allowed = {"APPROVE_BUDGET_ACTION": ("PENDING",), "RETRY_BUDGET_ACTION": ("EXECUTION_FAILURE",),
                   "RESET_BUDGET_ACTION": ("PENDING", "EXECUTION_SUCCESS", "EXECUTION_FAILURE", "STANDBY")}
        if kind not in allowed:
            raise invalid(f"{kind} is not supported: a stopped notebook instance is started again with "
                          "StartNotebookInstance.")
        if row.status not in allowed[kind]:
            raise ServiceError("ResourceLockedException",
                               f"The budget action is {row.status}; {kind} is not possible now.")
        if kind == "RESET_BUDGET_ACTION":
            self._set_status(row.action_id, "STANDBY", ran_period=None)  # it may run again in this period
        else:
            self._set_status(row.action_id, "EXECUTION_IN_PROGRESS")
            self._set_status(row.action_id, await self.runner.run(row, f"{ctx.principal_arn} ran the action"))
        return {"AccountId": account, "BudgetName": row.budget_name, "ActionId": row.action_id,
                "ExecutionType": kind}

    def _set_status(self, action_id: str, status: str, **values) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(budget_actions).where(budget_actions.c.action_id == action_id)
                         .values(status=status, **values))
