"""GetCostForecast, linearly: every day ahead costs what the last 7 complete days cost on average.

A week of history, not the rate of what runs right now: notebooks are started and stopped every day, and a
person asking what the month will cost expects "as I have been working", weekends included. The prediction
interval treats the days as independent, with the spread of those 7 days.
"""

from __future__ import annotations

import math
import statistics

from selfmaker.services.ce import metrics
from selfmaker.services.ce.expression import Predicate
from selfmaker.services.ce.timespan import text
from selfmaker.services.metering import Meter, usage
from selfmaker.services.metering.report import boundaries

HISTORY_DAYS = 7
DAY = 86400.0
DEFAULT_LEVEL = 80


def forecast(meter: Meter, account_id: str, start: float, end: float, granularity: str, where: Predicate | None,
             level: int | None, today: float) -> dict:
    history = usage(meter, today - HISTORY_DAYS * DAY, today, "DAILY", where=where, account_id=account_id)
    daily = [bucket.total.cost for bucket in history]
    mean = statistics.fmean(daily)
    spread = statistics.pstdev(daily)
    z = statistics.NormalDist().inv_cdf(0.5 + (level or DEFAULT_LEVEL) / 200)
    edges = boundaries(start, end, granularity)
    results, total = [], 0.0
    for first, last in zip(edges, edges[1:], strict=False):
        days = (last - first) / DAY
        value = mean * days
        margin = z * spread * math.sqrt(days)
        total += value
        results.append({
            "TimePeriod": {"Start": text(first, "DAILY"), "End": text(last, "DAILY")},
            "MeanValue": metrics.number(value),
            "PredictionIntervalLowerBound": metrics.number(max(0.0, value - margin)),
            "PredictionIntervalUpperBound": metrics.number(value + margin),
        })
    return {"Total": {"Amount": metrics.number(total), "Unit": "USD"}, "ForecastResultsByTime": results}

