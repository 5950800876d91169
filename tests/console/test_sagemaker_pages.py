"""SageMaker console pages against a real server: the create form, the list and detail pages, actions, lifecycle
configurations, and the troubleshooting path from a Failed instance to its OnCreate log."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from urllib.parse import unquote

import httpx
import pytest

from tests.console.conftest import csrf_field, sign_in

REGION = "us-east-1"


@pytest.fixture(scope="module")
def role_arn(console_server) -> str:
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    return console_server.client("iam").create_role(RoleName="NotebookRole",
                                            AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def token(client: httpx.Client) -> str:
    return csrf_field(client.get("/console/").text)


def status_of(client: httpx.Client, name: str) -> str | None:
    page = client.get(f"/sagemaker/notebook-instances/{name}?region={REGION}&fragment=status")
    found = re.search(r'data-status="(\w+)"', page.text)
    return found.group(1) if found else None


def wait_for_status(client: httpx.Client, name: str, wanted: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while (status := status_of(client, name)) != wanted:
        assert time.time() < deadline, f"{name} is {status}, not {wanted}, after {timeout} s"
        time.sleep(0.5)


def create_instance(client: httpx.Client, name: str, role: str, **fields) -> httpx.Response:
    form = {"csrf_token": token(client), "name": name, "instance_type": "ml.t3.medium", "volume_size": "5",
            "role_arn": role, "lifecycle_config": "", "direct_internet": "Enabled", "root_access": "Enabled",
            "tag_key": "", "tag_value": "", **fields}
    return client.post(f"/sagemaker/notebook-instances/create?region={REGION}", data=form)


def row_of(page: str, name: str) -> str:
    found = re.search(rf'<tr data-instance="{re.escape(name)}".*?</tr>', page, re.S)
    assert found, f"no row for {name}"
    return found.group(0)


def test_create_form_offers_the_catalogue_roles_and_lifecycle_configs(console_server, root, role_arn):
    console_server.client("sagemaker").create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="offered-config", OnStart=[{"Content": base64.b64encode(b"true").decode()}])
    page = root.get(f"/sagemaker/notebook-instances/create?region={REGION}")
    assert page.status_code == 200
    assert re.search(r'<option value="ml.t3.medium" selected>ml.t3.medium — 2 vCPU, 4 GiB memory, \$0.050 per hour',
                     page.text)
    assert "ml.g4dn.xlarge — 4 vCPU, 16 GiB memory, 1 × NVIDIA T4 GPU, $0.736 per hour" in page.text
    assert f'<option value="{role_arn}">' in page.text
    assert '<option value="offered-config">offered-config</option>' in page.text
    assert re.search(r'id="volume_size"[^>]*value="5"', page.text)
    assert '<label for="name">Notebook instance name</label>' in page.text


def test_create_form_offers_every_enum_type_and_says_when_a_price_is_unknown(root):
    page = root.get(f"/sagemaker/notebook-instances/create?region={REGION}").text
    assert page.count("<option value=\"ml.") == 189
    assert "ml.m5d.large — 2 vCPU, 8 GiB memory, price unknown</option>" in page
    assert "ml.g5.12xlarge — 48 vCPU, 192 GiB memory, 4 × NVIDIA A10G GPU, $7.090 per hour</option>" in page
    accelerated = page.split('label="AWS Inferentia and Trainium"')[1].split("</optgroup>")[0]
    assert "ml.inf1.xlarge — 4 vCPU, 8 GiB memory, 1 × AWS Inferentia accelerator, price unknown" in accelerated
    assert "ml.t3.medium" not in accelerated
    korean = root.get(f"/sagemaker/notebook-instances/create?region={REGION}", headers={"Accept-Language": "ko"})
    assert "ml.m5d.large — vCPU 2개, 메모리 8 GiB, 가격 정보 없음</option>" in korean.text
    assert "AWS Inferentia 가속기 1개" in korean.text


def test_create_form_keeps_what_was_typed_and_says_what_is_wrong(root, role_arn):
    missing = create_instance(root, "", "", volume_size="2", tag_key="", tag_value="orphan")
    assert missing.status_code == 400
    assert 'role="alert"' in missing.text
    assert "Enter a name for the notebook instance." in missing.text
    assert "Choose or enter the IAM role the notebook instance runs as." in missing.text
    assert "Enter a whole number of GB from 5 to 16384." in missing.text
    assert "Each tag with a value needs a key." in missing.text

    refused = create_instance(root, "not_valid", role_arn, volume_size="12", tag_key="team", tag_value="ml")
    assert refused.status_code == 400
    assert "ValidationException" in refused.text and "notebookInstanceName" in refused.text
    assert 'value="not_valid"' in refused.text and 'value="12"' in refused.text
    assert 'name="tag_key" value="team"' in refused.text and 'name="tag_value" value="ml"' in refused.text
    assert f'<option value="{role_arn}" selected>' in refused.text


def test_an_instance_created_through_the_form_runs_stops_and_is_deleted(console_server, root, role_arn):
    created = create_instance(root, "console-nb", role_arn, volume_size="7", root_access="Disabled",
                              tag_key="course", tag_value="fastai")
    assert created.status_code == 303
    assert created.headers["location"] == f"/sagemaker/notebook-instances/console-nb?region={REGION}"
    described = console_server.client("sagemaker").describe_notebook_instance(NotebookInstanceName="console-nb")
    assert (described["VolumeSizeInGB"], described["RootAccess"], described["RoleArn"]) == (7, "Disabled", role_arn)

    listing = root.get(f"/sagemaker/notebook-instances?region={REGION}").text
    assert "ml.t3.medium" in row_of(listing, "console-nb")
    wait_for_status(root, "console-nb", "InService")

    detail = root.get(f"/sagemaker/notebook-instances/console-nb?region={REGION}").text
    assert 'data-status="InService">InService<' in detail
    assert "This notebook instance costs $0.050 per hour while it runs." in detail
    assert "<td>course</td><td>fastai</td>" in detail
    assert re.search(r'id="volume-usage-text">[\d.,]+ ?(kB|MB) of 7 GB used \(0\.0%\)', detail)
    assert described["NotebookInstanceArn"] in detail
    assert "/sagemaker/notebook-instances/console-nb/open?region=us-east-1&amp;view=lab" in detail
    # Open JupyterLab: a presigned URL on the instance's own host, never the console's
    opened = root.get("/sagemaker/notebook-instances/console-nb/open?region=us-east-1&view=lab")
    origin = f"http://console-nb-{console_server.account_id}.notebook.{REGION}.localhost:{console_server.port}"
    assert opened.headers["location"].startswith(f"{origin}/?authToken=")
    assert opened.headers["location"].endswith("&view=lab")
    assert "hx-trigger" not in detail.split('id="instance"')[1].split(">")[0]  # settled: no polling
    logs = re.search(r'href="([^"]+)" data-view-logs', detail).group(1)
    assert unquote(html.unescape(logs)) == \
        f"/cloudwatch/log-group?region={REGION}&group=/aws/sagemaker/NotebookInstances&prefix=console-nb/"

    detail_url = f"/sagemaker/notebook-instances/console-nb?region={REGION}"
    stop = root.post(f"/sagemaker/notebook-instances/console-nb/stop?region={REGION}",
                     data={"csrf_token": token(root), "next": detail_url})
    assert stop.status_code == 303 and stop.headers["location"].startswith("/sagemaker/notebook-instances/console-nb")
    wait_for_status(root, "console-nb", "Stopped")
    stopped = root.get(f"/sagemaker/notebook-instances?region={REGION}", headers={"Accept-Language": "ko"}).text
    assert 'data-status="Stopped">중지됨<' in row_of(stopped, "console-nb")
    assert 'id="cost-reminder"' not in stopped

    delete = root.post(f"/sagemaker/notebook-instances/console-nb/delete?region={REGION}",
                       data={"csrf_token": token(root), "next": f"/sagemaker/notebook-instances?region={REGION}"})
    assert delete.status_code == 303
    deadline = time.time() + 60
    while 'data-instance="console-nb"' in root.get(f"/sagemaker/notebook-instances?region={REGION}").text:
        assert time.time() < deadline
        time.sleep(0.5)
    gone = root.get(f"/sagemaker/notebook-instances/console-nb?region={REGION}")
    assert gone.status_code == 404
    poll = root.get(f"/sagemaker/notebook-instances/console-nb?region={REGION}&fragment=status")
    assert poll.headers["hx-redirect"] == f"/sagemaker/notebook-instances?region={REGION}"


def test_a_failed_instance_leads_to_its_oncreate_log(console_server, root, role_arn):
    script = "#!/bin/bash\necho 'installing <fastai>'\necho 'pip: no matching distribution' >&2\nexit 1\n"
    made = root.post(f"/sagemaker/lifecycle-configurations/create?region={REGION}", data={
        "csrf_token": token(root), "name": "broken-setup", "on_create": script, "on_start": ""})
    assert made.status_code == 303
    assert made.headers["location"] == f"/sagemaker/lifecycle-configurations/broken-setup?region={REGION}"
    assert create_instance(root, "broken-nb", role_arn, lifecycle_config="broken-setup").status_code == 303
    pending = root.get(f"/sagemaker/notebook-instances/broken-nb?region={REGION}").text
    assert re.search(r'id="instance" hx-get="[^"]*fragment=status" hx-trigger="every 2s"', pending)
    wait_for_status(root, "broken-nb", "Failed")

    # One click from the list's row straight to the log...
    listing = root.get(f"/sagemaker/notebook-instances?region={REGION}").text
    row = row_of(listing, "broken-nb")
    assert 'class="failed"' in row and 'data-status="Failed"' in row
    link = html.unescape(re.search(r'<a href="([^"]+)" data-failure-log', row).group(1))
    assert unquote(link) == (f"/cloudwatch/log-events?region={REGION}&group=/aws/sagemaker/NotebookInstances"
                             "&stream=broken-nb/LifecycleConfigOnCreate")
    events = root.get(link)
    assert events.status_code == 200
    assert "installing &lt;fastai&gt;" in events.text and "pip: no matching distribution" in events.text
    assert "<h1>broken-nb/LifecycleConfigOnCreate</h1>" in events.text

    # ...and from the detail page, with the failure reason and the lifecycle configuration linked.
    detail = root.get(f"/sagemaker/notebook-instances/broken-nb?region={REGION}", headers={"Accept-Language": "ko"})
    assert 'data-status="Failed">실패<' in detail.text
    assert "(exit code 1)" in detail.text
    assert re.search(r'<a href="[^"]+" data-failure-log>OnCreate 로그 보기</a>', detail.text)
    assert f'href="/sagemaker/lifecycle-configurations/broken-setup?region={REGION}"' in detail.text
    assert "/start?region=" in detail.text and "/delete?region=" in detail.text and "/stop?region=" not in detail.text


def test_lifecycle_configuration_pages_show_the_scripts_decoded(console_server, root):
    on_create = "#!/bin/bash\necho \"<b>first</b>\" && pip install six\n"
    on_start = "#!/bin/bash\nsudo -u ec2-user -i conda env list\n"
    console_server.client("sagemaker").create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="scripted",
        OnCreate=[{"Content": base64.b64encode(on_create.encode()).decode()}],
        OnStart=[{"Content": base64.b64encode(on_start.encode()).decode()}])
    listing = root.get(f"/sagemaker/lifecycle-configurations?region={REGION}")
    assert listing.status_code == 200
    assert re.search(r'<tr data-lifecycle-config="scripted">\s*<td><a href="/sagemaker/lifecycle-configurations/'
                     r'scripted\?region=us-east-1">scripted</a></td>\s*<td><time', listing.text)
    page = root.get(f"/sagemaker/lifecycle-configurations/scripted?region={REGION}").text
    assert html.unescape(re.search(r'<pre data-script="on-create">(.*?)</pre>', page, re.S).group(1)) == on_create
    assert html.unescape(re.search(r'<pre data-script="on-start">(.*?)</pre>', page, re.S).group(1)) == on_start
    assert "<b>first</b>" not in page  # shown, not interpreted

    form = root.post(f"/sagemaker/lifecycle-configurations/create?region={REGION}", data={
        "csrf_token": token(root), "name": "from-form", "on_create": "", "on_start": "echo started\r\n"})
    assert form.status_code == 303
    described = console_server.client("sagemaker").describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="from-form")
    assert described["OnCreate"] == []
    assert base64.b64decode(described["OnStart"][0]["Content"]) == b"echo started\n"
    again = root.post(f"/sagemaker/lifecycle-configurations/create?region={REGION}", data={
        "csrf_token": token(root), "name": "from-form", "on_create": "true", "on_start": ""})
    assert again.status_code == 400 and "already exists" in again.text and ">true</textarea>" in again.text


def test_a_user_who_may_not_list_roles_types_the_role_arn(console_server):
    iam = console_server.client("iam")
    iam.create_user(UserName="notebook-only")
    iam.create_login_profile(UserName="notebook-only", Password="notebook-only-password-1")
    iam.put_user_policy(UserName="notebook-only", PolicyName="sagemaker", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}]}))
    with httpx.Client(base_url=console_server.endpoint_url, timeout=30) as client:
        assert sign_in(client, user="notebook-only", password="notebook-only-password-1").status_code == 303
        page = client.get(f"/sagemaker/notebook-instances/create?region={REGION}")
        assert page.status_code == 200
        assert re.search(r'<input id="role_arn" name="role_arn"', page.text)
        assert "You may not list IAM roles" in page.text
