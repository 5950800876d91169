"""SigV4 verification against signatures botocore makes."""

from __future__ import annotations

import time

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from selfmaker.gateway import sigv4

CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def _signed(method: str, url: str, body: bytes = b"", headers: dict | None = None, presign: bool = False):
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if presign:
        SigV4QueryAuth(CREDS, "sts", "eu-west-1", expires=60).add_auth(request)
    else:
        SigV4Auth(CREDS, "sagemaker", "eu-west-1").add_auth(request)
    prepared = request.prepare()
    path, _, query = prepared.url.split("://", 1)[1].partition("/")[2].partition("?")
    names = {k.lower(): v for k, v in prepared.headers.items()}
    names["host"] = "127.0.0.1:8080"
    return "/" + path, query, names, prepared.body or b""


def _check(method, path, query, headers, body, secret=CREDS.secret_key):
    from urllib.parse import parse_qsl

    signed = sigv4.read_signature(headers, dict(parse_qsl(query, keep_blank_values=True)))
    sigv4.check_freshness(signed, 300)
    sigv4.verify(signed, secret, method, path, query, headers, body)
    return signed


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/",
    "http://127.0.0.1:8080/?b=2&a=1&a=0",
    "http://127.0.0.1:8080/some%20path/x?q=a%20b&empty=&tilde=~x",
])
def test_header_signatures_verify(url):
    path, query, headers, body = _signed("POST", url, b'{"x": "\xc3\xa9"}', {"X-Amz-Target": "SageMaker.X"})
    signed = _check("POST", path, query, headers, body)
    assert (signed.access_key_id, signed.region, signed.service) == ("AKIDEXAMPLE", "eu-west-1", "sagemaker")


def test_presigned_urls_verify():
    path, query, headers, body = _signed("GET", "http://127.0.0.1:8080/?Action=GetCallerIdentity&Version=2011-06-15",
                                         presign=True)
    assert _check("GET", path, query, headers, body).presigned


def test_tampering_is_detected():
    path, query, headers, body = _signed("POST", "http://127.0.0.1:8080/", b"{}")
    with pytest.raises(sigv4.AuthError) as exc:
        _check("POST", path, query, headers, b'{"a": 1}')
    assert exc.value.code == "InvalidSignatureException"
    with pytest.raises(sigv4.AuthError):
        _check("POST", path, query, headers, body, secret="other")
    assert exc.value.for_query().code == "SignatureDoesNotMatch"


def test_expired_and_future_dates():
    path, query, headers, body = _signed("POST", "http://127.0.0.1:8080/", b"{}")
    signed = sigv4.read_signature(headers, {})
    with pytest.raises(sigv4.AuthError, match=r"Signature expired: \d{8}T\d{6}Z is now earlier than"):
        sigv4.check_freshness(signed, 300, now=time.time() + 600)
    with pytest.raises(sigv4.AuthError, match="Signature not yet current"):
        sigv4.check_freshness(signed, 300, now=time.time() - 600)
