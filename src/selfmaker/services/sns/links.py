"""The links SNS hands out: confirm (a random token, stored hashed, valid three days) and unsubscribe
(an HMAC of the subscription ARN under a server secret, so every notification can carry it)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlencode

from sqlalchemy import Engine, insert, select

from selfmaker.store.tables import settings_kv

CONFIRM_PATH = "/_selfmaker/sns/confirm"
UNSUBSCRIBE_PATH = "/_selfmaker/sns/unsubscribe"
CERT_PATH = "/_selfmaker/sns/SimpleNotificationService.pem"
CONFIRM_TTL = 3 * 86400.0
_SECRET_KEY = "sns_link_secret"


def new_confirm_token() -> str:
    return secrets.token_hex(64)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def confirm_url(endpoint_url: str, topic_arn: str, token: str) -> str:
    return f"{endpoint_url}{CONFIRM_PATH}?" + urlencode({"TopicArn": topic_arn, "Token": token})


def unsubscribe_url(endpoint_url: str, subscription_arn: str, token: str) -> str:
    return f"{endpoint_url}{UNSUBSCRIBE_PATH}?" + urlencode({"SubscriptionArn": subscription_arn, "Token": token})


class UnsubscribeTokens:
    """Unsubscribe tokens: single-purpose (the purpose is part of what is signed), never stored."""

    def __init__(self, engine: Engine):
        self._secret = _link_secret(engine)

    def make(self, subscription_arn: str) -> str:
        return hmac.new(self._secret, b"unsubscribe\0" + subscription_arn.encode(), hashlib.sha256).hexdigest()

    def check(self, subscription_arn: str, token: str) -> bool:
        return hmac.compare_digest(self.make(subscription_arn), token)


def _link_secret(engine: Engine) -> bytes:
    with engine.begin() as conn:
        value = conn.execute(select(settings_kv.c.value).where(settings_kv.c.key == _SECRET_KEY)).scalar()
        if value is None:
            value = secrets.token_hex(32)
            conn.execute(insert(settings_kv).values(key=_SECRET_KEY, value=value))
    return bytes.fromhex(value)
