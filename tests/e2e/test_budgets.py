"""AWS Budgets end to end: a real test-mode server, a real SMTP server and an HTTP endpoint behind an SNS topic,
real notebook instances, and the metering clock moved so that a budget's thresholds are crossed."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, running_server
from tests.smtp_sink import HttpReceiver, SmtpSink, wait_until

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
ACTION_ROLE = "arn:aws:iam::123456789012:role/BudgetsActionRole"
WAIT = {"Delay": 1, "MaxAttempts": 120}
CHECK = 0.3  # seconds between the server's budget checks
MARCH = datetime(2030, 3, 1, tzinfo=UTC).timestamp()
APRIL = datetime(2030, 4, 1, tzinfo=UTC).timestamp()
HOUR = 3600.0


@pytest.fixture(scope="module")
def smtp():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def receiver():
    endpoint = HttpReceiver().start()
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="module")
def budget_server(tmp_path_factory, smtp):
    with running_server(tmp_path_factory.mktemp("budgets"), SELFMAKER_TEST_MODE="1", SELFMAKER_SMTP_URL=smtp.url,
                        SELFMAKER_SNS_ALLOW_PRIVATE_ENDPOINTS="1", SELFMAKER_BUDGET_CHECK_SECONDS=str(CHECK)) as proc:
        yield proc


@pytest.fixture
def server(budget_server):
    """The module's server, emptied (and its clock released) before each test."""
    assert httpx.post(f"{budget_server.endpoint_url}/moto-api/reset", timeout=120).status_code == 200
    return budget_server


@pytest.fixture
def budgets(server):
    return server.client("budgets")


def _set_clock(server, at: float | None) -> None:
    assert httpx.post(f"{server.endpoint_url}/_selfmaker/clock", json={"now": at}).status_code == 200


def _error(exc: pytest.ExceptionInfo) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def _budget(name: str, amount: str = "1", **extra) -> dict:
    return {"BudgetName": name, "BudgetLimit": {"Amount": amount, "Unit": "USD"}, "TimeUnit": "MONTHLY",
            "BudgetType": "COST", **extra}


def _notification(kind: str = "ACTUAL", threshold: float = 80.0, operator: str = "GREATER_THAN",
                  threshold_type: str = "PERCENTAGE") -> dict:
    return {"NotificationType": kind, "ComparisonOperator": operator, "Threshold": threshold,
            "ThresholdType": threshold_type}


def _email(address: str) -> dict:
    return {"SubscriptionType": "EMAIL", "Address": address}


def _mails(smtp, to: str) -> list:
    return [message for message in smtp.messages if message["To"] == to]


def _address(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


def _running_instance(server, name: str, tags: dict[str, str]) -> str:
    sm = server.client("sagemaker")
    arn = sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                      Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["NotebookInstanceArn"]
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
    return arn


def _confirmed_topic(server, receiver) -> str:
    sns = server.client("sns")
    topic = sns.create_topic(Name=f"budget-{uuid.uuid4().hex[:8]}")["TopicArn"]
    before = len(receiver.requests)
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"{receiver.url}/budget-alerts")
    confirmation = wait_until(lambda: next((r for r in receiver.requests[before:] if r.headers.get(
        "x-amz-sns-message-type") == "SubscriptionConfirmation"), None), what="the subscription confirmation")
    assert httpx.get(confirmation.json()["SubscribeURL"]).status_code == 200
    return topic


# --- the API ----------------------------------------------------------------------------------------------


