"""The console's main pages pass axe-core's WCAG 2 A and AA rules (labels, contrast, landmarks, names),
in English and in Korean, at desktop and phone width, with nothing on the browser's error console."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from selfmaker.console.i18n import gettext
from tests.browser.conftest import ROOT_PASSWORD

PAGES = (
    "/console/",
    "/cloudformation/stacks",
    "/cloudformation/stacks/create",
    "/cloudformation/stacks/create/review?templateURL=selfmaker%3A%2F%2Ffastai.yaml&stackName=a11y",
    "/sagemaker/notebook-instances",
    "/sagemaker/notebook-instances/create",
    "/sagemaker/lifecycle-configurations",
    "/sagemaker/lifecycle-configurations/create",
    "/cloudwatch/log-groups",
    "/console/mail",
    "/console/password",
    "/servicequotas/sagemaker",
    "/console/billing",
)
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def violations(page, axe: Axe | None = None) -> list[str]:
    """axe-core's WCAG 2 A/AA findings on the page as it is now (empty: none)."""
    found = (axe or Axe()).run(page, options=WCAG).response["violations"]
    return [f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes']][:3]}" for v in found]


@pytest.mark.parametrize(("locale", "phone"), [("en-US", False), ("ko-KR", True)])
def test_main_pages_pass_axe(locale, phone, new_page):
    t = gettext(locale[:2])
    page = new_page(locale, phone=phone)
    errors: list[str] = []  # what the browser's console reports: CSP violations, failed loads, script errors
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    axe = Axe()
    page.goto("/signin")
    problems = {"/signin": violations(page, axe)}
    page.get_by_label(t("Password"), exact=True).fill(ROOT_PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    page.wait_for_url("**/console/")
    for path in PAGES:
        page.goto(path + ("&" if "?" in path else "?") + "region=us-east-1")
        problems[path] = violations(page, axe)
    assert not any(problems.values()), {path: found for path, found in problems.items() if found}
    assert errors == []
