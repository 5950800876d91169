"""Malformed input answered with each protocol's own client error, through a real server (these were 500s)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

# An operation of each JSON service, with an integer member and a string member of its input.
JSON_TARGETS = {"sagemaker": ("SageMaker.ListNotebookInstances", "MaxResults", "NameContains"),
                "logs": ("Logs_20140328.DescribeLogGroups", "limit", "logGroupNamePrefix")}


def _signed(server, service: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    request = AWSRequest("POST", server.endpoint_url + "/", data=body, headers=headers)
    SigV4Auth(Credentials(server.access_key_id, server.secret_access_key), service, server.region).add_auth(request)
    return httpx.post(server.endpoint_url + "/", content=body, headers=dict(request.headers.items()), timeout=30)


def _json(server, service: str, body: bytes) -> httpx.Response:
    target = JSON_TARGETS[service][0]
    return _signed(server, service, body, {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})


def _form(server, service: str, body: str) -> httpx.Response:
    return _signed(server, service, body.encode(), {"Content-Type": "application/x-www-form-urlencoded"})


def _code(exc: pytest.ExceptionInfo) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


@pytest.mark.parametrize("service", ["sagemaker", "logs"])
@pytest.mark.parametrize("number", ["9" * 5000, "-" + "9" * 1001, "1e400"])
def test_a_huge_json_number_is_a_serialization_exception(server, service, number):
    member = JSON_TARGETS[service][1]
    response = _json(server, service, f'{{"{member}": {number}}}'.encode())
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"


@pytest.mark.parametrize("service", ["sagemaker", "logs"])
def test_numbers_beyond_the_members_type_and_odd_json_are_serialization_exceptions(server, service):
    _, number, text = JSON_TARGETS[service]
    for body in [f'{{"{number}": {2**31}}}', f'{{"{number}": NaN}}', "[" * 5000 + "]" * 5000,
                 f'{{"{text}": "\\ud800"}}', f'{{"{text}": ["\\ud800"]}}']:
        response = _json(server, service, body.encode())
        assert response.status_code == 400, body[:40]
        assert response.json()["__type"] == "SerializationException", body[:40]


@pytest.mark.parametrize("body", [
    "[" * 5000 + "]" * 5000,
    '{"Resources": ' + "[" * 5000 + "]" * 5000 + "}",
    "Resources: " + "[" * 5000 + "]" * 5000,
    "Resources:\n" + "".join(" " * i + "- \n" for i in range(1, 250)),  # block style, within 51,200 bytes
    "Resources: {a: " * 3000 + "1" + "}" * 3000,
    '{"Resources": {"A": ' + "9" * 5000 + "}}",
    "Resources:\n  A: " + "9" * 5000 + "\n",
])
def test_a_template_nested_or_numbered_past_the_limits_is_a_template_format_error(server, body):
    cloudformation = server.client("cloudformation")
    for call in (cloudformation.validate_template, lambda **kw: cloudformation.create_stack(StackName="deep", **kw)):
        with pytest.raises(ClientError) as exc:
            call(TemplateBody=body)
        code, message = _code(exc)
        assert code == "ValidationError"
        assert message.startswith("Template format error: "), message


def test_a_template_within_the_depth_limit_still_validates(server):
    deep = "[" * 90 + "1" + "]" * 90
    body = f'{{"Resources": {{"T": {{"Type": "AWS::SNS::Topic", "Metadata": {{"Deep": {deep}}}}}}}}}'
    assert "Parameters" in server.client("cloudformation").validate_template(TemplateBody=body)


def test_a_lifecycle_hook_without_content_is_a_validation_exception(server):
    sagemaker = server.client("sagemaker")
    for key in ("OnStart", "OnCreate"):
        with pytest.raises(ClientError) as exc:
            sagemaker.create_notebook_instance_lifecycle_config(
                NotebookInstanceLifecycleConfigName=f"no-content-{key.lower()}", **{key: [{}]})
        code, message = _code(exc)
        assert code == "ValidationException"
        assert f"{key[:1].lower()}{key[1:]}.1.member.content" in message


@pytest.mark.parametrize("url", ["selfmaker://" + "a" * 300, "selfmaker://a%00b.yaml", "a" * 1000,
                                 "selfmaker://../templates/fastai.yaml"])
def test_a_bundled_template_name_the_file_system_cannot_take_is_a_validation_error(server, url):
    with pytest.raises(ClientError) as exc:
        server.client("cloudformation").validate_template(TemplateURL=url)
    code, message = _code(exc)
    assert code == "ValidationError" and "no bundled template of that name" in message


def test_file_template_urls_that_are_not_regular_files_are_refused(server):
    for url in ("file:///dev/zero", "file:///tmp", "file:///tmp/a%00b"):
        with pytest.raises(ClientError) as exc:
            server.client("cloudformation").validate_template(TemplateURL=url)
        assert _code(exc)[0] == "ValidationError", url


def test_too_many_form_fields_are_refused_before_they_are_read(server):
    body = "Action=ListUsers&Version=2010-05-08&" + "a=1&" * 20_000
    response = _form(server, "iam", body)
    assert response.status_code == 400 and b"<Code>MalformedQueryString</Code>" in response.content


def test_a_query_map_entry_without_a_value_is_a_validation_error(server):
    body = "Action=CreateTopic&Version=2010-03-31&Name=no-value&Attributes.entry.1.key=DisplayName"
    response = _form(server, "sns", body)
    assert response.status_code == 400 and b"<Code>ValidationError</Code>" in response.content


def test_control_characters_echoed_in_a_query_error_leave_it_parseable(server):
    with pytest.raises(ClientError) as exc:
        server.client("iam").get_user(UserName="bad\x00\x0b\x1fname")
    assert _code(exc)[0] in ("ValidationError", "NoSuchEntity")


def test_a_deeply_nested_policy_document_is_a_client_error(server):
    document = '{"Version": "2012-10-17", "Statement": ' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(ClientError) as exc:
        server.client("iam").create_policy(PolicyName="deep", PolicyDocument=document)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_deeply_nested_sns_json_message_is_a_client_error(server):
    topic = server.client("sns").create_topic(Name="deep-messages")["TopicArn"]
    for message in ("[" * 5000 + "]" * 5000, '{"default": ' + "9" * 5000 + "}"):
        body = (f"Action=Publish&Version=2010-03-31&TopicArn={quote(topic, safe='')}&MessageStructure=json"
                f"&Message={quote(message)}")
        response = _form(server, "sns", body)
        assert response.status_code == 400 and b"<Code>InvalidParameter</Code>" in response.content
