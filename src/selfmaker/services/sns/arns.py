"""Topic and subscription ARNs: ``arn:<partition>:sns:<region>:<account>:<topic>`` and ``<topic arn>:<uuid>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from selfmaker.domain.partitions import partition_of
from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.sns.errors import invalid_parameter, not_authorized

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_FIFO_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,251}\.fifo$")  # 256 characters at most, the suffix included
FIFO_SUFFIX = ".fifo"
_NAME = r"[A-Za-z0-9_-]{1,256}(?:\.fifo)?"
_TOPIC_ARN = re.compile(rf"^arn:(aws[a-z-]*):sns:([a-z0-9-]+):(\d{{12}}):({_NAME})$")
_SUBSCRIPTION_ARN = re.compile(
    rf"^(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{{12}}:{_NAME}):[0-9a-f]{{8}}(?:-[0-9a-f]{{4}}){{3}}-[0-9a-f]{{12}}$"
)


def check_topic_name(name: str, fifo: bool) -> None:
    """CreateTopic's name rules: a FIFO topic's name ends in .fifo, a standard topic's has no dot at all."""
    if fifo and not _FIFO_TOPIC_NAME.match(name):
        raise ServiceError("InvalidParameter", "Fifo Topic names must end with .fifo and must be made up of only "
                           "uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be "
                           "between 1 and 256 characters long.")
    if not fifo and not _TOPIC_NAME.match(name):
        raise invalid_parameter("Topic Name")


def is_fifo_topic(arn: str) -> bool:
    """Whether a (well-formed) topic ARN names a FIFO topic: only those may end in .fifo."""
    return arn.endswith(FIFO_SUFFIX)


def topic_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:{partition_of(region)}:sns:{region}:{account_id}:{name}"


@dataclass(frozen=True)
class TopicArn:
    arn: str
    partition: str
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
    if topic.region != ctx.region or topic.partition != ctx.partition:
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
