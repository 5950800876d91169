"""CloudWatch Logs provider, called directly over a temporary store."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time

import pytest

from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.logs import LogsService
from selfmaker.services.logs.filter_pattern import FilterPatternError, compile_pattern
from selfmaker.store.db import open_store
from tests.postgres import store_at
from tests.services.support import fails

ACCOUNT = "123456789012"
REGION = "us-east-1"
DAY_MS = 86_400_000


def make_ctx(account: str = ACCOUNT, region: str = REGION) -> RequestContext:
    return RequestContext(account_id=account, region=region, principal_arn=f"arn:aws:iam::{account}:root",
                          access_key_id="AKIDTEST", request_id="r", endpoint_url="http://127.0.0.1:1")


@pytest.fixture
def logs(tmp_path) -> LogsService:
    return LogsService(open_store(store_at(tmp_path / "db.sqlite")))


@pytest.fixture
def ctx() -> RequestContext:
    return make_ctx()


def now_ms() -> int:
    return int(time.time() * 1000)


def make_stream(logs: LogsService, ctx: RequestContext, group: str, stream: str) -> None:
    with contextlib.suppress(ServiceError):  # the group may be there already
        logs.CreateLogGroup(ctx, {"logGroupName": group})
    logs.CreateLogStream(ctx, {"logGroupName": group, "logStreamName": stream})


def put(logs: LogsService, ctx: RequestContext, group: str, stream: str, messages: list[str],
        start: int | None = None, step: int = 1) -> dict:
    start = now_ms() - 60_000 if start is None else start
    events = [{"timestamp": start + i * step, "message": m} for i, m in enumerate(messages)]
    return logs.PutLogEvents(ctx, {"logGroupName": group, "logStreamName": stream, "logEvents": events})


def all_pages(call, params: dict, items: str) -> list:
    """Follow nextToken to the end, as botocore's paginators do."""
    found, token, seen = [], None, set()
    while True:
        reply = call({**params, **({"nextToken": token} if token else {})})
        found.extend(reply[items])
        token = reply.get("nextToken")
        if token is None:
            return found
        assert token not in seen, "a token came back twice"
        seen.add(token)


def messages(reply: dict) -> list[str]:
    return [event["message"] for event in reply["events"]]


# --- log groups ------------------------------------------------------------------------------------


