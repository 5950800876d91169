"""The CloudFormation pages through HTTP against a real server: the quick-create review form, its errors,
creating from a pasted or uploaded template, a stack's tabs while and after it works, and deleting."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.console.conftest import csrf_field

REGION = "us-east-1"
REVIEW = f"/cloudformation/stacks/create/review?region={REGION}"
FASTAI = {"region": REGION, "templateURL": "selfmaker://fastai.yaml", "stackName": "fastai"}
FASTAI_VALUES = {"param_NotebookName": "fastai", "param_InstanceType": "ml.t3.medium", "param_VolumeSize": "50",
                 "param_NotificationEmail": "", "param_PipPackages": "fastai"}
TOPIC_TEMPLATE = """\
Description: A topic and a link
Parameters:
  Secret:
    Type: String
    NoEcho: true
    MinLength: 3
  Label:
    Type: String
    Default: plain
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !Ref Label
  Scripts:
    Type: AWS::SageMaker::NotebookInstanceLifecycleConfig
    Properties:
      OnStart: [{Content: ZWNobyBoaQ==}]
Outputs:
  Docs:
    Value: https://example.com/docs?page=1
    Description: Where to read more
  TopicArn:
    Value: !Ref Topic
"""
FAILING_TEMPLATE = """\
Resources:
  Broken:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: "not a valid name!"
"""


class Elements(HTMLParser):
    """Every element's attributes by id, and the text of the elements that have an id."""

    def __init__(self, html: str):
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.text: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.by_id[found["id"]] = {"tag": tag, **found}
            self.text.setdefault(found["id"], "")
        if tag not in ("input", "br", "meta", "link", "img"):
            self._open.append((tag, found.get("id")))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _tag, element_id in self._open:
            if element_id:
                self.text[element_id] += data


def selected_option(html: str, select_id: str) -> str | None:
    block = re.search(rf'<select id="{select_id}".*?</select>', html, re.S)
    assert block, f"no <select id={select_id}>"
    chosen = re.search(r'<option value="([^"]*)" selected>', block.group(0))
    return chosen.group(1) if chosen else None


def statuses(html: str) -> list[str]:
    return re.findall(r"data-status>([A-Z_]+)<", html)


