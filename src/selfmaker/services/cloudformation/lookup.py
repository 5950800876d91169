"""Finding stacks and change sets the way the API names them (a name, or an ARN), and paging lists."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.engine import Row

from selfmaker.services import pagination
from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.cloudformation.prepare import invalid
from selfmaker.services.cloudformation.tables import change_sets, stacks

UPDATABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_FAILED")


def find_stack(engine: Engine, ctx: RequestContext, name_or_id: str) -> Row | None:
    """A live stack by name; any stack (deleted ones too) by its id."""
    scope = (stacks.c.account_id == ctx.account_id, stacks.c.region == ctx.region)
    if name_or_id.startswith("arn:"):
        where = stacks.c.stack_id == name_or_id
    else:
        where = (stacks.c.name == name_or_id) & (stacks.c.status != "DELETE_COMPLETE")
    with engine.connect() as conn:
        return conn.execute(select(stacks).where(*scope, where)).first()


def require_stack(engine: Engine, ctx: RequestContext, name_or_id: str) -> Row:
    row = find_stack(engine, ctx, name_or_id)
    if row is None:
        raise invalid(f"Stack with id {name_or_id} does not exist")
    return row


def require_updatable(stack: Row) -> None:
    if stack.status not in UPDATABLE:
        raise invalid(f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")


def find_change_set(engine: Engine, ctx: RequestContext, name_or_id: str, stack_name: str | None) -> Row:
    if name_or_id.startswith("arn:"):
        where = change_sets.c.change_set_id == name_or_id
    else:
        if not stack_name:
            raise invalid("StackName must be specified if ChangeSetName is not specified as an ARN.")
        stack = find_stack(engine, ctx, stack_name)
        if stack is None:
            raise _change_set_not_found(name_or_id)
        where = (change_sets.c.stack_id == stack.stack_id) & (change_sets.c.name == name_or_id)
    with engine.connect() as conn:
        row = conn.execute(select(change_sets).where(where)).first()
    if row is None or not row.change_set_id.startswith(ctx.arn("cloudformation", "")):
        raise _change_set_not_found(name_or_id)
    return row


def _change_set_not_found(name: str) -> ServiceError:
    return ServiceError("ChangeSetNotFound", f"ChangeSet [{name}] does not exist", 404)


def page(items: list, token: str | None, size: int) -> tuple[list, str | None]:
    try:
        return pagination.page(items, size, token, size)
    except ServiceError:
        raise invalid("Invalid NextToken") from None