def test_group_lifecycle_and_describe_fields(logs, ctx):
    logs.CreateLogGroup(ctx, {"logGroupName": "/app/web", "kmsKeyId": "arn:aws:kms:us-east-1:1:key/k"})
    (group,) = logs.DescribeLogGroups(ctx, {})["logGroups"]
    assert group["logGroupName"] == "/app/web"
    assert group["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/app/web:*"
    assert group["logGroupArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/app/web"
    assert isinstance(group["creationTime"], int) and abs(group["creationTime"] - now_ms()) < 60_000
    assert group["storedBytes"] == 0 and group["metricFilterCount"] == 0
    assert group["kmsKeyId"] == "arn:aws:kms:us-east-1:1:key/k"
    assert "retentionInDays" not in group

    logs.PutRetentionPolicy(ctx, {"logGroupName": "/app/web", "retentionInDays": 30})
    assert logs.DescribeLogGroups(ctx, {})["logGroups"][0]["retentionInDays"] == 30
    logs.DeleteRetentionPolicy(ctx, {"logGroupName": "/app/web"})
    assert "retentionInDays" not in logs.DescribeLogGroups(ctx, {})["logGroups"][0]

    logs.DeleteLogGroup(ctx, {"logGroupName": "/app/web"})
    assert logs.DescribeLogGroups(ctx, {}) == {"logGroups": []}


def test_group_errors(logs, ctx):
    logs.CreateLogGroup(ctx, {"logGroupName": "g"})
    fails("ResourceAlreadyExistsException", logs.CreateLogGroup, ctx, {"logGroupName": "g"},
          message="The specified log group already exists")
    missing = "The specified log group does not exist."
    fails("ResourceNotFoundException", logs.DeleteLogGroup, ctx, {"logGroupName": "nope"}, message=missing)
    fails("ResourceNotFoundException", logs.PutRetentionPolicy, ctx,
          {"logGroupName": "nope", "retentionInDays": 1}, message=missing)
    fails("ResourceNotFoundException", logs.DeleteRetentionPolicy, ctx, {"logGroupName": "nope"}, message=missing)
    error = fails("InvalidParameterException", logs.PutRetentionPolicy, ctx,
                  {"logGroupName": "g", "retentionInDays": 2})
    assert "Value '2' at 'retentionInDays'" in error.message and "[1, 3, 5, 7, 14, 30," in error.message


def test_describe_groups_prefix_and_paging(logs, ctx):
    names = [f"/app/{i:02d}" for i in range(7)] + ["/other/a", "/APP/upper"]
    for name in reversed(names):
        logs.CreateLogGroup(ctx, {"logGroupName": name})
    paged = all_pages(lambda p: logs.DescribeLogGroups(ctx, p), {"logGroupNamePrefix": "/app/", "limit": 2},
                      "logGroups")
    assert [g["logGroupName"] for g in paged] == names[:7]
    assert len(logs.DescribeLogGroups(ctx, {"limit": 50})["logGroups"]) == 9
    everything = all_pages(lambda p: logs.DescribeLogGroups(ctx, p), {"limit": 4}, "logGroups")
    assert [g["logGroupName"] for g in everything] == sorted(names)

    by_pattern = logs.DescribeLogGroups(ctx, {"logGroupNamePattern": "app"})["logGroups"]
    assert [g["logGroupName"] for g in by_pattern] == names[:7]  # case-sensitive: not /APP/upper
    assert set(by_pattern[0]) == {"logGroupName", "creationTime", "arn"}
    fails("InvalidParameterException", logs.DescribeLogGroups, ctx,
          {"logGroupNamePrefix": "/app", "logGroupNamePattern": "app"})

    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/other/a"
    chosen = logs.DescribeLogGroups(ctx, {"logGroupIdentifiers": ["/app/03", arn, "/missing"]})["logGroups"]
    assert [g["logGroupName"] for g in chosen] == ["/app/03", "/other/a"]


def test_delete_group_removes_its_streams_and_events(logs, ctx):
    make_stream(logs, ctx, "g", "s")
    put(logs, ctx, "g", "s", ["one", "two"])
    logs.DeleteLogGroup(ctx, {"logGroupName": "g"})
    fails("ResourceNotFoundException", logs.DescribeLogStreams, ctx, {"logGroupName": "g"})
    logs.CreateLogGroup(ctx, {"logGroupName": "g"})
    assert logs.DescribeLogStreams(ctx, {"logGroupName": "g"})["logStreams"] == []
    assert logs.FilterLogEvents(ctx, {"logGroupName": "g"})["events"] == []
    assert logs.DescribeLogGroups(ctx, {})["logGroups"][0]["storedBytes"] == 0


def test_accounts_and_regions_are_isolated(logs, ctx):
    other_account, other_region = make_ctx(account="210987654321"), make_ctx(region="eu-west-1")
    make_stream(logs, ctx, "shared", "s")
    put(logs, ctx, "shared", "s", ["mine"])
    for other in (other_account, other_region):
        assert logs.DescribeLogGroups(other, {})["logGroups"] == []
        fails("ResourceNotFoundException", logs.GetLogEvents, other, {"logGroupName": "shared", "logStreamName": "s"})
        make_stream(logs, other, "shared", "s")  # the same names are free elsewhere
        put(logs, other, "shared", "s", ["theirs"])
        assert messages(logs.FilterLogEvents(other, {"logGroupName": "shared"})) == ["theirs"]
    assert messages(logs.FilterLogEvents(ctx, {"logGroupName": "shared"})) == ["mine"]
    # An ARN naming another account's or region's group does not reach it.
    foreign = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:shared"
    fails("ResourceNotFoundException", logs.FilterLogEvents, ctx, {"logGroupIdentifier": foreign})
    logs.DeleteLogGroup(ctx, {"logGroupName": "shared"})
    assert messages(logs.FilterLogEvents(other_region, {"logGroupName": "shared"})) == ["theirs"]


def test_tags(logs, ctx):
    logs.CreateLogGroup(ctx, {"logGroupName": "g", "tags": {"team": "ml", "env": "dev"}})
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:g"
    assert logs.ListTagsForResource(ctx, {"resourceArn": arn}) == {"tags": {"env": "dev", "team": "ml"}}
    logs.TagResource(ctx, {"resourceArn": arn, "tags": {"env": "prod", "cost": "1"}})
    logs.UntagResource(ctx, {"resourceArn": arn, "tagKeys": ["team"]})
    assert logs.ListTagsLogGroup(ctx, {"logGroupName": "g"}) == {"tags": {"cost": "1", "env": "prod"}}
    logs.UntagLogGroup(ctx, {"logGroupName": "g", "tags": ["cost"]})
    logs.TagLogGroup(ctx, {"logGroupName": "g", "tags": {"x": "y"}})
    assert logs.ListTagsForResource(ctx, {"resourceArn": arn + ":*"}) == {"tags": {"env": "prod", "x": "y"}}
    fails("ResourceNotFoundException", logs.ListTagsForResource, ctx, {"resourceArn": arn + "-missing"})
    logs.DeleteLogGroup(ctx, {"logGroupName": "g"})
    logs.CreateLogGroup(ctx, {"logGroupName": "g"})
    assert logs.ListTagsForResource(ctx, {"resourceArn": arn}) == {"tags": {}}


# --- log streams -----------------------------------------------------------------------------------


def test_stream_errors(logs, ctx):
    fails("ResourceNotFoundException", logs.CreateLogStream, ctx, {"logGroupName": "g", "logStreamName": "s"},
          message="The specified log group does not exist.")
    make_stream(logs, ctx, "g", "s")
    fails("ResourceAlreadyExistsException", logs.CreateLogStream, ctx, {"logGroupName": "g", "logStreamName": "s"},
          message="The specified log stream already exists")
    fails("ResourceNotFoundException", logs.DeleteLogStream, ctx, {"logGroupName": "g", "logStreamName": "x"},
          message="The specified log stream does not exist.")
    fails("ResourceNotFoundException", logs.DescribeLogStreams, ctx, {"logGroupName": "nope"},
          message="The specified log group does not exist.")


def test_describe_streams_fields_prefix_and_paging(logs, ctx):
    names = [f"nb/{i}" for i in range(5)] + ["other"]
    for name in names:
        make_stream(logs, ctx, "g", name)
    put(logs, ctx, "g", "nb/1", ["a", "b"], start=now_ms() - 5000, step=1000)

    streams = {s["logStreamName"]: s for s in logs.DescribeLogStreams(ctx, {"logGroupName": "g"})["logStreams"]}
    assert list(streams) == names
    busy = streams["nb/1"]
    assert busy["lastEventTimestamp"] - busy["firstEventTimestamp"] == 1000
    assert busy["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:g:log-stream:nb/1"
    assert busy["lastIngestionTime"] >= busy["creationTime"]
    assert "firstEventTimestamp" not in streams["nb/0"]

    paged = all_pages(lambda p: logs.DescribeLogStreams(ctx, p),
                      {"logGroupName": "g", "logStreamNamePrefix": "nb/", "limit": 2}, "logStreams")
    assert [s["logStreamName"] for s in paged] == names[:5]
    paged = all_pages(lambda p: logs.DescribeLogStreams(ctx, p),
                      {"logGroupName": "g", "descending": True, "limit": 4}, "logStreams")
    assert [s["logStreamName"] for s in paged] == names[::-1]


def test_describe_streams_by_last_event_time(logs, ctx):
    base = now_ms() - 100_000
    for i, name in enumerate(["c", "a", "d", "b"]):
        make_stream(logs, ctx, "g", name)
        put(logs, ctx, "g", name, ["x"], start=base + i * 1000)
    make_stream(logs, ctx, "g", "empty")
    newest_first = all_pages(lambda p: logs.DescribeLogStreams(ctx, p),
                             {"logGroupName": "g", "orderBy": "LastEventTime", "descending": True, "limit": 2},
                             "logStreams")
    assert [s["logStreamName"] for s in newest_first] == ["b", "d", "a", "c", "empty"]
    oldest_first = logs.DescribeLogStreams(ctx, {"logGroupName": "g", "orderBy": "LastEventTime"})["logStreams"]
    assert [s["logStreamName"] for s in oldest_first] == ["empty", "c", "a", "d", "b"]
    fails("InvalidParameterException", logs.DescribeLogStreams, ctx,
          {"logGroupName": "g", "orderBy": "LastEventTime", "logStreamNamePrefix": "a"},
          message="Cannot order by LastEventTime with a logStreamNamePrefix.")
    # A token is good only for the listing that minted it.
    token = logs.DescribeLogStreams(ctx, {"logGroupName": "g", "limit": 1})["nextToken"]
    fails("InvalidParameterException", logs.DescribeLogStreams, ctx,
          {"logGroupName": "g", "orderBy": "LastEventTime", "nextToken": token})


def test_delete_stream_removes_its_events(logs, ctx):
    make_stream(logs, ctx, "g", "a")
    make_stream(logs, ctx, "g", "b")
    put(logs, ctx, "g", "a", ["from a"])
    put(logs, ctx, "g", "b", ["from b"])
    logs.DeleteLogStream(ctx, {"logGroupName": "g", "logStreamName": "a"})
    assert messages(logs.FilterLogEvents(ctx, {"logGroupName": "g"})) == ["from b"]
    make_stream(logs, ctx, "g", "a")
    assert logs.GetLogEvents(ctx, {"logGroupName": "g", "logStreamName": "a"})["events"] == []


def test_group_identifier_forms(logs, ctx):
    make_stream(logs, ctx, "/aws/x", "s")
    put(logs, ctx, "/aws/x", "s", ["hello"])
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/x"
    for identifier in ("/aws/x", arn, arn + ":*"):
        assert messages(logs.GetLogEvents(ctx, {"logGroupIdentifier": identifier, "logStreamName": "s"})) == ["hello"]
        assert messages(logs.FilterLogEvents(ctx, {"logGroupIdentifier": identifier})) == ["hello"]
        assert len(logs.DescribeLogStreams(ctx, {"logGroupIdentifier": identifier})["logStreams"]) == 1
    fails("InvalidParameterException", logs.FilterLogEvents, ctx, {"logGroupName": "/aws/x", "logGroupIdentifier": arn})
    fails("InvalidParameterException", logs.DescribeLogStreams, ctx, {})
    fails("ResourceNotFoundException", logs.FilterLogEvents, ctx,
          {"logGroupIdentifier": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/x:log-stream:s"})


# --- PutLogEvents ----------------------------------------------------------------------------------


def test_put_updates_stream_and_group_figures(logs, ctx):
    make_stream(logs, ctx, "g", "s")
    start = now_ms() - 10_000
    reply = put(logs, ctx, "g", "s", ["aa", "bbb", "é"], start=start, step=100)
    assert set(reply) == {"nextSequenceToken"} and reply["nextSequenceToken"].isdigit()
    put(logs, ctx, "g", "s", ["earlier"], start=start - 5000)  # batches may arrive out of order
    (stream,) = logs.DescribeLogStreams(ctx, {"logGroupName": "g"})["logStreams"]
    assert stream["firstEventTimestamp"] == start - 5000
    assert stream["lastEventTimestamp"] == start + 200
    assert abs(stream["lastIngestionTime"] - now_ms()) < 60_000
    assert logs.DescribeLogGroups(ctx, {})["logGroups"][0]["storedBytes"] == 2 + 3 + 2 + 7  # UTF-8 bytes
    events = logs.GetLogEvents(ctx, {"logGroupName": "g", "logStreamName": "s"})["events"]
    assert [e["message"] for e in events] == ["earlier", "aa", "bbb", "é"]
    assert all(set(e) == {"timestamp", "message", "ingestionTime"} for e in events)


def test_put_rejects_unordered_batches(logs, ctx):
    make_stream(logs, ctx, "g", "s")
    now = now_ms()
    events = [{"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}]
    fails("InvalidParameterException", logs.PutLogEvents, ctx,
          {"logGroupName": "g", "logStreamName": "s", "logEvents": events},
          message="Log events in a single PutLogEvents request must be in chronological order.")
    assert logs.GetLogEvents(ctx, {"logGroupName": "g", "logStreamName": "s"})["events"] == []
    # Equal timestamps are in order; sequence tokens, right or wrong, are ignored.
    same = [{"timestamp": now, "message": "1"}, {"timestamp": now, "message": "2"}]
    logs.PutLogEvents(ctx, {"logGroupName": "g", "logStreamName": "s", "logEvents": same, "sequenceToken": "bogus"})


def test_put_reports_too_old_and_too_new_events(logs, ctx):
    make_stream(logs, ctx, "g", "s")
    now = now_ms()
    stamps = [now - 20 * DAY_MS, now - 15 * DAY_MS, now - 1000, now, now + 3 * 3_600_000]
    events = [{"timestamp": t, "message": f"m{i}"} for i, t in enumerate(stamps)]
    reply = logs.PutLogEvents(ctx, {"logGroupName": "g", "logStreamName": "s", "logEvents": events})
    assert reply["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 4}
    assert messages(logs.GetLogEvents(ctx, {"logGroupName": "g", "logStreamName": "s"})) == ["m2", "m3"]


def test_put_reports_events_older_than_retention(logs, ctx):
    make_stream(logs, ctx, "g", "s")
    logs.PutRetentionPolicy(ctx, {"logGroupName": "g", "retentionInDays": 1})
    now = now_ms()
    events = [{"timestamp": now - 2 * DAY_MS, "message": "expired"}, {"timestamp": now, "message": "kept"}]
    reply = logs.PutLogEvents(ctx, {"logGroupName": "g", "logStreamName": "s", "logEvents": events})
    assert reply["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    assert messages(logs.FilterLogEvents(ctx, {"logGroupName": "g"})) == ["kept"]


def test_put_batch_limits(logs, ctx):
    make_stream(logs, ctx, "g", "s")
    now = now_ms()
    span = [{"timestamp": now - 3 * DAY_MS, "message": "a"}, {"timestamp": now, "message": "b"}]
    fails("InvalidParameterException", logs.PutLogEvents, ctx,
          {"logGroupName": "g", "logStreamName": "s", "logEvents": span})
    big = [{"timestamp": now, "message": "x" * 600_000}, {"timestamp": now, "message": "y" * 600_000}]
    error = fails("InvalidParameterException", logs.PutLogEvents, ctx,
                  {"logGroupName": "g", "logStreamName": "s", "logEvents": big})
    assert "exceeds limit of 1048576" in error.message


def test_put_to_missing_group_or_stream(logs, ctx):
    event = [{"timestamp": now_ms(), "message": "x"}]
    fails("ResourceNotFoundException", logs.PutLogEvents, ctx,
          {"logGroupName": "g", "logStreamName": "s", "logEvents": event},
          message="The specified log group does not exist.")
    logs.CreateLogGroup(ctx, {"logGroupName": "g"})
    fails("ResourceNotFoundException", logs.PutLogEvents, ctx,
          {"logGroupName": "g", "logStreamName": "s", "logEvents": event},
          message="The specified log stream does not exist.")


# --- GetLogEvents ----------------------------------------------------------------------------------


@pytest.fixture
def stream25(logs, ctx) -> list[str]:
    make_stream(logs, ctx, "g", "s")
    names = [f"event {i:02d}" for i in range(25)]
    put(logs, ctx, "g", "s", names, step=10)
    return names


def test_get_defaults_to_the_newest_events_and_pages_backward(logs, ctx, stream25):
    params = {"logGroupName": "g", "logStreamName": "s", "limit": 10}
    first = logs.GetLogEvents(ctx, params)
    assert messages(first) == stream25[15:]
    assert first["nextForwardToken"].startswith("f/") and first["nextBackwardToken"].startswith("b/")
    collected, token = messages(first), first["nextBackwardToken"]
    while True:
        reply = logs.GetLogEvents(ctx, {**params, "nextToken": token})
        if reply["nextBackwardToken"] == token:
            assert reply["events"] == []  # the start: AWS hands the same token back
            break
        collected = messages(reply) + collected
        token = reply["nextBackwardToken"]
    assert collected == stream25
    # At the end already: the forward token comes straight back, with no events.
    end = logs.GetLogEvents(ctx, {**params, "nextToken": first["nextForwardToken"]})
    assert end["events"] == [] and end["nextForwardToken"] == first["nextForwardToken"]


def test_get_from_head_pages_forward_until_the_token_repeats(logs, ctx, stream25):
    params = {"logGroupName": "g", "logStreamName": "s", "limit": 7, "startFromHead": True}
    collected, token, calls = [], None, 0
    while True:
        reply = logs.GetLogEvents(ctx, {**params, **({"nextToken": token} if token else {})})
        calls += 1
        collected += messages(reply)
        if reply["nextForwardToken"] == token:
            break
        token = reply["nextForwardToken"]
    assert collected == stream25 and calls == 5  # 7 + 7 + 7 + 4, then one empty page
    # New events show up behind the token the reader stopped at.
    put(logs, ctx, "g", "s", ["late"], start=now_ms())
    late = logs.GetLogEvents(ctx, {**params, "nextToken": token})
    assert messages(late) == ["late"]
    # And its backward token goes back over the events before it.
    back = logs.GetLogEvents(ctx, {**params, "nextToken": late["nextBackwardToken"]})
    assert messages(back) == stream25[-7:]


def test_get_on_an_empty_stream_then_following(logs, ctx):
    make_stream(logs, ctx, "g", "s")
    params = {"logGroupName": "g", "logStreamName": "s"}
    empty = logs.GetLogEvents(ctx, params)
    assert empty["events"] == []
    again = logs.GetLogEvents(ctx, {**params, "nextToken": empty["nextForwardToken"]})
    assert again["nextForwardToken"] == empty["nextForwardToken"]
    put(logs, ctx, "g", "s", ["first", "second"])
    assert messages(logs.GetLogEvents(ctx, {**params, "nextToken": empty["nextForwardToken"]})) == ["first", "second"]


def test_get_time_range_is_start_inclusive_end_exclusive(logs, ctx):
    make_stream(logs, ctx, "g", "s")
    start = now_ms() - 10_000
    put(logs, ctx, "g", "s", [str(i) for i in range(10)], start=start, step=1000)
    reply = logs.GetLogEvents(ctx, {"logGroupName": "g", "logStreamName": "s", "startTime": start + 2000,
                                    "endTime": start + 5000, "startFromHead": True})
    assert messages(reply) == ["2", "3", "4"]


def test_get_pages_exactly_through_events_sharing_a_millisecond(logs, ctx):
    make_stream(logs, ctx, "g", "s")
    now = now_ms()
    names = [f"same {i}" for i in range(10)]
    put(logs, ctx, "g", "s", names, start=now, step=0)
    params = {"logGroupName": "g", "logStreamName": "s", "limit": 3, "startFromHead": True}
    collected, token = [], None
    while True:
        reply = logs.GetLogEvents(ctx, {**params, **({"nextToken": token} if token else {})})
        collected += messages(reply)
        if reply["nextForwardToken"] == token:
            break
        token = reply["nextForwardToken"]
    assert collected == names


def test_get_pages_stop_at_one_megabyte(logs, ctx):
    now = now_ms()
    logs.append_events(ACCOUNT, REGION, "g", "s", [(now + i, f"{i}" + "x" * 300_000) for i in range(5)])
    reply = logs.GetLogEvents(ctx, {"logGroupName": "g", "logStreamName": "s", "startFromHead": True})
    assert len(reply["events"]) == 3
    page = logs.FilterLogEvents(ctx, {"logGroupName": "g"})
    assert len(page["events"]) == 3 and "nextToken" in page


def test_get_missing_stream(logs, ctx):
    logs.CreateLogGroup(ctx, {"logGroupName": "g"})
    fails("ResourceNotFoundException", logs.GetLogEvents, ctx, {"logGroupName": "g", "logStreamName": "s"},
          message="The specified log stream does not exist.")
    fails("ResourceNotFoundException", logs.GetLogEvents, ctx, {"logGroupName": "x", "logStreamName": "s"},
          message="The specified log group does not exist.")


# --- FilterLogEvents -------------------------------------------------------------------------------

LINES = {
    "web/1": ["ERROR Connection refused by host", "INFO started", "WARN disk almost full", "ERROR timeout"],
    "web/2": ["error lowercase", "ERROR Exception in thread main", "INFO Connection refused elsewhere"],
    "worker": ['{"level": "error", "latency": 250}', '{"level": "info", "latency": 12}', "plain ERROR"],
}


@pytest.fixture
def group(logs, ctx) -> int:
    """Three streams whose events interleave in time; returns the first timestamp."""
    start = now_ms() - 60_000
    for offset, (stream, lines) in enumerate(LINES.items()):
        make_stream(logs, ctx, "g", stream)
        put(logs, ctx, "g", stream, lines, start=start + offset, step=10)
    return start


def filtered(logs, ctx, **params) -> list[str]:
    return messages(logs.FilterLogEvents(ctx, {"logGroupName": "g", **params}))


@pytest.mark.parametrize(("pattern", "expected"), [
    ("", [line for lines in LINES.values() for line in lines]),
    ("ERROR", ["ERROR Connection refused by host", "ERROR Exception in thread main", "plain ERROR",
               "ERROR timeout"]),
    ("ERROR Connection", ["ERROR Connection refused by host"]),
    ('"Connection refused"', ["ERROR Connection refused by host", "INFO Connection refused elsewhere"]),
    ("?WARN ?Exception", ["ERROR Exception in thread main", "WARN disk almost full"]),
    ("ERROR -Connection -timeout", ["ERROR Exception in thread main", "plain ERROR"]),
    ('-"Connection refused" -ERROR -level', ["INFO started", "error lowercase", "WARN disk almost full"]),
    ("%ERROR [a-z]+$%", ["ERROR timeout"]),
    ('{ $.level = "error" }', ['{"level": "error", "latency": 250}']),
    ("{ $.latency < 100 || $.level = err* }", ['{"level": "error", "latency": 250}',
                                                '{"level": "info", "latency": 12}']),
])
def test_filter_patterns(logs, ctx, group, pattern, expected):
    assert sorted(filtered(logs, ctx, filterPattern=pattern)) == sorted(expected)


def test_filter_interleaves_streams_in_time_order(logs, ctx, group):
    events = logs.FilterLogEvents(ctx, {"logGroupName": "g"})["events"]
    keys = [(e["timestamp"], int(e["eventId"])) for e in events]
    assert keys == sorted(keys) and len(events) == 10
    assert [e["logStreamName"] for e in events[:3]] == ["web/1", "web/2", "worker"]
    assert all(set(e) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"} for e in events)
    assert all(isinstance(e["eventId"], str) for e in events)


def test_filter_by_stream_names_and_prefix(logs, ctx, group):
    assert filtered(logs, ctx, logStreamNames=["worker", "missing"]) == LINES["worker"]
    assert sorted(filtered(logs, ctx, logStreamNamePrefix="web/")) == sorted(LINES["web/1"] + LINES["web/2"])
    assert filtered(logs, ctx, logStreamNamePrefix="WEB") == []
    fails("InvalidParameterException", logs.FilterLogEvents, ctx,
          {"logGroupName": "g", "logStreamNames": ["worker"], "logStreamNamePrefix": "web"})


def test_filter_time_range_includes_both_ends(logs, ctx, group):
    # web/1 events sit at group+0, +10, +20, +30.
    assert filtered(logs, ctx, logStreamNames=["web/1"], startTime=group + 10, endTime=group + 20) == \
        LINES["web/1"][1:3]
    assert filtered(logs, ctx, startTime=group + 1000) == []


def test_filter_pages_through_everything_once(logs, ctx, group):
    for limit in (1, 3, 4):
        events = all_pages(lambda p: logs.FilterLogEvents(ctx, p), {"logGroupName": "g", "limit": limit}, "events")
        assert [e["eventId"] for e in events] == [e["eventId"] for e in logs.FilterLogEvents(
            ctx, {"logGroupName": "g"})["events"]]
    matched = all_pages(lambda p: logs.FilterLogEvents(ctx, p),
                        {"logGroupName": "g", "limit": 2, "filterPattern": "ERROR"}, "events")
    assert len(matched) == 4
    last = logs.FilterLogEvents(ctx, {"logGroupName": "g", "limit": 10})
    assert "nextToken" not in last  # exactly full: nothing more to fetch


def test_filter_newest_first(logs, ctx, group):
    events = all_pages(lambda p: logs.FilterLogEvents(ctx, p),
                       {"logGroupName": "g", "startFromHead": False, "limit": 3}, "events")
    keys = [(e["timestamp"], int(e["eventId"])) for e in events]
    assert keys == sorted(keys, reverse=True) and len(keys) == 10


def test_filter_polling_like_aws_logs_tail(logs, ctx, group):
    """`aws logs tail --follow` polls with startTime = the newest timestamp seen, deduplicating by eventId."""
    first = logs.FilterLogEvents(ctx, {"logGroupName": "g", "startTime": group, "interleaved": True})["events"]
    newest = max(e["timestamp"] for e in first)
    put(logs, ctx, "g", "worker", ["new line"], start=now_ms())
    again = logs.FilterLogEvents(ctx, {"logGroupName": "g", "startTime": newest})["events"]
    seen = {e["eventId"] for e in first}
    assert [e["message"] for e in again if e["eventId"] not in seen] == ["new line"]


def test_filter_rejects_unsupported_patterns(logs, ctx, group):
    for pattern in ("[ip, user]", '"unterminated', "{ $.a = }", "{ $.a > abc }", "%(%"):
        fails("InvalidParameterException", logs.FilterLogEvents, ctx, {"logGroupName": "g", "filterPattern": pattern},
              message="Invalid filter pattern")


# --- tokens ----------------------------------------------------------------------------------------


def _b64(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


BAD_TOKENS = ["garbage", "f/garbage", "x/" + _b64(["events", 1, 2]), "f/" + _b64(["events", 2**70, 1]),
              _b64(["filter", "f", True, 1]), _b64(["filter", "sideways", 1, 1]), _b64(["groups", 1]),
              _b64({"offset": 3}), "%%%", "f/" + _b64(["filter", "f", 1, 1])]


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_malformed_tokens_are_invalid_parameters(logs, ctx, token):
    make_stream(logs, ctx, "g", "s")
    message = "The specified nextToken is invalid."
    fails("InvalidParameterException", logs.GetLogEvents, ctx,
          {"logGroupName": "g", "logStreamName": "s", "nextToken": token}, message=message)
    fails("InvalidParameterException", logs.FilterLogEvents, ctx, {"logGroupName": "g", "nextToken": token},
          message=message)
    fails("InvalidParameterException", logs.DescribeLogGroups, ctx, {"nextToken": token}, message=message)
    fails("InvalidParameterException", logs.DescribeLogStreams, ctx, {"logGroupName": "g", "nextToken": token},
          message=message)


# --- append, for the runtime -----------------------------------------------------------------------


def test_append_creates_group_and_stream_and_skips_checks(logs, ctx):
    group, stream = "/aws/sagemaker/NotebookInstances", "nb1/LifecycleConfigOnStart"
    old = now_ms() - 30 * DAY_MS
    asyncio.run(logs.append(ACCOUNT, REGION, group, stream, [(old + 5, "second"), (old, "first")]))
    asyncio.run(logs.append(ACCOUNT, REGION, group, stream, [(old + 10, "third")]))
    assert [g["logGroupName"] for g in logs.DescribeLogGroups(ctx, {})["logGroups"]] == [group]
    (described,) = logs.DescribeLogStreams(ctx, {"logGroupName": group})["logStreams"]
    assert described["logStreamName"] == stream
    assert (described["firstEventTimestamp"], described["lastEventTimestamp"]) == (old, old + 10)
    reply = logs.GetLogEvents(ctx, {"logGroupName": group, "logStreamName": stream, "startFromHead": True})
    assert messages(reply) == ["first", "second", "third"]


def test_concurrent_appends_to_a_new_group(logs, ctx):
    errors: list[Exception] = []

    def ship(stream: str) -> None:
        try:
            for i in range(5):
                logs.append_events(ACCOUNT, REGION, "/aws/new", stream, [(now_ms(), f"{stream} {i}")])
        except Exception as exc:  # a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=ship, args=(f"nb/{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(logs.DescribeLogStreams(ctx, {"logGroupName": "/aws/new"})["logStreams"]) == 4
    assert len(logs.FilterLogEvents(ctx, {"logGroupName": "/aws/new"})["events"]) == 20


# --- filter patterns, directly ---------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "message", "expected"), [
    ("", "anything", True),
    ('" "', "nospace", True),  # AWS's documented match-everything pattern
    ("Error", "ERROR", False),  # case-sensitive
    ("ERR", "ERROR", True),  # substring
    ('"a \\"quoted\\" word"', 'say a "quoted" word', True),
    ("?a ?b c", "b c", True),
    ("?a ?b c", "a b", False),
    ("-x", "abc", True),
    ('{ $.user.id = 42 }', '{"user": {"id": 42}}', True),
    ('{ $.user.id = 42 }', '{"user": {"id": "42"}}', False),
    ('{ $.items[1] = "b" }', '{"items": ["a", "b"]}', True),
    ('{ $.code != 200 }', '{"code": 500}', True),
    ('{ $.code != 200 }', '{"other": 1}', False),
    ('{ $.ok IS TRUE && $.gone NOT EXISTS }', '{"ok": true}', True),
    ('{ $.v IS NULL }', '{"v": null}', True),
    ('{ ($.a = 1 || $.b = 2) && $.c >= 3.5 }', '{"b": 2, "c": 3.5}', True),
    ('{ $.ip = 10.0.* }', '{"ip": "10.0.3.4"}', True),
    ('{ $.level = "error" }', "not json", False),
])
def test_compile_pattern(pattern, message, expected):
    assert compile_pattern(pattern)(message) is expected


@pytest.mark.parametrize("pattern", ["[a, b]", "{ $.a = 1", "{ $.a = 1 ) }", "{ a = 1 }", "{ $.a IS MAYBE }",
                                     "{ $.a NOT 1 }", "{ $.a < }", '"open', "%[%"])
def test_compile_pattern_rejects(pattern):
    with pytest.raises(FilterPatternError):
        compile_pattern(pattern)
