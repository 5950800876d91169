"""CreateStack, UpdateStack, DeleteStack, CancelUpdateStack, UpdateTerminationProtection.

Each checks everything it can first (AWS's errors, nothing written), then persists the status the stack
enters and its event in one transaction, and only then hands the work to the engine.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError

from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.cloudformation.changes import nothing_to_do
from selfmaker.services.cloudformation.engine import StackEngine
from selfmaker.services.cloudformation.lookup import find_stack, require_stack, require_updatable
from selfmaker.services.cloudformation.prepare import (
    Prepared,
    check_stack_name,
    invalid,
    new_stack_id,
    prepare_off_loop,
)
from selfmaker.services.cloudformation.records import StackStore
from selfmaker.services.cloudformation.tables import stacks
from selfmaker.services.cloudformation.template_source import TemplateSource

USER_INITIATED = "User Initiated"
_GONE = ("DELETE_COMPLETE", "DELETE_SKIPPED")


def on_failure_of(params: dict) -> str:
    if params.get("DisableRollback") is not None and params.get("OnFailure") is not None:
        raise invalid("Either DisableRollback or OnFailure can be specified, but not both.")
    if params.get("DisableRollback"):
        return "DO_NOTHING"
    return params.get("OnFailure", "ROLLBACK")


def new_stack_row(ctx: RequestContext, stack_id: str, name: str, status: str, body: str, prepared: Prepared | None,
                  params: dict) -> dict:
    now = time.time()
    return dict(
        stack_id=stack_id, account_id=ctx.account_id, region=ctx.region, name=name, status=status,
        status_reason=USER_INITIATED, template_body=body,
        parameters=prepared.parameters if prepared else {}, capabilities=params.get("Capabilities", []),
        notification_arns=params.get("NotificationARNs", []), tags=params.get("Tags", []), outputs=[],
        description=prepared.template.description if prepared else None, on_failure=on_failure_of(params),
        timeout_minutes=params.get("TimeoutInMinutes"), role_arn=params.get("RoleARN"),
        termination_protection=bool(params.get("EnableTerminationProtection")), principal_arn=ctx.principal_arn,
        access_key_id=ctx.access_key_id, client_request_token=params.get("ClientRequestToken"), cleanup=[],
        operation_started=now, creation_time=now,
    )


def snapshot(store: StackStore, stack) -> dict:
    """What an update returns to if it rolls back."""
    return {
        "template_body": stack.template_body, "parameters": stack.parameters, "outputs": stack.outputs,
        "description": stack.description,
        "resources": {logical: state.to_json() for logical, state in store.resources(stack.stack_id).items()
                      if state.status not in _GONE},
    }


def updated_values(ctx: RequestContext, stack, body: str, prepared: Prepared, params: dict, store: StackStore) -> dict:
    """The stack row's values as an update (UpdateStack, or an UPDATE change set) starts."""
    now = time.time()
    return dict(
        previous=snapshot(store, stack), template_body=body, parameters=prepared.parameters,
        capabilities=params.get("Capabilities", []),
        notification_arns=params.get("NotificationARNs", stack.notification_arns),
        tags=params.get("Tags", stack.tags), description=prepared.template.description,
        on_failure="DO_NOTHING" if params.get("DisableRollback") else "ROLLBACK", principal_arn=ctx.principal_arn,
        access_key_id=ctx.access_key_id, client_request_token=params.get("ClientRequestToken"), cleanup=[],
        operation_started=now, last_updated_time=now,
    )


