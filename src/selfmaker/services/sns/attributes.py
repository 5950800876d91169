"""Topic and subscription attributes: which may be set, how they are checked, and their defaults."""

from __future__ import annotations

import json

from selfmaker import bounded_json
from selfmaker.services.sns.errors import invalid_parameter

PROTOCOLS = ("email", "email-json", "http", "https")
# The actions a topic's owner grants by default (AWS's default topic policy, account-scoped).
_DEFAULT_ACTIONS = [
    "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
    "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish",
]
_UNSUPPORTED = {
    "KmsMasterKeyId": "Selfmaker does not encrypt topics with KMS",
    "FilterPolicy": "Selfmaker does not filter messages yet",
    "FilterPolicyScope": "Selfmaker does not filter messages yet",
    "RedrivePolicy": "Selfmaker has no dead-letter queues",
    "SubscriptionRoleArn": "Selfmaker has no Firehose subscriptions",
    "DataProtectionPolicy": "Selfmaker does not support data protection policies",
    "ArchivePolicy": "Selfmaker does not archive messages",
}


def default_policy(topic_arn: str, account_id: str) -> str:
    return json.dumps({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": _DEFAULT_ACTIONS,
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account_id}},
        }],
    }, separators=(",", ":"))


def effective_delivery_policy(retry_delays: tuple[float, ...]) -> str:
    """What delivery really does here: the server's retry schedule (SELFMAKER_SNS_RETRY_DELAYS)."""
    delays = [round(d) for d in retry_delays] or [0]
    retry = {
        "minDelayTarget": min(delays), "maxDelayTarget": max(delays), "numRetries": len(retry_delays),
        "numMaxDelayRetries": 0, "numNoDelayRetries": 0, "numMinDelayRetries": 0,
        "backoffFunction": "exponential",
    }
    return json.dumps({"http": {
        "defaultHealthyRetryPolicy": retry, "disableSubscriptionOverrides": False,
        "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"},
    }}, separators=(",", ":"))


_TOPIC_SETTABLE = ("DisplayName", "Policy", "DeliveryPolicy", "SignatureVersion", "TracingConfig")
# Settable on FIFO topics only; FifoTopic itself is chosen once, by CreateTopic.
_FIFO_SETTABLE = {"ContentBasedDeduplication": ("true", "false"), "FifoThroughputScope": ("Topic", "MessageGroup")}
FIFO_DEFAULTS = {"FifoTopic": "true", "ContentBasedDeduplication": "false", "FifoThroughputScope": "Topic"}


def settable_topic_attribute(name: str) -> None:
    """InvalidParameter unless SetTopicAttributes may set ``name`` here (on some kind of topic)."""
    if name in _UNSUPPORTED:
        raise invalid_parameter(name, _UNSUPPORTED[name])
    if name not in _TOPIC_SETTABLE and name not in _FIFO_SETTABLE:
        raise invalid_parameter("AttributeName")


def check_topic_attribute(name: str, value: str, fifo: bool) -> str:
    """The value to store for a settable attribute of a (FIFO or standard) topic, or InvalidParameter."""
    settable_topic_attribute(name)
    if name == "DisplayName":
        if len(value) > 100 or not value.isprintable():
            raise invalid_parameter("DisplayName", "DisplayName must be at most 100 printable characters")
    elif name in ("Policy", "DeliveryPolicy"):
        _json_object(name, value)
    elif name == "SignatureVersion" and value not in ("1", "2"):
        raise invalid_parameter("SignatureVersion", "SignatureVersion must be 1 or 2")
    elif name == "TracingConfig" and value not in ("PassThrough", "Active"):
        raise invalid_parameter("TracingConfig", "TracingConfig must be PassThrough or Active")
    elif name in _FIFO_SETTABLE:
        return _fifo_attribute(name, value, fifo)
    return value


def _fifo_attribute(name: str, value: str, fifo: bool) -> str:
    if not fifo:
        raise invalid_parameter(name, f"{name} can only be set for FIFO topics")
    allowed = _FIFO_SETTABLE[name]
    # ContentBasedDeduplication is a boolean, in any case; FifoThroughputScope is spelled exactly.
    given = value.lower() if name == "ContentBasedDeduplication" else value
    if given not in allowed:
        raise invalid_parameter(name, f"{name} must be {' or '.join(allowed)}")
    return given


def fifo_requested(attributes: dict[str, str]) -> bool:
    """CreateTopic's FifoTopic attribute: true or false, in any case (absent is false)."""
    value = attributes.get("FifoTopic", "false").lower()
    if value not in ("true", "false"):
        raise invalid_parameter("FifoTopic", "FifoTopic must be true or false")
    return value == "true"


def check_topic_attributes(attributes: dict[str, str], fifo: bool) -> dict[str, str]:
    """CreateTopic's Attributes, checked, as stored: a FIFO topic keeps ``FifoTopic=true``; ``false`` only
    restates the default and is not kept, as on AWS."""
    checked = {"FifoTopic": "true"} if fifo else {}
    for name, value in attributes.items():
        if name == "FifoTopic":
            continue
        if name not in _TOPIC_SETTABLE and name not in _FIFO_SETTABLE and name not in _UNSUPPORTED:
            raise invalid_parameter("Attributes", f"Unknown attribute {name}")
        checked[name] = check_topic_attribute(name, value, fifo)
    return checked


def check_subscription_attribute(protocol: str, name: str, value: str) -> str:
    if name == "RawMessageDelivery":
        if value.lower() not in ("true", "false"):
            raise invalid_parameter("RawMessageDelivery", "RawMessageDelivery must be true or false")
        if protocol not in ("http", "https"):
            raise invalid_parameter("Attributes", f"Delivery protocol [{protocol}] does not support raw message "
                                                  "delivery.")
        return value.lower()
    if name == "DeliveryPolicy":
        _json_object(name, value)
        return value
    if name in _UNSUPPORTED:
        raise invalid_parameter(name, _UNSUPPORTED[name])
    raise invalid_parameter("AttributeName")


def _json_object(name: str, value: str) -> None:
    try:
        parsed = bounded_json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise invalid_parameter(name, f"{name} must be a JSON object")
