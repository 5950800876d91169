"""Cost Explorer over the meter, for real: one ml.t3.medium ($0.05/h) started and stopped on a test-mode server
whose metering clock the tests move (across midnight, a month's end, a SIGKILL), read back through boto3, the
AWS CLI and ``selfmaker usage``, to the cent of figures worked out by hand.

The tests share the instance and run in order, each in an era of its own (its own months), so that one's hours
never reach another's figures.
"""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import UTC, datetime

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, VENV_BIN, running_server

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
WAIT = {"Delay": 1, "MaxAttempts": 120}
NAME = "ce-meter"
ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/{NAME}"
USAGE_TYPE = "USE1-Notebk:ml.t3.medium"
COST = ["UnblendedCost", "UsageQuantity"]


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _clock(server, text: str) -> None:
    httpx.post(f"{server.endpoint_url}/_selfmaker/clock", json={"now": _at(text)}).raise_for_status()


def _start(server, at: str) -> None:
    _clock(server, at)
    sm = server.client("sagemaker")
    sm.start_notebook_instance(NotebookInstanceName=NAME)
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=NAME, WaiterConfig=WAIT)


def _stop(server, at: str) -> None:
    _clock(server, at)
    sm = server.client("sagemaker")
    sm.stop_notebook_instance(NotebookInstanceName=NAME)
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=NAME, WaiterConfig=WAIT)


def _totals(response: dict, metric: str = "UnblendedCost") -> list[tuple[str, str]]:
    return [(item["TimePeriod"]["Start"], item["Total"][metric]["Amount"]) for item in response["ResultsByTime"]]


def _groups(response: dict) -> list[tuple[str, list[str], str, str]]:
    return [(item["TimePeriod"]["Start"], group["Keys"], group["Metrics"]["UnblendedCost"]["Amount"],
             group["Metrics"]["UsageQuantity"]["Amount"])
            for item in response["ResultsByTime"] for group in item["Groups"]]


def _error(call, **params) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Code"], error["Message"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("cost-explorer"), SELFMAKER_TEST_MODE="1") as proc:
        yield proc


@pytest.fixture(scope="module")
def notebook(server):
    """ce-meter, tagged Project=fastai, billed 22:00 Jan 30 → 01:00 Jan 31 2026 (2 h + 1 h) and 20:00 Jan 31
    → 02:30 Feb 1 (4 h + 2.5 h) at $0.05 an hour; left stopped, the clock at 02:30 Feb 1."""
    _clock(server, "2026-01-30T22:00:00")
    sm = server.client("sagemaker")
    sm.create_notebook_instance(NotebookInstanceName=NAME, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                Tags=[{"Key": "Project", "Value": "fastai"}])
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=NAME, WaiterConfig=WAIT)
    _stop(server, "2026-01-31T01:00:00")
    _start(server, "2026-01-31T20:00:00")
    _stop(server, "2026-02-01T02:30:00")
    return NAME


@pytest.fixture
def era(server, notebook):
    """The clock at 02:30 Feb 1 2026, where the notebook's figures were made (a test before may have moved it)."""
    _clock(server, "2026-02-01T02:30:00")


