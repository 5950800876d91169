"""Change sets: CreateChangeSet (CREATE and UPDATE), DescribeChangeSet, ExecuteChangeSet, DeleteChangeSet,
ListChangeSets — what ``aws cloudformation deploy`` drives.

A change set's Changes are worked out while CreateChangeSet answers (they need no provider call), so it
is CREATE_COMPLETE (or FAILED, with AWS's reason) by the time anyone looks.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.cloudformation.changes import nothing_to_do, resource_changes
from selfmaker.services.cloudformation.engine import StackEngine
from selfmaker.services.cloudformation.exports import Exports
from selfmaker.services.cloudformation.lookup import find_change_set, find_stack, page, require_stack, require_updatable
from selfmaker.services.cloudformation.prepare import (
    check_stack_name,
    invalid,
    new_stack_id,
    prepare_off_loop,
    shown_parameters,
)
from selfmaker.services.cloudformation.records import StackStore
from selfmaker.services.cloudformation.resources.base import ResourceType
from selfmaker.services.cloudformation.stacks import USER_INITIATED, new_stack_row, updated_values
from selfmaker.services.cloudformation.tables import change_sets
from selfmaker.services.cloudformation.template_source import TemplateSource

NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."
# How long ExecuteChangeSet waits for a quick stack operation to end before answering: `aws cloudformation
# deploy` polls every 30 s, so a stack done within this grace is seen done at its first look.
EXECUTE_GRACE_SECONDS = 2.0


class ChangeSets:
    engine: Engine
    store: StackStore
    stack_engine: StackEngine
    source: TemplateSource
    exports: Exports
    types: dict[str, ResourceType]
    attributes: dict[str, frozenset[str]]

    async def CreateChangeSet(self, ctx: RequestContext, params: dict) -> dict:
        name, stack_name = params["ChangeSetName"], params["StackName"]
        kind = params.get("ChangeSetType", "UPDATE")
        if kind not in ("CREATE", "UPDATE"):
            raise invalid(f"ChangeSetType {kind} is not supported; use CREATE or UPDATE")
        stack = find_stack(self.engine, ctx, stack_name)
        if kind == "CREATE":
            check_stack_name(stack_name)
            if stack is not None and stack.status != "REVIEW_IN_PROGRESS":
                raise ServiceError("AlreadyExistsException", f"Stack [{stack_name}] already exists")
            if params.get("UsePreviousTemplate"):
                raise invalid("UsePreviousTemplate cannot be used with ChangeSetType CREATE")
        else:
            if stack is None or stack.status == "REVIEW_IN_PROGRESS":
                raise invalid(f"Stack [{stack_name}] does not exist")
            require_updatable(stack)
        on_failure = params.get("OnStackFailure") or "ROLLBACK"
        body = stack.template_body if params.get("UsePreviousTemplate") else await self.source.text(ctx, params)
        stack_id = stack.stack_id if stack is not None else new_stack_id(ctx, stack_name)
        previous = stack.parameters if kind == "UPDATE" else None
        prepared = await prepare_off_loop(ctx, body, self.attributes, params, stack_id, stack_name, previous)
        if kind == "CREATE":
            changes = resource_changes(prepared.plan, {}, self.types, self.exports, ctx.account_id, ctx.region)
            status, reason = "CREATE_COMPLETE", None
        else:
            changes = resource_changes(prepared.plan, self.store.resources(stack_id), self.types, self.exports,
                                       ctx.account_id, ctx.region)
            same = nothing_to_do(stack.template_body, stack.parameters, prepared.plan)
            if same and not changes and params.get("Tags", stack.tags) == stack.tags:
                status, reason = "FAILED", NO_CHANGES
            else:
                status, reason = "CREATE_COMPLETE", None
        change_set_id = ctx.arn("cloudformation", f"changeSet/{name}/{uuid.uuid4()}")
        try:
            if stack is None:
                self.store.insert(new_stack_row(ctx, stack_id, stack_name, "REVIEW_IN_PROGRESS", body, None, {}))
            with self.engine.begin() as conn:
                conn.execute(insert(change_sets).values(
                    change_set_id=change_set_id, name=name, stack_id=stack_id, type=kind, status=status,
                    execution_status="AVAILABLE" if status == "CREATE_COMPLETE" else "UNAVAILABLE",
                    status_reason=reason, template_body=body, parameters=prepared.parameters,
                    capabilities=params.get("Capabilities", []),
                    notification_arns=params.get("NotificationARNs", []), tags=params.get("Tags", []),
                    description=params.get("Description"), changes=changes, on_failure=on_failure,
                    creation_time=time.time(),
                ))
        except IntegrityError:
            raise ServiceError("AlreadyExistsException", f"ChangeSet [{name}] already exists") from None
        return {"Id": change_set_id, "StackId": stack_id}

    def DescribeChangeSet(self, ctx: RequestContext, params: dict) -> dict:
        row = find_change_set(self.engine, ctx, params["ChangeSetName"], params.get("StackName"))
        stack = require_stack(self.engine, ctx, row.stack_id)
        return {
            "ChangeSetName": row.name, "ChangeSetId": row.change_set_id, "StackId": row.stack_id,
            "StackName": stack.name, "Description": row.description,
            "Parameters": shown_parameters(row.template_body, row.parameters), "CreationTime": row.creation_time,
            "ExecutionStatus": row.execution_status, "Status": row.status, "StatusReason": row.status_reason,
            "NotificationARNs": row.notification_arns, "RollbackConfiguration": {},
            "Capabilities": row.capabilities, "Tags": row.tags, "Changes": row.changes, "IncludeNestedStacks": False,
            "OnStackFailure": row.on_failure,
        }

    def ListChangeSets(self, ctx: RequestContext, params: dict) -> dict:
        stack = require_stack(self.engine, ctx, params["StackName"])
        with self.engine.connect() as conn:
            rows = conn.execute(select(change_sets).where(change_sets.c.stack_id == stack.stack_id)
                                .order_by(change_sets.c.creation_time)).all()
        items, token = page(rows, params.get("NextToken"), 100)
        return {"Summaries": [{
            "StackId": stack.stack_id, "StackName": stack.name, "ChangeSetId": row.change_set_id,
            "ChangeSetName": row.name, "ExecutionStatus": row.execution_status, "Status": row.status,
            "StatusReason": row.status_reason, "CreationTime": row.creation_time, "Description": row.description,
            "IncludeNestedStacks": False,
        } for row in items], "NextToken": token}

    def DeleteChangeSet(self, ctx: RequestContext, params: dict) -> dict:
        row = find_change_set(self.engine, ctx, params["ChangeSetName"], params.get("StackName"))
        if row.execution_status == "EXECUTE_IN_PROGRESS":
            raise ServiceError("InvalidChangeSetStatus",
                               f"Cannot delete ChangeSet [{row.change_set_id}] while it is being executed")
        with self.engine.begin() as conn:
            conn.execute(delete(change_sets).where(change_sets.c.change_set_id == row.change_set_id))
        return {}

    async def ExecuteChangeSet(self, ctx: RequestContext, params: dict) -> dict:
        row = find_change_set(self.engine, ctx, params["ChangeSetName"], params.get("StackName"))
        stack = require_stack(self.engine, ctx, row.stack_id)
        request = {"Parameters": [], "Capabilities": row.capabilities, "NotificationARNs": row.notification_arns,
                   "Tags": row.tags, "DisableRollback": params.get("DisableRollback"),
                   "ClientRequestToken": params.get("ClientRequestToken")}
        # First, off the loop: from here on nothing awaits between the checks and the writes that follow them.
        prepared = await prepare_off_loop(ctx, row.template_body, self.attributes,
                                          {**request, "Parameters": [{"ParameterKey": k, "ParameterValue": v}
                                                                     for k, v in row.parameters.items()]},
                                          stack.stack_id, stack.name)
        row = find_change_set(self.engine, ctx, row.change_set_id, None)
        stack = require_stack(self.engine, ctx, row.stack_id)
        if row.execution_status == "AVAILABLE" and row.type == "UPDATE" and \
                (stack.last_updated_time or stack.creation_time) > row.creation_time:
            self._set_execution(row.change_set_id, "OBSOLETE")  # the stack changed since it was made
            row = find_change_set(self.engine, ctx, row.change_set_id, None)
        if row.execution_status != "AVAILABLE":
            raise ServiceError("InvalidChangeSetStatus", f"ChangeSet [{row.change_set_id}] cannot be executed in its "
                                                         f"current execution status of [{row.execution_status}]")
        if row.type == "CREATE" and stack.status != "REVIEW_IN_PROGRESS":
            raise invalid(f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")
        if row.type == "UPDATE":
            require_updatable(stack)
        with self.engine.begin() as conn:
            # Executing one change set makes the stack's others meaningless: they go, as on AWS.
            conn.execute(delete(change_sets).where(change_sets.c.stack_id == stack.stack_id,
                                                   change_sets.c.change_set_id != row.change_set_id))
        self._set_execution(row.change_set_id, "EXECUTE_IN_PROGRESS")
        if row.type == "CREATE":
            on_failure = "DO_NOTHING" if params.get("DisableRollback") else row.on_failure
            fresh = new_stack_row(ctx, stack.stack_id, stack.name, "CREATE_IN_PROGRESS", row.template_body, prepared,
                                  {**request, "DisableRollback": None, "OnFailure": on_failure})
            values = {key: value for key, value in fresh.items()
                      if key not in ("stack_id", "creation_time", "status", "status_reason")}
            self.store.set_status(stack.stack_id, "CREATE_IN_PROGRESS", USER_INITIATED,
                                  change_set_id=row.change_set_id, **values)
            self.stack_engine.create(stack.stack_id)
        else:
            values = updated_values(ctx, stack, row.template_body, prepared, request, self.store)
            self.store.set_status(stack.stack_id, "UPDATE_IN_PROGRESS", USER_INITIATED,
                                  change_set_id=row.change_set_id, **values)
            self.stack_engine.update(stack.stack_id)
        await self.stack_engine.settle(stack.stack_id, EXECUTE_GRACE_SECONDS)
        return {}

    def _set_execution(self, change_set_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(change_sets).where(change_sets.c.change_set_id == change_set_id)
                         .values(execution_status=status))
