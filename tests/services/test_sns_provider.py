"""SNS provider, called directly over a temporary store (mail kept in an outbox)."""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest
from sqlalchemy import func, insert, select, update

from selfmaker.mail import Mailer, MailError, Outbox
from selfmaker.net.outbound import OutboundGuard, OutboundRefused
from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.sns import SNSService
from selfmaker.services.sns.endpoints import check_url
from selfmaker.services.sns.tables import (
    sns_confirm_tokens,
    sns_deliveries,
    sns_delivery_attempts,
    sns_fifo_dedup,
    sns_subscriptions,
)
from selfmaker.store.db import open_store
from tests.postgres import store_at

ACCOUNT = "123456789012"
REGION = "us-east-1"


def make_ctx(account: str = ACCOUNT, region: str = REGION) -> RequestContext:
    return RequestContext(account_id=account, region=region, principal_arn=f"arn:aws:iam::{account}:root",
                          access_key_id="AKIDTEST", request_id="r", endpoint_url="http://127.0.0.1:1")


class ScriptedMailer(Mailer):
    """Keeps mail in the outbox, but can be made to fail or to hang until released."""

    def __init__(self, outbox: Outbox):
        super().__init__(outbox)
        self.failing = False
        self.gate: asyncio.Event | None = None
        self.sent: list = []

    async def send(self, message):
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise MailError("smtp://mail.example.com:25: ConnectionRefusedError: refused")
        self.sent.append(message)
        return "test"


@pytest.fixture
def mailer(tmp_path) -> ScriptedMailer:
    return ScriptedMailer(Outbox(tmp_path / "outbox"))


@pytest.fixture
def sns(tmp_path, mailer) -> SNSService:
    return SNSService(open_store(store_at(tmp_path / "db.sqlite")), mailer, retry_delays=(0.01, 0.01))


@pytest.fixture
def ctx() -> RequestContext:
    return make_ctx()


def _error(call, *args) -> ServiceError:
    with pytest.raises(ServiceError) as exc:
        result = call(*args)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    return exc.value


def _run(coroutine_factory):
    """Run provider calls that need the event loop, then let background deliveries finish."""
    async def main(sns):
        result = await coroutine_factory()
        await sns.dispatcher.idle()
        return result
    return main


def _subscribe(sns, ctx, topic, endpoint="a@example.com", **extra) -> str:
    async def go():
        reply = await sns.Subscribe(ctx, {"TopicArn": topic, "Protocol": "email", "Endpoint": endpoint,
                                          "ReturnSubscriptionArn": True, **extra})
        await sns.dispatcher.idle()
        return reply["SubscriptionArn"]
    return asyncio.run(go())


def _confirm(sns, mailer, topic) -> str:
    token = mailer.sent[-1].get_content().split("Token=")[1].split()[0]
    return sns.confirm_with_token(topic, token).subscription_arn


def test_create_topic_is_idempotent_and_checks_what_differs(sns, ctx):
    arn = sns.CreateTopic(ctx, {"Name": "news", "Attributes": {"DisplayName": "News"},
                                "Tags": [{"Key": "team", "Value": "a"}]})["TopicArn"]
    assert arn == f"arn:aws:sns:{REGION}:{ACCOUNT}:news"
    assert sns.CreateTopic(ctx, {"Name": "news"})["TopicArn"] == arn
    assert sns.CreateTopic(ctx, {"Name": "news", "Attributes": {"DisplayName": "News"}})["TopicArn"] == arn
    assert "different attributes" in _error(
        sns.CreateTopic, ctx, {"Name": "news", "Attributes": {"DisplayName": "Other"}}).message
    assert "different tags" in _error(
        sns.CreateTopic, ctx, {"Name": "news", "Tags": [{"Key": "team", "Value": "b"}]}).message
    for name in ("", "a" * 257, "with space", "x.fifo"):
        err = _error(sns.CreateTopic, ctx, {"Name": name})
        assert (err.code, err.message) == ("InvalidParameter", "Invalid parameter: Topic Name")
    assert _error(sns.CreateTopic, ctx, {"Name": "f", "Attributes": {"FifoTopic": "true"}}).message.startswith(
        "Fifo Topic names must end with .fifo")
    assert "Unknown attribute Colour" in _error(
        sns.CreateTopic, ctx, {"Name": "f", "Attributes": {"Colour": "red"}}).message
    assert sns.ListTopics(ctx, {})["Topics"] == [{"TopicArn": arn}]  # nothing half made


