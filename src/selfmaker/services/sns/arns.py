"""Topic and subscription ARNs: ``arn:aws:sns:<region>:<account>:<topic>`` and ``<topic arn>:<uuid>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from selfmaker.services.base import RequestContext
from selfmaker.services.sns.errors import invalid_parameter, not_authorized

TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOPIC_ARN = re.compile(r"^arn:aws:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256})$")
_SUBSCRIPTION_ARN = re.compile(
    r"^(arn:aws:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}):[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$"
)


@dataclass(frozen=True)
class TopicArn:
    arn: str
    region: str
    account_id: str
    name: str


def parse_topic_arn(value: str, parameter: str = "TopicArn") -> TopicArn:
    match = _TOPIC_ARN.match(value or "")
    if match is None:
        raise invalid_parameter(parameter)
    return TopicArn(value, *match.groups())


def topic_in_scope(ctx: RequestContext, value: str, action: str, parameter: str = "TopicArn") -> TopicArn:
    """A topic ARN the caller may act on: in the caller's region, and in the caller's account."""
    topic = parse_topic_arn(value, parameter)
    if topic.region != ctx.region:
        raise invalid_parameter(parameter, f"A regional ARN must be in the same region as the request ({ctx.region})")
    if topic.account_id != ctx.account_id:
        raise not_authorized(ctx.principal_arn, action, topic.arn)
    return topic


def topic_of_subscription(value: str) -> str | None:
    match = _SUBSCRIPTION_ARN.match(value or "")
    return match.group(1) if match else None


def subscription_in_scope(ctx: RequestContext, value: str, action: str) -> str:
    topic_arn = topic_of_subscription(value)
    if topic_arn is None:
        raise invalid_parameter("SubscriptionArn")
    topic_in_scope(ctx, topic_arn, action, "SubscriptionArn")
    return value
