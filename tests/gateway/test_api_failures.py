"""What the API answers when a provider fails: a 500 in AWS's shape, logged with the request id and the
operation; a value nested past the interpreter's limit, the service's validation error instead."""

from __future__ import annotations

import asyncio
import logging
import re

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from selfmaker.gateway.api import ApiHandler, Service
from selfmaker.services.identity import Credential, CredentialStore
from selfmaker.store.db import open_store
from tests.postgres import store_at

KEY, SECRET = "AKIATESTFAILURES0001", "failures-secret-key-000000000000000000001"
ACCOUNT, REGION = "123456789012", "us-east-1"
URL = "http://api.test"


class Failing:
    """An STS whose GetCallerIdentity breaks as a bug would, and GetSessionToken as a deep value would."""

    def GetCallerIdentity(self, ctx, params):
        return {}["Account"]

    def GetSessionToken(self, ctx, params):
        def down(depth: int) -> int:
            return down(depth + 1)

        return down(0)


@pytest.fixture
def handler(tmp_path) -> ApiHandler:
    engine = open_store(store_at(tmp_path / "db.sqlite"))
    credentials = CredentialStore(engine)
    credentials.add(Credential(KEY, SECRET, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"))
    return ApiHandler([Service("sts", Failing())], credentials, URL, skew=900)


def _call(handler: ApiHandler, action: str) -> httpx.Response:
    body = f"Action={action}&Version=2011-06-15"
    request = AWSRequest("POST", URL + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(KEY, SECRET), "sts", REGION).add_auth(request)

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=handler), base_url=URL) as client:
            return await client.post("/", content=body, headers=dict(request.headers.items()))

    return asyncio.run(send())


def test_an_unexpected_failure_is_a_500_in_aws_shape_logged_with_request_id_and_operation(handler, caplog):
    with caplog.at_level(logging.ERROR, logger="selfmaker.api"):
        response = _call(handler, "GetCallerIdentity")
    assert response.status_code == 500
    assert b"<Code>InternalFailure</Code>" in response.content and b"<Type>Receiver</Type>" in response.content
    request_id = re.search(rb"<RequestId>([^<]+)</RequestId>", response.content).group(1).decode()
    [record] = [r for r in caplog.records if r.name == "selfmaker.api"]
    assert request_id in record.getMessage() and "sts GetCallerIdentity" in record.getMessage()
    assert record.exc_info is not None  # the traceback goes with it


def test_a_recursion_error_is_the_services_validation_error(handler, caplog):
    with caplog.at_level(logging.WARNING, logger="selfmaker.api"):
        response = _call(handler, "GetSessionToken")
    assert response.status_code == 400
    assert b"<Code>ValidationError</Code>" in response.content and b"nested too deeply" in response.content
    assert any("sts GetSessionToken" in record.getMessage() for record in caplog.records)
