"""The lock-out's counting, over a store of its own with a clock the test turns: five wrong passwords lock a
user out for 30 s, each further one doubles the wait, a right one clears it, and parallel attempts are
counted one by one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from selfmaker.console import lockout as lockout_module
from selfmaker.console.lockout import FIRST_DELAY, MAX_DELAY, Lockout, delay_after
from selfmaker.store.db import open_store
from tests.postgres import store_at


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(lockout_module, "time", fake)  # the module's own clock only
    return fake


@pytest.fixture
def lockout(tmp_path) -> Lockout:
    return Lockout(open_store(store_at(tmp_path / "db.sqlite")))


def test_five_attempts_then_a_wait_that_doubles_and_ends(lockout, clock):
    assert [lockout.attempt("a/u") for _ in range(5)] == [0.0] * 5
    assert lockout.attempt("a/u") == pytest.approx(FIRST_DELAY)
    clock.now += FIRST_DELAY - 1
    assert lockout.attempt("a/u") == pytest.approx(1)  # a refused attempt does not extend the wait
    clock.now += 1
    assert lockout.attempt("a/u") == 0.0  # the lock-out ended: one more try…
    assert lockout.attempt("a/u") == pytest.approx(2 * FIRST_DELAY)  # … and, wrong, it doubled
    assert lockout.attempt("a/other") == 0.0  # other users are not affected


def test_a_right_password_clears_the_count(lockout, clock):
    for _ in range(4):
        lockout.attempt("a/u")
    lockout.succeeded("a/u")
    assert [lockout.attempt("a/u") for _ in range(5)] == [0.0] * 5


def test_waits_are_capped():
    assert delay_after(4) == 0 and delay_after(5) == FIRST_DELAY and delay_after(6) == 2 * FIRST_DELAY
    assert delay_after(10_000) == MAX_DELAY


def test_parallel_attempts_are_counted_one_by_one(lockout):
    with ThreadPoolExecutor(16) as pool:
        waits = list(pool.map(lambda _: lockout.attempt("a/racer"), range(40)))
    assert waits.count(0.0) == 5
