"""The one forecast rule, shared by Cost Explorer's GetCostForecast, Budgets' ForecastedSpend (and its FORECASTED
alerts) and the console's Billing page:

    Every day from today on is forecast at the larger of the mean daily cost of the last 7 complete days and
    what today will cost if the instances running now run until midnight.

The week's mean is "as I have been working", weekends included; but a new account, or a GPU instance started
today, has a week of nothing behind it, and today's figure (what today has cost so far, plus the hourly rate of
what runs now until midnight) never forecasts nothing while something runs, nor less for today than today has
already cost. A USAGE budget reads the same rule in notebook hours instead of dollars. The prediction interval
treats the days as independent, with the spread of those 7 days.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from selfmaker.services.metering.meter import HOUR, Meter, Period
from selfmaker.services.metering.report import Amount, usage

HISTORY_DAYS = 7
DAY = 86400.0

Unit = Literal["cost", "hours"]  # USD, or notebook hours (a USAGE budget's unit)


def day_start(at: float) -> float:
    """Midnight UTC at or before ``at``."""
    return datetime.fromtimestamp(at, UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


@dataclass(frozen=True)
class Forecast:
    """The forecast of [start, end): every day in it at ``daily``."""

    start: float
    end: float
    daily: float
    spread: float  # the population standard deviation of the last 7 complete days

    @property
    def total(self) -> float:
        return self.part(self.start, self.end)

    def part(self, first: float, last: float) -> float:
        """The forecast of [first, last), a stretch of the span (a day, a month)."""
        return self.daily * (last - first) / DAY

    def interval(self, first: float, last: float, level: float) -> tuple[float, float]:
        """The prediction interval of ``part(first, last)`` at ``level`` percent, never below zero."""
        value = self.part(first, last)
        margin = statistics.NormalDist().inv_cdf(0.5 + level / 200) * self.spread * math.sqrt((last - first) / DAY)
        return max(0.0, value - margin), value + margin


def in_unit(amount: Amount, unit: Unit) -> float:
    return amount.cost if unit == "cost" else amount.hours


def forecast(meter: Meter, account_id: str, where: Callable[[Period], bool] | None, unit: Unit, start: float,
             end: float) -> Forecast:
    """The forecast of the days [start, end) (today's or later, by the metering clock) of the periods ``where``
    accepts, in ``unit``."""
    now = meter.clock.now()
    today = day_start(now)
    midnight = today + DAY
    days = usage(meter, today - HISTORY_DAYS * DAY, midnight, "DAILY", where=where, account_id=account_id)
    history = [in_unit(bucket.total, unit) for bucket in days[:HISTORY_DAYS]]
    per_hour = sum(meter.rate(period.instance_type) if unit == "cost" else 1.0
                   for period in meter.periods(now, midnight, account_id)
                   if period.ended is None and period.started <= now and (where is None or where(period)))
    today_if_unchanged = in_unit(days[HISTORY_DAYS].total, unit) + per_hour * (midnight - now) / HOUR
    return Forecast(start, end, max(statistics.fmean(history), today_if_unchanged), statistics.pstdev(history))