def test_budget_notifications_and_subscribers_through_the_cli_and_boto3(server, budgets):
    _set_clock(server, MARCH + 5 * 86400)
    created = server.aws("budgets", "create-budget", "--account-id", ACCOUNT, "--budget", json.dumps(_budget(
        "course", "25.50", CostFilters={"Service": ["Amazon SageMaker"], "TagKeyValue": ["user:course$fastai"]})),
        "--notifications-with-subscribers", json.dumps([{"Notification": _notification(),
                                                          "Subscribers": [_email("me@example.com")]}]))
    assert created.returncode == 0
    budget = server.aws_json("budgets", "describe-budget", "--account-id", ACCOUNT, "--budget-name", "course")["Budget"]
    assert budget["BudgetLimit"] == {"Amount": "25.50", "Unit": "USD"}
    assert budget["CostFilters"] == {"Service": ["Amazon SageMaker"], "TagKeyValue": ["user:course$fastai"]}
    assert budget["CalculatedSpend"] == {"ActualSpend": {"Amount": "0", "Unit": "USD"},
                                         "ForecastedSpend": {"Amount": "0", "Unit": "USD"}}
    assert budget["CostTypes"]["IncludeTax"] is True and budget["CostTypes"]["UseBlended"] is False
    period = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="course")["Budget"]["TimePeriod"]
    assert period["Start"].timestamp() == MARCH  # the current period, by the metering clock
    assert period["End"] == datetime(2087, 6, 15, tzinfo=UTC)

    (notification,) = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName="course")[
        "Notifications"]
    assert notification == {**_notification(), "NotificationState": "OK"}
    budgets.create_notification(AccountId=ACCOUNT, BudgetName="course", Notification=_notification("FORECASTED", 100),
                                Subscribers=[_email("me@example.com")])
    budgets.create_subscriber(AccountId=ACCOUNT, BudgetName="course", Notification=_notification(),
                              Subscriber=_email("ta@example.com"))
    budgets.update_subscriber(AccountId=ACCOUNT, BudgetName="course", Notification=_notification(),
                              OldSubscriber=_email("ta@example.com"), NewSubscriber=_email("tutor@example.com"))
    subscribers = budgets.describe_subscribers_for_notification(
        AccountId=ACCOUNT, BudgetName="course", Notification=_notification(), MaxResults=1)
    assert subscribers["Subscribers"] == [_email("me@example.com")]
    rest = budgets.describe_subscribers_for_notification(
        AccountId=ACCOUNT, BudgetName="course", Notification=_notification(), NextToken=subscribers["NextToken"])
    assert rest["Subscribers"] == [_email("tutor@example.com")] and "NextToken" not in rest
    budgets.delete_subscriber(AccountId=ACCOUNT, BudgetName="course", Notification=_notification(),
                              Subscriber=_email("tutor@example.com"))
    budgets.update_notification(AccountId=ACCOUNT, BudgetName="course", OldNotification=_notification(),
                                NewNotification=_notification(threshold=5, threshold_type="ABSOLUTE_VALUE"))
    budgets.delete_notification(AccountId=ACCOUNT, BudgetName="course", Notification=_notification("FORECASTED", 100))
    assert budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName="course")["Notifications"] == [
        {**_notification(threshold=5, threshold_type="ABSOLUTE_VALUE"), "NotificationState": "OK"}]

    budgets.update_budget(AccountId=ACCOUNT, NewBudget=_budget("course", "40", TimeUnit="MONTHLY"))
    updated = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="course")["Budget"]
    assert updated["BudgetLimit"]["Amount"] == "40" and "CostFilters" not in updated
    assert updated["TimePeriod"]["Start"].timestamp() == MARCH  # kept

    for name in ("b-daily", "c-quarterly"):
        budgets.create_budget(AccountId=ACCOUNT, Budget=_budget(name, TimeUnit=name.split("-")[1].upper()))
    first = budgets.describe_budgets(AccountId=ACCOUNT, MaxResults=2)
    assert [b["BudgetName"] for b in first["Budgets"]] == ["b-daily", "c-quarterly"]
    second = budgets.describe_budgets(AccountId=ACCOUNT, MaxResults=2, NextToken=first["NextToken"])
    assert [b["BudgetName"] for b in second["Budgets"]] == ["course"] and "NextToken" not in second
    quarterly = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="c-quarterly")["Budget"]
    assert quarterly["TimePeriod"]["Start"] == datetime(2030, 1, 1, tzinfo=UTC)
    budgets.delete_budget(AccountId=ACCOUNT, BudgetName="course")
    assert [b["BudgetName"] for b in budgets.describe_budgets(AccountId=ACCOUNT)["Budgets"]] == ["b-daily",
                                                                                               "c-quarterly"]


