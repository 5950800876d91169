"""The idle auto-stop: a background task that stops InService notebook instances nobody uses.

An instance is idle while none of its kernels is busy (or starting) and neither a terminal nor a person in
a browser has done anything; the clock starts at its entry into InService (and no earlier than this
server's start, since the record of browser activity lives in memory). Once idle for its limit
(``idle_config``), it is stopped as StopNotebookInstance stops it, and two lines in its ``jupyter.log``
stream say why: one as it enters Stopping, one once Stopped, each stamped with that LastModifiedTime, which
is how the console finds the reason (``stop_reason``).

Cheap by construction: one store read per pass; Jupyter is asked only about instances that the store and
the browser record already say have been idle long enough, at most ``CONCURRENCY`` at once, each bounded
in time and size, each failure its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine, select

from selfmaker.domain import notebook_states as st
from selfmaker.domain.instance_types import InstanceType
from selfmaker.runtime.base import JUPYTER_STREAM, Endpoint
from selfmaker.services.sagemaker.idle_activity import BrowserActivity
from selfmaker.services.sagemaker.idle_config import TAG, IdleDefaults, Limit, resolve
from selfmaker.services.sagemaker.idle_signals import JupyterActivity, JupyterProbe, ProbeError
from selfmaker.services.sagemaker.orchestrator import LOG_GROUP
from selfmaker.store.tables import notebook_instances, tags

log = logging.getLogger("selfmaker.idle")

MARK = "Idle auto-stop:"  # every line this module writes starts so
STOPPING = f"{MARK} stopping"
STOPPED = f"{MARK} stopped"
CONCURRENCY = 16  # instances asked at once


class Stopper(Protocol):
    """What the checker needs of the orchestrator."""

    def endpoint(self, instance_id: str) -> Endpoint | None: ...

    def stop_on_own(self, instance_id: str, stopping_note: str, stopped_note: str) -> bool: ...


class LogWriter(Protocol):
    async def append(self, account_id: str, region: str, group: str, stream: str,
                     events: list[tuple[int, str]]) -> None: ...


class IdleChecker:
    def __init__(self, engine: Engine, orchestrator: Stopper, logs: LogWriter, catalogue: dict[str, InstanceType],
                 defaults: IdleDefaults, activity: BrowserActivity, check_seconds: float, minute_seconds: float,
                 probe: JupyterProbe | None = None, lease: Callable[[], bool] | None = None):
        self.engine = engine
        self.orchestrator = orchestrator
        self.logs = logs
        self.catalogue = catalogue
        self.defaults = defaults
        self.activity = activity
        self.check_seconds = check_seconds
        self.minute_seconds = minute_seconds
        self.probe = probe if probe is not None else JupyterProbe()
        # Whether this server holds the idle checker's lease (blocks: the store), when several share one store.
        self.lease = lease
        self._started = time.time()
        self._told: dict[str, str] = {}  # instance id -> the unusable tag value its log already names
        self._unanswered: set[str] = set()  # instances whose silent Jupyter the server's log already names
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._started = time.time()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.probe.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                if self.lease is None or await asyncio.to_thread(self.lease):
                    await self.check_once()
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("the idle check failed")

    async def check_once(self) -> list[str]:
        """One pass; the ids of the instances it began to stop."""
        now = time.time()
        rows, tag_values = await asyncio.to_thread(self._read_store)
        running = {row.instance_id for row in rows}
        self.activity.keep_only(running)
        self._told = {k: v for k, v in self._told.items() if k in running}
        self._unanswered &= running
        await self.probe.keep_only(running)
        due = []
        for row in rows:
            value = tag_values.get(row.arn)
            limit, ignored = resolve(value, self.catalogue.get(row.instance_type), self.defaults)
            if ignored and self._told.get(row.instance_id) != value:
                self._told[row.instance_id] = value
                await self._tell(row, now, _ignored_tag(value, limit))
            if limit is None:
                continue
            # The cheap signals first: Jupyter is asked only when they have been quiet for the whole limit.
            since = max(row.last_modified_time, self._started, self.activity.last(row.instance_id) or 0.0)
            if now - since >= limit.minutes * self.minute_seconds:
                due.append((row, limit, since))
        gate = asyncio.Semaphore(CONCURRENCY)
        outcomes = await asyncio.gather(*(self._judge(row, limit, since, now, gate) for row, limit, since in due),
                                        return_exceptions=True)
        stopped = []
        for (row, _limit, _since), outcome in zip(due, outcomes, strict=True):
            if isinstance(outcome, BaseException):  # one instance's trouble is its own
                log.error("idle check of %s failed", row.name, exc_info=outcome)
            elif outcome:
                stopped.append(row.instance_id)
        return stopped

    def _read_store(self) -> tuple[list, dict[str, str]]:
        nb = notebook_instances
        with self.engine.connect() as conn:
            rows = conn.execute(select(nb.c.instance_id, nb.c.name, nb.c.arn, nb.c.account_id, nb.c.region,
                                       nb.c.instance_type, nb.c.last_modified_time)
                                .where(nb.c.status == st.IN_SERVICE)).all()
            values = dict(conn.execute(select(tags.c.resource_arn, tags.c.value).where(tags.c.key == TAG)).all())
        return rows, values

    async def _judge(self, row, limit: Limit, since: float, now: float, gate: asyncio.Semaphore) -> bool:
        endpoint = self.orchestrator.endpoint(row.instance_id)
        if endpoint is None:  # its sandbox is going or gone: what happens next is not ours to decide
            return False
        async with gate:
            try:
                seen = await self.probe.read(row.instance_id, endpoint)
            except ProbeError as err:  # not idle as far as we know: never stop on what we cannot see
                if row.instance_id not in self._unanswered:
                    self._unanswered.add(row.instance_id)
                    log.warning("idle check: Jupyter of %s gave no usable answer: %s", row.name, err)
                return False
        self._unanswered.discard(row.instance_id)
        if seen.busy:
            return False
        idle_since = max(since, min(seen.last_activity, now)) if seen.last_activity is not None else since
        browser = self.activity.last(row.instance_id)  # again: a person may have come back while we asked
        if now - idle_since < limit.minutes * self.minute_seconds or (browser or 0.0) > since:
            return False
        return self.orchestrator.stop_on_own(
            row.instance_id,
            _stopping_note(limit, idle_since, seen, browser, row.last_modified_time),
            f"{STOPPED} after no activity since {_iso(idle_since)} ({_limit_text(limit)}).",
        )

    async def _tell(self, row, now: float, message: str) -> None:
        try:
            await self.logs.append(row.account_id, row.region, LOG_GROUP, f"{row.name}/{JUPYTER_STREAM}",
                                   [(int(now * 1000), message)])
        except Exception:  # noqa: BLE001 - a note lost is no reason to stop checking
            log.exception("could not write to the jupyter.log stream of %s", row.name)


def stop_reason(events: list[dict], last_modified: float) -> str | None:
    """Why an instance that is Stopping or Stopped went so, from its jupyter.log ``events`` (GetLogEvents'),
    when the idle auto-stop did it: the line stamped with its LastModifiedTime (to the second). None else."""
    at = last_modified * 1000
    for event in reversed(events):
        message = event.get("message", "")
        if message.startswith((STOPPING, STOPPED)) and abs(event.get("timestamp", 0) - at) < 1000:
            return message.removeprefix(MARK).strip()
    return None


def _stopping_note(limit: Limit, idle_since: float, seen: JupyterActivity, browser: float | None,
                   in_service: float) -> str:
    latest = _iso(seen.last_activity) if seen.last_activity is not None else "none"
    return (
        f"{STOPPING} this notebook instance: no kernel busy and no terminal or browser activity since "
        f"{_iso(idle_since)} ({_limit_text(limit)}). Looked at: {_count(seen.kernels, 'kernel')}, none busy "
        f"({_count(seen.connections, 'browser connection')}); {_count(seen.terminals, 'terminal')}; latest kernel "
        f"or terminal activity {latest}; latest browser activity through the gateway "
        f"{_iso(browser) if browser is not None else 'none since the server started'}; InService since "
        f"{_iso(in_service)}."
    )


def _ignored_tag(value: str, limit: Limit | None) -> str:
    then = (f"{_limit_text(limit)} applies instead" if limit is not None
            else "without a default in idle.yaml, this instance is not stopped when idle")
    return (f"{MARK} the tag {TAG} is {value!r}, which is not a whole number of minutes (0 or 'off': never); "
            f"it is ignored, and {then}.")


def _limit_text(limit: Limit) -> str:
    return f"the limit of {_count(limit.minutes, 'minute')}, set by {limit.source}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
