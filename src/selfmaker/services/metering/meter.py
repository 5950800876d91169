"""Reading the meter: the billed periods that overlap a span of time, each clipped to it and priced."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, or_, select

from selfmaker.clock import Clock
from selfmaker.domain.instance_types import InstanceType
from selfmaker.services.metering.tables import usage_periods

HOUR = 3600.0


@dataclass(frozen=True)
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


class Meter:
    def __init__(self, engine: Engine, catalogue: dict[str, InstanceType], clock: Clock):
        self.engine, self.catalogue, self.clock = engine, catalogue, clock

    def rate(self, instance_type: str) -> float:
        """USD per hour; a type without a known price (or no longer offered) costs nothing, but its hours count."""
        kind = self.catalogue.get(instance_type)
        return (kind.price_per_hour or 0.0) if kind is not None else 0.0

    def periods(self, start: float, end: float, account_id: str | None = None) -> list[Period]:
        """Every billed period with time in [start, end), oldest first."""
        query = select(usage_periods).where(
            usage_periods.c.started < end, or_(usage_periods.c.ended.is_(None), usage_periods.c.ended > start))
        if account_id is not None:
            query = query.where(usage_periods.c.account_id == account_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(usage_periods.c.started, usage_periods.c.id)).all()
        return [Period(row.instance_id, row.account_id, row.region, row.instance_arn, row.instance_name,
                       row.instance_type, row.owner_arn, row.tags or {}, row.started, row.ended) for row in rows]

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

    def cost(self, period: Period, seconds: float) -> float:
        return seconds / HOUR * self.rate(period.instance_type)
