"""Drives notebook instances through the runtime, one background task per transition.

The API persists the state it enters (Pending, Stopping, Deleting) before anything acts on it; this
class then makes it true and records the outcome. On server start, ``reconcile`` reads the store and
brings the world back in line: re-adopt sandboxes that kept running, restart those that did not, and
finish any stop or delete that was under way.

Several servers may share one store (store/leases.py): each instance then has a runner, the server that carries
out its transitions. The API's state change claims the instance for the server that took the call, in the same
transaction; every status this class writes is compare-and-set on the instance still being this server's, so a
server that was presumed dead never overwrites its successor. A sweep in every server (at start, then every half
lease) takes over the instances of dead runners and does for each what a restart does; instances of live
runners it leaves alone.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, String, delete, literal, select, update

from selfmaker.clock import Clock
from selfmaker.config import Settings
from selfmaker.domain import notebook_states as st
from selfmaker.domain.instance_types import InstanceType
from selfmaker.runtime.base import JUPYTER_STREAM, Endpoint, InstanceSpec, LifecycleFailure, LogSink, Runtime
from selfmaker.runtime.sandbox.limits import Limits
from selfmaker.runtime.sandbox.network import GuestService
from selfmaker.services.metering import record_status
from selfmaker.services.sts.instance_credentials import instance_env
from selfmaker.store.leases import Runner, leases
from selfmaker.store.tables import (
    lifecycle_configs,
    notebook_instances,
    notebook_sessions,
    notebook_tokens,
    tags,
)

log = logging.getLogger("selfmaker.notebooks")

LOG_GROUP = "/aws/sagemaker/NotebookInstances"
DELETED = "Deleted"  # the last entry of an instance's history (not a status SageMaker shows)
LEASE_PREFIX = "notebook-instance/"  # an instance's lease: which server runs it
SETTLED = (st.STOPPED, st.FAILED)  # nothing runs and nothing is under way: such an instance needs no runner


def lease_name(instance_id: str) -> str:
    return LEASE_PREFIX + instance_id


class GuestServices(Protocol):
    """What the host serves inside an instance's own network (see gateway/guest_services.py)."""

    def for_instance(self, instance_id: str) -> list[GuestService]: ...

    def aws_config(self, region: str) -> str: ...


