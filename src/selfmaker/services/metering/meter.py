"""Reading the meter: the billed periods that overlap a span of time, each clipped to it and priced.

The periods are kept in memory between reads (``_Periods``): a closed period never changes, so a read fetches
only the rows added since the last one and those that were open then, instead of the whole history.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, func, or_, select

from selfmaker.clock import Clock
from selfmaker.domain.instance_types import InstanceType
from selfmaker.services.metering.tables import usage_periods

HOUR = 3600.0
_MOST_OPEN = 500  # more open periods than this are re-read with the whole table (an IN list stays short)


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


class _Periods:
    """Every billed period of the store, as of the last read.

    Rows only ever change while open (new tags, then their end), so each read fetches the rows past the last
    id seen and those open at the last read, then checks the table's count, last id and sums of starts and
    ends against its own: anything else (a test-mode reset, a restored backup) reads the whole table again.
    """

    def __init__(self) -> None:
        self._by_id: dict[int, Period] = {}
        self._open: set[int] = set()
        self._sums = [0.0, 0.0]  # of the starts and of the ends (0 while open)
        self._profiles: dict[tuple, int] = {}
        # Per account: its periods by start, then id (oldest first), and their starts to cut at a span's end.
        self.accounts: dict[str, tuple[list[Period], list[float]]] = {}

    def refresh(self, conn: Connection) -> None:
        if not self._by_id or len(self._open) > _MOST_OPEN:
            self._reload(conn)
            return
        changed = conn.execute(select(usage_periods).where(
            or_(usage_periods.c.id > max(self._by_id), usage_periods.c.id.in_(self._open)))).all()
        for row in changed:
            self._put(row)
        if not self._matches(conn):
            self._reload(conn)
        elif changed:
            self._order()

    def _reload(self, conn: Connection) -> None:
        self._by_id, self._open, self._sums = {}, set(), [0.0, 0.0]
        for row in conn.execute(select(usage_periods)).all():
            self._put(row)
        self._order()

    def _put(self, row) -> None:
        old = self._by_id.get(row.id)
        if old is not None:
            self._sums[0] -= old.started
            self._sums[1] -= old.ended or 0.0
        tags = row.tags or {}
        alike = (row.instance_id, row.account_id, row.region, row.instance_arn, row.instance_name,
                 row.instance_type, row.owner_arn, tuple(sorted(tags.items())))
        profile = self._profiles.setdefault(alike, len(self._profiles))
        self._by_id[row.id] = Period(*alike[:7], tags, row.started, row.ended, profile)
        self._sums[0] += row.started
        self._sums[1] += row.ended or 0.0
        if row.ended is None:
            self._open.add(row.id)
        else:
            self._open.discard(row.id)

    def _order(self) -> None:
        accounts: dict[str, list[Period]] = {}
        for row_id in sorted(self._by_id, key=lambda row_id: (self._by_id[row_id].started, row_id)):
            period = self._by_id[row_id]
            accounts.setdefault(period.account_id, []).append(period)
        self.accounts = {account: (periods, [period.started for period in periods])
                         for account, periods in accounts.items()}

    def _matches(self, conn: Connection) -> bool:
        count, last, starts, ends = conn.execute(select(
            func.count(), func.max(usage_periods.c.id), func.coalesce(func.sum(usage_periods.c.started), 0.0),
            func.coalesce(func.sum(usage_periods.c.ended), 0.0))).one()
        if count != len(self._by_id) or (last or 0) != max(self._by_id, default=0):
            return False
        # Sums added in another order differ by rounding, at most about count × 2^-52 of their size; another
        # table's differ by whole seconds.
        return all(abs(mine - float(theirs)) <= 1e-6 + count * 2.3e-16 * abs(float(theirs))
                   for mine, theirs in zip(self._sums, (starts, ends), strict=True))


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
        with self._lock, self.engine.connect() as conn:
            self._periods.refresh(conn)
            accounts = self._periods.accounts
        found = []
        for account in ([account_id] if account_id is not None else sorted(accounts)):
            ordered, starts = accounts.get(account, ([], []))
            found += [period for period in ordered[:bisect.bisect_left(starts, end)]
                      if period.ended is None or period.ended > start]
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
