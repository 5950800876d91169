"""What happens in the page by itself, in a real browser: live tail, the region picker, the language switch."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from selfmaker.console.i18n import gettext
from tests.browser.conftest import ROOT_PASSWORD

GROUP, STREAM = "/course/app", "live-tail"


def signed_in(new_page, locale: str = "en-US") -> Page:
    t = gettext(locale[:2])
    page = new_page(locale)
    page.goto("/signin")
    page.get_by_label(t("Password"), exact=True).fill(ROOT_PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    page.wait_for_url("**/console/")
    return page


def put(server, message: str) -> None:
    server.client("logs").put_log_events(logGroupName=GROUP, logStreamName=STREAM,
                                         logEvents=[{"timestamp": int(time.time() * 1000), "message": message}])


def test_live_tail_shows_new_events_without_a_reload(console_server, new_page, screenshot):
    logs = console_server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    put(console_server, "epoch 1 done")
    page = signed_in(new_page)
    page.goto(f"/cloudwatch/log-events?region=us-east-1&group={GROUP}&stream={STREAM}")
    expect(page.get_by_text("epoch 1 done")).to_be_visible()
    page.get_by_role("link", name="Start live tail").click()
    expect(page.get_by_role("status")).to_contain_text("Live tail is on")
    page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded
    put(console_server, "epoch 2 done")
    expect(page.get_by_text("epoch 2 done")).to_be_visible()
    assert page.evaluate("window.__sameDocument === true")
    expect(page.get_by_text("epoch 1 done")).to_have_count(1)  # appended, not repeated
    screenshot(page, "en-live-tail")


def test_region_picker_and_language_switch(console_server, new_page):
    page = signed_in(new_page)
    page.goto("/sagemaker/notebook-instances?region=us-east-1")
    page.get_by_label("Region").select_option("ap-northeast-2")  # the script submits on change
    page.wait_for_url("**region=ap-northeast-2**")
    expect(page.get_by_text("Notebook instances in Asia Pacific (Seoul)")).to_be_visible()
    page.goto("/console/")  # the choice is remembered
    expect(page.get_by_label("Region")).to_have_value("ap-northeast-2")
    page.get_by_role("link", name="한국어").click()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_role("heading", name="콘솔 홈")).to_be_visible()
    page.goto("/cloudformation/stacks")
    expect(page.locator("html")).to_have_attribute("lang", "ko")  # and the language too
