"""The Billing page and the instance list's cost column against a real test-mode server: two real notebook
instances (root's ml.t3.medium at $0.05/h, an IAM user's ml.t3.large at $0.10/h) run known hours while the
metering clock is moved, and the page shows the figures worked out by hand, in English and Korean."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import time

import httpx
import pytest

from tests.conftest import running_server
from tests.console.conftest import ROOT_PASSWORD, sign_in

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
WAIT = {"Delay": 1, "MaxAttempts": 180}
STUDENT_PASSWORD = "student-billing-password-1"


def at(day: int, hour: int) -> float:
    return dt.datetime(2026, 11, day, hour, tzinfo=dt.UTC).timestamp()


@pytest.fixture(scope="module")
def console_server(tmp_path_factory):
    """This module's own server, in test mode, so the metering clock can be set."""
    with running_server(tmp_path_factory.mktemp("billing"), SELFMAKER_ROOT_PASSWORD=ROOT_PASSWORD,
                        SELFMAKER_TEST_MODE="1", SELFMAKER_BUDGET_CHECK_SECONDS="0.5") as proc:
        yield proc


def set_clock(server, moment: float) -> None:
    response = httpx.post(f"{server.endpoint_url}/_selfmaker/clock", json={"now": moment}, timeout=30)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def billed(console_server):
    """Root's "billed" (tagged project=fastai) runs Nov 2 22:00 – Nov 3 03:00 and again from Nov 4 10:00; the
    user student's "research" runs Nov 2 22:00 – Nov 3 03:00. The clock then stands at Nov 4 11:00."""
    iam = console_server.client("iam")
    iam.create_user(UserName="student")
    iam.create_login_profile(UserName="student", Password=STUDENT_PASSWORD)
    iam.put_user_policy(UserName="student", PolicyName="notebooks-and-costs", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "sagemaker:*", "iam:PassRole", "ce:GetCostAndUsage"]}]}))
    key = iam.create_access_key(UserName="student")["AccessKey"]
    root_sm = console_server.client("sagemaker")
    student_sm = console_server.client("sagemaker", aws_access_key_id=key["AccessKeyId"],
                                       aws_secret_access_key=key["SecretAccessKey"])
    set_clock(console_server, at(2, 22))
    root_sm.create_notebook_instance(NotebookInstanceName="billed", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                     Tags=[{"Key": "project", "Value": "fastai"}])
    student_sm.create_notebook_instance(NotebookInstanceName="research", InstanceType="ml.t3.large", RoleArn=ROLE)
    for name in ("billed", "research"):
        root_sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
    set_clock(console_server, at(3, 3))
    for name in ("billed", "research"):
        root_sm.stop_notebook_instance(NotebookInstanceName=name)
    for name in ("billed", "research"):
        root_sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
    set_clock(console_server, at(4, 10))
    root_sm.start_notebook_instance(NotebookInstanceName="billed")
    root_sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="billed", WaiterConfig=WAIT)
    set_clock(console_server, at(4, 11))
    return console_server


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert found, f"no element {element_id}"
    return html.unescape(found.group(1)).strip()


def rows(page: str, table_id: str) -> list[list[str]]:
    """The cells of a table's body rows, as text."""
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert table, f"no table {table_id}"
    body = table.group(1).split("<tbody>")[1]
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_the_month_so_far_its_forecast_and_its_groups(billed, root):
    page = root.get(f"/console/billing?region={REGION}")
    assert page.status_code == 200
    # Root: 2 h + 3 h + 1 h at $0.05; student: 2 h + 3 h at $0.10.
    assert text_of(page.text, "month-cost") == "$0.80"
    # The one rule: Nov 1-3 as they cost ($0.75), and Nov 4-30 at the larger of the mean of Oct 28 - Nov 3
    # ($0.75 / 7 = $0.107) and what Nov 4 will cost if "billed" runs until midnight (10:00-24:00: $0.70).
    assert text_of(page.text, "month-forecast") == f"${0.75 + 0.70 * 27:.2f}" == "$19.65"
    assert "11.00 instance hours" in page.text
    assert ("every day from today on at the larger of the mean daily cost of the last 7 complete days and what "
            "today will cost if the instances running now run until midnight.") in page.text
    assert rows(page.text, "by-type") == [["ml.t3.large", "5.00", "$0.50"], ["ml.t3.medium", "6.00", "$0.30"]]
    assert rows(page.text, "by-user") == [["student", "5.00", "$0.50"], ["Root user", "6.00", "$0.30"]]
    assert 'title="arn:aws:iam::123456789012:user/student"' in page.text
    assert rows(page.text, "by-tag") == [["(not tagged)", "5.00", "$0.50"], ["fastai", "6.00", "$0.30"]]
    assert '<option value="project" selected>project</option>' in page.text
    assert rows(page.text, "daily") == [["Nov 1", "0.00", "$0.00"], ["Nov 2", "4.00", "$0.30"],
                                        ["Nov 3", "6.00", "$0.45"], ["Nov 4", "1.00", "$0.05"]]
    assert '<option value="2026-11" selected>November 2026</option>' in page.text
    assert '<option value="2025-11">November 2025</option>' in page.text


