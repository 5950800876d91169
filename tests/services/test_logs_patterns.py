"""Logs filter patterns from callers cannot stall FilterLogEvents: regex terms match within a time limit
(an over-budget one is InvalidParameterException), wildcards never backtrack, and a scan whose regex time
runs out answers with what it found and a nextToken to go on from."""

from __future__ import annotations

import time

import pytest

from selfmaker import patterns
from selfmaker.patterns import BudgetExhausted, PatternBudgetError
from selfmaker.services.base import ServiceError
from selfmaker.services.logs.filter_pattern import compile_pattern
from selfmaker.services.logs.provider import LogsService, _filtered_page
from selfmaker.store.db import open_store
from tests.postgres import store_at
from tests.services.test_logs_provider import make_ctx, make_stream, messages, put

GROUP, STREAM = "/patterns", "s"
SLACK = 0.5  # seconds: what a loaded CI machine may add


@pytest.fixture
def logs(tmp_path) -> LogsService:
    return LogsService(open_store(store_at(tmp_path / "db.sqlite")))


@pytest.fixture
def ctx():
    return make_ctx()


def filter_events(logs: LogsService, ctx, pattern: str, **extra) -> dict:
    return logs.FilterLogEvents(ctx, {"logGroupName": GROUP, "filterPattern": pattern, **extra})


def timed_error(call) -> tuple[ServiceError, float]:
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        call()
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize("pattern, message", [
    ("%(a|aa)+$%", "a" * 40 + "!"),  # exponential backtracking
    ("%((a*)*b)%", "a" * 5000),  # nested quantifiers
    (r"%\w+\s\w+$%", "a" * 200_000),  # a huge event: quadratic work
])
def test_a_regex_over_its_time_limit_is_an_invalid_parameter(logs, ctx, pattern, message):
    make_stream(logs, ctx, GROUP, STREAM)
    put(logs, ctx, GROUP, STREAM, ["ordinary", message])
    started = time.monotonic()
    try:
        reply = filter_events(logs, ctx, pattern)
    except ServiceError as err:
        assert err.code == "InvalidParameterException"
        assert "Invalid filter pattern" in err.message and "takes longer than 50 ms" in err.message
    else:
        assert messages(reply) == []  # the engine saw through this one at once
    assert time.monotonic() - started < patterns.MATCH_TIMEOUT + SLACK


def test_the_issues_regex_is_refused_in_time(logs, ctx):
    make_stream(logs, ctx, GROUP, STREAM)
    put(logs, ctx, GROUP, STREAM, ["a" * 40 + "!"])
    err, took = timed_error(lambda: filter_events(logs, ctx, "%(a|aa)+$%"))
    assert err.code == "InvalidParameterException"
    assert took < patterns.MATCH_TIMEOUT + SLACK


@pytest.mark.parametrize("pattern", ["%(?:a{1000}){1000}%", "%" + "(" * 100 + "a" + ")" * 100 + "%"])
def test_a_regex_too_large_to_compile_quickly_is_an_invalid_parameter(logs, ctx, pattern):
    make_stream(logs, ctx, GROUP, STREAM)
    err, took = timed_error(lambda: filter_events(logs, ctx, pattern))
    assert err.code == "InvalidParameterException" and "Invalid filter pattern" in err.message
    assert took < 0.2


def test_json_wildcards_never_backtrack(logs, ctx):
    make_stream(logs, ctx, GROUP, STREAM)
    hit = '{"msg": "' + "a-" * 40 + 'b"}'
    put(logs, ctx, GROUP, STREAM, ['{"msg": "' + "a" * 200_000 + '"}', hit])
    started = time.monotonic()
    reply = filter_events(logs, ctx, '{ $.msg = "' + "*a" * 40 + '*b" }')  # a regex of .*a.*a…b would not end
    assert messages(reply) == [hit]
    assert time.monotonic() - started < 0.5


def test_filter_log_events_runs_off_the_event_loop(logs):
    assert getattr(logs.FilterLogEvents, "blocking", False)


def test_a_spent_budget_ends_the_page_early_and_the_token_goes_on(logs, ctx, monkeypatch):
    monkeypatch.setattr(patterns, "REQUEST_BUDGET", 0.1)
    make_stream(logs, ctx, GROUP, STREAM)
    slow = "a" * 18 + "!"  # a few milliseconds each for (a|aa)+$, well under the per-match limit
    put(logs, ctx, GROUP, STREAM, [f"hit {i}" if i % 2 else slow for i in range(120)])
    pages, found, token = 0, [], None
    while True:
        reply = filter_events(logs, ctx, "?%(a|aa)+$% ?hit", **({"nextToken": token} if token else {}))
        pages += 1
        found.extend(messages(reply))
        token = reply.get("nextToken")
        if token is None:
            break
        assert pages < 200, "no progress"
    assert found == [f"hit {i}" for i in range(1, 120, 2)]
    assert pages > 1  # 60 slow matches do not fit in 0.1 s


class _Row:
    def __init__(self, message: str):
        self.message = message


def test_filtered_page_resumes_after_the_last_event_examined():
    rows = [_Row(m) for m in ("x1", "no", "x2", "no", "x3")]
    calls = []

    def matches(message: str) -> bool:
        calls.append(message)
        if len(calls) == 4:
            raise BudgetExhausted("spent")
        return message.startswith("x")

    page, resume = _filtered_page(rows, 10, matches)
    assert [row.message for row in page] == ["x1", "x2"] and resume is rows[2]
    page, resume = _filtered_page(rows, 1, lambda message: message.startswith("x"))
    assert [row.message for row in page] == ["x1"] and resume is rows[0]
    page, resume = _filtered_page(rows, 10, lambda message: message.startswith("x"))
    assert len(page) == 3 and resume is None


def test_compiled_patterns_keep_their_meaning():
    assert compile_pattern("%ab+c%")("xxabbbc") is True
    assert compile_pattern("%^ab$%")("xab") is False
    assert compile_pattern('{ $.ip = 10.0.* }')('{"ip": "10.0.3.4"}') is True
    assert compile_pattern('{ $.ip != "10.*" }')('{"ip": "192.168.0.1"}') is True
    with pytest.raises(PatternBudgetError):
        compile_pattern("%(a|aa)+$%")("a" * 40 + "!")
