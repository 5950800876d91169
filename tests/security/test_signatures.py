"""Bending signatures, as an attacker holding one signed request would.

Each test takes a request that botocore signed for one purpose and tries to make the server do another
thing with it, or keep it alive longer than its signer meant. A real server process answers.
"""

from __future__ import annotations

import datetime
import hashlib

import botocore.auth
import httpx
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

FORM = "application/x-www-form-urlencoded; charset=utf-8"
JSON = "application/x-amz-json-1.1"


def _credentials(server) -> Credentials:
    return Credentials(server.access_key_id, server.secret_access_key)


def _signed(server, service: str, body: str, headers: dict, region: str = "us-east-1", signer=SigV4Auth):
    request = AWSRequest(method="POST", url=server.endpoint_url + "/", data=body.encode(), headers=headers)
    signer(_credentials(server), service, region).add_auth(request)
    headers = dict(request.prepare().headers)
    headers.pop("Content-Length", None)  # the body sent may be another one: let the client count it
    return headers


def _presigned(server, query: str, expires: int = 60, when: datetime.datetime | None = None) -> str:
    request = AWSRequest(method="GET", url=f"{server.endpoint_url}/?{query}")
    signer = SigV4QueryAuth(_credentials(server), "sts", "us-east-1", expires=expires)
    if when is not None:  # botocore signs "now"; an attacker may sign any moment
        original = botocore.auth.get_current_datetime
        botocore.auth.get_current_datetime = lambda: when
        try:
            signer.add_auth(request)
        finally:
            botocore.auth.get_current_datetime = original
    else:
        signer.add_auth(request)
    return request.prepare().url


def test_a_presigned_get_caller_identity_url_does_nothing_else(server):
    url = _presigned(server, "Action=GetCallerIdentity&Version=2011-06-15")
    assert httpx.get(url).status_code == 200
    # The body of a GET carries other orders: assume a role, create a user.
    for body in ("Action=CreateUser&Version=2010-05-08&UserName=smuggled",
                 "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/x&RoleSessionName=s"):
        reply = httpx.request("GET", url, content=body, headers={"Content-Type": FORM})
        assert reply.status_code == 403, reply.text
        assert "<Code>SignatureDoesNotMatch</Code>" in reply.text and "has a body" in reply.text
    assert "smuggled" not in [user["UserName"] for user in server.client("iam").list_users()["Users"]]


def test_a_signed_request_cannot_carry_another_body(server):
    listing = "Action=ListUsers&Version=2010-05-08"
    swapped = "Action=CreateUser&Version=2010-05-08&UserName=swapped"
    plain = _signed(server, "iam", listing, {"Content-Type": FORM})
    reply = httpx.post(server.endpoint_url + "/", content=swapped, headers=plain)
    assert reply.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in reply.text, reply.text
    # A signature over a claimed payload hash covers that hash, not the body that comes with it.
    claimed = _signed(server, "iam", listing,
                      {"Content-Type": FORM, "X-Amz-Content-SHA256": hashlib.sha256(listing.encode()).hexdigest()})
    assert httpx.post(server.endpoint_url + "/", content=listing, headers=claimed).status_code == 200
    reply = httpx.post(server.endpoint_url + "/", content=swapped, headers=claimed)
    assert reply.status_code == 403 and "x-amz-content-sha256" in reply.text, reply.text
    assert "swapped" not in [user["UserName"] for user in server.client("iam").list_users()["Users"]]


def test_a_signed_payload_hash_must_be_the_bodys(server):
    target = {"X-Amz-Target": "SageMaker.ListNotebookInstances", "Content-Type": JSON}
    claimed = hashlib.sha256(b"{}").hexdigest()
    headers = _signed(server, "sagemaker", "{}", {**target, "X-Amz-Content-SHA256": claimed})
    assert httpx.post(server.endpoint_url + "/", content="{}", headers=headers).status_code == 200
    other = '{"NameContains": "x"}'
    reply = httpx.post(server.endpoint_url + "/", content=other, headers=headers)
    assert reply.status_code == 400 and reply.json()["__type"] == "InvalidSignatureException", reply.text
    unsigned = _signed(server, "sagemaker", other, {**target, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert httpx.post(server.endpoint_url + "/", content=other, headers=unsigned).status_code == 400


def test_presigned_lifetimes_are_bounded(server):
    for expires, text in ((700000, "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
                          (0, "X-Amz-Expires must be non-negative")):
        url = _presigned(server, "Action=GetCallerIdentity&Version=2011-06-15", expires=expires)
        reply = httpx.get(url)
        assert reply.status_code == 400 and "<Code>AuthorizationQueryParametersError</Code>" in reply.text
        assert text in reply.text
    week = _presigned(server, "Action=GetCallerIdentity&Version=2011-06-15", expires=604800)
    assert httpx.get(week).status_code == 200
    tomorrow = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(days=1)
    future = _presigned(server, "Action=GetCallerIdentity&Version=2011-06-15", when=tomorrow)
    reply = httpx.get(future)
    assert reply.status_code == 403 and "Request is not yet valid" in reply.text, reply.text


def test_host_must_be_signed_and_the_region_real(server):
    class NoHost(SigV4Auth):
        def headers_to_sign(self, request):
            signed = super().headers_to_sign(request)
            del signed["host"]
            return signed

    body = "Action=GetCallerIdentity&Version=2011-06-15"
    reply = httpx.post(server.endpoint_url + "/", content=body,
                       headers=_signed(server, "sts", body, {"Content-Type": FORM}, signer=NoHost))
    assert reply.status_code == 400 and "<Code>IncompleteSignature</Code>" in reply.text
    assert "'Host' or ':authority' must be a 'SignedHeader'" in reply.text
    reply = httpx.post(server.endpoint_url + "/", content=body,
                       headers=_signed(server, "sts", body, {"Content-Type": FORM}, region="xx-made-up-1"))
    assert reply.status_code == 403 and "Credential should be scoped to a valid region" in reply.text
