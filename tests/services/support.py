"""What the provider tests share: asserting a ServiceError, and IAM's request contexts."""

from __future__ import annotations

import pytest

from selfmaker.services.base import RequestContext, ServiceError

ACCOUNT = "123456789012"


def fails(code: str, call, *args, message: str | None = None) -> ServiceError:
    with pytest.raises(ServiceError) as exc:
        call(*args)
    assert exc.value.code == code, exc.value.message
    if message is not None:
        assert exc.value.message == message
    return exc.value


def iam_ctx(principal: str = "root", account: str = ACCOUNT, key: str = "AKIDTEST") -> RequestContext:
    """A request by ``principal`` (``root``, ``user/alice``, ``assumed-role/…``) of ``account``."""
    arn = f"arn:aws:iam::{account}:{principal}"
    return RequestContext(account_id=account, region="us-east-1", principal_arn=arn, access_key_id=key,
                          request_id="r", endpoint_url="http://127.0.0.1:1")