class Stacks:
    engine: Engine
    store: StackStore
    stack_engine: StackEngine
    source: TemplateSource
    attributes: dict[str, frozenset[str]]

    async def CreateStack(self, ctx: RequestContext, params: dict) -> dict:
        name = params["StackName"]
        check_stack_name(name)
        on_failure_of(params)  # refuses DisableRollback together with OnFailure
        if find_stack(self.engine, ctx, name) is not None:
            raise ServiceError("AlreadyExistsException", f"Stack [{name}] already exists")
        body = await self.source.text(ctx, params)
        stack_id = new_stack_id(ctx, name)
        prepared = await prepare_off_loop(ctx, body, self.attributes, params, stack_id, name)
        row = new_stack_row(ctx, stack_id, name, "CREATE_IN_PROGRESS", body, prepared, params)
        try:
            self.store.insert(row)
        except IntegrityError:  # created meanwhile under the same name
            raise ServiceError("AlreadyExistsException", f"Stack [{name}] already exists") from None
        self.stack_engine.create(stack_id)
        return {"StackId": stack_id}

    async def UpdateStack(self, ctx: RequestContext, params: dict) -> dict:
        stack = find_stack(self.engine, ctx, params["StackName"])
        if stack is None:
            raise invalid(f"Stack [{params['StackName']}] does not exist")
        require_updatable(stack)
        if params.get("UsePreviousTemplate") and (params.get("TemplateBody") or params.get("TemplateURL")):
            raise invalid("Specify only one of TemplateBody, TemplateURL or UsePreviousTemplate")
        body = stack.template_body if params.get("UsePreviousTemplate") else await self.source.text(ctx, params)
        prepared = await prepare_off_loop(ctx, body, self.attributes, params, stack.stack_id, stack.name,
                                          stack.parameters)
        unchanged_tags = "Tags" not in params or params["Tags"] == stack.tags
        if unchanged_tags and nothing_to_do(stack.template_body, stack.parameters, prepared.plan):
            raise invalid("No updates are to be performed.")
        stack = require_stack(self.engine, ctx, stack.stack_id)
        require_updatable(stack)  # again: nothing has awaited since, but the template fetch did
        self.store.set_status(stack.stack_id, "UPDATE_IN_PROGRESS", USER_INITIATED,
                              **updated_values(ctx, stack, body, prepared, params, self.store))
        self.stack_engine.update(stack.stack_id)
        return {"StackId": stack.stack_id}

    def DeleteStack(self, ctx: RequestContext, params: dict) -> dict:
        stack = find_stack(self.engine, ctx, params["StackName"])
        if stack is None or stack.status in ("DELETE_COMPLETE", "DELETE_IN_PROGRESS"):
            return {}  # as on AWS: deleting what is not there (any more) succeeds
        if stack.termination_protection:
            raise invalid(f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled")
        retain = set(params.get("RetainResources") or [])
        if retain and stack.status != "DELETE_FAILED":
            raise invalid("Invalid operation on stack; RetainResources can only be specified when the stack is "
                          "in DELETE_FAILED state")
        if stack.status.endswith("_IN_PROGRESS") and stack.status not in ("CREATE_IN_PROGRESS",
                                                                           "REVIEW_IN_PROGRESS"):
            raise invalid(f"Stack [{stack.name}] cannot be deleted while in status {stack.status}")
        self.store.set_status(stack.stack_id, "DELETE_IN_PROGRESS", USER_INITIATED, principal_arn=ctx.principal_arn,
                              access_key_id=ctx.access_key_id, client_request_token=params.get("ClientRequestToken"))
        self.stack_engine.delete(stack.stack_id, retain)
        return {}

    def CancelUpdateStack(self, ctx: RequestContext, params: dict) -> dict:
        stack = require_stack(self.engine, ctx, params["StackName"])
        if stack.status != "UPDATE_IN_PROGRESS":
            raise invalid(f"CancelUpdateStack cannot be called from current stack status {stack.status}")
        self.stack_engine.cancel_update(stack.stack_id)
        return {}

    def UpdateTerminationProtection(self, ctx: RequestContext, params: dict) -> dict:
        stack = require_stack(self.engine, ctx, params["StackName"])
        with self.engine.begin() as conn:
            conn.execute(update(stacks).where(stacks.c.stack_id == stack.stack_id)
                         .values(termination_protection=params["EnableTerminationProtection"]))
        return {"StackId": stack.stack_id}
