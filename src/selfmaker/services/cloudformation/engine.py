"""The stack engine: creates, updates, rolls back and deletes stacks in background tasks.

The API persists the status an operation enters (CREATE_IN_PROGRESS, …) before the engine acts on it.
Resources are created through the service providers, the independent ones concurrently; each step is
recorded (row and event) before the provider is called, so that after a restart ``reconcile`` can finish
or undo what was under way:

- CREATE_IN_PROGRESS: the resources in progress are marked cancelled and the stack fails as OnFailure
  says (by default rolled back: what was created is deleted → ROLLBACK_COMPLETE);
- UPDATE_IN_PROGRESS: rolled back to the previous template (UPDATE_ROLLBACK_COMPLETE);
- DELETE, ROLLBACK, UPDATE_ROLLBACK and the cleanup phases: resumed (deletes are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping

from sqlalchemy import Engine, delete, select

from selfmaker.domain.cfn import graph
from selfmaker.domain.cfn.plan import make_plan, pseudo_parameters
from selfmaker.domain.cfn.template import Template
from selfmaker.services.cloudformation.calls import Authorize, ProviderCalls, ResourceFailure
from selfmaker.services.cloudformation.exports import Exports
from selfmaker.services.cloudformation.operation import Run, masked
from selfmaker.services.cloudformation.records import ResourceState, StackStore
from selfmaker.services.cloudformation.resources.base import Current, ResourceRequest, ResourceType
from selfmaker.services.cloudformation.scheduler import run_graph
from selfmaker.services.cloudformation.tables import change_sets, stacks

log = logging.getLogger("selfmaker.cloudformation")

_GONE = ("DELETE_COMPLETE", "DELETE_SKIPPED")
# When an operation breaks unexpectedly (a bug), the stack is left in the failed status of its phase.
_BROKEN = {
    "CREATE_IN_PROGRESS": "CREATE_FAILED", "ROLLBACK_IN_PROGRESS": "ROLLBACK_FAILED",
    "DELETE_IN_PROGRESS": "DELETE_FAILED", "UPDATE_IN_PROGRESS": "UPDATE_FAILED",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_COMPLETE", "UPDATE_ROLLBACK_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_ROLLBACK_COMPLETE",
}
_INTERRUPTED = "the Selfmaker server stopped while it was under way"


def failed_reason(verb: str, names: list[str]) -> str:
    return f"The following resource(s) failed to {verb}: [{', '.join(sorted(names))}]. "


class StackEngine:
    def __init__(self, engine: Engine, types: Mapping[str, ResourceType], providers: Mapping[str, object],
                 authorize: Authorize | None, endpoint_url: str):
        self.db = engine
        self.store = StackStore(engine)
        self.exports = Exports(engine)
        self.types = types
        self.providers = providers
        self.authorize = authorize
        self.endpoint_url = endpoint_url
        self._tasks: dict[str, asyncio.Task] = {}

    # --- entry points (the API has persisted the status the operation enters) -------------------------

    def create(self, stack_id: str) -> None:
        self._spawn(stack_id, lambda: self._create(stack_id))

    def update(self, stack_id: str) -> None:
        self._spawn(stack_id, lambda: self._update(stack_id))

    def delete(self, stack_id: str, retain: set[str]) -> None:
        """Delete the stack, first cancelling a creation under way."""
        self._spawn(stack_id, lambda: self._delete(stack_id, retain), cancel_running=True)

    def cancel_update(self, stack_id: str) -> None:
        self._spawn(stack_id, lambda: self._cancelled_update(stack_id), cancel_running=True)

    async def settle(self, stack_id: str, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds, cancelling nothing) for the stack's operation to end."""
        task = self._tasks.get(stack_id)
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)

    async def reconcile(self) -> None:
        """After a restart: settle every stack an operation was under way on (see the module's doc)."""
        resume: dict[str, Callable[[str], Coroutine]] = {
            "CREATE_IN_PROGRESS": self._interrupted_create,
            "ROLLBACK_IN_PROGRESS": self._rollback_create,
            "DELETE_IN_PROGRESS": lambda stack_id: self._delete(stack_id, set()),
            "UPDATE_IN_PROGRESS": self._interrupted_update,
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": self._finish_update,
            "UPDATE_ROLLBACK_IN_PROGRESS": lambda stack_id: self._rollback_update(stack_id, None),
            "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": self._finish_rollback,
        }
        with self.db.connect() as conn:
            rows = conn.execute(select(stacks.c.stack_id, stacks.c.status)
                                .where(stacks.c.status.in_(list(resume)))).all()
        for row in rows:
            log.info("stack %s was %s when the server stopped: settling it", row.stack_id, row.status)
            self._spawn(row.stack_id, lambda r=row: resume[r.status](r.stack_id))

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    # --- tasks ----------------------------------------------------------------------------------------

    def _spawn(self, stack_id: str, work: Callable[[], Coroutine], cancel_running: bool = False) -> None:
        before = self._tasks.get(stack_id)
        if before is not None and cancel_running:
            before.cancel()

        async def runner() -> None:
            if before is not None:
                await asyncio.gather(before, return_exceptions=True)
            await self._guarded(stack_id, work)

        task = asyncio.get_running_loop().create_task(runner())
        self._tasks[stack_id] = task

        def forget(done: asyncio.Task) -> None:
            if self._tasks.get(stack_id) is done:
                del self._tasks[stack_id]

        task.add_done_callback(forget)

    async def _guarded(self, stack_id: str, work: Callable[[], Coroutine]) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: say so on the stack rather than leave it in progress forever
            log.exception("stack operation on %s failed", stack_id)
            stack = self.store.stack(stack_id)
            if stack is not None and stack.status in _BROKEN:
                self.store.set_status(stack_id, _BROKEN[stack.status], f"Internal failure: {exc}")
                self.store.finish_change_set(stack_id, False)

    def _run(self, stack) -> Run:
        template = Template(stack.template_body)
        pseudo = pseudo_parameters(stack.account_id, stack.region, stack.stack_id, stack.name,
                                   stack.notification_arns)
        plan = make_plan(template, stack.parameters, pseudo)
        live = {logical: state.attributes for logical, state in self.store.resources(stack.stack_id).items()
                if state.status not in _GONE and state.attributes}
        return Run(stack, plan, self._calls(stack), self.exports, live)

    def _calls(self, stack) -> ProviderCalls:
        return ProviderCalls(self.providers, self.authorize, stack.account_id, stack.region, stack.principal_arn,
                             stack.access_key_id, self.endpoint_url)

    # --- create ---------------------------------------------------------------------------------------

    async def _create(self, stack_id: str) -> None:
        stack = self.store.stack(stack_id)
        run = self._run(stack)
        reason = None
        try:
            async with asyncio.timeout(_remaining(stack)):
                outcome = await run_graph(run.plan.dependencies, lambda name: self._create_resource(run, name), True)
        except TimeoutError:
            reason = "Stack creation time exceeded the specified timeout. "
        else:
            if not outcome.ok:
                reason = failed_reason("create", outcome.failed or outcome.cancelled)
        if reason is None:
            try:
                outputs, exported = run.outputs()
                self.exports.publish(stack_id, stack.account_id, stack.region, exported, run.imported)
            except ResourceFailure as failure:
                reason = _sentence(failure.reason)
            else:
                self.store.set_status(stack_id, "CREATE_COMPLETE", outputs=outputs)
                self.store.finish_change_set(stack_id, True)
                return
        await self._fail_create(stack_id, reason)

    async def _fail_create(self, stack_id: str, reason: str) -> None:
        stack = self.store.stack(stack_id)
        if stack.on_failure == "DO_NOTHING":
            self.store.set_status(stack_id, "CREATE_FAILED", reason)
            self.store.finish_change_set(stack_id, False)
        elif stack.on_failure == "DELETE":
            self.store.set_status(stack_id, "DELETE_IN_PROGRESS", reason + "Delete requested by user.")
            await self._delete(stack_id, set())
        else:
            self.store.set_status(stack_id, "ROLLBACK_IN_PROGRESS", reason + "Rollback requested by user.")
            await self._rollback_create(stack_id)

    async def _interrupted_create(self, stack_id: str) -> None:
        for state in self.store.resources(stack_id).values():
            if state.status == "CREATE_IN_PROGRESS":
                self.store.put_resource(stack_id, state.logical_id, "CREATE_FAILED", "Resource creation cancelled")
        await self._fail_create(stack_id, f"Stack creation was interrupted: {_INTERRUPTED}. ")

    async def _rollback_create(self, stack_id: str) -> None:
        stack = self.store.stack(stack_id)
        states = [(state, True) for state in self.store.resources(stack_id).values() if state.status not in _GONE]
        failed = await self._delete_states(stack, states, set(), creating=True)
        if failed:
            self.store.set_status(stack_id, "ROLLBACK_FAILED", failed_reason("delete", failed))
        else:
            self.store.set_status(stack_id, "ROLLBACK_COMPLETE", keep_reason=True)
        self.store.finish_change_set(stack_id, False)

    async def _create_resource(self, run: Run, logical_id: str, replacing: bool = False) -> None:
        """Create one resource (or, ``replacing``, its replacement): row and events before each call."""
        stack_id = run.stack.stack_id
        resource = run.plan.resources[logical_id]
        handler = self.types[resource.type]
        status = "UPDATE" if replacing else "CREATE"
        first_reason = ("Requested update requires the creation of a new physical resource; hence creating one."
                        if replacing else None)
        shape = {"type": resource.type, "depends_on": sorted(run.plan.dependencies[logical_id]),
                 "deletion_policy": resource.deletion_policy, "metadata": resource.metadata}
        try:
            properties = run.properties(logical_id)
            handler.check(logical_id, properties)
            name = handler.physical_name(run.stack.name, logical_id, properties)
        except ResourceFailure as failure:
            self.store.put_resource(stack_id, logical_id, f"{status}_IN_PROGRESS", first_reason, **shape)
            self.store.put_resource(stack_id, logical_id, f"{status}_FAILED", failure.reason)
            raise
        self.store.put_resource(stack_id, logical_id, f"{status}_IN_PROGRESS", first_reason, physical_id=None,
                                physical_name=name, properties=properties, attributes={},
                                event_properties=run.shown(properties), show_physical_id=False, **shape)
        request = run.request(logical_id, properties, name)
        physical_id = None
        try:
            physical_id = await handler.create(run.calls, request)
            self.store.put_resource(stack_id, logical_id, f"{status}_IN_PROGRESS", "Resource creation Initiated",
                                    physical_id=physical_id)
            attributes = await handler.ready(run.calls, request, physical_id)
        except asyncio.CancelledError:
            self.store.put_resource(stack_id, logical_id, f"{status}_FAILED", "Resource creation cancelled")
            raise
        except Exception as exc:
            reason = _reason(exc, logical_id)
            # A refused create made nothing: forget the name, lest a rollback delete a namesake.
            forget = {} if physical_id is not None else {"physical_name": None}
            self.store.put_resource(stack_id, logical_id, f"{status}_FAILED", reason, **forget)
            raise ResourceFailure(reason) from None
        self.store.put_resource(stack_id, logical_id, f"{status}_COMPLETE", attributes=attributes)
        run.live[logical_id] = attributes

    # --- update ---------------------------------------------------------------------------------------

    async def _update(self, stack_id: str) -> None:
        stack = self.store.stack(stack_id)
        run = self._run(stack)
        before = {logical: ResourceState.from_json(data) for logical, data in stack.previous["resources"].items()}
        created: set[str] = set()

        async def act(logical_id: str) -> None:
            if logical_id not in before:
                created.add(logical_id)
                await self._create_resource(run, logical_id)
            else:
                await self._update_resource(run, logical_id, before[logical_id])

        outcome = await run_graph(run.plan.dependencies, act, True)
        reason = None
        if not outcome.ok:
            broken = outcome.failed or outcome.cancelled
            reason = failed_reason("create" if set(broken) <= created else "update", broken)
        else:
            try:
                outputs, exported = run.outputs()
                self.exports.publish(stack_id, stack.account_id, stack.region, exported, run.imported)
            except ResourceFailure as failure:
                reason = _sentence(failure.reason)
        if reason is not None:
            if stack.on_failure == "DO_NOTHING":
                self.store.set_status(stack_id, "UPDATE_FAILED", reason)
                self.store.finish_change_set(stack_id, False)
            else:
                await self._rollback_update(stack_id, reason)
            return
        removed = [state for logical, state in self.store.resources(stack_id).items()
                   if logical not in run.plan.resources and state.status not in _GONE]
        self.store.write_cleanup(stack_id, self.store.cleanup(stack_id) + removed,
                                 "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", outputs=outputs)
        await self._finish_update(stack_id)

    async def _update_resource(self, run: Run, logical_id: str, before: ResourceState) -> None:
        stack_id = run.stack.stack_id
        resource = run.plan.resources[logical_id]
        handler = self.types[resource.type]
        if before.status in _GONE:
            await self._create_resource(run, logical_id)
            return
        try:
            properties = run.properties(logical_id)
            handler.check(logical_id, properties)
            replace = before.type != resource.type or handler.needs_replacement(before.properties, properties)
            if replace and handler.name_property and properties.get(handler.name_property) is not None \
                    and properties.get(handler.name_property) == before.properties.get(handler.name_property):
                raise ResourceFailure(
                    "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                    f"Rename {properties[handler.name_property]} and update the stack again."
                )
        except ResourceFailure as failure:
            self.store.put_resource(stack_id, logical_id, "UPDATE_FAILED", failure.reason)
            raise
        shape = {"depends_on": sorted(run.plan.dependencies[logical_id]), "deletion_policy": resource.deletion_policy,
                 "metadata": resource.metadata}
        if replace:
            # The old one is deleted in the cleanup phase, or kept if the update rolls back.
            self.store.write_cleanup(stack_id, [*self.store.cleanup(stack_id), before])
            await self._create_resource(run, logical_id, replacing=True)
            return
        if properties == before.properties:
            self.store.set_resource(stack_id, logical_id, **shape)
            return
        self.store.put_resource(stack_id, logical_id, "UPDATE_IN_PROGRESS", properties=properties,
                                event_properties=run.shown(properties), **shape)
        request = run.request(logical_id, properties, before.physical_name)
        try:
            attributes = await handler.update(run.calls, request, _current(before))
        except asyncio.CancelledError:
            self.store.put_resource(stack_id, logical_id, "UPDATE_FAILED", "Resource update cancelled")
            raise
        except Exception as exc:
            reason = _reason(exc, logical_id)
            self.store.put_resource(stack_id, logical_id, "UPDATE_FAILED", reason)
            raise ResourceFailure(reason) from None
        self.store.put_resource(stack_id, logical_id, "UPDATE_COMPLETE", attributes=attributes)
        run.live[logical_id] = attributes

    async def _finish_update(self, stack_id: str) -> None:
        await self._cleanup(stack_id)
        self.store.set_status(stack_id, "UPDATE_COMPLETE", previous=None, cleanup=[])
        self.store.finish_change_set(stack_id, True)

    async def _cancelled_update(self, stack_id: str) -> None:
        # The update may have reached its cleanup phase before the cancel landed: that phase then goes on.
        status = self.store.stack(stack_id).status
        if status == "UPDATE_IN_PROGRESS":
            await self._rollback_update(stack_id, "Stack update cancelled")
        elif status == "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS":
            await self._finish_update(stack_id)

    async def _interrupted_update(self, stack_id: str) -> None:
        for state in self.store.resources(stack_id).values():
            if state.status in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"):
                kind = state.status.split("_")[0]
                self.store.put_resource(stack_id, state.logical_id, f"{kind}_FAILED",
                                        f"Resource {kind.lower()} cancelled")
        await self._rollback_update(stack_id, f"Stack update was interrupted: {_INTERRUPTED}. ")

    async def _rollback_update(self, stack_id: str, reason: str | None) -> None:
        """Return every resource to what ``previous`` recorded; then delete what the update made.
        ``reason`` is None when resuming a rollback that a restart interrupted."""
        if reason is not None:
            # The old resources the update replaced come back: they are no longer to be cleaned up.
            self.store.set_status(stack_id, "UPDATE_ROLLBACK_IN_PROGRESS", reason, cleanup=[])
        stack = self.store.stack(stack_id)
        previous = stack.previous
        before = {logical: ResourceState.from_json(data) for logical, data in previous["resources"].items()}
        now = self.store.resources(stack_id)
        calls = self._calls(stack)

        async def restore(logical_id: str) -> None:
            old, current = before[logical_id], now.get(logical_id)
            if current is None or old.status in _GONE:
                return
            if (current.physical_id, current.physical_name) != (old.physical_id, old.physical_name):
                # The replacement goes (recorded first, so a restart still finds it); the old one is back.
                self.store.write_cleanup(stack_id, [*self.store.cleanup(stack_id), current])
                self.store.restore_resource(stack_id, old, "UPDATE_COMPLETE")
                return
            if current.properties == old.properties and current.status.endswith("_COMPLETE"):
                return
            self.store.put_resource(stack_id, logical_id, "UPDATE_IN_PROGRESS", event_properties=masked(old.properties))
            request = self._request(stack, logical_id, old)
            try:
                attributes = await self.types[old.type].update(calls, request, _current(current))
            except Exception as exc:
                self.store.put_resource(stack_id, logical_id, "UPDATE_FAILED", _reason(exc, logical_id))
                raise
            old.attributes = attributes
            self.store.restore_resource(stack_id, old, "UPDATE_COMPLETE")

        outcome = await run_graph({name: set(state.depends_on) for name, state in before.items()}, restore, False)
        if not outcome.ok:
            self.store.set_status(stack_id, "UPDATE_ROLLBACK_FAILED",
                                  failed_reason("update", outcome.failed + outcome.cancelled))
            self.store.finish_change_set(stack_id, False)
            return
        leftovers = self.store.cleanup(stack_id) + [
            state for logical, state in now.items() if logical not in before and state.status not in _GONE]
        self.store.write_cleanup(stack_id, leftovers, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", keep_reason=True,
                                 template_body=previous["template_body"], parameters=previous["parameters"],
                                 outputs=previous["outputs"], description=previous["description"])
        await self._finish_rollback(stack_id)

    async def _finish_rollback(self, stack_id: str) -> None:
        await self._cleanup(stack_id)
        self.store.set_status(stack_id, "UPDATE_ROLLBACK_COMPLETE", keep_reason=True, previous=None, cleanup=[])
        self.store.finish_change_set(stack_id, False)

    async def _cleanup(self, stack_id: str) -> None:
        """Delete the stack's leftovers (replaced or removed resources); as on AWS, a failure here is
        only an event: the update stands."""
        stack = self.store.stack(stack_id)
        rows = self.store.resources(stack_id)
        items = []
        for entry in self.store.cleanup(stack_id):
            row = rows.get(entry.logical_id)
            owns = row is not None and (row.physical_id, row.physical_name) == (entry.physical_id, entry.physical_name)
            items.append((entry, owns))
        await self._delete_states(stack, items, set(), creating=False, drop_rows=True)

    # --- delete ---------------------------------------------------------------------------------------

    async def _delete(self, stack_id: str, retain: set[str]) -> None:
        stack = self.store.stack(stack_id)
        in_use = self.exports.in_use(stack_id)
        if in_use:
            self.store.set_status(stack_id, "DELETE_FAILED", in_use)
            return
        items = [(state, True) for state in self.store.resources(stack_id).values() if state.status not in _GONE]
        items += [(entry, False) for entry in self.store.cleanup(stack_id)]
        failed = await self._delete_states(stack, items, retain, creating=False)
        if failed:
            self.store.set_status(stack_id, "DELETE_FAILED", failed_reason("delete", failed))
            return
        self.exports.release(stack_id)
        self.store.set_status(stack_id, "DELETE_COMPLETE", deletion_time=time.time(), cleanup=[], previous=None)
        with self.db.begin() as conn:
            conn.execute(delete(change_sets).where(change_sets.c.stack_id == stack_id))

    async def _delete_states(self, stack, items: list[tuple[ResourceState, bool]], retain: set[str],
                             creating: bool, drop_rows: bool = False) -> list[str]:
        """Delete resources, those that others depend on last. ``items`` pairs each with whether it is
        its row's current resource (else a replaced one: only events). Returns the logical ids that failed."""
        calls = self._calls(stack)
        keyed = {str(index): item for index, item in enumerate(items)}
        by_logical: dict[str, list[str]] = {}
        for key, (state, _owns) in keyed.items():
            by_logical.setdefault(state.logical_id, []).append(key)
        needs = {key: {k for d in state.depends_on for k in by_logical.get(d, [])} for key, (state, _) in keyed.items()}
        remaining = [state for state, _ in items]
        stack_id = stack.stack_id

        async def remove(key: str) -> None:
            state, owns = keyed[key]
            await self._delete_one(calls, stack_id, state, owns, retain, creating)
            if owns and drop_rows:
                self.store.remove_resource(stack_id, state.logical_id)
            if drop_rows:
                remaining.remove(state)
                self.store.write_cleanup(stack_id, remaining)

        outcome = await run_graph(graph.dependents(needs), remove, False)
        return sorted({keyed[key][0].logical_id for key in outcome.failed + outcome.cancelled})

    async def _delete_one(self, calls: ProviderCalls, stack_id: str, state: ResourceState, owns: bool,
                          retain: set[str], creating: bool) -> None:
        def record(status: str, reason: str | None = None) -> None:
            if owns:
                self.store.put_resource(stack_id, state.logical_id, status, reason)
            else:
                self.store.resource_event(stack_id, state, status, reason)

        kept = state.deletion_policy == "Retain" or (state.deletion_policy == "RetainExceptOnCreate" and not creating)
        if owns and (kept or state.logical_id in retain):
            record("DELETE_SKIPPED")
            return
        if state.physical_id is None and state.physical_name is None:
            record("DELETE_COMPLETE")  # nothing was made
            return
        record("DELETE_IN_PROGRESS")
        try:
            await self.types[state.type].delete(calls, _current(state))
        except asyncio.CancelledError:
            record("DELETE_FAILED", "Resource deletion cancelled")
            raise
        except Exception as exc:
            record("DELETE_FAILED", _reason(exc, state.logical_id))
            raise ResourceFailure(_reason(exc, state.logical_id)) from None
        record("DELETE_COMPLETE")

    def _request(self, stack, logical_id: str, state: ResourceState) -> ResourceRequest:
        return ResourceRequest(stack.name, stack.stack_id, logical_id, state.properties, stack.account_id,
                               stack.region, state.physical_name)


def _current(state: ResourceState) -> Current:
    return Current(state.physical_id, state.physical_name, state.properties, state.attributes)


def _reason(exc: Exception, logical_id: str) -> str:
    if isinstance(exc, ResourceFailure):
        return exc.reason
    log.exception("resource %s failed unexpectedly", logical_id)
    return f"Internal failure: {exc}"


def _sentence(text: str) -> str:
    # Stack reasons are sentences that "Rollback requested by user." can follow.
    return (text if text.endswith(".") else text + ".") + " "


def _remaining(stack) -> float | None:
    if not stack.timeout_minutes:
        return None
    return max(stack.operation_started + stack.timeout_minutes * 60 - time.time(), 0)
