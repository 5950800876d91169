"""Publish: check the message as SNS does, then enqueue one delivery per confirmed subscription (once per
deduplication ID, on a FIFO topic)."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select

from selfmaker import bounded_json
from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.sns.arns import is_fifo_topic, topic_in_scope
from selfmaker.services.sns.delivery import Dispatcher, enqueue
from selfmaker.services.sns.errors import invalid_parameter
from selfmaker.services.sns.fifo import check_message_ids, dedup_key, earlier_answer, remember
from selfmaker.services.sns.outgoing import Outgoing
from selfmaker.services.sns.tables import sns_subscriptions
from selfmaker.services.sns.topics import load_topic

MAX_MESSAGE_BYTES = 256 * 1024  # the message and its attributes together
_ATTRIBUTE_NAME = re.compile(r"^(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9_.-]{1,256}$")


def _invalid_value(message: str) -> ServiceError:
    return ServiceError("ParameterValueInvalid", message)


def _target(params: dict) -> tuple[str, str]:
    """(parameter name, topic ARN) of what to publish to."""
    if params.get("PhoneNumber"):
        raise invalid_parameter("PhoneNumber", "Selfmaker does not send SMS")
    topic, target = params.get("TopicArn"), params.get("TargetArn")
    if topic and target:
        raise invalid_parameter("TopicArn", "Both TopicArn and TargetArn specified. Use only one or the other")
    if not topic and not target:
        raise invalid_parameter("TopicArn or TargetArn", "One of TopicArn, TargetArn or PhoneNumber is required")
    return ("TopicArn", topic) if topic else ("TargetArn", target)


def check_subject(subject: str | None) -> None:
    # SNS: no line breaks or control characters, at most 100 characters.
    if subject is not None and (not subject or len(subject) > 100 or not subject.isprintable()):
        raise invalid_parameter("Subject")


def messages_by_protocol(message: str, structure: str | None) -> dict[str, str]:
    """``{"default": …, "email": …}``: with MessageStructure=json each protocol may get its own text."""
    if structure is None:
        return {"default": message}
    if structure != "json":
        raise invalid_parameter("MessageStructure")
    try:
        parsed = bounded_json.loads(message)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise invalid_parameter("Message Structure - JSON message body failed to parse")
    if not isinstance(parsed.get("default"), str):
        raise invalid_parameter("Message Structure - No default entry in JSON message body")
    return {key: value for key, value in parsed.items() if isinstance(value, str)}


def check_attributes(attributes: dict[str, dict]) -> int:
    """Raise as SNS does for a malformed message attribute; returns their size in bytes."""
    size = 0
    for name, value in attributes.items():
        if not _ATTRIBUTE_NAME.match(name) or name.lower().startswith(("aws.", "amazon.")):
            raise _invalid_value(f"The message attribute name '{name}' is invalid.")
        kind = value.get("DataType", "")
        base = kind.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise _invalid_value(f"The message attribute '{name}' has an invalid message attribute type, the set "
                                 "of supported type prefixes is Binary, Number, and String.")
        data = value.get("BinaryValue") if base == "Binary" else value.get("StringValue")
        if not data:
            raise _invalid_value(f"The message attribute '{name}' must contain non-empty message attribute value "
                                 f"for message attribute type '{kind}'.")
        if base == "Number":
            try:
                float(data)
            except ValueError:
                raise _invalid_value(f"Could not cast message attribute '{name}' value to number.") from None
        if kind == "String.Array" and not isinstance(_json_or_none(data), list):
            raise _invalid_value(f"The message attribute '{name}' with type 'String.Array' must be a JSON array.")
        size += len(name.encode()) + len(kind.encode()) + len(data if isinstance(data, bytes) else data.encode())
    return size


def _json_or_none(text: str):
    try:
        return bounded_json.loads(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Outbound:
    """One message, checked: what Publish (or one PublishBatch entry) asked to send."""

    message: str
    subject: str | None
    texts: dict[str, str]  # by protocol, with "default"
    attributes: dict[str, dict]
    size: int  # the message and its attributes, in bytes
    group: str | None
    dedup: str | None


def checked_message(params: dict, fifo: bool, too_long: ServiceError) -> Outbound:
    """A Publish request's (or batch entry's) message, checked as SNS checks it; ``too_long`` is what to
    raise when it is over the size limit (checked before its JSON is parsed)."""
    message = params["Message"]
    if not message:
        raise invalid_parameter("Empty message")
    check_subject(params.get("Subject"))
    attributes = params.get("MessageAttributes") or {}
    size = len(message.encode()) + check_attributes(attributes)
    if size > MAX_MESSAGE_BYTES:
        raise too_long
    check_message_ids(fifo, params.get("MessageGroupId"), params.get("MessageDeduplicationId"))
    return Outbound(message, params.get("Subject"), messages_by_protocol(message, params.get("MessageStructure")),
                    attributes, size, params.get("MessageGroupId"), params.get("MessageDeduplicationId"))


class Publishing:
    engine: Engine
    dispatcher: Dispatcher
    outgoing: Outgoing

    async def Publish(self, ctx: RequestContext, params: dict) -> dict:
        parameter, arn = _target(params)
        topic_in_scope(ctx, arn, "Publish", parameter)
        outbound = checked_message(params, is_fifo_topic(arn), invalid_parameter("Message too long"))
        with self.engine.begin() as conn:
            topic = load_topic(conn, ctx, arn, "Publish")
            reply, deliveries = self.publish_one(conn, ctx, topic, outbound, time.time())
        self.dispatcher.kick(deliveries)
        return reply

    def publish_one(self, conn: Connection, ctx: RequestContext, topic, outbound: Outbound,
                    now: float) -> tuple[dict, list[str]]:
        """Inside the caller's transaction: (Publish's answer, the deliveries to kick after commit)."""
        message_id = str(uuid.uuid4())
        reply = {"MessageId": message_id}
        if is_fifo_topic(topic.arn):
            key = dedup_key(topic, outbound.group or "", outbound.dedup, outbound.message)
            earlier = earlier_answer(conn, topic.arn, key, now)
            if earlier is not None:
                return earlier, []  # a duplicate: accepted, answered as before, delivered to no one
            reply["SequenceNumber"] = remember(conn, topic.arn, key, message_id, now)
        subscriptions = conn.execute(select(sns_subscriptions).where(
            sns_subscriptions.c.topic_arn == topic.arn, sns_subscriptions.c.confirmed.is_(True))).all()
        deliveries = [
            enqueue(conn, account_id=topic.account_id, region=topic.region, topic_arn=topic.arn,
                    subscription_arn=sub.arn, message_id=message_id, kind="Notification",
                    protocol=sub.protocol, endpoint=sub.endpoint,
                    payload=self.outgoing.notification(
                        ctx.endpoint_url, topic, sub, message_id, now, outbound.subject,
                        outbound.texts.get(sub.protocol, outbound.texts["default"]), outbound.attributes))
            for sub in subscriptions
        ]
        return reply, deliveries
