"""The Billing page in Chromium: a real notebook instance runs known hours by the test-mode metering clock, and
the page shows its cost, a chart whose bars are drawn to scale, the month picker, in English and Korean, passing
axe's WCAG rules; the instance list shows its cost so far."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from playwright.sync_api import expect

from selfmaker.console.i18n import gettext
from tests.browser.conftest import ROOT_PASSWORD
from tests.browser.test_accessibility import violations
from tests.conftest import running_server

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
WAIT = {"Delay": 1, "MaxAttempts": 180}


def at(day: int, hour: int) -> float:
    return dt.datetime(2026, 11, day, hour, tzinfo=dt.UTC).timestamp()


@pytest.fixture(scope="module")
def console_server(tmp_path_factory):
    """This module's own server, in test mode (the metering clock can be set); new_page points at it."""
    with running_server(tmp_path_factory.mktemp("billing-browser"), SELFMAKER_ROOT_PASSWORD=ROOT_PASSWORD,
                        SELFMAKER_TEST_MODE="1") as proc:
        yield proc


@pytest.fixture(scope="module")
def billed(console_server):
    """"billed" (ml.t3.medium, $0.05/h) runs Nov 2 22:00 – Nov 3 03:00 and from Nov 4 10:00; the clock stops at
    Nov 4 11:00: $0.10, $0.15 and $0.05 on Nov 2, 3 and 4."""
    def set_clock(moment: float) -> None:
        assert httpx.post(f"{console_server.endpoint_url}/_selfmaker/clock", json={"now": moment},
                          timeout=30).status_code == 200

    sm = console_server.client("sagemaker")
    set_clock(at(2, 22))
    sm.create_notebook_instance(NotebookInstanceName="billed", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                Tags=[{"Key": "course", "Value": "fastai"}])
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="billed", WaiterConfig=WAIT)
    set_clock(at(3, 3))
    sm.stop_notebook_instance(NotebookInstanceName="billed")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="billed", WaiterConfig=WAIT)
    set_clock(at(4, 10))
    sm.start_notebook_instance(NotebookInstanceName="billed")
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="billed", WaiterConfig=WAIT)
    set_clock(at(4, 11))
    return "billed"


def signed_in(new_page, locale: str, phone: bool = False):
    t = gettext(locale[:2])
    page = new_page(locale, phone=phone)
    errors: list[str] = []  # CSP violations, failed loads, script errors
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/signin")
    page.get_by_label(t("Password"), exact=True).fill(ROOT_PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    page.wait_for_url("**/console/")
    return page, errors


def test_billing_page_in_english(billed, new_page, screenshot):
    page, errors = signed_in(new_page, "en-US")
    page.get_by_role("navigation", name="Services").get_by_role("link", name="Billing").click()
    page.wait_for_url("**/console/billing?**")
    expect(page.locator("#month-cost")).to_have_text("$0.30")
    # Nov 1-3 as they cost ($0.25), Nov 4-30 at the larger of the mean of the 7 days before ($0.25 / 7) and what
    # Nov 4 will cost if "billed" runs until midnight (10:00-24:00 at $0.05: $0.70).
    expect(page.locator("#month-forecast")).to_have_text("$19.15")
    chart = page.get_by_role("img", name="Cost by day, November 2026")
    expect(chart).to_be_visible()
    bars = chart.locator("rect.bar")
    expect(bars).to_have_count(4)
    labels = [bars.nth(i).get_attribute("aria-label") for i in range(4)]
    assert labels == ["Nov 1: $0.00", "Nov 2: $0.10", "Nov 3: $0.15", "Nov 4: $0.05"]
    heights = [bars.nth(i).bounding_box()["height"] for i in range(4)]  # as drawn on the screen
    assert heights[2] > heights[1] > heights[3] > heights[0]
    assert heights[1] / heights[2] == pytest.approx(2 / 3, rel=0.02)
    # The table of the same figures, behind its summary.
    daily = page.locator("table#daily")
    expect(daily).to_be_hidden()
    page.get_by_text("Cost by day as a table").click()
    expect(daily.get_by_role("row", name="Nov 3 3.00 $0.15")).to_be_visible()
    expect(page.locator("table#by-tag").get_by_role("row", name="fastai")).to_contain_text("$0.30")
    assert violations(page) == []
    screenshot(page, "billing-en")
    page.get_by_label("Month").select_option("2026-10")  # the picker submits itself
    page.wait_for_url("**month=2026-10**")
    expect(page.locator("#month-cost")).to_have_text("$0.00")
    expect(page.get_by_role("img", name="Cost by day, October 2026").locator("rect.bar")).to_have_count(31)
    assert errors == []


def test_billing_page_in_korean_on_a_phone(billed, new_page, screenshot):
    page, errors = signed_in(new_page, "ko-KR", phone=True)
    page.goto("/console/billing?region=us-east-1")
    expect(page.get_by_role("heading", name="결제", exact=True)).to_be_visible()
    expect(page.locator("#month-cost")).to_have_text("US$0.30")
    chart = page.get_by_role("img", name="일별 비용, 2026년 11월")
    expect(chart.locator("rect.bar").nth(2)).to_have_attribute("aria-label", "11월 3일: US$0.15")
    assert violations(page) == []
    screenshot(page, "billing-ko-phone")
    assert errors == []


def test_instance_list_shows_cost_so_far(billed, new_page, screenshot):
    page, errors = signed_in(new_page, "en-US")
    page.goto("/sagemaker/notebook-instances?region=us-east-1")
    row = page.locator(f'tr[data-instance="{billed}"]')
    expect(row.locator("td[data-month-cost]")).to_have_text("$0.30")
    expect(page.locator("#cost-reminder")).to_contain_text("$0.050 per hour")
    assert violations(page) == []
    screenshot(page, "billing-instance-list")
    assert errors == []
