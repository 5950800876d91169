"""The guide's path through the console, in Debian's Chromium, once in English and once in Korean.

Sign in from an AWS-shaped quick-create link, fill the parameter form, tick the IAM box, create, watch
the stack reach CREATE_COMPLETE live, open JupyterLab from the instance list, stop the instance and see
Stopped, and read a failed instance's OnCreate log. An IAM user without sagemaker:StopNotebookInstance is
told why Stop failed. Screenshots of every main page land in the artifacts directory.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from playwright.sync_api import Page, expect

from selfmaker.console.i18n import gettext
from tests.browser.conftest import LONG_TIMEOUT_MS, ROOT_PASSWORD
from tests.browser.test_accessibility import violations

ACK_IAM = "I acknowledge that AWS CloudFormation might create IAM resources."
QUICK_CREATE = ("/cloudformation/home?region=us-east-1#/stacks/create/review"
                "?templateURL=selfmaker%3A%2F%2Ffastai.yaml&stackName={stack}")
LOCALES = {"en": "en-US", "ko": "ko-KR"}


def sign_in(page: Page, t, user: str = "", password: str = ROOT_PASSWORD) -> None:
    expect(page.get_by_role("heading", name=t("Sign in"))).to_be_visible()
    if user:
        page.get_by_label(t("IAM user name")).fill(user)
    page.get_by_label(t("Password"), exact=True).fill(password)
    page.get_by_role("button", name=t("Sign in")).click()


def instance_row(page: Page, name: str):
    return page.locator(f'tr[data-instance="{name}"]')


def failing_instance(server, name: str) -> None:
    """A notebook instance whose OnCreate script fails, as a broken course setup does."""
    sagemaker = server.client("sagemaker")
    script = "#!/bin/bash\necho 'pip: could not find a version that satisfies fastai==0.0'\nexit 1\n"
    sagemaker.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=name, OnCreate=[{"Content": base64.b64encode(script.encode()).decode()}])
    sagemaker.create_notebook_instance(
        NotebookInstanceName=name, InstanceType="ml.t3.medium", LifecycleConfigName=name,
        RoleArn=f"arn:aws:iam::{server.account_id}:role/service-role/SageMakerRole")


def student_without_stop(server, name: str, password: str) -> None:
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password=password)
    iam.put_user_policy(UserName=name, PolicyName="look-but-not-stop", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["sagemaker:List*", "sagemaker:Describe*"], "Resource": "*"}],
    }))


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_guide_in_the_console(language, console_server, new_page, screenshot):
    t = gettext(language)
    if language != "en":
        assert t("Create stack") != "Create stack", "the Korean catalogue is missing"

    def shot(page: Page, what: str, ours: bool = True) -> None:
        """A screenshot for the artifacts, and (our pages) the page as it is now checked against WCAG 2 AA."""
        screenshot(page, f"{language}-{what}")
        if ours:
            assert violations(page) == [], what

    stack, notebook, broken = f"fastai-{language}", f"fastai-{language}", f"broken-setup-{language}"
    failing_instance(console_server, broken)  # fails in the background while the guide goes on
    page = new_page(LOCALES[language])

    # A quick-create link written for AWS, pointed at this server: sign in first, then the review form.
    page.goto(QUICK_CREATE.format(stack=stack))
    shot(page, "01-sign-in")
    sign_in(page, t)
    expect(page.get_by_label("NotebookName")).to_be_visible()
    expect(page.get_by_role("textbox", name=t("Stack name"))).to_have_value(stack)
    page.get_by_label("NotebookName").fill(notebook)
    page.get_by_label("InstanceType").select_option("ml.t3.medium")
    page.get_by_label("PipPackages").fill("six")  # the course's fastai+torch are gigabytes; the path is the same
    page.get_by_label("NotificationEmail").fill(f"student-{language}@example.com")
    shot(page, "02-stack-review")
    page.get_by_label(t(ACK_IAM)).check()
    page.get_by_role("button", name=t("Create stack")).click()

    # The stack page follows its events live: no reload.
    expect(page.get_by_text("CREATE_IN_PROGRESS").first).to_be_visible()
    expect(page.locator("[data-stack-status]")).to_have_attribute("data-stack-status", "CREATE_COMPLETE",
                                                                  timeout=LONG_TIMEOUT_MS)
    shot(page, "03-stack-complete")

    # The notebook instance, InService, with its cost reminder; JupyterLab opens in a new tab.
    page.get_by_role("link", name="SageMaker", exact=True).click()
    row = instance_row(page, notebook)
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "InService", timeout=LONG_TIMEOUT_MS)
    expect(page.locator("#cost-reminder")).to_be_visible()
    expect(row).to_contain_text("$0.050")  # ml.t3.medium's hourly rate
    shot(page, "04-notebook-instances")
    with page.context.expect_page() as opened:
        row.get_by_role("link", name=t("Open JupyterLab")).click()
    lab = opened.value
    # on the instance's own origin, never the console's
    expect(lab).to_have_url(re.compile(rf"^http://{notebook}-\d{{12}}\.notebook\.us-east-1\.localhost:\d+/lab"),
                            timeout=LONG_TIMEOUT_MS)
    expect(lab.locator("#jp-main-dock-panel")).to_be_visible(timeout=LONG_TIMEOUT_MS)
    shot(lab, "05-jupyterlab", ours=False)
    lab.close()

    # A student whose policy lacks sagemaker:StopNotebookInstance is told so, and the instance runs on.
    student = new_page(LOCALES[language])
    student_without_stop(console_server, f"student-{language}", "student-password-1")
    student.goto("/sagemaker/notebook-instances?region=us-east-1")
    sign_in(student, t, user=f"student-{language}", password="student-password-1")
    instance_row(student, notebook).get_by_role("button", name=f"{t('Stop')} {notebook}").click()
    denied = student.get_by_role("alert")
    expect(denied).to_contain_text("is not authorized to perform: sagemaker:StopNotebookInstance")
    expect(denied).to_contain_text(t("You are not allowed to do this: %(what)s",
                                     what=t("stop notebook instance %(name)s", name=notebook)))
    expect(instance_row(student, notebook).locator("[data-status]")).to_have_attribute("data-status", "InService")
    shot(student, "06-denied-stop")

    # Stop: the row turns Stopped by itself.
    page.reload()
    instance_row(page, notebook).get_by_role("button", name=f"{t('Stop')} {notebook}").click()
    status = instance_row(page, notebook).locator("[data-status]")
    expect(status).to_have_attribute("data-status", "Stopped", timeout=LONG_TIMEOUT_MS)
    expect(status).to_have_text(t("Stopped"))
    expect(page.locator("#cost-reminder")).to_have_count(0)
    shot(page, "07-stopped")

    # The troubleshooting path: a Failed instance → its OnCreate log, within three clicks.
    expect(instance_row(page, broken).locator("[data-status]")).to_have_attribute(
        "data-status", "Failed", timeout=LONG_TIMEOUT_MS)
    clicks = 0
    instance_row(page, broken).get_by_role("link", name=broken, exact=True).click()
    clicks += 1
    expect(page.get_by_role("heading", name=broken)).to_be_visible()
    shot(page, "08-failed-instance")
    page.get_by_role("link", name=t("View OnCreate log")).click()
    clicks += 1
    assert clicks <= 3
    expect(page.get_by_text("could not find a version that satisfies fastai==0.0")).to_be_visible()
    expect(page.get_by_text(f"{broken}/LifecycleConfigOnCreate").first).to_be_visible()
    shot(page, "09-oncreate-log")

    # The mail the stack sent (no SMTP here): the subscription confirmation, readable in the outbox.
    page.get_by_role("link", name=t("Mail"), exact=True).click()
    expect(page.get_by_text(f"student-{language}@example.com").first).to_be_visible()
    shot(page, "10-mail-outbox")

    # Home: the guide's Launch Stack table.
    page.goto("/console/")
    expect(page.get_by_role("link", name=t("Launch Stack in %(region)s", region=t("Asia Pacific (Seoul)")))) \
        .to_have_attribute("href", re.compile(r"^/cloudformation/home\?region=ap-northeast-2#/stacks/create/review\?"))
    shot(page, "11-home")


def test_phone_width_keyboard_and_labels(console_server, new_page, screenshot):
    page = new_page("ko-KR", phone=True)
    page.goto("/sagemaker/notebook-instances?region=us-east-1")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("href", "#main")  # the skip link comes first
    sign_in(page, gettext("ko"))
    for path in ("/console/", "/sagemaker/notebook-instances", "/cloudformation/stacks", "/cloudwatch/log-groups",
                 "/sagemaker/notebook-instances/create", "/cloudformation/stacks/create"):
        page.goto(f"{path}?region=us-east-1")
        # Nothing sticks out sideways (wide tables scroll inside their own box) …
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        # … and every control has a name a screen reader can say.
        unnamed = page.evaluate("""[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)""")
        assert unnamed == [], (path, unnamed)
        screenshot(page, f"ko-phone-{path.strip('/').replace('/', '-')}")