def wait_for_status(client: httpx.Client, stack_id: str, done: str, timeout: float = 60) -> str:
    """Polls the page's own live fragment, as htmx does, until the stack's status is ``done``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        fragment = client.get("/cloudformation/stacks/detail",
                              params={"region": REGION, "stackId": stack_id, "tab": "events", "fragment": "live"})
        assert fragment.status_code == 200
        if statuses(fragment.text)[0] == done:
            return fragment.text
        assert 'hx-trigger="every 2s"' in fragment.text  # still changing: the fragment keeps polling
        time.sleep(0.5)
    raise AssertionError(f"{stack_id} did not reach {done}")


def create_from_body(client: httpx.Client, name: str, body: str, **values: str) -> httpx.Response:
    review = client.post(REVIEW, data={"csrf_token": csrf_field(client.get("/console/").text), "source": "body",
                                       "template_body": body})
    assert review.status_code == 200, review.text
    form = {"csrf_token": csrf_field(review.text), "step": "create", "stack_name": name,
            "template_body": Elements(review.text).by_id["stack-form-template"]["value"], **values}
    return client.post(REVIEW, data=form)


def stack_id_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["stackId"][0]


@pytest.fixture
def client(root_client: httpx.Client) -> httpx.Client:
    return root_client


# --- the quick-create review form ---------------------------------------------------------------------------------


def test_quick_create_link_shows_the_parameter_form(client):
    page = client.get("/cloudformation/stacks/create/review", params={**FASTAI, "param_VolumeSize": "20"})
    assert page.status_code == 200
    found = Elements(page.text)
    assert found.by_id["stack-name"]["value"] == "fastai"
    assert 'for="stack-name"' in page.text and 'for="param-InstanceType"' in page.text
    # AllowedValues → a select with the default chosen; a param_<Key> in the link overrides the default.
    assert found.by_id["param-InstanceType"]["tag"] == "select"
    assert selected_option(page.text, "param-InstanceType") == "ml.t3.medium"
    assert '<option value="ml.g5.xlarge">' in page.text
    assert found.by_id["param-VolumeSize"]["value"] == "20"
    assert found.by_id["param-NotebookName"]["value"] == "fastai"
    assert "param-InstanceType-help" in found.by_id["param-InstanceType"]["aria-describedby"]
    assert "GPU types need a Selfmaker host" in found.text["param-InstanceType-help"]
    assert "A SageMaker notebook instance for the fast.ai course" in page.text  # the template's Description
    box = found.by_id["capability-CAPABILITY_IAM"]
    assert box["type"] == "checkbox" and "required" in box and "checked" not in box
    assert "I acknowledge that AWS CloudFormation might create IAM resources." in page.text
    assert "[AWS::IAM::Role]" in page.text  # CapabilitiesReason
    assert found.by_id["stack-form-template"]["value"] == "selfmaker://fastai.yaml"


def test_review_is_in_korean_keeping_parameter_keys(client):
    page = client.get("/cloudformation/stacks/create/review", params=FASTAI, headers={"accept-language": "ko-KR"})
    assert page.status_code == 200
    assert "스택 빠른 생성" in page.text and "파라미터" in page.text
    assert "AWS CloudFormation에서 IAM 리소스를 생성할 수 있음을 승인합니다." in page.text
    assert ">InstanceType</label>" in page.text


def test_creating_without_the_acknowledgement_shows_the_capability_error(client, console_server):
    page = client.get("/cloudformation/stacks/create/review", params=FASTAI)
    refused = client.post(REVIEW, data={"csrf_token": csrf_field(page.text), "step": "create",
                                        "template_url": "selfmaker://fastai.yaml", "stack_name": "fastai",
                                        **FASTAI_VALUES})
    assert refused.status_code == 400
    found = Elements(refused.text)
    assert found.text["capabilities-error"] == "Requires capabilities : [CAPABILITY_IAM]"
    box = found.by_id["capability-CAPABILITY_IAM"]
    assert box["aria-describedby"] == "capabilities-error" and box["aria-invalid"] == "true"
    assert found.by_id["form-errors"]["role"] == "alert"
    assert 'href="#capabilities"' in refused.text
    names = [s["StackName"] for s in console_server.client("cloudformation").list_stacks()["StackSummaries"]]
    assert "fastai" not in names


def test_a_bad_parameter_value_is_shown_at_its_field_and_every_value_is_kept(client):
    page = client.get("/cloudformation/stacks/create/review", params=FASTAI)
    refused = client.post(REVIEW, data={
        "csrf_token": csrf_field(page.text), "step": "create", "template_url": "selfmaker://fastai.yaml",
        "stack_name": "my-notebook", **FASTAI_VALUES, "param_NotebookName": "no_underscores!",
        "param_InstanceType": "ml.t3.large", "param_VolumeSize": "80", "capabilities": "CAPABILITY_IAM",
    })
    assert refused.status_code == 400
    found = Elements(refused.text)
    error = found.text["param-NotebookName-error"]
    assert error.startswith("Parameter 'NotebookName' failed to satisfy constraint")
    field = found.by_id["param-NotebookName"]
    assert field["value"] == "no_underscores!" and field["aria-invalid"] == "true"
    assert field["aria-describedby"].split() == ["param-NotebookName-help", "param-NotebookName-error"]
    assert found.by_id["stack-name"]["value"] == "my-notebook"
    assert selected_option(refused.text, "param-InstanceType") == "ml.t3.large"
    assert found.by_id["param-VolumeSize"]["value"] == "80"
    assert "checked" in found.by_id["capability-CAPABILITY_IAM"]
    assert "param-VolumeSize-error" not in found.by_id


def test_stack_name_problems_are_shown_at_the_name(client):
    page = client.get("/cloudformation/stacks/create/review", params=FASTAI)
    form = {"csrf_token": csrf_field(page.text), "step": "create", "template_url": "selfmaker://fastai.yaml",
            **FASTAI_VALUES, "capabilities": "CAPABILITY_IAM"}
    empty = client.post(REVIEW, data={**form, "stack_name": " "})
    assert empty.status_code == 400
    assert Elements(empty.text).text["stack-name-error"] == "Enter a stack name."
    bad = client.post(REVIEW, data={**form, "stack_name": "9lives"})
    assert bad.status_code == 400
    assert "'stackName' failed to satisfy constraint" in Elements(bad.text).text["stack-name-error"]


# --- choosing a template ------------------------------------------------------------------------------------------


def test_the_chooser_offers_bundled_templates_and_reports_unreadable_ones(client):
    page = client.get("/cloudformation/stacks/create", params={"region": REGION})
    assert page.status_code == 200
    assert 'value="selfmaker://fastai.yaml"' in page.text and 'type="file"' in page.text
    assert page.text.count('enctype="multipart/form-data"') == 4
    csrf = csrf_field(page.text)
    missing = client.post(REVIEW, data={"csrf_token": csrf, "source": "url", "template_url": "selfmaker://nope.yaml"})
    assert missing.status_code == 400
    assert "no bundled template of that name" in Elements(missing.text).text["url-error"]
    assert Elements(missing.text).by_id["template-url"]["value"] == "selfmaker://nope.yaml"
    empty = client.post(REVIEW, data={"csrf_token": csrf, "source": "body", "template_body": "  "})
    assert Elements(empty.text).text["body-error"] == "Paste the template's text."
    broken = client.post(REVIEW, data={"csrf_token": csrf, "source": "body", "template_body": "Resources: [1"})
    assert broken.status_code == 400 and "Template format error" in Elements(broken.text).text["body-error"]
    assert Elements(broken.text).text["template-body"] == "Resources: [1"  # kept for the reader to fix
    link = client.get("/cloudformation/stacks/create/review",
                      params={"region": REGION, "templateURL": "selfmaker://gone.yaml", "stackName": "x"})
    assert link.status_code == 400 and "no bundled template" in Elements(link.text).text["url-error"]
    bundled = client.post(REVIEW, data={"csrf_token": csrf, "source": "bundled",
                                        "template_url": "selfmaker://fastai.yaml"})
    assert bundled.status_code == 200 and 'id="param-InstanceType"' in bundled.text


def test_an_uploaded_template_reaches_the_review(client):
    csrf = csrf_field(client.get("/console/").text)
    review = client.post(REVIEW, data={"csrf_token": csrf, "source": "file"},
                         files={"template_file": ("topic.yaml", TOPIC_TEMPLATE.encode(), "application/x-yaml")})
    assert review.status_code == 200
    found = Elements(review.text)
    assert found.by_id["param-Secret"]["type"] == "password"
    assert found.by_id["param-Label"]["value"] == "plain"
    assert found.by_id["stack-form-template"]["value"] == TOPIC_TEMPLATE
    assert "capability-CAPABILITY_IAM" not in found.by_id  # no IAM resources, no acknowledgement
    not_text = client.post(REVIEW, data={"csrf_token": csrf, "source": "file"},
                           files={"template_file": ("x.yaml", b"\xff\xfe\x00", "application/octet-stream")})
    assert not_text.status_code == 400
    assert Elements(not_text.text).text["file-error"] == "The file is not UTF-8 text."


# --- a stack's life -----------------------------------------------------------------------------------------------


def test_a_small_stack_is_created_shown_and_deleted(client, console_server):
    short = create_from_body(client, "topic-stack", TOPIC_TEMPLATE, param_Secret="ab", param_Label="Mine")
    assert short.status_code == 400
    found = Elements(short.text)
    assert "Parameter 'Secret' must contain at least 3 characters" in found.text["param-Secret-error"]
    assert found.by_id["param-Secret"]["value"] == ""  # NoEcho values are not sent back
    assert found.by_id["param-Label"]["value"] == "Mine"

    created = create_from_body(client, "topic-stack", TOPIC_TEMPLATE, param_Secret="s3cret", param_Label="Mine")
    stack_id = stack_id_of(created)
    assert parse_qs(urlsplit(created.headers["location"]).query)["tab"] == ["events"]
    first = client.get(created.headers["location"])
    assert "Creating stack topic-stack." in first.text
    events = wait_for_status(client, stack_id, "CREATE_COMPLETE")
    assert "hx-trigger" not in events  # done: no more polling
    assert statuses(events)[1] == "CREATE_COMPLETE"  # newest first: the stack's own last event

    def tab(name: str) -> str:
        page = client.get("/cloudformation/stacks/detail", params={"region": REGION, "stackId": stack_id, "tab": name})
        assert page.status_code == 200
        return page.text

    outputs = tab("outputs")
    assert ('<a href="https://example.com/docs?page=1" target="_blank" rel="noopener noreferrer">'
            'https://example.com/docs?page=1</a>') in outputs
    assert "Where to read more" in outputs and "arn:aws:sns:us-east-1:123456789012:" in outputs
    parameters = tab("parameters")
    assert "****" in parameters and "s3cret" not in parameters and "Mine" in parameters
    resources = tab("resources")
    assert "AWS::SNS::Topic" in resources
    assert re.search(r'href="/sagemaker/lifecycle-configurations/topic-stack-scripts-[^"?/]+\?region=us-east-1"',
                     resources)
    assert "DisplayName: !Ref Label" in tab("template")
    info = tab("info")
    assert 'aria-current="page">Stack info<' in info and "A topic and a link" in info
    korean = client.get("/cloudformation/stacks/detail", params={"region": REGION, "stackId": stack_id},
                        headers={"accept-language": "ko"})
    assert "스택 정보" in korean.text and "이벤트" in korean.text
    assert ">CREATE_COMPLETE<" in korean.text  # status codes stay as AWS writes them

    listed = client.get("/cloudformation/stacks", params={"region": REGION})
    assert 'data-stack="topic-stack"' in listed.text
    rows = client.get("/cloudformation/stacks", params={"region": REGION, "fragment": "rows"})
    assert rows.text.lstrip().startswith('<div id="stacks"') and "<html" not in rows.text
    elsewhere = client.get("/cloudformation/stacks", params={"region": "eu-west-1"})
    assert 'data-stack="topic-stack"' not in elsewhere.text

    confirm = client.get("/cloudformation/stacks/delete", params={"region": REGION, "stackId": "topic-stack"})
    assert confirm.status_code == 200
    assert "Delete stack topic-stack?" in confirm.text and 'class="danger"' in confirm.text
    deleted = client.post("/cloudformation/stacks/delete", params={"region": REGION, "stackId": stack_id},
                          data={"csrf_token": csrf_field(confirm.text)})
    assert deleted.status_code == 303
    assert "tab=events" in deleted.headers["location"]
    assert "Deleting stack topic-stack." in client.get(deleted.headers["location"]).text
    wait_for_status(client, stack_id, "DELETE_COMPLETE")
    listed = client.get("/cloudformation/stacks", params={"region": REGION})
    assert 'data-stack="topic-stack"' not in listed.text
    topics = console_server.client("sns").list_topics()["Topics"]
    assert not any("topic-stack" in t["TopicArn"] for t in topics)


def test_failed_events_are_highlighted_with_their_reason(client):
    stack_id = stack_id_of(create_from_body(client, "broken-stack", FAILING_TEMPLATE))
    events = wait_for_status(client, stack_id, "ROLLBACK_COMPLETE")
    failed = re.findall(r'<tr class="failed">(.*?)</tr>', events, re.S)
    assert failed, "no failed event row"
    assert "Broken" in failed[-1] and "CREATE_FAILED" in failed[-1]
    assert "Invalid parameter" in failed[-1]  # the ResourceStatusReason, shown


def test_delete_needs_the_csrf_token_and_unknown_stacks_are_not_found(client):
    missing = client.get("/cloudformation/stacks/detail", params={"region": REGION, "stackId": "no-such-stack"})
    assert missing.status_code == 404 and "does not exist" in missing.text
    refused = client.post("/cloudformation/stacks/delete", params={"region": REGION, "stackId": "no-such-stack"},
                          data={})
    assert refused.status_code == 403