def test_errors_in_budgets_words(server, budgets):
    budgets.create_budget(AccountId=ACCOUNT, Budget=_budget("taken"),
                          NotificationsWithSubscribers=[{"Notification": _notification(),
                                                         "Subscribers": [_email("me@example.com")]}])
    cases = [
        (lambda: budgets.create_budget(AccountId=ACCOUNT, Budget=_budget("taken")),
         ("DuplicateRecordException", "Error creating budget: taken - the budget already exists.")),
        (lambda: budgets.describe_budget(AccountId=ACCOUNT, BudgetName="nope"),
         ("NotFoundException", "Unable to get budget: nope - the budget doesn't exist.")),
        (lambda: budgets.delete_budget(AccountId=ACCOUNT, BudgetName="nope"),
         ("NotFoundException", "Unable to delete budget: nope - the budget doesn't exist. Try creating it first. ")),
        (lambda: budgets.create_notification(AccountId=ACCOUNT, BudgetName="nope", Notification=_notification(),
                                             Subscribers=[_email("me@example.com")]),
         ("NotFoundException", "Unable to create notification - the budget doesn't exist.")),
        (lambda: budgets.create_notification(AccountId=ACCOUNT, BudgetName="taken", Notification=_notification(),
                                             Subscribers=[_email("me@example.com")]),
         ("DuplicateRecordException", "Error creating notification: taken - the notification already exists.")),
        (lambda: budgets.delete_notification(AccountId=ACCOUNT, BudgetName="taken", Notification=_notification(
            threshold=99)), ("NotFoundException", "Unable to delete notification - the notification doesn't exist.")),
        (lambda: budgets.create_subscriber(AccountId=ACCOUNT, BudgetName="taken", Notification=_notification(),
                                           Subscriber=_email("me@example.com")),
         ("DuplicateRecordException", "Error creating subscriber: me@example.com - the subscriber already exists.")),
        (lambda: budgets.describe_budgets(AccountId="210987654321"),
         ("AccessDeniedException", "User: arn:aws:iam::123456789012:root is not authorized to perform: "
                                   "budgets:DescribeBudgets on resource: arn:aws:budgets::210987654321:budget/*")),
        (lambda: budgets.create_budget(AccountId=ACCOUNT, Budget={**_budget("x"), "BudgetLimit": {
            "Amount": "5", "Unit": "EUR"}}), ("InvalidParameterException",
                                              "Budget limit unit EUR is not supported for a COST budget: use USD.")),
        (lambda: budgets.create_budget(AccountId=ACCOUNT, Budget={k: v for k, v in _budget("x").items()
                                                                  if k != "BudgetLimit"}),
         ("InvalidParameterException", "Unable to create/update budget - please provide one of the followings: "
                                       "Budget Limit/ Planned Budget Limit/ Auto Adjust Data")),
        (lambda: budgets.create_budget(AccountId=ACCOUNT, Budget=_budget("x", CostFilters={"AZ": ["us-east-1a"]})),
         ("InvalidParameterException", "Cost filter AZ is not supported. Supported filters: Service, UsageType, "
                                       "LinkedAccount, Region, InstanceType, TagKeyValue.")),
        (lambda: budgets.create_budget(AccountId=ACCOUNT, Budget=_budget(
            "x", CostFilters={"TagKeyValue": ["course=fastai"]})),
         ("InvalidParameterException", "Invalid TagKeyValue course=fastai: write it as user:<key>$<value>.")),
        (lambda: budgets.create_budget(AccountId=ACCOUNT, Budget=_budget("x", BudgetType="RI_COVERAGE")),
         ("InvalidParameterException", "BudgetType RI_COVERAGE is not supported: Selfmaker meters notebook "
                                       "instances, so its budgets are COST or USAGE budgets.")),
        (lambda: budgets.create_notification(AccountId=ACCOUNT, BudgetName="taken", Notification=_notification(
            threshold=50), Subscribers=[_email("not-an-address")]),
         ("InvalidParameterException", "Invalid email address not-an-address.")),
        (lambda: budgets.create_notification(AccountId=ACCOUNT, BudgetName="taken", Notification=_notification(
            threshold=50), Subscribers=[{"SubscriptionType": "SNS", "Address": f"arn:aws:sns:us-east-1:{ACCOUNT}:a"},
                                        {"SubscriptionType": "SNS", "Address": f"arn:aws:sns:us-east-1:{ACCOUNT}:b"}]),
         ("CreationLimitExceededException", "You've exceeded the notification or subscriber limit.")),
        (lambda: budgets.describe_budgets(AccountId=ACCOUNT, NextToken="bm90LWEtdG9rZW4="),
         ("InvalidNextTokenException", "Invalid NextToken")),
    ]
    for call, expected in cases:
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == expected
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    for threshold in range(1, 10):  # ten notifications at most
        budgets.create_notification(AccountId=ACCOUNT, BudgetName="taken", Notification=_notification(
            threshold=threshold), Subscribers=[_email("me@example.com")])
    with pytest.raises(ClientError) as exc:
        budgets.create_notification(AccountId=ACCOUNT, BudgetName="taken", Notification=_notification(threshold=10),
                                    Subscribers=[_email("me@example.com")])
    assert _error(exc)[0] == "CreationLimitExceededException"
    # A malformed name is the model's ValidationException, never a 500; its pattern's inline (?i) is honoured.
    bad = server.aws("budgets", "describe-budget", "--account-id", ACCOUNT, "--budget-name", "a:b", check=False)
    assert bad.returncode != 0 and "ValidationException" in bad.stderr
    with pytest.raises(ClientError) as exc:
        budgets.create_budget(AccountId=ACCOUNT, Budget=_budget("x<SCRIPT>alert(1)</Script>"))
    assert _error(exc) == ("ValidationException", "1 validation error detected: Value 'x<SCRIPT>alert(1)</Script>' "
                                                  "at 'budget.budgetName' failed to satisfy constraint: Member must "
                                                  "satisfy regular expression pattern: ^(?![^:\\\\]*/action/|(?i)"
                                                  ".*<script>.*</script>.*)[^:\\\\]+$")