def test_the_chart_has_one_labelled_bar_per_day_scaled_to_the_costliest(billed, root):
    page = root.get(f"/console/billing?region={REGION}").text
    svg = re.search(r'<svg[^>]*id="daily-cost".*?</svg>', page, re.S)
    assert svg, "no chart"
    chart = svg.group(0)
    assert 'role="img"' in chart and 'aria-labelledby="daily-cost-title daily-cost-desc"' in chart
    assert '<title id="daily-cost-title">Cost by day, November 2026</title>' in chart
    assert "the highest is $0.45" in chart
    bars = re.findall(r'<rect class="bar"[^>]*height="([\d.]+)"[^>]*aria-label="([^"]+)"', chart)
    assert [label for _height, label in bars] == ["Nov 1: $0.00", "Nov 2: $0.30", "Nov 3: $0.45", "Nov 4: $0.05"]
    heights = [float(height) for height, _label in bars]
    assert heights[2] > heights[1] > heights[3] > heights[0]
    assert heights[1] / heights[2] == pytest.approx(0.30 / 0.45, rel=0.01)


def test_the_page_in_korean(billed, root):
    page = root.get(f"/console/billing?region={REGION}", headers={"accept-language": "ko-KR,ko"}).text
    assert '<html lang="ko">' in page
    assert "이번 달 현재까지 비용" in page and "이번 달 예측 비용" in page
    assert text_of(page, "month-cost") == "US$0.80"
    assert text_of(page, "month-forecast") == "US$19.65"
    assert "지금 실행 중인 인스턴스가 자정까지 실행될 때의 오늘 비용 중 더 큰 값으로 계산합니다." in page
    assert rows(page, "by-user")[1] == ["루트 사용자", "6.00", "US$0.30"]
    assert rows(page, "by-tag")[0] == ["(태그 없음)", "5.00", "US$0.50"]
    assert rows(page, "daily")[2] == ["11월 3일", "6.00", "US$0.45"]
    assert "<title id=\"daily-cost-title\">일별 비용, 2026년 11월</title>" in page
    assert 'aria-label="11월 3일: US$0.45"' in page


def test_a_previous_month_and_months_out_of_reach(billed, root):
    october = root.get(f"/console/billing?region={REGION}&month=2026-10").text
    assert text_of(october, "month-cost") == "$0.00"
    assert 'id="month-forecast"' not in october  # a month that is over has its total, not a forecast
    assert len(rows(october, "daily")) == 31 and october.count('<rect class="bar"') == 31
    assert "No notebook instance ran that month." in october
    assert "No notebook instance that ran in October 2026 had tags." in october
    for month in ("2026-12", "2025-10", "November", "2026-13", "2026-1"):
        refused = root.get(f"/console/billing?region={REGION}&month={month}")
        assert refused.status_code == 400, month
        assert "ValidationException" in refused.text
        assert "Choose a month from 2025-11 to 2026-11, written YYYY-MM." in refused.text


def test_an_unknown_tag_key_shows_a_present_one(billed, root):
    page = root.get(f"/console/billing?region={REGION}&tag=no-such-key").text
    assert '<option value="project" selected>project</option>' in page
    assert rows(page, "by-tag")[1] == ["fastai", "6.00", "$0.30"]


