"""Cost Explorer over a busy month: 1,000 notebook instances, 100,000 state changes (25,000 billed periods) in
March 2026, then GetCostAndUsage for the month, DAILY, grouped by USAGE_TYPE and by a tag.

    .venv/bin/python bench/cost_explorer.py [--runs 15] [--no-server] [--no-busy]

Two cases. Static: the month alone, nothing changing between reports. Busy, the shape of a live server: a year
of such months (April 2025 to March 2026) and, before every timed report, one new state change (an instance
entering InService or being stopped, through the recorder, in a transaction of its own), so the meter's cache
has something to catch up with on every read.

The metering tables are written directly (the pattern: weekday sessions from morning to evening of a few
hours each, some left running overnight or over a weekend; four instance types; 40 users; 12 projects, some
instances untagged). Timed through the provider in-process, and once more through boto3 against a real
server on the same store, beside a baseline measured in the same run: a plain SELECT of the same periods
(sqlite3, every column, rows as tuples), the least any report over them could cost. Target: <= 100 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selfmaker.clock import Clock  # noqa: E402
from selfmaker.config import Settings  # noqa: E402
from selfmaker.domain.instance_types import load_catalogue  # noqa: E402
from selfmaker.services.base import RequestContext  # noqa: E402
from selfmaker.services.ce import CostExplorerService  # noqa: E402
from selfmaker.services.metering import Meter, record_status, usage_type  # noqa: E402
from selfmaker.services.metering.tables import notebook_owners, notebook_transitions, usage_periods  # noqa: E402
from selfmaker.store.db import open_store  # noqa: E402
from selfmaker.store.tables import notebook_instances, tags  # noqa: E402
from tests.conftest import ACCOUNT, REGION, ServerProcess  # noqa: E402

INSTANCES = 1000
CYCLES = 25  # Pending → InService → Stopping → Stopped: 4 changes each, 100 per instance
MONTH_START = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
MONTH_END = datetime(2026, 4, 1, tzinfo=UTC).timestamp()
TYPES = [("ml.t3.medium", 0.6), ("ml.t3.large", 0.2), ("ml.m5.xlarge", 0.15), ("ml.g4dn.xlarge", 0.05)]
HOUR, DAY = 3600.0, 86400.0


def months(first: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """``count`` calendar months from ``first`` (the first of a month), as (start, end)."""
    spans = []
    for _ in range(count):
        following = first.replace(year=first.year + 1, month=1) if first.month == 12 else \
            first.replace(month=first.month + 1)
        spans.append((first, following))
        first = following
    return spans


MONTH = months(datetime(2026, 3, 1, tzinfo=UTC), 1)
YEAR = months(datetime(2025, 4, 1, tzinfo=UTC), 12)  # the twelve months up to MONTH's end


def generate(data_dir: Path, spans: list[tuple[datetime, datetime]], seed: int = 11) -> int:
    """Write the months into a fresh store under ``data_dir``; the number of billed periods. The instances
    themselves (rows and tags) are written too, so that the recorder can open new periods for them."""
    rng = random.Random(seed)
    engine = open_store(Settings(data_dir=data_dir).database_path)
    transitions, periods, owners, instances, tag_rows = [], [], [], [], []
    written = [0, 0]  # transitions, periods

    def flush() -> None:
        with engine.begin() as conn:
            for table, rows in ((notebook_owners, owners), (notebook_instances, instances), (tags, tag_rows),
                                (notebook_transitions, transitions), (usage_periods, periods)):
                if rows:
                    conn.execute(table.insert(), rows)
        written[0] += len(transitions)
        written[1] += len(periods)
        for rows in (transitions, periods, owners, instances, tag_rows):
            rows.clear()

    for number in range(INSTANCES):
        instance_id = f"nb{number:08d}"
        name = f"student-{number}"
        kind = rng.choices([name for name, _ in TYPES], [weight for _, weight in TYPES])[0]
        owner = f"arn:aws:iam::{ACCOUNT}:user/user{rng.randrange(40)}"
        project = {"Project": f"project-{rng.randrange(12)}"} if rng.random() < 0.8 else {}
        arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/{name}"
        owners.append({"instance_id": instance_id, "account_id": ACCOUNT, "owner_arn": owner})
        instances.append({"instance_id": instance_id, "account_id": ACCOUNT, "region": REGION, "name": name,
                          "arn": arn, "status": "Stopped", "instance_type": kind,
                          "role_arn": f"arn:aws:iam::{ACCOUNT}:role/bench", "volume_size_gb": 5, "settings": {},
                          "creation_time": YEAR[0][0].timestamp(), "last_modified_time": YEAR[0][0].timestamp()})
        tag_rows += [{"resource_arn": arn, "key": key, "value": value} for key, value in project.items()]
        for first, following_month in spans:
            month_start, month_end = first.timestamp(), following_month.timestamp()
            length = round((month_end - month_start) / DAY)
            # A session on 25 of the month's days, weekdays four times likelier than weekends: started in the
            # morning (UTC 07–12), a few hours' work (median 2.7 h), one in ten left running overnight or longer.
            weight = [1 if (first.weekday() + day) % 7 in (5, 6) else 4 for day in range(length)]
            days = sorted(sorted(range(length), key=lambda day: rng.random() ** (1 / weight[day]))[-CYCLES:])
            starts = [month_start + day * DAY + rng.uniform(7, 12) * HOUR for day in days]
            for pending, following in zip(starts, [*starts[1:], month_end], strict=True):
                in_service = pending + rng.uniform(60, 240)
                hours = rng.lognormvariate(1.0, 0.6) if rng.random() > 0.1 else rng.uniform(10, 60)
                stopping = min(in_service + hours * HOUR, following - 600)
                stopped = stopping + rng.uniform(20, 90)
                for status, moment in (("Pending", pending), ("InService", in_service), ("Stopping", stopping),
                                       ("Stopped", stopped)):
                    transitions.append({"instance_id": instance_id, "status": status, "at": moment})
                periods.append({"instance_id": instance_id, "account_id": ACCOUNT, "region": REGION,
                                "instance_arn": arn, "instance_name": name, "instance_type": kind,
                                "owner_arn": owner, "tags": project, "started": in_service, "ended": stopping})
        if len(transitions) >= 50_000:
            flush()
    flush()
    print(f"store: {INSTANCES} instances, {len(spans)} month(s), {written[0]} transitions, "
          f"{written[1]} billed periods")
    return written[1]


def median_ms(call: Callable[[], object], runs: int, before: Callable[[], object] | None = None) -> float:
    """The median time of ``call``; ``before`` (untimed) runs ahead of each call, the warming one too."""
    if before is not None:
        before()
    call()  # warm: caches, the page cache, imports
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def request(group: dict) -> dict:
    return {"TimePeriod": {"Start": "2026-03-01", "End": "2026-04-01"}, "Granularity": "DAILY",
            "Metrics": ["UnblendedCost", "UsageQuantity"], "GroupBy": [group]}


BY_TYPE = request({"Type": "DIMENSION", "Key": "USAGE_TYPE"})
BY_TAG = request({"Type": "TAG", "Key": "Project"})
CTX = RequestContext(ACCOUNT, REGION, f"arn:aws:iam::{ACCOUNT}:root", "AKIABENCH", "bench", "http://bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-server", action="store_true", help="Skip the boto3 run against a real server.")
    parser.add_argument("--no-busy", action="store_true", help="Skip the busy case (a year, changing).")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="selfmaker-bench-ce-"))
    try:
        run(base / "data", base, args)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run(data_dir: Path, base: Path, args: argparse.Namespace) -> None:
    generate(data_dir, MONTH)
    print("load average: {:.1f} {:.1f} {:.1f} (other work on this host slows every figure alike)".format(
        *os.getloadavg()))
    database = Settings(data_dir=data_dir).database_path

    def plain_select() -> list:
        with sqlite3.connect(database) as conn:
            return conn.execute("SELECT * FROM usage_periods WHERE account_id = ? AND started < ? "
                                "AND (ended IS NULL OR ended > ?)", (ACCOUNT, MONTH_END, MONTH_START)).fetchall()

    clock = Clock()
    clock.set(MONTH_END + DAY)  # the month is over: nothing still counts up to now
    provider = CostExplorerService(Meter(open_store(database), load_catalogue(data_dir), clock))
    answer = provider.GetCostAndUsage(CTX, BY_TYPE)
    groups = {group["Keys"][0] for day in answer["ResultsByTime"] for group in day["Groups"]}
    assert usage_type(REGION, "ml.t3.medium") in groups, groups

    baseline = median_ms(plain_select, args.runs)
    print(f"baseline, SELECT of the month's {len(plain_select())} periods: {baseline:.1f} ms")
    for label, params in (("DAILY by USAGE_TYPE", BY_TYPE), ("DAILY by TAG Project", BY_TAG)):
        took = median_ms(lambda params=params: provider.GetCostAndUsage(CTX, params), args.runs)
        print(f"static: GetCostAndUsage {label} (provider): {took:.1f} ms = {took / baseline:.1f}x the SELECT "
              f"(target: <= 100 ms)")
    if not args.no_busy:
        busy(base / "year", args, baseline)
    if args.no_server:
        return
    server = ServerProcess(data_dir, base / "home", extra_env={"SELFMAKER_TEST_MODE": "1"}).start()
    try:
        import httpx

        httpx.post(f"{server.endpoint_url}/_selfmaker/clock", json={"now": MONTH_END + DAY}).raise_for_status()
        ce = server.client("ce")
        took = median_ms(lambda: ce.get_cost_and_usage(**BY_TYPE), args.runs)
        print(f"static: GetCostAndUsage DAILY by USAGE_TYPE (boto3, real server): {took:.1f} ms = "
              f"{took / baseline:.1f}x the SELECT")
    finally:
        server.kill()


def busy(data_dir: Path, args: argparse.Namespace, baseline: float) -> None:
    """The same reports over the year's store, one state change landing before each."""
    generate(data_dir, YEAR)
    engine = open_store(Settings(data_dir=data_dir).database_path)
    clock = Clock()
    clock.set(MONTH_END)  # live: the changes come after the year, so March's figures stay as they were
    provider = CostExplorerService(Meter(engine, load_catalogue(data_dir), clock))
    rng = random.Random(5)
    running: set[str] = set()

    def change() -> None:
        clock.set(clock.now() + rng.uniform(1, 60))
        instance_id = f"nb{rng.randrange(INSTANCES):08d}"
        status = "Stopping" if instance_id in running else "InService"
        running.symmetric_difference_update({instance_id})
        with engine.begin() as conn:
            record_status(conn, instance_id, status, clock.now())

    started = time.perf_counter()
    answer = provider.GetCostAndUsage(CTX, BY_TYPE)
    print(f"busy: the first report (the meter reads the year): {(time.perf_counter() - started) * 1000:.0f} ms")
    groups = {group["Keys"][0] for day in answer["ResultsByTime"] for group in day["Groups"]}
    assert usage_type(REGION, "ml.t3.medium") in groups, groups
    for label, params in (("DAILY by USAGE_TYPE", BY_TYPE), ("DAILY by TAG Project", BY_TAG)):
        took = median_ms(lambda params=params: provider.GetCostAndUsage(CTX, params), args.runs, change)
        print(f"busy: GetCostAndUsage {label} (provider, a year, a change before each): {took:.1f} ms = "
              f"{took / baseline:.1f}x the SELECT (target: <= 100 ms)")


if __name__ == "__main__":
    main()