class NotebookOrchestrator:
    def __init__(
        self, engine: Engine, runtime: Runtime, logs, settings: Settings, catalogue: dict[str, InstanceType],
        guest: GuestServices | None = None, clock: Clock | None = None, runner: Runner | None = None,
    ):
        self.engine = engine
        self.clock = clock if clock is not None else Clock()  # the metering clock
        self.guest = guest
        self.catalogue = catalogue
        self.runtime = runtime
        self.logs = logs
        self.settings = settings
        self.runner = runner if runner is not None else Runner(engine, settings.lease_seconds)
        self._tasks: dict[str, asyncio.Task] = {}
        self._sweeper: asyncio.Task | None = None

    def claim(self, conn: Connection, instance_id: str) -> None:
        """Make an instance this server's, in the API's transaction that persists its new state."""
        self.runner.claim(conn, lease_name(instance_id))

    # --- entry points (called by the API after it persisted the new state) ---------------------

    def start(self, instance_id: str) -> None:
        self._spawn(instance_id, self._start(instance_id))

    def stop(self, instance_id: str) -> None:
        self._spawn(instance_id, self._stop(instance_id))

    def delete(self, instance_id: str) -> None:
        self._spawn(instance_id, self._delete(instance_id))

    def finish_update(self, instance_id: str) -> None:
        self._spawn(instance_id, self._finish_update(instance_id))

    def stop_on_own(self, instance_id: str, stopping_note: str, stopped_note: str) -> bool:
        """Stop an InService instance on the server's own account (the idle auto-stop), as StopNotebookInstance
        does: Stopping persisted (only if it is still InService, so that a person's call in between wins), then
        the same stop. The notes go to its jupyter.log stream stamped with the times it entered Stopping and
        Stopped, its LastModifiedTime then, by which the console finds them. Whether it is stopping."""
        now = time.time()
        with self.engine.begin() as conn:
            changed = conn.execute(update(notebook_instances).where(
                notebook_instances.c.instance_id == instance_id, notebook_instances.c.status == st.IN_SERVICE,
            ).values(status=st.STOPPING, last_modified_time=now)).rowcount
            if changed:
                self.claim(conn, instance_id)  # the server that checks idleness may not be the one running it
                record_status(conn, instance_id, st.STOPPING, self.clock.now())
        if changed:
            self._spawn(instance_id, self._stop_noting(instance_id, now, stopping_note, stopped_note))
        return bool(changed)

    def endpoint(self, instance_id: str) -> Endpoint | None:
        return self.runtime.endpoint(instance_id)

    def volume_dir(self, instance_id: str) -> Path:
        return self.settings.data_dir / "volumes" / instance_id

    async def volume_used(self, account_id: str, region: str, name: str) -> int | None:
        """Bytes in use on an instance's volume, as ``du`` counts them (None: no such instance). The caller
        has already been allowed to describe the instance; the walk runs off the event loop."""
        with self.engine.connect() as conn:
            instance_id = conn.execute(select(notebook_instances.c.instance_id).where(
                notebook_instances.c.account_id == account_id, notebook_instances.c.region == region,
                notebook_instances.c.name == name)).scalar()
        if instance_id is None:
            return None
        return await asyncio.to_thread(self.runtime.volume_used, self.volume_dir(instance_id))

    async def reconcile(self) -> None:
        """At server start: the first sweep, then one every half lease."""
        await self.sweep()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweeping())

    async def sweep(self) -> None:
        """Take over the instances whose runner is dead (or that have none) and bring each in line; let go of
        those another server took over (their sandboxes keep running, that server carries on)."""
        holders = await asyncio.to_thread(self._holders)
        alive = await asyncio.to_thread(self.runner.alive)  # after: a runner beats before it claims anything
        for instance_id, status, holder in holders:
            try:
                if holder == self.runner.id:
                    continue
                if holder in alive:
                    if instance_id not in self._tasks:
                        await self.runtime.release(instance_id)
                elif status not in SETTLED and await asyncio.to_thread(
                        self.runner.take, lease_name(instance_id), holder):
                    if holder is not None:
                        log.info("taking over notebook instance %s from runner %s, which is gone", instance_id, holder)
                    await self._resume(instance_id)
            except Exception:  # noqa: BLE001 - one instance's trouble is its own; the next sweep tries again
                log.exception("sweeping notebook instance %s failed", instance_id)

    def _holders(self) -> list[tuple[str, str, str | None]]:
        nb = notebook_instances
        joined = nb.outerjoin(leases, leases.c.name == literal(LEASE_PREFIX, String) + nb.c.instance_id)
        with self.engine.connect() as conn:  # one statement: status and holder as of one moment
            return [tuple(row) for row in conn.execute(
                select(nb.c.instance_id, nb.c.status, leases.c.holder).select_from(joined)).all()]

    async def _resume(self, instance_id: str) -> None:
        """Do for an instance just taken over what its transition needs (what a restart does)."""
        row = self._row(instance_id)
        if row is None:
            return
        if row.status == st.IN_SERVICE:
            endpoint = await self.runtime.adopt(self._spec(row, first_start=False), self._sink(row))
            if endpoint is None and self._set(row.instance_id, status=st.PENDING):
                log.info("%s was InService but its sandbox is gone: starting it again", row.name)
                self.start(row.instance_id)
        elif row.status == st.PENDING:
            await self.runtime.stop(row.instance_id)  # a start cut short: begin it anew
            self.start(row.instance_id)
        elif row.status == st.STOPPING:
            self.stop(row.instance_id)
        elif row.status == st.DELETING:
            self.delete(row.instance_id)
        elif row.status == st.UPDATING:
            self._set(row.instance_id, status=st.STOPPED)

    async def _sweeping(self) -> None:
        while True:
            await asyncio.sleep(self.runner.lease_seconds / 2)
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - a store away for a moment; the next sweep tries again
                log.exception("the sweep of notebook instances failed")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self.runtime.close()

    async def discard_all(self) -> None:
        """Stop every transition and delete every instance's sandbox and volume (the test-mode reset; the
        caller then empties the store)."""
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        with self.engine.connect() as conn:
            instance_ids = conn.execute(select(notebook_instances.c.instance_id)).scalars().all()
        for instance_id in instance_ids:
            await self.runtime.delete(instance_id, self.volume_dir(instance_id))

    async def wait_idle(self) -> None:
        """Wait for the transitions under way (tests and the CLI use it)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    # --- transitions ------------------------------------------------------------------------------

    def _spawn(self, instance_id: str, work) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks[instance_id] = task

        def forget(done: asyncio.Task) -> None:
            if self._tasks.get(instance_id) is done:
                del self._tasks[instance_id]

        task.add_done_callback(forget)

    async def _start(self, instance_id: str) -> None:
        row = self._row(instance_id)
        if row is None:
            return
        first_start = not row.on_create_done
        spec = self._spec(row, first_start)
        # Persisted before it runs: OnCreate runs once, even if the server dies during it. Also the check that
        # the instance is still this server's (another may have taken it over while we were presumed dead).
        if not self._set(instance_id, on_create_done=True):
            return
        try:
            await self.runtime.start(spec, self._sink(row))
        except LifecycleFailure as failure:
            self._set(instance_id, status=st.FAILED, failure_reason=failure.reason)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the runtime broke: say so on the instance rather than hang in Pending
            log.exception("starting %s failed", row.name)
            await self.runtime.stop(instance_id)
            self._set(instance_id, status=st.FAILED, failure_reason=f"The notebook instance could not start: {exc}")
        else:
            if not self._set(instance_id, status=st.IN_SERVICE, failure_reason=None):
                await self.runtime.release(instance_id)  # its new runner starts it anew

    async def _stop(self, instance_id: str) -> None:
        if not self._ours(instance_id):  # taken over meanwhile: its new runner stops it
            return
        await self.runtime.stop(instance_id)
        self._set(instance_id, status=st.STOPPED)

    async def _stop_noting(self, instance_id: str, since: float, stopping_note: str, stopped_note: str) -> None:
        await self._note(self._row(instance_id), since, stopping_note)
        await self._stop(instance_id)
        row = self._row(instance_id)
        await self._note(row, row.last_modified_time if row is not None else 0.0, stopped_note)

    async def _note(self, row, at: float, message: str) -> None:
        if row is None:
            return
        try:
            await self._sink(row)(JUPYTER_STREAM, [(int(at * 1000), message)])
        except Exception:  # noqa: BLE001 - the stop goes on without its note
            log.exception("could not write to the jupyter.log stream of %s", row.name)

    async def _finish_update(self, instance_id: str) -> None:
        # Nothing runs while Stopped, so an update is only the store's; the volume grows on next start.
        self._set(instance_id, status=st.STOPPED)

    async def _delete(self, instance_id: str) -> None:
        row = self._row(instance_id)
        if row is None or not self._ours(instance_id):
            return
        await self.runtime.delete(instance_id, self.volume_dir(instance_id))
        with self.engine.begin() as conn:
            if not conn.execute(delete(notebook_instances).where(
                    notebook_instances.c.instance_id == instance_id, self.runner.holds(lease_name(instance_id)))
                    ).rowcount:
                return  # taken over meanwhile: its new runner deletes it
            conn.execute(delete(tags).where(tags.c.resource_arn == row.arn))
            conn.execute(delete(notebook_tokens).where(notebook_tokens.c.instance_id == instance_id))
            conn.execute(delete(notebook_sessions).where(notebook_sessions.c.instance_id == instance_id))
            conn.execute(delete(leases).where(leases.c.name == lease_name(instance_id)))
            record_status(conn, instance_id, DELETED, self.clock.now())

    # --- helpers ----------------------------------------------------------------------------------

    def _row(self, instance_id: str):
        with self.engine.connect() as conn:
            return conn.execute(
                select(notebook_instances).where(notebook_instances.c.instance_id == instance_id)
            ).first()

    def _set(self, instance_id: str, **values) -> bool:
        """Write an instance's row if it is still this server's (compare-and-set); whether it was."""
        if "status" in values:
            values["last_modified_time"] = time.time()
        with self.engine.begin() as conn:
            if not conn.execute(update(notebook_instances).where(
                    notebook_instances.c.instance_id == instance_id, self.runner.holds(lease_name(instance_id)),
            ).values(**values)).rowcount:
                log.info("notebook instance %s is no longer this server's: %s not written", instance_id, values)
                return False
            if "status" in values:
                record_status(conn, instance_id, values["status"], self.clock.now())
        return True

    def _ours(self, instance_id: str) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(select(self.runner.holds(lease_name(instance_id)))).scalar())

    def _scripts(self, row) -> tuple[str | None, str | None, str]:
        if not row.lifecycle_config_name:
            return None, None, ""
        with self.engine.connect() as conn:
            config = conn.execute(
                select(lifecycle_configs).where(
                    lifecycle_configs.c.account_id == row.account_id,
                    lifecycle_configs.c.region == row.region,
                    lifecycle_configs.c.name == row.lifecycle_config_name,
                )
            ).first()
        if config is None:
            return None, None, ""
        return _decode(config.on_create), _decode(config.on_start), config.arn

    def _spec(self, row, first_start: bool) -> InstanceSpec:
        on_create, on_start, lifecycle_arn = self._scripts(row)
        region = row.region
        kind = self.catalogue.get(row.instance_type)
        settings = row.settings or {}
        # Where the runtime gives instances a network of their own, the SDKs inside find the API in
        # ~/.aws/config and region and credentials at 169.254.169.254; else they need variables.
        isolated = self.guest is not None and not any(
            limit.startswith("network") for limit in self.runtime.unenforced())
        env = {} if isolated else {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": self.settings.local_url,
            **instance_env(self.engine, self.settings, row.instance_id),  # scripts act as the instance's role
        }
        return InstanceSpec(
            instance_id=row.instance_id,
            name=row.name,
            arn=row.arn,
            volume_dir=self.volume_dir(row.instance_id),
            base_url="/",  # each instance's Jupyter has a host name of its own (see notebook_hosts)
            on_create=on_create,
            on_start=on_start,
            first_start=first_start,
            lifecycle_arn=lifecycle_arn,
            lifecycle_timeout=self.settings.lifecycle_timeout,
            gpus=kind.gpus if kind else 0,
            accelerators=kind.accelerators if kind else 0,
            env=env,
            metadata={"ResourceArn": row.arn, "ResourceName": row.name},
            volume_size_gb=row.volume_size_gb,
            limits=Limits(
                memory_bytes=int(kind.memory_gib * 2**30) if kind else None,
                cpus=float(kind.vcpus) if kind else None,
                pids=kind.pids if kind else None,
            ),
            internet=settings.get("DirectInternetAccess", "Enabled") == "Enabled",
            root_access=settings.get("RootAccess", "Enabled") == "Enabled",
            services=self.guest.for_instance(row.instance_id) if isolated else [],
            aws_config=self.guest.aws_config(region) if isolated else "",
            on_failure=lambda reason: self._failed_while_running(row.instance_id, reason),
            on_ended=lambda failed, reason: self._ended_while_running(row.instance_id, failed, reason),
            instance_type=row.instance_type,
        )

    async def _failed_while_running(self, instance_id: str, reason: str) -> None:
        """A running instance broke a rule of its sandbox: it goes Failed and stops, as one that failed to start."""
        log.warning("notebook instance %s failed: %s", instance_id, reason)
        if self._set(instance_id, status=st.FAILED, failure_reason=reason):
            self._spawn(instance_id, self.runtime.stop(instance_id))

    async def _ended_while_running(self, instance_id: str, failed: bool, reason: str) -> None:
        """A running instance ended without a Stop (its cluster job was cancelled, preempted or ran out of time):
        Failed with the scheduler's reason, or Stopped with the reason in its jupyter.log stream."""
        row = self._row(instance_id)
        if row is None or row.status != st.IN_SERVICE:
            return
        log.info("notebook instance %s ended: %s", row.name, reason)
        if not (self._set(instance_id, status=st.FAILED, failure_reason=reason) if failed
                else self._set(instance_id, status=st.STOPPED)):
            return
        await self._note(row, time.time(), reason)
        self._spawn(instance_id, self.runtime.stop(instance_id))

    def _sink(self, row) -> LogSink:
        account, region, name = row.account_id, row.region, row.name

        async def sink(suffix: str, events: list[tuple[int, str]]) -> None:
            await self.logs.append(account, region, LOG_GROUP, f"{name}/{suffix}", events)

        return sink


def _decode(scripts: list[dict]) -> str | None:
    if not scripts:
        return None
    return base64.b64decode(scripts[0]["Content"]).decode("utf-8", errors="replace")