def test_topics_are_scoped_by_account_and_region_and_paged(sns, ctx):
    arns = [sns.CreateTopic(ctx, {"Name": f"t{i:03d}"})["TopicArn"] for i in range(205)]
    first = sns.ListTopics(ctx, {})
    second = sns.ListTopics(ctx, {"NextToken": first["NextToken"]})
    third = sns.ListTopics(ctx, {"NextToken": second["NextToken"]})
    listed = [t["TopicArn"] for page in (first, second, third) for t in page["Topics"]]
    assert listed == arns and [len(p["Topics"]) for p in (first, second, third)] == [100, 100, 5]
    assert third["NextToken"] is None
    assert _error(sns.ListTopics, ctx, {"NextToken": "garbage"}).message == "Invalid parameter: NextToken"
    assert sns.ListTopics(make_ctx(region="eu-west-1"), {})["Topics"] == []
    assert sns.ListTopics(make_ctx(account="210987654321"), {})["Topics"] == []
    err = _error(sns.GetTopicAttributes, make_ctx(account="210987654321"), {"TopicArn": arns[0]})
    assert (err.code, err.status) == ("AuthorizationError", 403)
    err = _error(sns.Publish, make_ctx(region="eu-west-1"), {"TopicArn": arns[0], "Message": "m"})
    assert err.code == "InvalidParameter" and "TopicArn" in err.message


def test_topic_attributes(sns, ctx):
    arn = sns.CreateTopic(ctx, {"Name": "attrs"})["TopicArn"]
    attributes = sns.GetTopicAttributes(ctx, {"TopicArn": arn})["Attributes"]
    assert attributes["DisplayName"] == "" and attributes["Owner"] == ACCOUNT
    assert '"Resource":"' + arn + '"' in attributes["Policy"]
    sns.SetTopicAttributes(ctx, {"TopicArn": arn, "AttributeName": "DisplayName", "AttributeValue": "Shown"})
    assert sns.GetTopicAttributes(ctx, {"TopicArn": arn})["Attributes"]["DisplayName"] == "Shown"
    sns.SetTopicAttributes(ctx, {"TopicArn": arn, "AttributeName": "DisplayName"})
    assert sns.GetTopicAttributes(ctx, {"TopicArn": arn})["Attributes"]["DisplayName"] == ""
    for name, value, text in [
        ("Policy", "not json", "Invalid parameter: Policy"),
        ("DisplayName", "a\nb", "Invalid parameter: DisplayName"),
        ("Colour", "red", "Invalid parameter: AttributeName"),
        ("KmsMasterKeyId", "alias/aws/sns", "does not encrypt"),
    ]:
        err = _error(sns.SetTopicAttributes, ctx, {"TopicArn": arn, "AttributeName": name, "AttributeValue": value})
        assert err.code == "InvalidParameter" and text in err.message
    missing = arn + "-gone"
    err = _error(sns.SetTopicAttributes, ctx, {"TopicArn": missing, "AttributeName": "DisplayName",
                                               "AttributeValue": "x"})
    assert (err.code, err.status, err.message) == ("NotFound", 404, "Topic does not exist")


