"""Browser fixtures: Debian's Chromium, driven by Playwright (sync API), against a real Selfmaker server.

Chromium is /usr/bin/chromium from apt (scripts/setup.sh installs it with the test extras, plus fonts-noto-cjk
for Korean pages); Playwright's own browser download (`playwright install`) is never used.

    def test_something(new_page, screenshot):
        page = new_page("ko-KR")                  # or new_page("en-US", phone=True)
        page.goto("/console/")                    # relative to the console_server's endpoint
        page.get_by_role("button", name="로그인").click()
        screenshot(page, "login-ko")              # -> artifacts/screenshots/login-ko.png

A test that fails gets a full-page screenshot of every page it opened through ``new_page``.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import ServerProcess, running_server

ROOT_PASSWORD = "test-root-console-password-0001"
CHROMIUM = os.environ.get("SELFMAKER_CHROMIUM", "/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]

# Timeouts sized for a busy 2-core CI machine: every action, navigation and expect() waits up to 30 s;
# things that wait for the server's background work (stacks, notebook instances) use LONG_TIMEOUT_MS.
ACTION_TIMEOUT_MS = 30_000
NAVIGATION_TIMEOUT_MS = 60_000
LONG_TIMEOUT_MS = 300_000

DESKTOP_VIEWPORT = {"width": 1280, "height": 900}
PHONE_VIEWPORT = {"width": 390, "height": 844}

# Playwright already passes most of these; they are repeated so that the set does not depend on its version.
# The test machines have no network but localhost (and *.localhost, where notebook instances live):
# --host-resolver-rules stops Chromium from resolving (and retrying) Google's update, sign-in and other service
# hosts that it looks up even with background networking off.
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root (and inside containers without user namespaces)
    "--disable-gpu",
    "--disable-dev-shm-usage",  # CI containers often have a 64 MB /dev/shm
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE *.localhost, EXCLUDE 127.0.0.1",
]


def artifacts_dir() -> Path:
    """Where screenshots go: $SELFMAKER_ARTIFACTS_DIR, else <repo>/artifacts/screenshots/ (git-ignored)."""
    path = Path(os.environ.get("SELFMAKER_ARTIFACTS_DIR") or REPO / "artifacts" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "page"


def save_screenshot(page: Page, name: str) -> Path:
    """A full-page PNG of ``page`` as ``<artifacts>/<name>.png``; returns its path."""
    path = artifacts_dir() / f"{_safe_name(name.removesuffix('.png'))}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def wait_for_text(page: Page, text: str, *, timeout_ms: float = LONG_TIMEOUT_MS, reload_every_s: float = 2.0):
    """Wait (reloading the page every few seconds) until ``text`` is visible: for statuses that change in the
    background, such as a stack reaching CREATE_COMPLETE. Returns the locator; fails the test on timeout."""
    locator = page.get_by_text(text).first
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            expect(locator).to_be_visible(timeout=reload_every_s * 1000)
            return locator
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{text!r} did not appear on {page.url} within {timeout_ms / 1000:.0f} s") from None
            page.reload()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)  # read by new_page's teardown to screenshot failed tests
    return rep


# Package scope: Playwright's sync API keeps an event loop running while it is open, which would break
# later tests that call asyncio.run(); it closes when the browser tests are done.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: run scripts/setup.sh with SELFMAKER_EXTRAS=test (apt-get install chromium)"
        if os.geteuid() == 0:
            pytest.fail(message, pytrace=False)  # setup.sh installs it as root, so this is a broken setup
        pytest.skip(message)
    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=NAVIGATION_TIMEOUT_MS)
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def console_server(tmp_path_factory) -> Iterator[ServerProcess]:
    """A real ``selfmaker up`` whose console root password is ROOT_PASSWORD."""
    with running_server(tmp_path_factory.mktemp("selfmaker-console"), SELFMAKER_ROOT_PASSWORD=ROOT_PASSWORD) as proc:
        yield proc


@pytest.fixture
def new_page(browser, console_server, request) -> Iterator[Callable[..., Page]]:
    """``new_page(locale="en-US", *, phone=False, **context_options) -> Page``: a page in a fresh context
    (own cookies) with ``base_url`` = the console_server's endpoint, so ``page.goto("/console/")`` works.
    ``locale`` ("en-US", "ko-KR") sets Accept-Language and navigator.language. Desktop is 1280x900;
    ``phone=True`` is a 390x844 touch screen. Other keywords go to Browser.new_context (e.g. timezone_id)."""
    contexts: list[BrowserContext] = []

    def make(locale: str = "en-US", *, phone: bool = False, **context_options) -> Page:
        options = {"viewport": PHONE_VIEWPORT, "is_mobile": True, "has_touch": True, "device_scale_factor": 2} \
            if phone else {"viewport": DESKTOP_VIEWPORT}
        context = browser.new_context(
            base_url=console_server.endpoint_url, locale=locale, **{**options, **context_options})
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    rep = getattr(request.node, "rep_call", None)
    failed = rep is not None and rep.failed
    for i, context in enumerate(contexts):
        if failed:
            for j, page in enumerate(context.pages):
                try:
                    path = save_screenshot(page, f"FAILED-{request.node.nodeid}-{i}-{j}")
                    print(f"screenshot of failed test: {path}")
                except Exception as exc:  # a crashed page must not hide the test's own failure
                    print(f"no screenshot of {page.url}: {exc}")
        with contextlib.suppress(Exception):  # already gone with a crashed browser
            context.close()


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """``screenshot(page, name) -> Path``: a full-page PNG under the artifacts dir (see artifacts_dir)."""
    return save_screenshot
