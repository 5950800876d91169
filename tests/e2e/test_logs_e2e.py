"""CloudWatch Logs end to end: boto3 and the AWS CLI against a running server."""

from __future__ import annotations

import contextlib
import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture
def logs(server):
    return server.client("logs")


@pytest.fixture
def group(logs):
    name = f"/selfmaker/e2e/{uuid.uuid4().hex[:12]}"
    logs.create_log_group(logGroupName=name)
    yield name
    with contextlib.suppress(ClientError):
        logs.delete_log_group(logGroupName=name)


def _put(logs, group: str, stream: str, lines: list[str]) -> list[int]:
    """Create ``stream`` and put ``lines`` one millisecond apart, ending a second ago; returns the timestamps."""
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    start = int(time.time() * 1000) - 1000 - len(lines)
    stamps = [start + i for i in range(len(lines))]
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": t, "message": m} for t, m in zip(stamps, lines, strict=True)])
    return stamps


def test_groups_and_streams_through_boto3(server, logs, group):
    (described,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    arn = f"arn:aws:logs:{server.region}:{server.account_id}:log-group:{group}"
    assert described["arn"] == arn + ":*" and described["logGroupArn"] == arn
    stamps = _put(logs, group, "nb/LifecycleConfigOnStart", ["one", "two"])
    (stream,) = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert stream["arn"] == f"{arn}:log-stream:nb/LifecycleConfigOnStart"
    assert (stream["firstEventTimestamp"], stream["lastEventTimestamp"]) == (stamps[0], stamps[-1])

    for suffix in ("a", "b", "c"):
        logs.create_log_group(logGroupName=f"{group}/{suffix}")
    pages = list(logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix=f"{group}/", PaginationConfig={"PageSize": 1}))
    assert [g["logGroupName"] for page in pages for g in page["logGroups"]] == [f"{group}/{s}" for s in "abc"]
    for suffix in ("a", "b", "c"):
        logs.delete_log_group(logGroupName=f"{group}/{suffix}")


def test_get_log_events_through_the_cli(server, logs, group):
    lines = [f"line {i}" for i in range(5)]
    _put(logs, group, "s", lines)
    reply = server.aws_json("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "s")
    assert [e["message"] for e in reply["events"]] == lines
    assert reply["nextForwardToken"].startswith("f/") and reply["nextBackwardToken"].startswith("b/")
    # At the end of the stream the same forward token comes back: that is how readers know to stop.
    again = server.aws_json("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "s",
                            "--start-from-head", "--next-token", reply["nextForwardToken"])
    assert again["events"] == [] and again["nextForwardToken"] == reply["nextForwardToken"]
    head = server.aws_json("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "s",
                           "--start-from-head", "--limit", "2")
    assert [e["message"] for e in head["events"]] == lines[:2]


def test_put_log_events_through_the_cli(server, logs, group):
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    events = json.dumps([{"timestamp": now - 1, "message": "from the cli"}, {"timestamp": now, "message": "too"}])
    reply = server.aws_json("logs", "put-log-events", "--log-group-name", group, "--log-stream-name", "s",
                            "--log-events", events)
    assert "rejectedLogEventsInfo" not in reply
    got = logs.get_log_events(logGroupName=group, logStreamName="s")["events"]
    assert [e["message"] for e in got] == ["from the cli", "too"]


def test_filter_log_events_phrase_through_the_cli(server, logs, group):
    _put(logs, group, "a", ["some phrase here", "some other phrase", "unrelated"])
    _put(logs, group, "b", ["and some phrase again"])
    for page_size in ([], ["--page-size", "1"]):  # the CLI follows nextToken until there is none
        reply = server.aws_json("logs", "filter-log-events", "--log-group-name", group,
                                "--filter-pattern", '"some phrase"', *page_size)
        assert sorted(e["message"] for e in reply["events"]) == ["and some phrase again", "some phrase here"]
        assert {e["logStreamName"] for e in reply["events"]} == {"a", "b"}
    events = [e for page in logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, filterPattern="?unrelated ?other", PaginationConfig={"PageSize": 1})
        for e in page["events"]]
    assert [e["message"] for e in events] == ["some other phrase", "unrelated"]


def test_errors(server, logs, group):
    missing = f"{group}-missing"
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName=missing, logStreamName="s")
    assert _code(exc) == "ResourceNotFoundException"
    assert exc.value.response["Error"]["Message"] == "The specified log group does not exist."
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=group, logStreamName="nope",
                            logEvents=[{"timestamp": int(time.time() * 1000), "message": "x"}])
    assert _code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName=group)
    assert _code(exc) == "ResourceAlreadyExistsException"

    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": now, "message": "b"}, {"timestamp": now - 5, "message": "a"}])
    assert _code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=group, nextToken="not-a-token")
    assert _code(exc) == "InvalidParameterException"

    result = server.aws("logs", "describe-log-streams", "--log-group-name", missing, check=False)
    assert result.returncode != 0 and "ResourceNotFoundException" in result.stderr