def test_the_instance_list_shows_each_instances_cost_this_month(billed, root):
    page = root.get(f"/sagemaker/notebook-instances?region={REGION}").text
    assert "Cost this month" in page
    for name, cost in (("billed", "$0.30"), ("research", "$0.50")):
        row = re.search(rf'<tr data-instance="{name}".*?</tr>', page, re.S).group(0)
        assert f"<td data-month-cost>{cost}</td>" in row
    # The hourly reminder stays: "billed" is running.
    assert "1 notebook instance is running and costs $0.050 per hour until you stop it." in page
    rows_only = root.get(f"/sagemaker/notebook-instances?region={REGION}&fragment=rows").text
    assert "<td data-month-cost>$0.30</td>" in rows_only


def test_reading_costs_takes_ce_get_cost_and_usage(billed):
    iam = billed.client("iam")
    iam.create_user(UserName="no-costs")
    iam.create_login_profile(UserName="no-costs", Password="no-costs-password-1")
    iam.put_user_policy(UserName="no-costs", PolicyName="sagemaker", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}]}))
    with httpx.Client(base_url=billed.endpoint_url, timeout=30) as client:
        assert sign_in(client, user="no-costs", password="no-costs-password-1").status_code == 303
        refused = client.get(f"/console/billing?region={REGION}")
        assert refused.status_code == 403
        assert "is not authorized to perform: ce:GetCostAndUsage" in html.unescape(refused.text)
    with httpx.Client(base_url=billed.endpoint_url, timeout=30) as client:
        assert sign_in(client, user="student", password=STUDENT_PASSWORD).status_code == 303
        page = client.get(f"/console/billing?region={REGION}")
        assert page.status_code == 200 and text_of(page.text, "month-cost") == "$0.80"  # the account's, not hers
        # Neither ce:GetCostForecast nor Budgets is hers: the page says so and shows the rest.
        assert text_of(page.text, "month-forecast") == "—"
        assert "Cost Explorer cannot forecast for you." in page.text
        reason = text_of(page.text, "budgets-error")
        assert reason.startswith("You cannot read this account's budgets: User: arn:aws:iam::123456789012:user/"
                                 "student is not authorized to perform: budgets:")
        assert 'id="budgets"' not in page.text


def test_budgets_with_limit_spend_and_alert_state(billed, root):
    budgets = billed.client("budgets")
    for name, limit in (("course", "1.00"), ("roomy", "100.00")):
        budgets.create_budget(
            AccountId=billed.account_id,
            Budget={"BudgetName": name, "BudgetType": "COST", "TimeUnit": "MONTHLY",
                    "BudgetLimit": {"Amount": limit, "Unit": "USD"}},
            NotificationsWithSubscribers=[{
                "Notification": {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
                                 "Threshold": 50, "ThresholdType": "PERCENTAGE"},
                "Subscribers": [{"SubscriptionType": "EMAIL", "Address": "student@example.com"}]}])
    deadline = time.monotonic() + 60
    while 'data-state="ALARM"' not in (page := root.get(f"/console/billing?region={REGION}").text):
        assert time.monotonic() < deadline, "the $1.00 budget never went into ALARM"
        time.sleep(0.5)
    table = {row[0]: row for row in rows(page, "budgets")}
    described = {b["BudgetName"]: b for b in budgets.describe_budgets(AccountId=billed.account_id)["Budgets"]}
    # Budgets forecast by the month's rule too: the same $19.65 as the page's forecast above the table.
    assert described["course"]["CalculatedSpend"]["ForecastedSpend"] == {"Amount": "19.65", "Unit": "USD"}
    assert text_of(page, "month-forecast") == "$19.65"
    assert table["course"] == ["course", "MONTHLY", "$1.00", "$0.80", "$19.65", "ALARM"]
    assert table["roomy"] == ["roomy", "MONTHLY", "$100.00", "$0.80", "$19.65", "OK"]


def test_billing_is_in_the_navigation_and_on_the_home_page(root):
    home = root.get("/console/").text
    assert home.count(f'href="/console/billing?region={REGION}"') == 2
    assert "What notebook instances cost this month, its forecast and your budgets." in home
