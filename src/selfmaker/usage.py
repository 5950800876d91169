"""``selfmaker usage``: hours and cost of notebook instances in a month, read from the store (no server needed),
with the numbers Cost Explorer answers (``selfmaker.services.metering.report.usage``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from selfmaker.clock import Clock
from selfmaker.domain.instance_types import load_catalogue
from selfmaker.gateway.test_clock import restore_clock
from selfmaker.services.metering import DIMENSIONS, Amount, Meter, Period, tag_key, usage
from selfmaker.store.db import StoreError, open_store

# What a row of the table is (the column's heading, and the period's key).
GROUPINGS: dict[str, tuple[str, Callable[[Period], str]]] = {
    "instance": ("INSTANCE", DIMENSIONS["RESOURCE_ID"]),
    "user": ("USER", DIMENSIONS["OWNER"]),
    "type": ("INSTANCE TYPE", DIMENSIONS["INSTANCE_TYPE"]),
}


class UsageError(Exception):
    """What the command line asked for cannot be answered (the message says why)."""


@dataclass
class Report:
    month: str
    heading: str
    rows: list[tuple[str, Amount]]  # most expensive first
    total: Amount
    until: float  # the end of the month, or now while it lasts


def month_span(month: str | None, now: float) -> tuple[str, float, float]:
    """("YYYY-MM", start, end) of ``month`` (default: the clock's current month), in UTC."""
    if month is None:
        first = datetime.fromtimestamp(now, UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        try:
            first = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        except ValueError:
            raise UsageError(f"--month {month!r} is not YYYY-MM") from None
    after = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    return first.strftime("%Y-%m"), first.timestamp(), after.timestamp()


def grouping(by: str, tag: str | None) -> tuple[str, Callable[[Period], str]]:
    if by.startswith("tag:"):
        by, tag = "tag", by[4:]
    if by == "tag":
        if not tag:
            raise UsageError("--by tag needs the tag's key: selfmaker usage --by tag KEY")
        key = tag_key(tag)
        return f"TAG {tag}", lambda period: key(period).split("$", 1)[1] or "(untagged)"
    if tag:
        raise UsageError(f"a tag key ({tag}) goes with --by tag only")
    if by not in GROUPINGS:
        raise UsageError(f"--by {by!r}: choose user, type, instance or tag KEY")
    return GROUPINGS[by]


def report(data_dir: Path, by: str, tag: str | None, month: str | None, database: str | None = None) -> Report:
    from selfmaker.config import Settings

    settings = Settings(data_dir=data_dir.resolve(), database_url=database)
    if not settings.has_store():
        raise UsageError(f"no server data in {settings.data_dir}")
    heading, key = grouping(by, tag)
    try:
        engine = open_store(settings.database)
    except StoreError as err:
        raise UsageError(f"--database: {err}") from None
    clock = Clock()
    restore_clock(engine, clock)  # a test-mode server's metering clock, if it set one: the server's numbers
    meter = Meter(engine, load_catalogue(settings.data_dir), clock)
    name, start, end = month_span(month, clock.now())
    (bucket,) = usage(meter, start, end, "MONTHLY", group_by=[key])
    rows = sorted(((keys[0], amount) for keys, amount in bucket.groups.items()),
                  key=lambda row: (-row[1].cost, -row[1].hours, row[0]))
    return Report(name, heading, rows, bucket.total, min(end, clock.now()))


def lines(result: Report) -> list[str]:
    """The table as plain text: one row per group, then the totals."""
    width = max([len(result.heading), len("TOTAL"), *(len(label) for label, _ in result.rows)])
    until = datetime.fromtimestamp(result.until, UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"Notebook usage in {result.month} (UTC), up to {until}", "",
           f"{result.heading:<{width}}  {'HOURS':>10}  {'COST (USD)':>11}"]
    out += [f"{label:<{width}}  {amount.hours:>10.2f}  {_cents(amount.cost):>11}" for label, amount in result.rows]
    if not result.rows:
        out.append("(no usage)")
    out.append(f"{'TOTAL':<{width}}  {result.total.hours:>10.2f}  {_cents(result.total.cost):>11}")
    return out


def _cents(cost: float) -> str:
    # Half a cent rounds up, as a bill does ($0.125 is $0.13), whatever the float's last bit says.
    return str(Decimal(repr(round(cost, 10))).quantize(Decimal("0.01"), ROUND_HALF_UP))