def test_days_and_months_across_midnight_and_a_month_end(server, era):
    ce = server.client("ce")

    daily = ce.get_cost_and_usage(TimePeriod={"Start": "2026-01-29", "End": "2026-02-02"}, Granularity="DAILY",
                                  Metrics=COST)
    assert _totals(daily) == [("2026-01-29", "0"), ("2026-01-30", "0.1"), ("2026-01-31", "0.25"),
                              ("2026-02-01", "0.125")]
    assert _totals(daily, "UsageQuantity") == [("2026-01-29", "0"), ("2026-01-30", "2"), ("2026-01-31", "5"),
                                               ("2026-02-01", "2.5")]
    assert daily["ResultsByTime"][2]["Total"]["UsageQuantity"]["Unit"] == "Hrs"
    assert daily["ResultsByTime"][2]["Total"]["UnblendedCost"]["Unit"] == "USD"
    # The clock stands at 02:30 on Feb 1: that day is not over, so its amount is an estimate.
    assert [item["Estimated"] for item in daily["ResultsByTime"]] == [False, False, False, True]
    assert daily["GroupDefinitions"] == [] and "NextPageToken" not in daily

    monthly = ce.get_cost_and_usage(TimePeriod={"Start": "2026-01-01", "End": "2026-03-01"},
                                    Granularity="MONTHLY", Metrics=["BlendedCost", "AmortizedCost",
                                                                    "NetUnblendedCost", "UsageQuantity"])
    assert _totals(monthly, "BlendedCost") == [("2026-01-01", "0.35"), ("2026-02-01", "0.125")]
    assert _totals(monthly, "AmortizedCost") == _totals(monthly, "NetUnblendedCost") == _totals(monthly, "BlendedCost")
    assert _totals(monthly, "UsageQuantity") == [("2026-01-01", "7"), ("2026-02-01", "2.5")]
    assert [item["Estimated"] for item in monthly["ResultsByTime"]] == [False, True]

    hourly = ce.get_cost_and_usage(TimePeriod={"Start": "2026-01-31T00:00:00Z", "End": "2026-02-01T00:00:00Z"},
                                   Granularity="HOURLY", Metrics=["UnblendedCost"])
    hours = dict(_totals(hourly))
    assert len(hours) == 24
    assert hours["2026-01-31T00:00:00Z"] == hours["2026-01-31T23:00:00Z"] == "0.05"
    assert hours["2026-01-31T01:00:00Z"] == hours["2026-01-31T19:00:00Z"] == "0"


def test_groups_by_usage_type_tag_and_account(server, era):
    ce = server.client("ce")
    period = {"Start": "2026-01-30", "End": "2026-02-02"}
    by_type = ce.get_cost_and_usage(TimePeriod=period, Granularity="DAILY", Metrics=COST,
                                    GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
    assert _groups(by_type) == [("2026-01-30", [USAGE_TYPE], "0.1", "2"), ("2026-01-31", [USAGE_TYPE], "0.25", "5"),
                                ("2026-02-01", [USAGE_TYPE], "0.125", "2.5")]
    assert by_type["ResultsByTime"][0]["Total"] == {}  # as AWS: the groups carry the amounts
    assert by_type["GroupDefinitions"] == [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}]

    by_tag_and_account = ce.get_cost_and_usage(
        TimePeriod={"Start": "2026-01-01", "End": "2026-02-01"}, Granularity="MONTHLY", Metrics=COST,
        GroupBy=[{"Type": "TAG", "Key": "Project"}, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}])
    assert _groups(by_tag_and_account) == [("2026-01-01", ["Project$fastai", ACCOUNT], "0.35", "7")]
    assert by_tag_and_account["DimensionValueAttributes"] == [{"Value": ACCOUNT,
                                                               "Attributes": {"description": ACCOUNT}}]
    untagged_key = ce.get_cost_and_usage(TimePeriod={"Start": "2026-01-01", "End": "2026-02-01"},
                                         Granularity="MONTHLY", Metrics=COST,
                                         GroupBy=[{"Type": "TAG", "Key": "Owner"}])
    assert _groups(untagged_key) == [("2026-01-01", ["Owner$"], "0.35", "7")]

    # Per instance, as AWS serves it: GetCostAndUsageWithResources, the last 14 days, RESOURCE_ID.
    by_resource = ce.get_cost_and_usage_with_resources(
        TimePeriod={"Start": "2026-01-30", "End": "2026-02-01"}, Granularity="MONTHLY", Metrics=COST,
        Filter={"Dimensions": {"Key": "SERVICE", "Values": ["Amazon SageMaker"]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "RESOURCE_ID"}])
    assert _groups(by_resource) == [("2026-01-30", [ARN], "0.35", "7")]
    assert _error(ce.get_cost_and_usage, TimePeriod=period, Granularity="DAILY", Metrics=COST,
                  GroupBy=[{"Type": "DIMENSION", "Key": "RESOURCE_ID"}])[1].startswith(
        "Group Definition dimension is invalid. Valid values are SERVICE, USAGE_TYPE")