def test_tags(sns, ctx):
    arn = sns.CreateTopic(ctx, {"Name": "tagged"})["TopicArn"]
    sns.TagResource(ctx, {"ResourceArn": arn, "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]})
    sns.UntagResource(ctx, {"ResourceArn": arn, "TagKeys": ["a"]})
    assert sns.ListTagsForResource(ctx, {"ResourceArn": arn})["Tags"] == [{"Key": "b", "Value": "2"}]
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert _error(sns.TagResource, ctx, {"ResourceArn": arn, "Tags": many}).code == "TagLimitExceeded"
    assert _error(sns.ListTagsForResource, ctx, {"ResourceArn": arn + "x"}).code == "ResourceNotFound"
    sns.DeleteTopic(ctx, {"TopicArn": arn})
    sns.DeleteTopic(ctx, {"TopicArn": arn})  # deleting what is gone is not an error
    sns.CreateTopic(ctx, {"Name": "tagged"})
    assert sns.ListTagsForResource(ctx, {"ResourceArn": arn})["Tags"] == []


def test_subscribe_confirm_and_delete_topic(sns, mailer, ctx):
    topic = sns.CreateTopic(ctx, {"Name": "subs"})["TopicArn"]
    arn = _subscribe(sns, ctx, topic)
    # Subscribing again while pending sends a new confirmation and answers the same subscription.
    assert _subscribe(sns, ctx, topic) == arn and len(mailer.sent) == 2
    assert _confirm(sns, mailer, topic) == arn
    assert _subscribe(sns, ctx, topic) == arn and len(mailer.sent) == 2  # confirmed: nothing sent
    err = _error(sns.Subscribe, ctx, {"TopicArn": topic, "Protocol": "email", "Endpoint": "b@example.com",
                                      "Attributes": {"RawMessageDelivery": "true"}})
    assert "does not support raw message delivery" in err.message
    assert "does not filter" in _error(sns.Subscribe, ctx, {
        "TopicArn": topic, "Protocol": "email", "Endpoint": "b@example.com",
        "Attributes": {"FilterPolicy": "{}"}}).message
    assert _error(sns.Subscribe, ctx, {"TopicArn": topic, "Protocol": "lambda", "Endpoint": "x"}).message == \
        "Invalid parameter: Protocol"
    for bad in ("", "a@b", "a@b.c\r\nBcc: x@y.z", "<a@b.c>", "a" * 250 + "@b.co"):
        err = _error(sns.Subscribe, ctx, {"TopicArn": topic, "Protocol": "email", "Endpoint": bad})
        assert err.message == "Invalid parameter: Email address", bad
    assert _error(sns.GetSubscriptionAttributes, ctx, {"SubscriptionArn": "PendingConfirmation"}).message == \
        "Invalid parameter: SubscriptionArn"

    sns.DeleteTopic(ctx, {"TopicArn": topic})
    assert sns.ListSubscriptions(ctx, {})["Subscriptions"] == []
    assert _error(sns.GetSubscriptionAttributes, ctx, {"SubscriptionArn": arn}).code == "NotFound"
    with sns.engine.connect() as conn:
        assert conn.execute(select(sns_confirm_tokens)).all() == []


def test_tokens_are_single_purpose_and_expire(sns, mailer, ctx):
    topic = sns.CreateTopic(ctx, {"Name": "tokens"})["TopicArn"]
    arn = _subscribe(sns, ctx, topic)
    token = mailer.sent[-1].get_content().split("Token=")[1].split()[0]
    assert _error(sns.unsubscribe_with_token, arn, token).message == "Invalid parameter: Token"
    other = sns.CreateTopic(ctx, {"Name": "other"})["TopicArn"]
    assert _error(sns.confirm_with_token, other, token).message == "Invalid parameter: Token"
    with sns.engine.begin() as conn:
        conn.execute(update(sns_confirm_tokens).values(expires=0))
    assert _error(sns.confirm_with_token, topic, token).message == "Invalid parameter: Token"
    # Unsubscribe tokens are bound to one subscription.
    second = _subscribe(sns, ctx, topic, "b@example.com")
    assert _error(sns.unsubscribe_with_token, second, sns.unsubscribe_tokens.make(arn)).code == "InvalidParameter"
    sns.unsubscribe_with_token(second, sns.unsubscribe_tokens.make(second))
    assert [s["Endpoint"] for s in sns.ListSubscriptions(ctx, {})["Subscriptions"]] == ["a@example.com"]


@pytest.mark.parametrize(("params", "code", "text"), [
    ({"Message": "m"}, "InvalidParameter", "Invalid parameter: TopicArn or TargetArn"),
    ({"Message": "m", "TopicArn": "T", "TargetArn": "T"}, "InvalidParameter", "Both TopicArn and TargetArn"),
    ({"Message": "m", "PhoneNumber": "+15555550100"}, "InvalidParameter", "does not send SMS"),
    ({"TopicArn": "T", "Message": ""}, "InvalidParameter", "Invalid parameter: Empty message"),
    ({"TopicArn": "T", "Message": "m", "Subject": "bell\a"}, "InvalidParameter", "Invalid parameter: Subject"),
    ({"TopicArn": "T", "Message": "m", "Subject": ""}, "InvalidParameter", "Invalid parameter: Subject"),
    ({"TopicArn": "T", "Message": "{", "MessageStructure": "json"}, "InvalidParameter", "failed to parse"),
    ({"TopicArn": "T", "Message": '{"email": "x"}', "MessageStructure": "json"}, "InvalidParameter",
     "No default entry"),
    ({"TopicArn": "T", "Message": "m", "MessageDeduplicationId": "d"}, "InvalidParameter",
     "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter"),
    ({"TopicArn": "T", "Message": "m", "MessageGroupId": "with space"}, "InvalidParameter",
     "Invalid parameter: MessageGroupId"),
    ({"TopicArn": "T", "Message": "m", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "x"}}},
     "ParameterValueInvalid", "Could not cast message attribute 'n' value to number."),
    ({"TopicArn": "T", "Message": "m", "MessageAttributes": {"n": {"DataType": "Date", "StringValue": "x"}}},
     "ParameterValueInvalid", "invalid message attribute type"),
    ({"TopicArn": "T", "Message": "m", "MessageAttributes": {"AWS.x": {"DataType": "String", "StringValue": "x"}}},
     "ParameterValueInvalid", "name 'AWS.x' is invalid"),
    ({"TopicArn": "T", "Message": "m", "MessageAttributes": {"s": {"DataType": "String"}}},
     "ParameterValueInvalid", "must contain non-empty message attribute value"),
])
def test_publish_checks(sns, ctx, params, code, text):
    topic = sns.CreateTopic(ctx, {"Name": "pub"})["TopicArn"]
    params = {key: topic if value == "T" else value for key, value in params.items()}
    err = _error(sns.Publish, ctx, params)
    assert (err.code, err.status) == (code, 400) and text in err.message


