"""Reading the meter: the billed periods that overlap a span of time, each clipped to it and priced.

The periods are kept in memory between reads (``_Periods``): a closed period never changes, so a read fetches
only the rows added since the last one and those that were open then, instead of the whole history, and files
them where they belong (``_Timeline``) instead of sorting everything again.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, and_, func, or_, select

from selfmaker.clock import Clock
from selfmaker.domain.instance_types import InstanceType
from selfmaker.services.metering.tables import usage_periods

HOUR = 3600.0
_IN_LIST = 500  # open periods re-read per query (an IN list stays short)
# The lengths that file closed periods into a _Timeline's levels: 4 hours, 16 hours, ... about 7 years.
_REACH = tuple(HOUR * 4.0**k for k in range(1, 9))
_SLACK = 1.0  # seconds: a period is filed as longer than a reach a little early, so rounding never hides it


@dataclass(frozen=True, slots=True)
class Period:
    """A stretch of billed time of one instance (``ended`` None: it runs still)."""

    instance_id: str
    account_id: str
    region: str
    instance_arn: str
    instance_name: str
    instance_type: str
    owner_arn: str
    tags: dict[str, str]
    started: float
    ended: float | None
    # The same number for periods alike in everything but their times: what a report groups and filters by
    # is worked out once per profile, not once per period.
    profile: int = field(default=-1, compare=False)


class _Timeline:
    """One account's periods, found by the span they overlap without a walk from the first one.

    Level 0 holds every period, level k those open or longer than ``_REACH[k - 1]``, each by (start, id). A
    period with time after ``start`` that began before ``start - _REACH[k - 1]`` is longer than that reach, so
    it is in level k: level 0 is read from ``start - _REACH[0]`` to the span's end, level k from
    ``start - _REACH[k]`` to ``start - _REACH[k - 1]``, the last level from its first period. These ranges of
    starts follow one another, so reading the levels from the last to the first gives the periods in order.
    What is read in vain is what began in the 4 hours before the span, and in each further level at most four
    periods per instance (an instance's periods never overlap): bounded by the fleet, not by the history.
    """

    def __init__(self) -> None:
        self.levels: list[tuple[list[tuple[float, int]], list[Period]]] = [
            ([], []) for _ in range(len(_REACH) + 1)]

    def add(self, key: tuple[float, int], period: Period) -> None:
        for keys, periods in self.levels[:_depth(period)]:
            if not keys or keys[-1] < key:  # the usual case: the newest period, or a reload in order
                keys.append(key)
                periods.append(period)
            else:
                at = bisect.bisect_left(keys, key)
                keys.insert(at, key)
                periods.insert(at, period)

    def remove(self, key: tuple[float, int], period: Period) -> None:
        for keys, periods in self.levels[:_depth(period)]:
            at = bisect.bisect_left(keys, key)
            del keys[at], periods[at]

    def overlapping(self, start: float, end: float) -> list[Period]:
        """The periods that began before ``end`` and end after ``start`` (or run still), by (start, id)."""
        found: list[Period] = []
        last = len(_REACH)
        for level in range(last, -1, -1):
            keys, periods = self.levels[level]
            low = 0 if level == last else bisect.bisect_left(keys, (min(start - _REACH[level], end),))
            high = bisect.bisect_left(keys, (end if level == 0 else min(start - _REACH[level - 1], end),))
            found += [period for period in periods[low:high] if period.ended is None or period.ended > start]
        return found


def _depth(period: Period) -> int:
    """How many of a _Timeline's levels hold ``period``: all while it runs."""
    if period.ended is None:
        return len(_REACH) + 1
    return 1 + bisect.bisect_left(_REACH, period.ended - period.started + _SLACK)


class _Periods:
    """Every billed period of the store, as of the last read.

    Rows only ever change while open (new tags, then their end), and new ones get higher ids, so each read
    fetches the rows past the last id seen and those open at the last read. It checks the table's count and
    lowest and highest ids against its own, and that the lowest id still names the same period (a test-mode
    reset empties the table, and SQLite numbers new rows from 1 again): anything else (rows gone, a row
    committed late under a lower id, as PostgreSQL's sequences allow) reads the whole table again.
    """

    def __init__(self) -> None:
        self._by_id: dict[int, Period] = {}
        self._open: set[int] = set()
        self._first = self._last = 0  # the lowest and highest id held
        self._profiles: dict[tuple, int] = {}
        self.accounts: dict[str, _Timeline] = {}

    def refresh(self, conn: Connection) -> None:
        rid = usage_periods.c.id
        # Counted first: rows committed after this are left to the next read, so no race can miss one. Three
        # subqueries, as each alone is quick (the lowest and highest ids are looked up, the count is a walk of
        # the smallest index), where one query with all three reads every row.
        count, first, last = conn.execute(select(*(select(aggregate).select_from(usage_periods).scalar_subquery()
                                                   for aggregate in (func.count(), func.min(rid), func.max(rid))))
                                          ).one()
        if not self._by_id or first != self._first or (last or 0) < self._last:
            self._reload(conn)
            return
        rows = conn.execute(select(usage_periods).where(
            or_(and_(rid > self._last, rid <= last), rid == first))).all()
        held = sorted(self._open)
        for at in range(0, len(held), _IN_LIST):
            rows += conn.execute(select(usage_periods).where(rid.in_(held[at:at + _IN_LIST]))).all()
        # A row gone, or committed late under an id below the last (PostgreSQL's sequences allow it): recounted.
        if not all(self._put(row) for row in rows) or count != len(self._by_id):
            self._reload(conn)
            return
        self._last = last

    def _reload(self, conn: Connection) -> None:
        self._by_id, self._open, self.accounts = {}, set(), {}
        for row in conn.execute(select(usage_periods).order_by(usage_periods.c.started, usage_periods.c.id)):
            self._put(row)
        self._first, self._last = min(self._by_id, default=0), max(self._by_id, default=0)

    def _put(self, row) -> bool:
        """Hold ``row``; False where a period held under its id belonged to another instance or began at another
        time (the table was emptied and filled again)."""
        tags = row.tags or {}
        alike = (row.instance_id, row.account_id, row.region, row.instance_arn, row.instance_name,
                 row.instance_type, row.owner_arn, tuple(sorted(tags.items())))
        profile = self._profiles.setdefault(alike, len(self._profiles))
        period = Period(*alike[:7], tags, row.started, row.ended, profile)
        old = self._by_id.get(row.id)
        if old is not None:
            if old == period:  # the profile aside: nothing changed
                return True
            if (old.instance_id, old.started) != (period.instance_id, period.started):
                return False
            self.accounts[old.account_id].remove((old.started, row.id), old)
        self._by_id[row.id] = period
        timeline = self.accounts.get(period.account_id)
        if timeline is None:
            timeline = self.accounts[period.account_id] = _Timeline()
        timeline.add((period.started, row.id), period)
        if period.ended is None:
            self._open.add(row.id)
        else:
            self._open.discard(row.id)
        return True


class Meter:
    def __init__(self, engine: Engine, catalogue: dict[str, InstanceType], clock: Clock):
        self.engine, self.catalogue, self.clock = engine, catalogue, clock
        self._periods = _Periods()
        self._lock = threading.Lock()  # the console's and the API's reads may come from more than one thread

    def rate(self, instance_type: str) -> float:
        """USD per hour; a type without a known price (or no longer offered) costs nothing, but its hours count."""
        kind = self.catalogue.get(instance_type)
        return (kind.price_per_hour or 0.0) if kind is not None else 0.0

    def periods(self, start: float, end: float, account_id: str | None = None) -> list[Period]:
        """Every billed period with time in [start, end), oldest first."""
        with self._lock:  # the timelines change in place on a refresh
            with self.engine.connect() as conn:
                self._periods.refresh(conn)
            accounts = self._periods.accounts
            found = []
            for account in ([account_id] if account_id is not None else sorted(accounts)):
                timeline = accounts.get(account)
                if timeline is not None:
                    found += timeline.overlapping(start, end)
        if account_id is None:
            found.sort(key=lambda period: period.started)  # oldest first across accounts too
        return found

    def billed_seconds(self, period: Period, start: float, end: float) -> float:
        """The part of ``period`` inside [start, end), a running one up to the clock's now."""
        stop = self.clock.now() if period.ended is None else period.ended
        return max(0.0, min(stop, end) - max(period.started, start))

    def clipped(self, start: float, end: float, account_id: str | None = None) -> Iterator[tuple[Period, float]]:
        """(period, billed seconds within [start, end)) for every period with time there."""
        for period in self.periods(start, end, account_id):
            seconds = self.billed_seconds(period, start, end)
            if seconds > 0:
                yield period, seconds
