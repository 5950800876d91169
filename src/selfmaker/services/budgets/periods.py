"""Budget periods: the UTC day, month, quarter or year a moment falls in (AWS resets budgets on those edges),
or a CUSTOM budget's one period from its TimePeriod."""

from __future__ import annotations

from datetime import UTC, datetime

# AWS's "no end": a budget without an End runs until 2087-06-15 (what DescribeBudget shows).
NO_END = 3706473600.0


def _month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def period_at(time_unit: str, moment: float) -> tuple[float, float]:
    """[start, end) of the period of ``time_unit`` holding ``moment`` (not for CUSTOM)."""
    at = datetime.fromtimestamp(moment, UTC)
    if time_unit == "DAILY":
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.timestamp(), start.timestamp() + 86400.0
    if time_unit == "MONTHLY":
        first = at.month
    elif time_unit == "QUARTERLY":
        first = (at.month - 1) // 3 * 3 + 1
    elif time_unit == "ANNUALLY":
        first = 1
    else:
        raise ValueError(f"time unit {time_unit!r}")
    months = {"MONTHLY": 1, "QUARTERLY": 3, "ANNUALLY": 12}[time_unit]
    return _month_start(at.year, first).timestamp(), _month_start(at.year, first + months).timestamp()


def current_period(spec: dict, moment: float) -> tuple[float, float]:
    """The budget's period at ``moment``: its TimePeriod bounds it (before Start, the first period is current)."""
    window = spec.get("TimePeriod") or {}
    begin, finish = window.get("Start", 0.0), window.get("End", NO_END)
    if spec["TimeUnit"] == "CUSTOM":
        return begin, finish
    start, end = period_at(spec["TimeUnit"], min(max(moment, begin), finish - 1))
    return max(start, begin), min(end, finish)
