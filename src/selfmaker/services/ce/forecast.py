"""GetCostForecast, by the rule Budgets and the console's Billing page share (``services.metering.forecast``):
every day from today on is forecast at the larger of the mean daily cost of the last 7 complete days and what
today will cost if the instances running now run until midnight.

This module only cuts that forecast into the DAILY or MONTHLY results AWS answers with, each with its prediction
interval (80% unless asked otherwise).
"""

from __future__ import annotations

from selfmaker.services.ce import metrics
from selfmaker.services.ce.expression import Predicate
from selfmaker.services.ce.timespan import text
from selfmaker.services.metering import Meter
from selfmaker.services.metering.forecast import forecast as forecast_spend
from selfmaker.services.metering.report import boundaries

DEFAULT_LEVEL = 80


def forecast(meter: Meter, account_id: str, start: float, end: float, granularity: str, where: Predicate | None,
             level: int | None) -> dict:
    predicted = forecast_spend(meter, account_id, where, "cost", start, end)
    edges = boundaries(start, end, granularity)
    results = []
    for first, last in zip(edges, edges[1:], strict=False):
        low, high = predicted.interval(first, last, level or DEFAULT_LEVEL)
        results.append({
            "TimePeriod": {"Start": text(first, "DAILY"), "End": text(last, "DAILY")},
            "MeanValue": metrics.number(predicted.part(first, last)),
            "PredictionIntervalLowerBound": metrics.number(low),
            "PredictionIntervalUpperBound": metrics.number(high),
        })
    return {"Total": {"Amount": metrics.number(predicted.total), "Unit": "USD"}, "ForecastResultsByTime": results}