def test_publish_never_waits_for_delivery(sns, mailer, ctx):
    topic = sns.CreateTopic(ctx, {"Name": "slow"})["TopicArn"]
    _subscribe(sns, ctx, topic)
    _confirm(sns, mailer, topic)

    async def go():
        mailer.gate = asyncio.Event()  # the mail server hangs
        reply = await asyncio.wait_for(sns.Publish(ctx, {"TopicArn": topic, "Message": '{"default": "d", '
                                                         '"email": "for mail"}', "MessageStructure": "json"}), 1)
        assert len(mailer.sent) == 1  # answered, and nothing sent yet
        mailer.gate.set()
        await sns.dispatcher.idle()
        return reply
    assert asyncio.run(go())["MessageId"]
    assert mailer.sent[-1].get_content().startswith("for mail\n")


def test_failed_mail_is_retried_recorded_and_kept(sns, mailer, ctx):
    topic = sns.CreateTopic(ctx, {"Name": "down"})["TopicArn"]
    mailer.failing = True
    _subscribe(sns, ctx, topic)
    with sns.engine.connect() as conn:
        (delivery,) = conn.execute(select(sns_deliveries)).all()
        attempts = conn.execute(select(sns_delivery_attempts.c.ok, sns_delivery_attempts.c.detail)).all()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert [ok for ok, _ in attempts] == [False, False, False] and "ConnectionRefused" in attempts[0].detail
    (kept,) = mailer.outbox.list()
    assert kept.to == "a@example.com" and kept.status.startswith("undelivered: smtp://mail.example.com")
    assert kept.id in delivery.last_error