# --- alerts -----------------------------------------------------------------------------------------------


def test_a_crossed_threshold_mails_once_per_period_and_publishes_to_sns(server, budgets, smtp, receiver):
    _set_clock(server, MARCH)
    _running_instance(server, "budget-alerts", {"course": "alerts"})
    topic = _confirmed_topic(server, receiver)
    owner, forecaster = _address("owner"), _address("forecast")
    budgets.create_budget(
        AccountId=ACCOUNT, Budget=_budget("alerts", CostFilters={"TagKeyValue": ["user:course$alerts"]}),
        NotificationsWithSubscribers=[
            {"Notification": _notification(), "Subscribers": [
                _email(owner), {"SubscriptionType": "SNS", "Address": topic}]},
            # A subscriber that fails (no such topic) keeps no other from its message.
            {"Notification": _notification("FORECASTED", 100), "Subscribers": [
                {"SubscriptionType": "SNS", "Address": f"arn:aws:sns:us-east-1:{ACCOUNT}:no-such-topic"},
                _email(forecaster)]},
        ])
    budgets.create_budget(AccountId=ACCOUNT, Budget={
        "BudgetName": "hours", "BudgetLimit": {"Amount": "100", "Unit": "Hrs"}, "TimeUnit": "MONTHLY",
        "BudgetType": "USAGE", "CostFilters": {"TagKeyValue": ["user:course$alerts"]}})
    # Started at midnight on a new account: no week behind it, but today will cost $1.20 (24 h at $0.05) if it
    # keeps running, and so will every day of March: $37.20 of a $1 budget, at once; nothing is spent yet.
    forecast = smtp.wait_for(forecaster, "AWS Budgets: alerts is forecasted to exceed your alert threshold")
    assert "FORECASTED Amount: $37.20" in forecast.get_content()
    assert _mails(smtp, owner) == []

    _set_clock(server, MARCH + 17 * HOUR)  # 17 h: $0.85, over 80% of $1
    alert = smtp.wait_for(owner, "AWS Budgets: alerts has exceeded your alert threshold")
    assert alert["From"].addresses[0].display_name == "AWS Budgets"
    body = alert.get_content()
    assert "ACTUAL Amount: $0.85" in body and "Alert Threshold: 80% of $1.00" in body
    assert "Budget Period: 2030-03-01 to 2030-04-01 (UTC)" in body
    (published,) = receiver.wait_for("Notification")[-1:]
    envelope = published.json()
    assert envelope["TopicArn"] == topic and envelope["Subject"] == alert["Subject"]
    assert "ACTUAL Amount: $0.85" in envelope["Message"]

    spend = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="alerts")["Budget"]["CalculatedSpend"]
    assert spend == {"ActualSpend": {"Amount": "0.85", "Unit": "USD"},
                     "ForecastedSpend": {"Amount": "37.2", "Unit": "USD"}}
    usage = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="hours")["Budget"]["CalculatedSpend"]
    assert usage == {"ActualSpend": {"Amount": "17", "Unit": "Hrs"},
                     "ForecastedSpend": {"Amount": "744", "Unit": "Hrs"}}  # all of March's 31 days
    states = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName="alerts")["Notifications"]
    assert [n["NotificationState"] for n in states] == ["ALARM", "ALARM"]

    # Later checks, and a server killed and started again, send nothing more in March.
    _set_clock(server, MARCH + 20 * HOUR)
    server.kill()
    server.start()
    time.sleep(6 * CHECK)
    assert len(_mails(smtp, owner)) == 1 and len(_mails(smtp, forecaster)) == 1
    assert len([r for r in receiver.requests if r.headers.get("x-amz-sns-message-type") == "Notification"
                and r.json()["TopicArn"] == topic]) == 1

    # April is a new period: OK again until its own spend crosses the threshold.
    _set_clock(server, APRIL + HOUR)
    wait_until(lambda: [n["NotificationState"] for n in budgets.describe_notifications_for_budget(
        AccountId=ACCOUNT, BudgetName="alerts")["Notifications"]] == ["OK", "ALARM"], what="April's states")
    assert budgets.describe_budget(AccountId=ACCOUNT, BudgetName="alerts")["Budget"]["CalculatedSpend"][
        "ActualSpend"]["Amount"] == "0.05"
    _set_clock(server, APRIL + 18 * HOUR)
    wait_until(lambda: len(_mails(smtp, owner)) == 2, what="April's alert")
    assert "Budget Period: 2030-04-01 to 2030-05-01 (UTC)" in _mails(smtp, owner)[1].get_content()


