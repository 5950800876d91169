"""Topics: CreateTopic, DeleteTopic, ListTopics, GetTopicAttributes, SetTopicAttributes."""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from selfmaker import bounded_json
from selfmaker.services.base import RequestContext
from selfmaker.services.sns.arns import check_topic_name, is_fifo_topic, topic_in_scope
from selfmaker.services.sns.attributes import (
    FIFO_DEFAULTS,
    check_topic_attribute,
    check_topic_attributes,
    default_policy,
    effective_delivery_policy,
    fifo_requested,
    settable_topic_attribute,
)
from selfmaker.services.sns.errors import invalid_parameter, topic_not_found
from selfmaker.services.sns.fifo import forget_topic
from selfmaker.services.sns.paging import sns_page
from selfmaker.services.sns.tables import sns_confirm_tokens, sns_subscriptions, sns_topics
from selfmaker.services.sns.tags import check_tags, read_tags, write_tags
from selfmaker.store.tables import tags


def load_topic(conn: Connection, ctx: RequestContext, arn: str, action: str):
    """The topic row for an ARN the caller may act on; NotFound when there is none."""
    topic = topic_in_scope(ctx, arn, action)
    row = conn.execute(select(sns_topics).where(sns_topics.c.arn == topic.arn)).first()
    if row is None:
        raise topic_not_found()
    return row


def _same(name: str, given: str, stored: str | None) -> bool:
    if name in ("Policy", "DeliveryPolicy") and stored is not None:
        return bounded_json.loads(given) == bounded_json.loads(stored)
    return given == (stored or "")


class Topics:
    engine: Engine
    retry_delays: tuple[float, ...]

    def CreateTopic(self, ctx: RequestContext, params: dict) -> dict:
        name, given = params["Name"], params.get("Attributes") or {}
        fifo = fifo_requested(given)
        check_topic_name(name, fifo)
        if params.get("DataProtectionPolicy"):
            raise invalid_parameter("DataProtectionPolicy", "Selfmaker does not support data protection policies")
        attributes = check_topic_attributes(given, fifo)
        given_tags = check_tags(params.get("Tags") or [])
        arn = ctx.arn("sns", name)
        with self.engine.begin() as conn:
            existing = conn.execute(select(sns_topics).where(sns_topics.c.arn == arn)).first()
            if existing is not None:
                # Idempotent, as on AWS: the same name answers the same ARN unless the request differs.
                if not all(_same(k, v, existing.attributes.get(k)) for k, v in attributes.items()):
                    raise invalid_parameter("Attributes", "Topic already exists with different attributes")
                if given_tags and given_tags != read_tags(conn, arn):
                    raise invalid_parameter("Tags", "Topic already exists with different tags")
                return {"TopicArn": arn}
            conn.execute(insert(sns_topics).values(
                arn=arn, account_id=ctx.account_id, region=ctx.region, name=name, attributes=attributes,
                subscriptions_deleted=0, creation_time=time.time(),
            ))
            write_tags(conn, arn, given_tags)
        return {"TopicArn": arn}

    def DeleteTopic(self, ctx: RequestContext, params: dict) -> dict:
        topic = topic_in_scope(ctx, params["TopicArn"], "DeleteTopic")
        with self.engine.begin() as conn:
            # Deleting a topic that is not there is not an error (AWS: the call is idempotent).
            subscriptions = select(sns_subscriptions.c.arn).where(sns_subscriptions.c.topic_arn == topic.arn)
            conn.execute(delete(sns_confirm_tokens).where(sns_confirm_tokens.c.subscription_arn.in_(subscriptions)))
            conn.execute(delete(sns_subscriptions).where(sns_subscriptions.c.topic_arn == topic.arn))
            conn.execute(delete(tags).where(tags.c.resource_arn == topic.arn))
            forget_topic(conn, topic.arn)
            conn.execute(delete(sns_topics).where(sns_topics.c.arn == topic.arn))
        return {}

    def ListTopics(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            arns = conn.execute(
                select(sns_topics.c.arn)
                .where(sns_topics.c.account_id == ctx.account_id, sns_topics.c.region == ctx.region)
                .order_by(sns_topics.c.name)
            ).scalars().all()
        items, token = sns_page(list(arns), params.get("NextToken"))
        return {"Topics": [{"TopicArn": arn} for arn in items], "NextToken": token}

    def GetTopicAttributes(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            row = load_topic(conn, ctx, params["TopicArn"], "GetTopicAttributes")
            counts = dict(conn.execute(
                select(sns_subscriptions.c.confirmed, func.count())
                .where(sns_subscriptions.c.topic_arn == row.arn)
                .group_by(sns_subscriptions.c.confirmed)
            ).all())
        attributes = {
            "TopicArn": row.arn,
            "Owner": row.account_id,
            "Policy": default_policy(row.arn, row.account_id),
            "DisplayName": "",
            "SubscriptionsConfirmed": str(counts.get(True, 0)),
            "SubscriptionsPending": str(counts.get(False, 0)),
            "SubscriptionsDeleted": str(row.subscriptions_deleted),
            "EffectiveDeliveryPolicy": effective_delivery_policy(self.retry_delays),
        }
        if is_fifo_topic(row.arn):
            attributes.update(FIFO_DEFAULTS)
        attributes.update(row.attributes)
        return {"Attributes": attributes}

    def SetTopicAttributes(self, ctx: RequestContext, params: dict) -> dict:
        name, value = params["AttributeName"], params.get("AttributeValue") or ""
        settable_topic_attribute(name)
        with self.engine.begin() as conn:
            row = load_topic(conn, ctx, params["TopicArn"], "SetTopicAttributes")
            # An empty value puts the attribute back to its default.
            checked = check_topic_attribute(name, value, is_fifo_topic(row.arn)) if value else None
            attributes = dict(row.attributes)
            if checked is None:
                attributes.pop(name, None)
            else:
                attributes[name] = checked
            conn.execute(update(sns_topics).where(sns_topics.c.arn == row.arn).values(attributes=attributes))
        return {}
