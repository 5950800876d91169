"""STS GetSessionToken and GetAccessKeyInfo, through boto3 against a real server."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def student(server):
    iam = server.client("iam")
    iam.create_user(UserName="session-student")
    iam.put_user_policy(UserName="session-student", PolicyName="list", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["sagemaker:ListNotebookInstances", "iam:ListUsers"],
                       "Resource": "*"}]}))
    key = iam.create_access_key(UserName="session-student")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def _as(server, service, credentials: dict):
    return boto3.client(service, endpoint_url=server.endpoint_url, region_name=server.region,
                        aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials.get("SessionToken"),
                        config=Config(retries={"max_attempts": 1}))


def test_a_session_token_acts_as_its_user_but_not_on_iam(server, student):
    user = {"AccessKeyId": student[0], "SecretAccessKey": student[1]}
    session = _as(server, "sts", user).get_session_token(DurationSeconds=900)["Credentials"]
    assert session["AccessKeyId"].startswith("ASIA") and session["SessionToken"]
    arn = f"arn:aws:iam::{server.account_id}:user/session-student"
    assert _as(server, "sts", session).get_caller_identity()["Arn"] == arn
    assert "NotebookInstances" in _as(server, "sagemaker", session).list_notebook_instances()
    _as(server, "iam", user).list_users()  # the user may list users...
    with pytest.raises(ClientError) as exc:  # ...its session credentials may not, without MFA
        _as(server, "iam", session).list_users()
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        _as(server, "sts", session).get_session_token()
    assert "Cannot call GetSessionToken with session credentials" in str(exc.value)


def test_root_sessions_are_short_and_keys_tell_their_account(server, student):
    with pytest.raises(ClientError) as exc:
        server.client("sts").get_session_token(DurationSeconds=7200)
    assert exc.value.response["Error"]["Code"] == "ValidationError"
    assert server.client("sts").get_access_key_info(AccessKeyId=student[0])["Account"] == server.account_id
    with pytest.raises(ClientError) as exc:
        server.client("sts").get_access_key_info(AccessKeyId="AKIANOTISSUEDHERE000")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"
