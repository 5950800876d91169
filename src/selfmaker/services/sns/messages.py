"""What subscribers receive: the JSON envelopes (HTTP, email-json) and the plain mails (email)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

DEFAULT_SENDER_NAME = "AWS Notifications"
DEFAULT_SUBJECT = "AWS Notification Message"


def timestamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def confirmation_envelope(message_id: str, topic_arn: str, token: str, subscribe_url: str, moment: float) -> dict:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": message_id,
        "Token": token,
        "TopicArn": topic_arn,
        "Message": f"You asked to subscribe to the topic {topic_arn}.\n"
                   "Visit the SubscribeURL of this message to confirm the subscription.",
        "SubscribeURL": subscribe_url,
        "Timestamp": timestamp(moment),
    }


def notification_envelope(message_id: str, topic_arn: str, subject: str | None, message: str, moment: float,
                          unsubscribe_url: str, attributes: dict[str, dict]) -> dict:
    envelope = {"Type": "Notification", "MessageId": message_id, "TopicArn": topic_arn}
    if subject is not None:
        envelope["Subject"] = subject
    envelope |= {"Message": message, "Timestamp": timestamp(moment)}
    envelope["UnsubscribeURL"] = unsubscribe_url
    if attributes:
        envelope["MessageAttributes"] = {name: _wire_attribute(value) for name, value in attributes.items()}
    return envelope


def _wire_attribute(value: dict) -> dict:
    if "BinaryValue" in value:
        raw = value["BinaryValue"]
        shown = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
        return {"Type": value["DataType"], "Value": shown}
    return {"Type": value["DataType"], "Value": value.get("StringValue", "")}


def sender_name(display_name: str) -> str:
    return display_name or DEFAULT_SENDER_NAME


def confirmation_mail(display_name: str, topic_arn: str, url: str) -> tuple[str, str]:
    """(subject, text) of the mail asking an address to confirm its subscription."""
    subject = f"{display_name or 'AWS Notification'} - Subscription Confirmation"
    text = (
        f"Someone asked to send notifications from this topic to this address:\n{topic_arn}\n\n"
        f"To confirm the subscription, open this link:\n{url}\n\n"
        "If you did not ask for this, ignore this mail: nothing is sent until the link is opened.\n"
    )
    return subject, text


def notification_mail(display_name: str, subject: str | None, message: str, unsubscribe: str) -> tuple[str, str]:
    text = (
        f"{message}\n\n--\n"
        f"To stop receiving notifications from this topic, open this link:\n{unsubscribe}\n"
    )
    return subject or display_name or DEFAULT_SUBJECT, text