# --- the stop action --------------------------------------------------------------------------------------


def _stop_action(budgets, watcher: str, threshold: float, instance_ids: list[str], approval: str) -> str:
    return budgets.create_budget_action(
        AccountId=ACCOUNT, BudgetName="stopper", NotificationType="ACTUAL", ActionType="RUN_SSM_DOCUMENTS",
        ActionThreshold={"ActionThresholdValue": threshold, "ActionThresholdType": "ABSOLUTE_VALUE"},
        Definition={"SsmActionDefinition": {"ActionSubType": "STOP_EC2_INSTANCES", "Region": "us-east-1",
                                            "InstanceIds": instance_ids}},
        ExecutionRoleArn=ACTION_ROLE, ApprovalModel=approval, Subscribers=[_email(watcher)])["ActionId"]


def _action_status(budgets, action_id: str) -> str:
    return budgets.describe_budget_action(AccountId=ACCOUNT, BudgetName="stopper",
                                          ActionId=action_id)["Action"]["Status"]


def _why_stopped(server, name: str) -> list[str]:
    events = server.client("logs").get_log_events(logGroupName="/aws/sagemaker/NotebookInstances",
                                                  logStreamName=f"{name}/jupyter.log")["events"]
    return [event["message"] for event in events if event["message"].startswith("Stopping: ")]


