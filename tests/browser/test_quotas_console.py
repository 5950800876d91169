"""The Service Quotas journey in Chromium: a student over the GPU quota asks for more in the console, the
administrator (root) approves it there, the student sees APPROVED and gets a mail, and the instance can then
be created. The host has no GPU: this server *simulates* one (see ``simulated_devices``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from playwright.sync_api import Page, expect

from selfmaker.console.i18n import gettext
from selfmaker.services.quotas.catalogue import quota_code
from tests.browser.conftest import ROOT_PASSWORD, save_screenshot
from tests.browser.test_accessibility import violations
from tests.conftest import ACCOUNT, ServerProcess, running_server
from tests.e2e.test_service_quotas import NOTEBOOKS, ROLE, simulated_devices
from tests.smtp_sink import SmtpSink

GPU_TYPE = "ml.g4dn.xlarge"
QUOTA_NAME = f"{GPU_TYPE} for notebook instance usage"
STUDENT, STUDENT_PASSWORD, STUDENT_MAIL = "gpu-student", "gpu-student-password-1", "gpu-student@example.edu"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def gpu_server(tmp_path_factory, smtp) -> Iterator[ServerProcess]:
    """A console server with one simulated GPU, mailing through a real SMTP server (aiosmtpd)."""
    base = tmp_path_factory.mktemp("quotas-console")
    with running_server(base, SELFMAKER_ROOT_PASSWORD=ROOT_PASSWORD, SELFMAKER_SMTP_URL=smtp.url,
                        **simulated_devices(base, gpus=1)) as proc:
        yield proc


@pytest.fixture
def pages(browser, gpu_server, request) -> Iterator:
    contexts = []

    def make(locale: str = "en-US") -> Page:
        context = browser.new_context(base_url=gpu_server.endpoint_url, locale=locale,
                                      viewport={"width": 1280, "height": 900})
        contexts.append(context)
        return context.new_page()

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for index, context in enumerate(contexts):
        if failed:
            for page in context.pages:
                print(f"screenshot of failed test: {save_screenshot(page, f'FAILED-quotas-{index}')}")
        context.close()


def sign_in(page: Page, t, user: str = "", password: str = ROOT_PASSWORD) -> None:
    page.goto("/signin")
    if user:
        page.get_by_label(t("Account ID")).fill(ACCOUNT)
        page.get_by_label(t("IAM user name")).fill(user)
    page.get_by_label(t("Password"), exact=True).fill(password)
    page.get_by_role("button", name=t("Sign in")).click()
    page.wait_for_url("**/console/")


def test_a_student_asks_for_a_gpu_and_the_administrator_approves_it(gpu_server, smtp, pages):
    t = gettext("en")
    iam = gpu_server.client("iam")
    iam.create_user(UserName=STUDENT, Tags=[{"Key": "email", "Value": STUDENT_MAIL}])
    iam.create_login_profile(UserName=STUDENT, Password=STUDENT_PASSWORD)
    iam.put_user_policy(UserName=STUDENT, PolicyName="notebooks", PolicyDocument=json.dumps(NOTEBOOKS))
    key = iam.create_access_key(UserName=STUDENT)["AccessKey"]
    sm = gpu_server.client("sagemaker", aws_access_key_id=key["AccessKeyId"],
                           aws_secret_access_key=key["SecretAccessKey"])

    # A new account may run no GPU instance (the simulated GPU is there; the quota is 0), in AWS's words.
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance(NotebookInstanceName="gpu-first-try", InstanceType=GPU_TYPE, RoleArn=ROLE)
    assert exc.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert exc.value.response["Error"]["Message"].startswith(
        f"The account-level service limit '{QUOTA_NAME}' is 0 Instances, with current utilization of 0 Instances "
        "and a request delta of 1 Instances. Please request an increase with Service Quotas")

    student = pages()
    sign_in(student, t, STUDENT, STUDENT_PASSWORD)
    student.get_by_role("link", name="Service Quotas").first.click()
    expect(student.get_by_role("heading", name=t("Service Quotas"), exact=True)).to_be_visible()
    row = student.locator(f'tr[data-quota="{quota_code(GPU_TYPE)}"]')
    expect(row).to_have_count(0)  # at first, only the quotas in use or changed (and the total)
    student.get_by_role("link", name=re.compile(r"^Show all \d+ quotas$")).click()
    expect(row.locator("[data-applied]")).to_have_text("0")
    expect(row.locator("[data-used]")).to_have_text("0")
    student.get_by_label(t("Quota"), exact=True).select_option(label=f"{QUOTA_NAME} (0)")
    student.get_by_label(t("New quota value")).fill("1")
    student.get_by_role("button", name=t("Request"), exact=True).click()
    expect(student.get_by_role("status")).to_contain_text(f"Requested 1 for {QUOTA_NAME}.")
    mine = student.locator("section", has=student.get_by_role("heading", name=t("Your quota requests")))
    expect(mine.locator("[data-status]")).to_have_text(["PENDING"])
    assert violations(student) == []
    save_screenshot(student, "en-service-quotas-student")
    # No decisions for a student: the list is not there, and posting one is refused.
    expect(student.get_by_role("heading", name=t("Requests to decide"))).to_have_count(0)
    request_id = mine.locator("tr[data-request]").first.get_attribute("data-request")

    admin = pages()
    sign_in(admin, t)
    admin.goto("/servicequotas/sagemaker?region=us-east-1")
    waiting = admin.locator(f'tr[data-request="{request_id}"]').first
    expect(waiting).to_contain_text(f"arn:aws:iam::{ACCOUNT}:user/{STUDENT}")
    waiting.get_by_role("button", name=f"{t('Approve')} {request_id}").click()
    expect(admin.get_by_role("status")).to_contain_text(f"Request {request_id} is now APPROVED.")
    expect(admin.locator(f'tr[data-quota="{quota_code(GPU_TYPE)}"] [data-applied]')).to_have_text("1")
    assert violations(admin) == []
    save_screenshot(admin, "en-service-quotas-admin")

    student.reload()
    expect(mine.locator("[data-status]")).to_have_text(["APPROVED"])
    mail = smtp.wait_for(STUDENT_MAIL, "your request was approved")
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert f"Your request to raise '{QUOTA_NAME}' to 1 (account {ACCOUNT}, us-east-1) was approved." in text
    assert f"{gpu_server.endpoint_url}/servicequotas/sagemaker" in text

    # Within the quota now, on the simulated GPU.
    created = sm.create_notebook_instance(NotebookInstanceName="gpu-second-try", InstanceType=GPU_TYPE, RoleArn=ROLE)
    assert created["NotebookInstanceArn"].endswith(":notebook-instance/gpu-second-try")


def test_only_the_root_user_decides(gpu_server, pages):
    t = gettext("ko")
    iam = gpu_server.client("iam")
    iam.create_user(UserName="no-admin")
    iam.create_login_profile(UserName="no-admin", Password="no-admin-password-1")
    iam.put_user_policy(UserName="no-admin", PolicyName="notebooks", PolicyDocument=json.dumps(NOTEBOOKS))
    page = pages("ko-KR")
    sign_in(page, t, "no-admin", "no-admin-password-1")
    page.goto("/servicequotas/sagemaker?region=us-east-1")
    expect(page.get_by_role("heading", name="Service Quotas", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=t("Request quota increase"))).to_be_visible()
    token = page.locator('input[name="csrf_token"]').first.input_value()
    answer = page.request.post("/servicequotas/sagemaker/requests/any-id/approve?region=us-east-1",
                               form={"csrf_token": token}, headers={"Accept-Language": "ko-KR"})
    assert answer.status == 403
    assert t("Only the root user decides quota increase requests.") in answer.text()
