"""The meter's cache of billed periods against the store itself: whatever the recorder writes (periods opened,
closed, retagged, a test-mode reset), a long-lived Meter answers as a plain SQL query over usage_periods does,
the same periods in the same order, and as a Meter that reads the store afresh."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import Engine, delete, insert, or_, select

from selfmaker.clock import Clock
from selfmaker.services.metering import Meter, Period, record_owner, record_status, refresh_tags
from selfmaker.services.metering.tables import usage_periods
from selfmaker.store.db import open_store
from selfmaker.store.tables import metadata, notebook_instances, tags
from tests.postgres import store_at

ACCOUNTS = ("111111111111", "222222222222")
REGION = "us-east-1"
HOUR, DAY = 3600.0, 86400.0
START = 1_767_225_600.0  # 2026-01-01
CLOSE_AS = ("Stopping", "Failed", "Deleting")


class Fleet:
    """Notebook instances as the SageMaker service writes them, their changes through the recorder, each in a
    transaction of its own; ``now`` moves on by steps from none (changes at the same moment) to months."""

    def __init__(self, engine: Engine, rng: random.Random):
        self.engine, self.rng, self.now = engine, rng, START
        self.instances: dict[str, str] = {}  # instance id → ARN
        self.running: set[str] = set()
        self.moments: list[float] = [START]  # every change's time: spans that begin or end on one

    def create(self) -> str:
        instance_id = f"nb-{self.rng.getrandbits(48):012x}"
        account = self.rng.choice(ACCOUNTS)
        name = f"nb{len(self.instances)}-{instance_id[-4:]}"
        arn = f"arn:aws:sagemaker:{REGION}:{account}:notebook-instance/{name}"
        with self.engine.begin() as conn:
            conn.execute(insert(notebook_instances).values(
                instance_id=instance_id, account_id=account, region=REGION, name=name, arn=arn, status="Pending",
                instance_type=self.rng.choice(["ml.t3.medium", "ml.m5.xlarge"]),
                role_arn=f"arn:aws:iam::{account}:role/r", volume_size_gb=5, settings={},
                creation_time=self.now, last_modified_time=self.now))
            record_owner(conn, instance_id, account, f"arn:aws:iam::{account}:user/u{self.rng.randrange(3)}")
        self.instances[instance_id] = arn
        return instance_id

    def step(self) -> None:
        choice = self.rng.random()
        if choice < 0.2:
            return  # another change at the same moment
        if choice < 0.3:  # a period of exactly one of the lengths the meter files periods by
            self.now += HOUR * self.rng.choice([4.0, 16.0, 64.0])
        else:
            self.now += 10 ** self.rng.uniform(0, 6.5)  # a second to about a month
        self.moments.append(self.now)

    def record(self, instance_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            record_status(conn, instance_id, status, self.now)
        if status == "InService":
            self.running.add(instance_id)
        else:
            self.running.discard(instance_id)

    def retag(self, instance_id: str) -> None:
        arn = self.instances[instance_id]
        key = self.rng.choice(["Project", "Team"])
        with self.engine.begin() as conn:
            conn.execute(delete(tags).where(tags.c.resource_arn == arn, tags.c.key == key))
            if self.rng.random() < 0.7:
                conn.execute(insert(tags).values(resource_arn=arn, key=key, value=f"v{self.rng.randrange(4)}"))
            refresh_tags(conn, arn)

    def reset(self) -> None:
        """What the test-mode reset does to the store: every row goes (SQLite numbers new ones from 1 again)."""
        with self.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(delete(table))
        self.instances, self.running = {}, set()

    def act(self) -> None:
        """One change, drawn the way a busy server makes them."""
        self.step()
        stopped = sorted(set(self.instances) - self.running)
        choice = self.rng.random()
        if choice < 0.02:
            self.reset()
        elif choice < 0.1 or not self.instances:
            self.create()
        elif choice < 0.45 and stopped:
            self.record(self.rng.choice(stopped), "InService")
        elif choice < 0.8 and self.running:
            self.record(self.rng.choice(sorted(self.running)), self.rng.choice(CLOSE_AS))
        elif choice < 0.85 and self.running:  # InService again: the open period ends and another begins
            self.record(self.rng.choice(sorted(self.running)), "InService")
        else:
            self.retag(self.rng.choice(sorted(self.instances)))


def recount(engine: Engine, start: float, end: float, account_id: str | None) -> list[Period]:
    """The periods with time in [start, end), straight from the table, oldest first (then by account, id)."""
    query = select(usage_periods).where(usage_periods.c.started < end,
                                        or_(usage_periods.c.ended.is_(None), usage_periods.c.ended > start))
    if account_id is not None:
        query = query.where(usage_periods.c.account_id == account_id)
    query = query.order_by(usage_periods.c.started, usage_periods.c.account_id, usage_periods.c.id)
    with engine.connect() as conn:
        return [Period(row.instance_id, row.account_id, row.region, row.instance_arn, row.instance_name,
                       row.instance_type, row.owner_arn, row.tags or {}, row.started, row.ended)
                for row in conn.execute(query)]


def a_span(fleet: Fleet) -> tuple[float, float]:
    """A span that may begin or end on a change, last a second or a year, lie before, across or after it all."""
    rng = fleet.rng
    start = rng.choice(fleet.moments) if rng.random() < 0.4 else rng.uniform(START - DAY, fleet.now + DAY)
    if rng.random() < 0.3:
        return start, max(start, rng.choice(fleet.moments))
    return start, start + 10 ** rng.uniform(0, 7.5)


def check(meter: Meter, fleet: Fleet, spans: int = 3) -> None:
    for _ in range(spans):
        start, end = a_span(fleet)
        account = fleet.rng.choice([None, *ACCOUNTS])
        cached = meter.periods(start, end, account)
        assert cached == recount(fleet.engine, start, end, account), (start, end, account)
        assert cached == Meter(fleet.engine, {}, meter.clock).periods(start, end, account)


@pytest.mark.parametrize("seed", range(4))
def test_the_cache_answers_as_the_store_through_random_changes(tmp_path, seed) -> None:
    engine = open_store(store_at(tmp_path / "db.sqlite"))
    fleet = Fleet(engine, random.Random(seed))
    meter = Meter(engine, {}, Clock())
    for _ in range(150):
        # Mostly a read after each change; now and then after many (a reset and what followed it, unseen).
        for _ in range(fleet.rng.choice([1, 1, 1, 1, 2, 5, 30])):
            fleet.act()
        check(meter, fleet)


@pytest.mark.parametrize("stopped", [True, False], ids=["closed", "open"])
def test_a_reset_then_as_many_new_periods_are_not_taken_for_the_old_ones(tmp_path, stopped) -> None:
    """The same count of rows under the same ids, at the same times, after a reset: only the instances the rows
    name tell them apart."""
    engine = open_store(store_at(tmp_path / "db.sqlite"))
    fleet = Fleet(engine, random.Random(7))
    meter = Meter(engine, {}, Clock())
    for round_ in range(2):
        if round_:
            fleet.reset()
        for day in range(3):
            instance_id = fleet.create()
            fleet.now = START + day * DAY
            fleet.record(instance_id, "InService")
            if stopped:
                fleet.now += HOUR
                fleet.record(instance_id, "Stopping")
            fleet.moments.append(fleet.now)
        assert [period.instance_id for period in meter.periods(START, fleet.now + DAY)] == list(fleet.instances)
        check(meter, fleet, spans=20)


def test_a_period_committed_late_under_a_lower_id_is_not_missed(tmp_path) -> None:
    """PostgreSQL hands out ids as rows are written, not as they are committed: id 2 may land after id 3."""
    engine = open_store(store_at(tmp_path / "db.sqlite"))
    meter = Meter(engine, {}, Clock())

    def write(row_id: int, started: float) -> None:
        with engine.begin() as conn:
            conn.execute(insert(usage_periods).values(
                id=row_id, instance_id=f"nb-{row_id}", account_id=ACCOUNTS[0], region=REGION,
                instance_arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNTS[0]}:notebook-instance/nb{row_id}",
                instance_name=f"nb{row_id}", instance_type="ml.t3.medium",
                owner_arn=f"arn:aws:iam::{ACCOUNTS[0]}:root", tags={}, started=started, ended=started + HOUR))

    write(1, START)
    write(3, START + 2 * HOUR)
    assert len(meter.periods(START, START + DAY)) == 2
    write(2, START + HOUR)
    assert meter.periods(START, START + DAY) == recount(engine, START, START + DAY, None)
    assert [period.instance_id for period in meter.periods(START, START + DAY)] == ["nb-1", "nb-2", "nb-3"]