def test_stop_actions_stop_the_budgets_instances_and_say_why(server, budgets, smtp):
    _set_clock(server, MARCH)
    _running_instance(server, "budget-stop", {"course": "stop"})
    watcher = _address("watcher")
    budgets.create_budget(AccountId=ACCOUNT, Budget=_budget("stopper", "2", CostFilters={
        "InstanceType": ["ml.t3.medium"], "TagKeyValue": ["user:course$stop"]}))
    manual = _stop_action(budgets, watcher, 0.5, ["BUDGET_INSTANCES"], "MANUAL")
    automatic = _stop_action(budgets, watcher, 1.0, ["budget-stop"], "AUTOMATIC")
    listed = budgets.describe_budget_actions_for_budget(AccountId=ACCOUNT, BudgetName="stopper")["Actions"]
    assert [(a["ActionId"], a["Status"]) for a in listed] == [(manual, "STANDBY"), (automatic, "STANDBY")]
    assert listed[1]["Definition"]["SsmActionDefinition"]["InstanceIds"] == ["budget-stop"]

    sm = server.client("sagemaker")
    _set_clock(server, MARCH + 11 * HOUR)  # $0.55: over the manual action's $0.50, under the automatic one's $1
    smtp.wait_for(watcher, "AWS Budgets: the action of stopper awaits your approval")
    assert _action_status(budgets, manual) == "PENDING" and _action_status(budgets, automatic) == "STANDBY"
    assert sm.describe_notebook_instance(NotebookInstanceName="budget-stop")["NotebookInstanceStatus"] == "InService"

    _set_clock(server, MARCH + 21 * HOUR)  # $1.05
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="budget-stop", WaiterConfig=WAIT)
    wait_until(lambda: _action_status(budgets, automatic) == "EXECUTION_SUCCESS", what="the action's success")
    assert _why_stopped(server, "budget-stop") == [
        f"Stopping: budget stopper crossed its ACTUAL action threshold of $1.00 (now $1.05) (budget action "
        f"{automatic})."]
    assert automatic in smtp.wait_for(watcher, "AWS Budgets: the action of stopper ran").get_content()
    # Stopped, it bills no more: the spend stays at $1.05 however late it gets. At 16:00 on March 2, nothing has
    # run today and nothing runs, so the days ahead cost the mean of Feb 23 - Mar 1: $1.05 / 7 = $0.15, and the
    # forecast is March 1 as it cost plus 30 days at $0.15.
    _set_clock(server, MARCH + 40 * HOUR)
    assert budgets.describe_budget(AccountId=ACCOUNT, BudgetName="stopper")["Budget"]["CalculatedSpend"] == {
        "ActualSpend": {"Amount": "1.05", "Unit": "USD"}, "ForecastedSpend": {"Amount": "5.55", "Unit": "USD"}}

    # Started again, it is one of the budget's instances: approving the manual action stops it.
    sm.start_notebook_instance(NotebookInstanceName="budget-stop")
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="budget-stop", WaiterConfig=WAIT)
    budgets.execute_budget_action(AccountId=ACCOUNT, BudgetName="stopper", ActionId=manual,
                                  ExecutionType="APPROVE_BUDGET_ACTION")
    assert _action_status(budgets, manual) == "EXECUTION_SUCCESS"
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="budget-stop", WaiterConfig=WAIT)
    assert _why_stopped(server, "budget-stop")[-1] == (
        f"Stopping: arn:aws:iam::{ACCOUNT}:root ran the action (budget action {manual}).")

    with pytest.raises(ClientError) as exc:
        budgets.execute_budget_action(AccountId=ACCOUNT, BudgetName="stopper", ActionId=manual,
                                      ExecutionType="APPROVE_BUDGET_ACTION")
    assert _error(exc) == ("ResourceLockedException",
                           "The budget action is EXECUTION_SUCCESS; APPROVE_BUDGET_ACTION is not possible now.")
    with pytest.raises(ClientError) as exc:
        budgets.create_budget_action(
            AccountId=ACCOUNT, BudgetName="stopper", NotificationType="ACTUAL", ActionType="APPLY_IAM_POLICY",
            ActionThreshold={"ActionThresholdValue": 1.0, "ActionThresholdType": "ABSOLUTE_VALUE"},
            Definition={"IamActionDefinition": {"PolicyArn": "arn:aws:iam::aws:policy/AWSDenyAll",
                                                "Roles": ["student"]}},
            ExecutionRoleArn=ACTION_ROLE, ApprovalModel="AUTOMATIC", Subscribers=[_email(watcher)])
    assert _error(exc)[0] == "InvalidParameterException"
    deleted = budgets.delete_budget_action(AccountId=ACCOUNT, BudgetName="stopper", ActionId=automatic)
    assert deleted["Action"]["Status"] == "EXECUTION_SUCCESS"
    assert [a["ActionId"] for a in budgets.describe_budget_actions_for_budget(
        AccountId=ACCOUNT, BudgetName="stopper")["Actions"]] == [manual]
