"""Subscriptions: Subscribe (sends the confirmation), ConfirmSubscription, Unsubscribe, the lists, and
the attribute calls; plus confirming and unsubscribing from the links in what subscribers receive."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, insert, select, update

from selfmaker.net.outbound import OutboundGuard, OutboundRefused, Unresolvable
from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.sns.arns import (
    is_fifo_topic,
    parse_topic_arn,
    subscription_in_scope,
    topic_of_subscription,
)
from selfmaker.services.sns.attributes import PROTOCOLS, check_subscription_attribute, effective_delivery_policy
from selfmaker.services.sns.delivery import Dispatcher, enqueue
from selfmaker.services.sns.endpoints import check_url
from selfmaker.services.sns.errors import invalid_parameter, subscription_not_found
from selfmaker.services.sns.links import CONFIRM_TTL, UnsubscribeTokens, new_confirm_token, token_hash
from selfmaker.services.sns.outgoing import Outgoing
from selfmaker.services.sns.paging import sns_page
from selfmaker.services.sns.tables import sns_confirm_tokens, sns_subscriptions, sns_topics
from selfmaker.services.sns.topics import load_topic

PENDING = "PendingConfirmation"
_DEFAULTS = {"RawMessageDelivery": "false"}
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


@dataclass(frozen=True)
class LinkResult:
    """What a confirm or unsubscribe link did, for the page that answers it."""

    subscription_arn: str
    topic_arn: str
    endpoint: str


class Subscriptions:
    engine: Engine
    dispatcher: Dispatcher
    guard: OutboundGuard
    outgoing: Outgoing
    unsubscribe_tokens: UnsubscribeTokens
    retry_delays: tuple[float, ...]

    async def Subscribe(self, ctx: RequestContext, params: dict) -> dict:
        protocol, endpoint = params["Protocol"], params.get("Endpoint") or ""
        with self.engine.connect() as conn:
            # A missing topic is NotFound, whatever else is wrong with the request (as on AWS).
            load_topic(conn, ctx, params["TopicArn"], "Subscribe")
        if is_fifo_topic(params["TopicArn"]) and protocol != "sqs":
            # AWS delivers FIFO topics to SQS FIFO queues only; Selfmaker has no SQS, so to nothing at all.
            raise invalid_parameter(f"Invalid protocol type: {protocol}")
        if protocol not in PROTOCOLS:
            raise invalid_parameter("Protocol")
        await self._check_endpoint(protocol, endpoint)
        attributes = {name: check_subscription_attribute(protocol, name, value)
                      for name, value in (params.get("Attributes") or {}).items()}
        with self.engine.begin() as conn:
            topic = load_topic(conn, ctx, params["TopicArn"], "Subscribe")
            existing = conn.execute(select(sns_subscriptions).where(
                sns_subscriptions.c.topic_arn == topic.arn, sns_subscriptions.c.protocol == protocol,
                sns_subscriptions.c.endpoint == endpoint,
            )).first()
            if existing is not None and any({**_DEFAULTS, **existing.attributes}.get(k) != v
                                            for k, v in attributes.items()):
                raise invalid_parameter("Attributes", "Subscription already exists with different attributes")
            if existing is not None and existing.confirmed:
                return {"SubscriptionArn": existing.arn}
            if existing is None:
                arn = f"{topic.arn}:{uuid.uuid4()}"
                conn.execute(insert(sns_subscriptions).values(
                    arn=arn, topic_arn=topic.arn, owner=ctx.account_id, principal=ctx.principal_arn,
                    protocol=protocol, endpoint=endpoint, confirmed=False, confirmation_authenticated=False,
                    authenticate_on_unsubscribe=False, attributes=attributes, creation_time=time.time(),
                ))
                subscription = conn.execute(select(sns_subscriptions).where(sns_subscriptions.c.arn == arn)).first()
            else:
                subscription = existing  # still pending: send a fresh confirmation, as AWS does
            delivery = self._send_confirmation(conn, ctx, topic, subscription)
        self.dispatcher.kick([delivery])
        return {"SubscriptionArn": subscription.arn if params.get("ReturnSubscriptionArn") else "pending confirmation"}

    async def _check_endpoint(self, protocol: str, endpoint: str) -> None:
        if protocol.startswith("email"):
            if len(endpoint) > 254 or not _EMAIL.match(endpoint):
                raise invalid_parameter("Email address")
            return
        url = check_url(protocol, endpoint)
        try:
            await self.guard.address(url)
        except Unresolvable:
            # As SNS: a name without an address yet is taken; its confirmation is tried (and checked again)
            # when it is sent, and retried.
            return
        except OutboundRefused as err:
            raise invalid_parameter("Endpoint", str(err)) from None

    def _send_confirmation(self, conn: Connection, ctx: RequestContext, topic, subscription) -> str:
        token = new_confirm_token()
        now = time.time()
        conn.execute(insert(sns_confirm_tokens).values(
            token_hash=token_hash(token), subscription_arn=subscription.arn, expires=now + CONFIRM_TTL))
        message_id = str(uuid.uuid4())
        payload = self.outgoing.confirmation(ctx.endpoint_url, topic, subscription, token, message_id, now)
        return enqueue(conn, account_id=topic.account_id, region=topic.region, topic_arn=topic.arn,
                       subscription_arn=subscription.arn, message_id=message_id, kind="SubscriptionConfirmation",
                       protocol=subscription.protocol, endpoint=subscription.endpoint, payload=payload)

    def ConfirmSubscription(self, ctx: RequestContext, params: dict) -> dict:
        topic = parse_topic_arn(params["TopicArn"])
        if topic.region != ctx.region:
            raise invalid_parameter("TopicArn")
        # Whoever holds the token may confirm, from any account: the token is the proof.
        authenticate = (params.get("AuthenticateOnUnsubscribe") or "false").lower() == "true"
        confirmed = self.confirm_with_token(topic.arn, params["Token"], True, authenticate)
        return {"SubscriptionArn": confirmed.subscription_arn}

    def confirm_with_token(self, topic_arn: str, token: str, authenticated: bool = False,
                           authenticate_on_unsubscribe: bool = False) -> LinkResult:
        """Confirm the subscription a confirmation token was made for (the API, or the mailed link)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(sns_subscriptions)
                .join(sns_confirm_tokens, sns_confirm_tokens.c.subscription_arn == sns_subscriptions.c.arn)
                .where(sns_confirm_tokens.c.token_hash == token_hash(token or ""),
                       sns_confirm_tokens.c.expires > time.time(), sns_subscriptions.c.topic_arn == topic_arn)
            ).first()
            if row is None:
                raise invalid_parameter("Token")
            conn.execute(update(sns_subscriptions).where(sns_subscriptions.c.arn == row.arn).values(
                confirmed=True,
                confirmation_authenticated=row.confirmation_authenticated or authenticated,
                authenticate_on_unsubscribe=row.authenticate_on_unsubscribe or (
                    authenticated and authenticate_on_unsubscribe),
            ))
        return LinkResult(row.arn, row.topic_arn, row.endpoint)

    def Unsubscribe(self, ctx: RequestContext, params: dict) -> dict:
        arn = subscription_in_scope(ctx, params["SubscriptionArn"], "Unsubscribe")
        self._remove(arn)  # like DeleteTopic, removing what is already gone is not an error
        return {}

    def unsubscribe_with_token(self, subscription_arn: str, token: str) -> LinkResult:
        """Unsubscribe from the link in a notification. Raises ServiceError when the link is not valid."""
        topic_arn = topic_of_subscription(subscription_arn)
        if topic_arn is None or not self.unsubscribe_tokens.check(subscription_arn, token or ""):
            raise invalid_parameter("Token")
        with self.engine.connect() as conn:
            row = conn.execute(select(sns_subscriptions).where(sns_subscriptions.c.arn == subscription_arn)).first()
        if row is not None and row.authenticate_on_unsubscribe:
            raise ServiceError("AuthorizationError", "This subscription can only be removed by an authenticated "
                               "Unsubscribe call from its topic's owner or the subscriber.", 403)
        self._remove(subscription_arn)
        return LinkResult(subscription_arn, topic_arn, row.endpoint if row is not None else "")

    def _remove(self, arn: str) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(select(sns_subscriptions).where(sns_subscriptions.c.arn == arn)).first()
            if row is None:
                return
            conn.execute(delete(sns_confirm_tokens).where(sns_confirm_tokens.c.subscription_arn == arn))
            conn.execute(delete(sns_subscriptions).where(sns_subscriptions.c.arn == arn))
            conn.execute(update(sns_topics).where(sns_topics.c.arn == row.topic_arn)
                         .values(subscriptions_deleted=sns_topics.c.subscriptions_deleted + 1))

    def ListSubscriptions(self, ctx: RequestContext, params: dict) -> dict:
        query = (select(sns_subscriptions).join(sns_topics, sns_topics.c.arn == sns_subscriptions.c.topic_arn)
                 .where(sns_topics.c.account_id == ctx.account_id, sns_topics.c.region == ctx.region))
        return self._listing(query, params.get("NextToken"))

    def ListSubscriptionsByTopic(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            topic = load_topic(conn, ctx, params["TopicArn"], "ListSubscriptionsByTopic")
        query = select(sns_subscriptions).where(sns_subscriptions.c.topic_arn == topic.arn)
        return self._listing(query, params.get("NextToken"))

    def _listing(self, query, next_token: str | None) -> dict:
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(sns_subscriptions.c.creation_time, sns_subscriptions.c.arn)).all()
        items, token = sns_page(list(rows), next_token)
        return {"Subscriptions": [{
            "SubscriptionArn": row.arn if row.confirmed else PENDING, "Owner": row.owner,
            "Protocol": row.protocol, "Endpoint": row.endpoint, "TopicArn": row.topic_arn,
        } for row in items], "NextToken": token}

    def _subscription(self, conn: Connection, ctx: RequestContext, arn: str, action: str):
        if arn == PENDING:
            raise invalid_parameter("SubscriptionArn")
        subscription_in_scope(ctx, arn, action)
        row = conn.execute(select(sns_subscriptions).where(sns_subscriptions.c.arn == arn)).first()
        if row is None:
            raise subscription_not_found()
        return row

    def GetSubscriptionAttributes(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            row = self._subscription(conn, ctx, params["SubscriptionArn"], "GetSubscriptionAttributes")
        attributes = {
            "SubscriptionArn": row.arn, "TopicArn": row.topic_arn, "Owner": row.owner,
            "Protocol": row.protocol, "Endpoint": row.endpoint, "SubscriptionPrincipal": row.principal,
            "PendingConfirmation": "false" if row.confirmed else "true",
            "ConfirmationWasAuthenticated": "true" if row.confirmation_authenticated else "false",
            **_DEFAULTS,
        }
        if row.protocol in ("http", "https"):
            attributes["EffectiveDeliveryPolicy"] = effective_delivery_policy(self.retry_delays)
        attributes.update(row.attributes)
        return {"Attributes": attributes}

    def SetSubscriptionAttributes(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            row = self._subscription(conn, ctx, params["SubscriptionArn"], "SetSubscriptionAttributes")
            name = params["AttributeName"]
            value = check_subscription_attribute(row.protocol, name, params.get("AttributeValue") or "")
            conn.execute(update(sns_subscriptions).where(sns_subscriptions.c.arn == row.arn)
                         .values(attributes={**row.attributes, name: value}))
        return {}
