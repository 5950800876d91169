"""Reading and writing stacks, their resources and their events: every status change writes the row and its
event in one transaction, so what DescribeStackEvents shows is what the rows say."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.engine import Row

from selfmaker.services.cloudformation.tables import change_sets, stack_events, stack_resources, stacks

STACK_TYPE = "AWS::CloudFormation::Stack"


@dataclass
class ResourceState:
    """A resource row as plain data (what a stack snapshot and the cleanup list keep)."""

    logical_id: str
    type: str
    physical_id: str | None
    physical_name: str | None
    status: str
    properties: dict
    attributes: dict
    depends_on: list[str]
    deletion_policy: str

    @classmethod
    def of(cls, row: Row) -> ResourceState:
        return cls(row.logical_id, row.type, row.physical_id, row.physical_name, row.status, row.properties or {},
                   row.attributes or {}, list(row.depends_on or []), row.deletion_policy)

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict) -> ResourceState:
        return cls(**data)


class StackStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    # --- stacks ---------------------------------------------------------------------------------------

    def stack(self, stack_id: str) -> Row | None:
        with self.engine.connect() as conn:
            return conn.execute(select(stacks).where(stacks.c.stack_id == stack_id)).first()

    def insert(self, values: dict) -> None:
        """A new stack, with the event of the status it starts in (IntegrityError when the name is taken)."""
        with self.engine.begin() as conn:
            conn.execute(insert(stacks).values(**values))
            conn.execute(insert(stack_events).values(
                event_id=str(uuid.uuid4()), stack_id=values["stack_id"], stack_name=values["name"],
                logical_id=values["name"], physical_id=values["stack_id"], type=STACK_TYPE, status=values["status"],
                reason=values["status_reason"], client_request_token=values["client_request_token"],
                timestamp=values["creation_time"],
            ))

    def set_status(self, stack_id: str, status: str, reason: str | None = None, keep_reason: bool = False,
                   **values) -> None:
        """Move the stack to ``status`` (with its event); ``values`` are other columns to set with it.
        ``keep_reason``: the stack goes on showing why its operation failed (a rollback's end)."""
        now = time.time()
        if not keep_reason:
            values["status_reason"] = reason
        with self.engine.begin() as conn:
            row = conn.execute(select(stacks.c.name, stacks.c.client_request_token)
                               .where(stacks.c.stack_id == stack_id)).first()
            conn.execute(update(stacks).where(stacks.c.stack_id == stack_id).values(status=status, **values))
            conn.execute(insert(stack_events).values(
                event_id=str(uuid.uuid4()), stack_id=stack_id, stack_name=row.name, logical_id=row.name,
                physical_id=stack_id, type=STACK_TYPE, status=status, reason=reason,
                client_request_token=row.client_request_token, timestamp=now,
            ))

    def set_values(self, stack_id: str, **values) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(stacks).where(stacks.c.stack_id == stack_id).values(**values))

    def finish_change_set(self, stack_id: str, succeeded: bool) -> None:
        """The change set a stack operation executed ends with the operation."""
        with self.engine.begin() as conn:
            conn.execute(
                update(change_sets)
                .where(change_sets.c.stack_id == stack_id, change_sets.c.execution_status == "EXECUTE_IN_PROGRESS")
                .values(execution_status="EXECUTE_COMPLETE" if succeeded else "EXECUTE_FAILED")
            )

    # --- resources ------------------------------------------------------------------------------------

    def resources(self, stack_id: str) -> dict[str, ResourceState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(stack_resources).where(stack_resources.c.stack_id == stack_id)).all()
        return {row.logical_id: ResourceState.of(row) for row in rows}

    def put_resource(self, stack_id: str, logical_id: str, status: str, reason: str | None = None, *,
                     event_properties: dict | None = None, show_physical_id: bool = True, **values) -> None:
        """Set a resource's status (creating its row if needed) and record the event; ``values`` are other
        columns (type, physical_id, physical_name, properties, attributes, depends_on, deletion_policy)."""
        now = time.time()
        with self.engine.begin() as conn:
            key = (stack_resources.c.stack_id == stack_id, stack_resources.c.logical_id == logical_id)
            existing = conn.execute(select(stack_resources).where(*key)).first()
            if existing is None:
                conn.execute(insert(stack_resources).values(
                    stack_id=stack_id, logical_id=logical_id, status=status, status_reason=reason, timestamp=now,
                    **{"attributes": {}, "depends_on": [], "deletion_policy": "Delete", **values},
                ))
            else:
                conn.execute(update(stack_resources).where(*key)
                             .values(status=status, status_reason=reason, timestamp=now, **values))
            row = conn.execute(select(stack_resources).where(*key)).first()
            self._event(conn, stack_id, row.logical_id, row.physical_id if show_physical_id else None, row.type,
                        status, reason, event_properties, now)

    def set_resource(self, stack_id: str, logical_id: str, **values) -> None:
        """Change a resource's row without an event (what changes no physical resource)."""
        with self.engine.begin() as conn:
            conn.execute(update(stack_resources).where(stack_resources.c.stack_id == stack_id,
                                                       stack_resources.c.logical_id == logical_id).values(**values))

    def resource_event(self, stack_id: str, state: ResourceState, status: str, reason: str | None = None) -> None:
        """An event about a physical resource that is no longer (or not yet) the row's: a replaced one."""
        with self.engine.begin() as conn:
            self._event(conn, stack_id, state.logical_id, state.physical_id, state.type, status, reason, None,
                        time.time())

    def restore_resource(self, stack_id: str, state: ResourceState, status: str, reason: str | None = None) -> None:
        self.put_resource(stack_id, state.logical_id, status, reason, type=state.type, physical_id=state.physical_id,
                          physical_name=state.physical_name, properties=state.properties,
                          attributes=state.attributes, depends_on=state.depends_on,
                          deletion_policy=state.deletion_policy)

    def remove_resource(self, stack_id: str, logical_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(stack_resources).where(stack_resources.c.stack_id == stack_id,
                                                       stack_resources.c.logical_id == logical_id))

    def _event(self, conn, stack_id: str, logical_id: str, physical_id: str | None, kind: str, status: str,
               reason: str | None, properties: dict | None, now: float) -> None:
        stack = conn.execute(select(stacks.c.name, stacks.c.client_request_token)
                             .where(stacks.c.stack_id == stack_id)).first()
        conn.execute(insert(stack_events).values(
            event_id=f"{logical_id}-{status}-{uuid.uuid4()}", stack_id=stack_id, stack_name=stack.name,
            logical_id=logical_id, physical_id=physical_id or "", type=kind, status=status, reason=reason,
            properties=None if properties is None else json.dumps(properties),
            client_request_token=stack.client_request_token, timestamp=now,
        ))

    def write_cleanup(self, stack_id: str, entries: list[ResourceState], status: str | None = None,
                      **values) -> None:
        """Persist the physical resources still to delete (with a status change when given)."""
        data = [entry.to_json() for entry in entries]
        if status is None:
            self.set_values(stack_id, cleanup=data, **values)
        else:
            self.set_status(stack_id, status, cleanup=data, **values)

    def cleanup(self, stack_id: str) -> list[ResourceState]:
        row = self.stack(stack_id)
        return [ResourceState.from_json(item) for item in (row.cleanup or [])]
