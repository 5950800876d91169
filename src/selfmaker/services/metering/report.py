"""Usage and cost over a span of time, cut into hours, days or months (UTC) and grouped by what a caller names:
the one computation behind Cost Explorer, Budgets, the console's Billing page and ``selfmaker usage``."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from selfmaker.services.metering.meter import HOUR, Meter, Period

SERVICE_NAME = "Amazon SageMaker"  # Cost Explorer's SERVICE value for notebook usage

# AWS's usage-type prefixes by region (the first part of "USE1-Notebk:ml.t3.medium").
_REGION_PREFIXES = {
    "us-east-1": "USE1", "us-east-2": "USE2", "us-west-1": "USW1", "us-west-2": "USW2",
    "ca-central-1": "CAN1", "eu-west-1": "EU", "eu-west-2": "EUW2", "eu-west-3": "EUW3",
    "eu-central-1": "EUC1", "eu-north-1": "EUN1", "eu-south-1": "EUS1", "ap-northeast-1": "APN1",
    "ap-northeast-2": "APN2", "ap-northeast-3": "APN3", "ap-southeast-1": "APS1", "ap-southeast-2": "APS2",
    "ap-south-1": "APS3", "ap-east-1": "APE1", "sa-east-1": "SAE1", "me-south-1": "MES1", "af-south-1": "AFS1",
}


def usage_type(region: str, instance_type: str) -> str:
    prefix = _REGION_PREFIXES.get(region, region.upper())
    return f"{prefix}-Notebk:{instance_type}"


# What a period can be grouped or filtered by: Cost Explorer's dimensions, plus the owner (Selfmaker's own).
DIMENSIONS: dict[str, Callable[[Period], str]] = {
    "SERVICE": lambda period: SERVICE_NAME,
    "USAGE_TYPE": lambda period: usage_type(period.region, period.instance_type),
    "LINKED_ACCOUNT": lambda period: period.account_id,
    "REGION": lambda period: period.region,
    "INSTANCE_TYPE": lambda period: period.instance_type,
    "RESOURCE_ID": lambda period: period.instance_arn,
    "OWNER": lambda period: period.owner_arn,
}


def tag_key(key: str) -> Callable[[Period], str]:
    """A TAG grouping's value, as Cost Explorer writes it: "key$value", "key$" for an untagged instance."""
    return lambda period: f"{key}${period.tags.get(key, '')}"


@dataclass
class Amount:
    hours: float = 0.0
    cost: float = 0.0


@dataclass
class Bucket:
    start: float
    end: float
    total: Amount = field(default_factory=Amount)
    groups: dict[tuple[str, ...], Amount] = field(default_factory=dict)


def boundaries(start: float, end: float, granularity: str) -> list[float]:
    """The UTC hour, day or month starts from ``start`` to ``end`` (both included as edges)."""
    edges = [start]
    moment = datetime.fromtimestamp(start, UTC)
    while True:
        if granularity == "HOURLY":
            moment = moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        elif granularity == "DAILY":
            moment = moment.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        elif granularity == "MONTHLY":
            first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            moment = first.replace(year=first.year + 1, month=1) if first.month == 12 else \
                first.replace(month=first.month + 1)
        else:
            raise ValueError(f"granularity {granularity!r}")
        edge = moment.timestamp()
        if edge >= end:
            edges.append(end)
            return edges
        edges.append(edge)


def usage(meter: Meter, start: float, end: float, granularity: str,
          group_by: list[Callable[[Period], str]] | None = None,
          where: Callable[[Period], bool] | None = None, account_id: str | None = None) -> list[Bucket]:
    """Hours and cost in each hour/day/month of [start, end), in total and per group key (a tuple of the
    ``group_by`` values), of the periods ``where`` accepts. Periods still running count up to the clock's now.

    ``group_by`` and ``where`` read what a period is (its instance, type, owner, tags), never its times: they
    are asked once per profile (``Period.profile``), so a month of 25,000 periods costs one short loop."""
    edges = boundaries(start, end, granularity)
    count = len(edges) - 1
    now = meter.clock.now()
    # Billed seconds per bucket, one list per (group key, USD per hour), shared by the profiles that have both.
    cells: dict[tuple[tuple[str, ...] | None, float], list[float]] = {}
    seen: dict[int, list[float] | None] = {}  # profile → its cell's list, None where ``where`` refuses it
    for period in meter.periods(start, end, account_id):
        held = seen.get(period.profile, False) if period.profile >= 0 else False
        if held is False:
            held = None
            if where is None or where(period):
                cell = (tuple(value(period) for value in group_by) if group_by else None,
                        meter.rate(period.instance_type))
                held = cells.get(cell)
                if held is None:
                    held = cells[cell] = [0.0] * count
            if period.profile >= 0:
                seen[period.profile] = held
        if held is None:
            continue
        begin = period.started if period.started > start else start
        finish = now if period.ended is None else period.ended
        if finish > end:
            finish = end
        if begin >= finish:
            continue
        index = bisect.bisect_right(edges, begin) - 1
        stop = edges[index + 1]
        while finish > stop:  # across bucket edges: a night, a month's end
            held[index] += stop - begin
            begin, index = stop, index + 1
            stop = edges[index + 1]
        held[index] += finish - begin
    buckets = [Bucket(a, b) for a, b in zip(edges, edges[1:], strict=False)]
    for (key, rate), held in cells.items():
        for bucket, seconds in zip(buckets, held, strict=True):
            if seconds <= 0:
                continue
            hours = seconds / HOUR
            bucket.total.hours += hours
            bucket.total.cost += hours * rate
            if key is not None:
                amount = bucket.groups.get(key)
                if amount is None:
                    amount = bucket.groups[key] = Amount()
                amount.hours += hours
                amount.cost += hours * rate
    return buckets
