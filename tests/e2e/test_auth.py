"""SigV4 at the gateway: every request signed, or answered with the AWS error for what is wrong."""

from __future__ import annotations

import datetime

import botocore.auth
import httpx
import pytest
from botocore.exceptions import ClientError


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_get_caller_identity_through_the_cli_profile(server):
    identity = server.aws_json("sts", "get-caller-identity")
    assert identity == {"UserId": server.account_id, "Account": server.account_id,
                        "Arn": f"arn:aws:iam::{server.account_id}:root"}


def test_unknown_access_key_is_refused_in_each_protocol(server):
    sagemaker = server.client("sagemaker", aws_access_key_id="AKIANOBODY0000000000")
    with pytest.raises(ClientError) as exc:
        sagemaker.list_notebook_instances()
    assert _code(exc) == "UnrecognizedClientException"
    assert "security token included in the request is invalid" in str(exc.value)
    sts = server.client("sts", aws_access_key_id="AKIANOBODY0000000000")
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert _code(exc) == "InvalidClientTokenId"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_wrong_secret_is_a_signature_mismatch(server):
    with pytest.raises(ClientError) as exc:
        server.client("sagemaker", aws_secret_access_key="wrong").list_notebook_instances()
    assert _code(exc) == "InvalidSignatureException"
    with pytest.raises(ClientError) as exc:
        server.client("sts", aws_secret_access_key="wrong").get_caller_identity()
    assert _code(exc) == "SignatureDoesNotMatch"
    assert "does not match the signature you provided" in str(exc.value)


def test_stale_signature_is_expired(server, monkeypatch):
    stale = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: stale.replace(tzinfo=None))
    with pytest.raises(ClientError) as exc:
        server.client("sagemaker").list_notebook_instances()
    assert _code(exc) == "InvalidSignatureException"
    assert "Signature expired" in str(exc.value)


def test_unsigned_and_tampered_requests_are_refused(server):
    reply = httpx.post(server.endpoint_url + "/", headers={"X-Amz-Target": "SageMaker.ListNotebookInstances",
                                                           "Content-Type": "application/x-amz-json-1.1"}, content=b"{}")
    assert reply.status_code == 403
    assert reply.json()["__type"] == "MissingAuthenticationTokenException"
    reply = httpx.post(server.endpoint_url + "/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
                       headers={"Authorization": "AWS4-HMAC-SHA256 Credential=garbage"})
    assert reply.status_code == 400
    assert "<Code>IncompleteSignature</Code>" in reply.text


def test_presigned_query_string_is_accepted_and_checked(server):
    url = server.client("sts").generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    reply = httpx.get(url)
    assert reply.status_code == 200, reply.text
    assert f"<Account>{server.account_id}</Account>" in reply.text
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=600")
    assert "<Code>SignatureDoesNotMatch</Code>" in httpx.get(tampered).text


def test_resources_are_scoped_by_region(server):
    config = "scoped-" + datetime.datetime.now().strftime("%H%M%S%f")
    east = server.client("sagemaker")
    east.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=config)
    west = server.client("sagemaker", region_name="eu-west-1")
    names = [c["NotebookInstanceLifecycleConfigName"]
             for c in west.list_notebook_instance_lifecycle_configs()["NotebookInstanceLifecycleConfigs"]]
    assert config not in names
    with pytest.raises(ClientError):
        west.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=config)
    described = east.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=config)
    assert described["NotebookInstanceLifecycleConfigArn"].startswith("arn:aws:sagemaker:us-east-1:")


def test_unimplemented_and_unknown_operations_say_so(server):
    with pytest.raises(ClientError) as exc:
        server.client("sagemaker").list_endpoints()
    assert _code(exc) == "NotImplementedException"
    assert "ListEndpoints" in str(exc.value)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
