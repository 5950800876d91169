"""Runners and leases: which Selfmaker process does what, when several share one store.

Every server process is a *runner* with an id of its own (``host:pid:random``) that beats a row of
``runner_heartbeats`` every third of ``lease_seconds``. A runner is dead when its beat is older than
``lease_seconds``, when it has no beat (it shut down cleanly and said so), or when it is a process of this very
host that no longer exists (a restart after a crash need not wait for the beat to age).

A *lease* is a named thing one runner holds (``leases(name, holder)``): a loop that must run once per cluster
("idle-checker"), or one notebook instance ("notebook-instance/<id>"). A live runner's leases stay its own; a
dead runner's lease goes to whoever takes it first, by compare-and-set on the holder it was seen with, so two
runners that both saw it dead cannot both take it.

Times are each host's wall clock: hosts sharing a store keep them in step (NTP) to well within a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time

from sqlalchemy import Column, Connection, Engine, Float, String, Table, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from selfmaker.store.tables import metadata

log = logging.getLogger(__name__)

runner_heartbeats = Table(
    "runner_heartbeats",
    metadata,
    Column("runner", String(128), primary_key=True),
    Column("beat_at", Float, nullable=False),  # seconds since the epoch, the runner's clock
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("holder", String(128), nullable=False),  # a runner id
)

FORGET_AFTER = 20  # lease periods after which a dead runner's beat row is removed


def _place() -> str:
    """This host, and its pid namespace: a pid says something only to processes that share both."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{socket.gethostname()}.{namespace}"


class Runner:
    """This process as one runner among those sharing the store."""

    def __init__(self, engine: Engine, lease_seconds: float):
        self.engine = engine
        self.lease_seconds = lease_seconds
        self.place = _place()
        self.id = f"{self.place}:{os.getpid()}:{secrets.token_hex(4)}"
        self._task: asyncio.Task | None = None

    # --- liveness -----------------------------------------------------------------------------------

    def beat(self) -> None:
        now = time.time()
        with self.engine.begin() as conn:
            if not conn.execute(update(runner_heartbeats).where(runner_heartbeats.c.runner == self.id)
                                .values(beat_at=now)).rowcount:
                conn.execute(insert(runner_heartbeats).values(runner=self.id, beat_at=now))
            conn.execute(delete(runner_heartbeats).where(
                runner_heartbeats.c.beat_at < now - FORGET_AFTER * self.lease_seconds))

    def alive(self) -> set[str]:
        """The ids of the live runners, this one included."""
        since = time.time() - self.lease_seconds
        with self.engine.connect() as conn:
            beating = conn.execute(select(runner_heartbeats.c.runner)
                                   .where(runner_heartbeats.c.beat_at >= since)).scalars().all()
        return {runner for runner in beating if not self._gone(runner)} | {self.id}

    def _gone(self, runner: str) -> bool:
        """Whether a runner is a process of this host and pid namespace that has ended."""
        place, pid, _ = (runner.rsplit(":", 2) + ["", ""])[:3]
        return place == self.place and pid.isdigit() and not os.path.exists(f"/proc/{pid}")

    async def start(self) -> None:
        await asyncio.to_thread(self.beat)
        self._task = asyncio.get_running_loop().create_task(self._beating())

    async def close(self) -> None:
        """Stop beating and say so: the others take over this runner's work at their next sweep."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await asyncio.to_thread(self._forget)
        except Exception:  # noqa: BLE001 - the beat then ages out instead
            log.exception("could not remove the heartbeat of runner %s", self.id)

    def _forget(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(runner_heartbeats).where(runner_heartbeats.c.runner == self.id))

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await asyncio.to_thread(self.beat)
            except Exception:  # noqa: BLE001 - a store that is away for a moment; the next beat tries again
                log.exception("runner %s could not beat", self.id)

    # --- leases -------------------------------------------------------------------------------------

    def hold(self, name: str) -> bool:
        """Take the lease if it is free or its holder is dead; whether this runner holds it now."""
        with self.engine.connect() as conn:
            holder = conn.execute(select(leases.c.holder).where(leases.c.name == name)).scalar()
        if holder == self.id:
            return True
        if holder is not None and holder in self.alive():
            return False
        return self.take(name, holder)

    def take(self, name: str, seen: str | None) -> bool:
        """Take the lease from the holder it was seen with (None: nobody); False if someone was quicker."""
        try:
            with self.engine.begin() as conn:
                if seen is None:
                    conn.execute(insert(leases).values(name=name, holder=self.id))
                    return True
                return bool(conn.execute(update(leases).where(leases.c.name == name, leases.c.holder == seen)
                                         .values(holder=self.id)).rowcount)
        except IntegrityError:  # another runner inserted it first
            return False

    def claim(self, conn: Connection, name: str) -> None:
        """Make the lease this runner's whoever holds it, in the caller's transaction (the API's state change:
        a person's call is carried out by the process that took it)."""
        if not conn.execute(update(leases).where(leases.c.name == name).values(holder=self.id)).rowcount:
            conn.execute(insert(leases).values(name=name, holder=self.id))

    def holds(self, name: str) -> ColumnElement[bool]:
        """A condition for compare-and-set writes: this runner still holds the lease."""
        return exists().where(leases.c.name == name, leases.c.holder == self.id)