def test_filters(server, era):
    ce = server.client("ce")

    def january(expression: dict) -> str:
        response = ce.get_cost_and_usage(TimePeriod={"Start": "2026-01-01", "End": "2026-02-01"},
                                         Granularity="MONTHLY", Metrics=["UnblendedCost"], Filter=expression)
        return _totals(response)[0][1]

    medium = {"Dimensions": {"Key": "INSTANCE_TYPE", "Values": ["ml.t3.medium"]}}
    large = {"Dimensions": {"Key": "INSTANCE_TYPE", "Values": ["ml.t3.large"]}}
    fastai = {"Tags": {"Key": "Project", "Values": ["fastai"]}}
    assert january(medium) == january(fastai) == "0.35"
    assert january(large) == january({"Tags": {"Key": "Project", "Values": ["other"]}}) == "0"
    assert january({"And": [medium, fastai]}) == january({"Or": [large, fastai]}) == "0.35"
    assert january({"And": [large, fastai]}) == january({"Not": fastai}) == "0"
    assert january({"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["210987654321"]}}) == "0"
    assert january({"Dimensions": {"Key": "REGION", "Values": ["us-east-1"]}}) == "0.35"
    assert january({"Dimensions": {"Key": "USAGE_TYPE", "Values": ["notebk:ML.T3"],
                                   "MatchOptions": ["CONTAINS", "CASE_INSENSITIVE"]}}) == "0.35"
    assert january({"Tags": {"Key": "Owner", "MatchOptions": ["ABSENT"]}}) == "0.35"
    assert january({"Tags": {"Key": "Project", "MatchOptions": ["ABSENT"]}}) == "0"
    code, message = _error(ce.get_cost_and_usage, TimePeriod={"Start": "2026-01-01", "End": "2026-02-01"},
                           Granularity="MONTHLY", Metrics=["UnblendedCost"], Filter={"Or": [medium]})
    assert (code, message) == ("ValidationException", "Or expression must have at least 2 operands")


def test_forecast_is_the_larger_of_the_weeks_mean_and_today_if_nothing_changes(server, era):
    # 02:30 Feb 1: Jan 25-31 cost $0.10 + $0.25, a mean of $0.05 a day; today has cost $0.125 already (2.5 h) and
    # nothing runs, so today stays at $0.125 — the larger: every day from Feb 1 on costs $0.125.
    ce = server.client("ce")
    daily = ce.get_cost_forecast(TimePeriod={"Start": "2026-02-01", "End": "2026-02-08"}, Metric="UNBLENDED_COST",
                                 Granularity="DAILY", PredictionIntervalLevel=95)
    assert daily["Total"] == {"Amount": "0.875", "Unit": "USD"}
    assert [item["MeanValue"] for item in daily["ForecastResultsByTime"]] == ["0.125"] * 7
    first = daily["ForecastResultsByTime"][0]
    assert first["TimePeriod"] == {"Start": "2026-02-01", "End": "2026-02-02"}
    # 95%: ±1.96 × the spread of Jan 25-31 (a population deviation of √(0.055 / 7) = $0.0886), never below 0.
    assert first["PredictionIntervalLowerBound"] == "0"
    assert round(float(first["PredictionIntervalUpperBound"]), 2) == 0.30
    monthly = ce.get_cost_forecast(TimePeriod={"Start": "2026-02-01", "End": "2026-03-01"},
                                   Metric="BLENDED_COST", Granularity="MONTHLY")
    assert monthly["Total"]["Amount"] == "3.5"  # 28 days

    # 00:30 Feb 2: Jan 26 - Feb 1 cost $0.475, $0.0679 a day; today nothing yet and nothing runs: the mean.
    _clock(server, "2026-02-02T00:30:00")
    week = ce.get_cost_forecast(TimePeriod={"Start": "2026-02-02", "End": "2026-02-09"}, Metric="UNBLENDED_COST",
                                Granularity="DAILY")
    assert week["Total"]["Amount"] == "0.475"
    assert {item["MeanValue"] for item in week["ForecastResultsByTime"]} == {"0.0678571429"}
    rest = ce.get_cost_forecast(TimePeriod={"Start": "2026-02-02", "End": "2026-03-01"}, Metric="UNBLENDED_COST",
                                Granularity="MONTHLY")
    assert rest["Total"]["Amount"] == "1.8321428571"  # 27 days × $0.475 / 7

    code, message = _error(ce.get_cost_forecast, TimePeriod={"Start": "2026-02-01", "End": "2026-02-08"},
                           Metric="UNBLENDED_COST", Granularity="DAILY")
    assert code == "ValidationException" and "current date" in message
    assert _error(ce.get_cost_forecast, TimePeriod={"Start": "2026-02-05", "End": "2026-02-03"},
                  Metric="UNBLENDED_COST", Granularity="DAILY")[1] == \
        "Requested Start: 2026-02-05 must be before requested End: 2026-02-03"
    assert "USAGE_QUANTITY" in _error(ce.get_cost_forecast, TimePeriod={"Start": "2026-02-02", "End": "2026-02-08"},
                                      Metric="USAGE_QUANTITY", Granularity="DAILY")[1]


def test_an_instance_started_today_is_not_forecast_at_zero(server, notebook):
    # May 2026, a week of nothing behind it: started at 18:00, at 20:00 today has cost $0.10 and will cost $0.30
    # by midnight if it keeps running, so every day ahead costs $0.30.
    _start(server, "2026-05-10T18:00:00")
    _clock(server, "2026-05-10T20:00:00")
    ce = server.client("ce")
    week = ce.get_cost_forecast(TimePeriod={"Start": "2026-05-10", "End": "2026-05-17"}, Metric="UNBLENDED_COST",
                                Granularity="DAILY", Filter={"Tags": {"Key": "Project", "Values": ["fastai"]}})
    assert week["Total"]["Amount"] == "2.1"
    assert {(item["MeanValue"], item["PredictionIntervalLowerBound"], item["PredictionIntervalUpperBound"])
            for item in week["ForecastResultsByTime"]} == {("0.3", "0.3", "0.3")}  # a week of $0: no spread
    # The filter reaches the running instance too: another project's forecast is nothing.
    other = ce.get_cost_forecast(TimePeriod={"Start": "2026-05-10", "End": "2026-05-17"}, Metric="UNBLENDED_COST",
                                 Granularity="DAILY", Filter={"Tags": {"Key": "Project", "Values": ["other"]}})
    assert other["Total"]["Amount"] == "0"
    _stop(server, "2026-05-10T20:00:00")


def test_dimension_values_and_tags(server, era):
    ce = server.client("ce")
    period = {"Start": "2026-01-01", "End": "2026-02-01"}
    accounts = ce.get_dimension_values(TimePeriod=period, Dimension="LINKED_ACCOUNT")
    assert accounts["DimensionValues"] == [{"Value": ACCOUNT, "Attributes": {"description": ACCOUNT}}]
    assert ce.get_dimension_values(TimePeriod=period, Dimension="USAGE_TYPE",
                                   SearchString="t3")["DimensionValues"][0]["Value"] == USAGE_TYPE
    assert ce.get_dimension_values(TimePeriod={"Start": "2025-01-01", "End": "2025-02-01"},
                                   Dimension="SERVICE")["TotalSize"] == 0
    assert ce.get_tags(TimePeriod=period)["Tags"] == ["Project"]
    assert ce.get_tags(TimePeriod=period, TagKey="Project")["Tags"] == ["fastai"]


def test_aws_cli_and_selfmaker_usage_agree(server, era):
    grouped = server.aws_json("ce", "get-cost-and-usage", "--time-period", "Start=2026-01-01,End=2026-03-01",
                              "--granularity", "MONTHLY", "--metrics", "UnblendedCost", "UsageQuantity",
                              "--group-by", "Type=TAG,Key=Project")
    assert _groups(grouped) == [("2026-01-01", ["Project$fastai"], "0.35", "7"),
                                ("2026-02-01", ["Project$fastai"], "0.125", "2.5")]
    error = server.aws("ce", "get-cost-and-usage", "--time-period", "Start=2026-01-05,End=2026-01-01",
                       "--granularity", "DAILY", "--metrics", "UnblendedCost", check=False)
    assert error.returncode != 0
    assert "(ValidationException)" in error.stderr and "Start date (and hour) should be before end date" in error.stderr

    def usage(*args: str) -> list[str]:
        result = subprocess.run([str(VENV_BIN / "selfmaker"), "usage", "--data-dir", str(server.data_dir),
                                 *server.database_args(), *args],
                                capture_output=True, text=True, timeout=60, env=server.env)
        assert result.returncode == 0, result.stderr
        return [line.split() for line in result.stdout.splitlines()]

    january = usage("--month", "2026-01")
    assert [ARN, "7.00", "0.35"] in january and ["TOTAL", "7.00", "0.35"] in january
    assert ["fastai", "7.00", "0.35"] in usage("--by", "tag", "Project", "--month", "2026-01")
    # This month by the server's (test) clock: February, still running up to 02:30 on the 1st.
    february = usage("--by", "type")
    assert ["ml.t3.medium", "2.50", "0.13"] in february and ["TOTAL", "2.50", "0.13"] in february
    assert [f"arn:aws:iam::{ACCOUNT}:root", "7.00", "0.35"] in usage("--by", "user", "--month", "2026-01")


def test_pages_of_three_years(server, notebook):
    # Running from 2022-06-01 to 2025-04-01: 1035 days, at most 1000 (bucket, group) cells a page.
    _start(server, "2022-06-01T00:00:00")
    _stop(server, "2025-04-01T00:00:00")
    ce = server.client("ce")
    params = {"TimePeriod": {"Start": "2022-06-01", "End": "2025-04-01"}, "Granularity": "DAILY",
              "Metrics": ["UnblendedCost"]}
    first = ce.get_cost_and_usage(**params)
    assert len(first["ResultsByTime"]) == 1000
    second = ce.get_cost_and_usage(**params, NextPageToken=first["NextPageToken"])
    assert len(second["ResultsByTime"]) == 35 and "NextPageToken" not in second
    days = first["ResultsByTime"] + second["ResultsByTime"]
    assert {item["Total"]["UnblendedCost"]["Amount"] for item in days} == {"1.2"}  # 24 h a day
    assert days[-1]["TimePeriod"] == {"Start": "2025-03-31", "End": "2025-04-01"}
    # A token answers only the query it came from.
    code, message = _error(ce.get_cost_and_usage, **{**params, "Granularity": "MONTHLY"},
                           NextPageToken=first["NextPageToken"])
    assert (code, message) == ("ValidationException", "Invalid NextPageToken")


def test_hours_while_the_server_was_down_are_billed(server, notebook):
    _start(server, "2025-06-10T10:00:00")
    server.kill(signal.SIGKILL)
    server.start()  # the same data dir: the clock comes back at 10:00, the instance InService still
    _clock(server, "2025-06-10T15:00:00")
    ce = server.client("ce")
    day = {"TimePeriod": {"Start": "2025-06-10", "End": "2025-06-11"}, "Granularity": "DAILY", "Metrics": COST}
    assert _totals(ce.get_cost_and_usage(**day)) == [("2025-06-10", "0.25")]
    _stop(server, "2025-06-10T16:00:00")
    _clock(server, "2025-06-10T23:00:00")
    assert _totals(ce.get_cost_and_usage(**day), "UsageQuantity") == [("2025-06-10", "6")]


def test_errors_as_aws_words_them(server, era):
    ce = server.client("ce")
    get = ce.get_cost_and_usage
    month = {"Start": "2026-01-01", "End": "2026-02-01"}
    assert _error(get, TimePeriod={"Start": "2026-01-05", "End": "2026-01-05"}, Granularity="DAILY",
                  Metrics=COST) == ("ValidationException",
                                    "Start date (and hour) should be before end date (and hour)")
    assert "Member must satisfy regular expression pattern" in _error(
        get, TimePeriod={"Start": "Jan 1", "End": "2026-01-05"}, Granularity="DAILY", Metrics=COST)[1]
    assert _error(get, TimePeriod={"Start": "2026-02-30", "End": "2026-03-01"}, Granularity="DAILY",
                  Metrics=COST)[1] == "Start date 2026-02-30 is not a valid date."
    assert "enum value set: [DAILY, MONTHLY, HOURLY]" in _error(get, TimePeriod=month, Granularity="WEEKLY",
                                                                Metrics=COST)[1]
    assert _error(get, TimePeriod=month, Granularity="DAILY", Metrics=["Cost"])[1].startswith(
        "Invalid metrics: Cost. Valid values are")
    assert "at most two" in _error(get, TimePeriod=month, Granularity="DAILY", Metrics=COST,
                                   GroupBy=[{"Type": "DIMENSION", "Key": key}
                                            for key in ("SERVICE", "REGION", "USAGE_TYPE")])[1]
    assert _error(get, TimePeriod=month, Granularity="DAILY", Metrics=COST,
                  GroupBy=[{"Type": "DIMENSION", "Key": "AZ"}])[1].startswith("Group Definition dimension is invalid")
    assert "enum value set" in _error(get, TimePeriod=month, Granularity="DAILY", Metrics=COST,
                                      Filter={"Dimensions": {"Key": "COLOUR", "Values": ["red"]}})[1]
    assert "14 days" in _error(get, TimePeriod={"Start": "2026-01-01T00:00:00Z", "End": "2026-01-02T00:00:00Z"},
                               Granularity="HOURLY", Metrics=COST)[1]
    assert _error(get, TimePeriod={"Start": "2026-02-02", "End": "2026-02-05"}, Granularity="DAILY",
                  Metrics=COST)[1] == "Start date must be equal to or no later than the current date."
    assert _error(get, TimePeriod={"Start": "2026-01-01", "End": "2026-04-01"}, Granularity="MONTHLY",
                  Metrics=COST)[1] == "end date past the beginning of next month"
    assert _error(get, TimePeriod=month, Granularity="DAILY", Metrics=COST, NextPageToken="garbage")[1] == \
        "Invalid NextPageToken"


def test_iam_users_need_ce_actions(server, era):
    iam = server.client("iam")
    iam.create_user(UserName="ce-reader")
    iam.put_user_policy(UserName="ce-reader", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ce:GetCostAndUsage", "Resource": "*"}],
    }))
    key = iam.create_access_key(UserName="ce-reader")["AccessKey"]
    ce = server.client("ce", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    # The account's costs, whoever in it asks (as on AWS), once IAM allows the action.
    january = ce.get_cost_and_usage(TimePeriod={"Start": "2026-01-01", "End": "2026-02-01"}, Granularity="MONTHLY",
                                    Metrics=["UnblendedCost"])
    assert _totals(january) == [("2026-01-01", "0.35")]
    code, message = _error(ce.get_tags, TimePeriod={"Start": "2026-01-01", "End": "2026-02-01"})
    assert code == "AccessDeniedException" and "is not authorized to perform: ce:GetTags" in message


def test_a_reset_forgets_the_usage(server, era):
    # Last of all, as it empties the server. The meter keeps periods in memory between reads: a reset of the
    # store must empty them too.
    ce = server.client("ce")
    january = {"TimePeriod": {"Start": "2026-01-01", "End": "2026-02-01"}, "Granularity": "MONTHLY",
               "Metrics": ["UnblendedCost"]}
    assert _totals(ce.get_cost_and_usage(**january)) == [("2026-01-01", "0.35")]
    httpx.post(f"{server.endpoint_url}/moto-api/reset").raise_for_status()
    _clock(server, "2026-02-01T02:30:00")
    assert _totals(ce.get_cost_and_usage(**january)) == [("2026-01-01", "0")]