def test_unsubscribing_cancels_what_is_still_to_be_delivered(tmp_path, mailer, ctx):
    sns = SNSService(open_store(store_at(tmp_path / "db.sqlite")), mailer, retry_delays=(0.5,))
    topic = sns.CreateTopic(ctx, {"Name": "cancel"})["TopicArn"]
    mailer.failing = True

    async def go():
        reply = await sns.Subscribe(ctx, {"TopicArn": topic, "Protocol": "email", "Endpoint": "c@example.com",
                                          "ReturnSubscriptionArn": True})
        await asyncio.sleep(0.1)  # first attempt failed; waiting to retry
        sns.Unsubscribe(ctx, {"SubscriptionArn": reply["SubscriptionArn"]})
        await sns.dispatcher.idle()
    asyncio.run(go())
    with sns.engine.connect() as conn:
        (delivery,) = conn.execute(select(sns_deliveries)).all()
    assert (delivery.status, delivery.attempts, delivery.payload) == ("cancelled", 1, None)


def test_endpoint_urls_and_addresses():
    assert str(check_url("https", "https://hooks.example.com/sns")) == "https://hooks.example.com/sns"
    for protocol, url, text in [
        ("https", "http://hooks.example.com/", "must be a URL starting with https://"),
        ("http", "http://hooks.example.com:25/", "the port must be"),
        ("http", "", "Invalid parameter: Endpoint"),
        ("http", "http://", "Invalid parameter: Endpoint"),
    ]:
        with pytest.raises(ServiceError) as exc:
            check_url(protocol, url)
        assert text in exc.value.message
    strict = OutboundGuard(False, "93.184.215.14", 80, "SELFMAKER_SNS_ALLOW_PRIVATE_ENDPOINTS")
    for host in ("127.0.0.1", "10.0.0.8", "192.168.1.1", "169.254.169.254", "[::1]", "[fe80::1]",
                 "[::ffff:127.0.0.1]", "100.64.0.1", "0.0.0.0", "224.0.0.1"):
        with pytest.raises(OutboundRefused):
            asyncio.run(strict.address(httpx.URL(f"http://{host}:8080/")))
    with pytest.raises(OutboundRefused, match="is this Selfmaker server itself"):
        asyncio.run(strict.address(httpx.URL("http://93.184.215.14/")))
    assert asyncio.run(strict.address(httpx.URL("http://8.8.8.8/"))) == "8.8.8.8"
    relaxed = OutboundGuard(True, "127.0.0.1", 8080, "SELFMAKER_SNS_ALLOW_PRIVATE_ENDPOINTS")
    assert ipaddress.ip_address(asyncio.run(relaxed.address(httpx.URL("http://127.0.0.1:9/")))).is_loopback
    with pytest.raises(OutboundRefused, match="itself"):  # allowing private ranges never allows the server
        asyncio.run(relaxed.address(httpx.URL("http://127.0.0.1:8080/")))


def test_fifo_duplicates_go_to_no_one_and_the_window_expires(sns, mailer, ctx):
    topic = sns.CreateTopic(ctx, {"Name": "orders.fifo", "Attributes": {"FifoTopic": "true"}})["TopicArn"]
    # No subscription can reach a FIFO topic through the API (SQS only); one put in directly shows delivery.
    with sns.engine.begin() as conn:
        conn.execute(insert(sns_subscriptions).values(
            arn=f"{topic}:8a21d249-4329-4871-acc6-7be709c6ea7f", topic_arn=topic, owner=ACCOUNT, principal="p",
            protocol="email", endpoint="a@example.com", confirmed=True, attributes={}, creation_time=0.0))

    def publish(dedup: str) -> dict:
        params = {"TopicArn": topic, "Message": "m", "MessageGroupId": "g", "MessageDeduplicationId": dedup}
        return asyncio.run(_run(lambda: sns.Publish(ctx, params))(sns))

    first = publish("d")
    assert publish("d") == first and len(mailer.sent) == 1
    with sns.engine.begin() as conn:
        conn.execute(update(sns_fifo_dedup).values(expires=0))  # five minutes later
    later = publish("d")
    assert later["MessageId"] != first["MessageId"] and later["SequenceNumber"] > first["SequenceNumber"]
    assert len(mailer.sent) == 2
    with sns.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sns_fifo_dedup)).scalar() == 1  # the old one pruned
        assert conn.execute(select(func.count()).select_from(sns_deliveries)).scalar() == 2
    sns.DeleteTopic(ctx, {"TopicArn": topic})
    with sns.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sns_fifo_dedup)).scalar() == 0
