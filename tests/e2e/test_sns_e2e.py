"""SNS end to end: a real server process, a real SMTP server and a real HTTP endpoint."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import uuid

import httpx
import pytest
import sqlalchemy
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from selfmaker.store.db import database_url
from tests.conftest import VENV_BIN, ServerProcess, _stop_everything, free_port
from tests.smtp_sink import HttpReceiver, SmtpSink, wait_until

_LINK = re.compile(r"https?://\S+")
# The sink asks for a login over plain SMTP on loopback, on purpose: aiosmtpd warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def _body(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # SMTP speaks CRLF


def _links(message) -> list[str]:
    return _LINK.findall(_body(message))


def _address() -> str:
    return f"student-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture(scope="module")
def smtp():
    sink = SmtpSink(login=("mailer", "s3cret:pass")).start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory, smtp) -> ServerProcess:
    """A server that sends mail through ``smtp`` (with login) and may POST to loopback endpoints."""
    base = tmp_path_factory.mktemp("sns")
    url = smtp.url.replace("s3cret:pass", "s3cret%3Apass")  # a password with a colon, URL-quoted
    proc = ServerProcess(base / "data", base / "home", extra_env={
        "SELFMAKER_SMTP_URL": url, "SELFMAKER_SNS_ALLOW_PRIVATE_ENDPOINTS": "1",
        "SELFMAKER_SNS_RETRY_DELAYS": "0.3,0.5,1",
    }).start()
    yield proc
    _stop_everything(proc)


@pytest.fixture
def sns(mail_server):
    return mail_server.client("sns")


def _topic(sns, **attributes) -> str:
    return sns.create_topic(Name=f"t-{uuid.uuid4().hex[:10]}", Attributes=attributes)["TopicArn"]


def _confirmed_email(sns, smtp, topic: str, address: str) -> str:
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)
    (link,) = _links(smtp.wait_for(address, "Subscription Confirmation"))
    assert httpx.get(link).status_code == 200
    (sub,) = [s for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] if s["Endpoint"] == address]
    return sub["SubscriptionArn"]


def test_email_subscription_from_confirmation_to_unsubscribe(sns, smtp):
    topic = _topic(sns, DisplayName="Course news")
    address = _address()
    assert sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)["SubscriptionArn"] == \
        "pending confirmation"
    (pending,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert pending["SubscriptionArn"] == "PendingConfirmation" and pending["Endpoint"] == address

    confirmation = smtp.wait_for(address, "Subscription Confirmation")
    assert confirmation["Subject"] == "Course news - Subscription Confirmation"
    assert confirmation["From"].addresses[0].display_name == "Course news"
    (link,) = _links(confirmation)
    assert link.startswith(sns.meta.endpoint_url + "/_selfmaker/sns/confirm?")
    page = httpx.get(link)
    assert page.status_code == 200 and "Subscription confirmed" in page.text and address in page.text

    (confirmed,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert confirmed["SubscriptionArn"].startswith(topic + ":")
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert (attributes["SubscriptionsConfirmed"], attributes["SubscriptionsPending"]) == ("1", "0")
    sub = sns.get_subscription_attributes(SubscriptionArn=confirmed["SubscriptionArn"])["Attributes"]
    assert sub["PendingConfirmation"] == "false" and sub["ConfirmationWasAuthenticated"] == "false"

    message_id = sns.publish(TopicArn=topic, Subject="Lesson 1 is out", Message="Hello!\nSee you in class.")
    assert uuid.UUID(message_id["MessageId"])
    notification = smtp.wait_for(address, "Lesson 1 is out")
    body = _body(notification)
    assert "Hello!\nSee you in class." in body
    (unsubscribe,) = _links(notification)
    assert "/_selfmaker/sns/unsubscribe?" in unsubscribe

    forged = re.sub(r"Token=[0-9a-f]+", "Token=" + "0" * 64, unsubscribe)
    assert httpx.get(forged).status_code == 400
    page = httpx.get(unsubscribe)
    assert page.status_code == 200 and "Subscription removed" in page.text
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsDeleted"] == "1"


def test_confirm_through_the_api_and_publish_through_the_cli(mail_server, sns, smtp):
    topic = _topic(sns)
    address = _address()
    arn = sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint=address,
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    assert arn.startswith(topic + ":")
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "true"
    envelope = json.loads(_body(smtp.wait_for(address, "AWS Notification - Subscription Confirmation")))
    assert envelope["Type"] == "SubscriptionConfirmation" and envelope["TopicArn"] == topic
    with pytest.raises(ClientError) as exc:
        sns.confirm_subscription(TopicArn=topic, Token="0" * 128)
    assert _code(exc) == "InvalidParameter"
    assert sns.confirm_subscription(TopicArn=topic, Token=envelope["Token"],
                                    AuthenticateOnUnsubscribe="true")["SubscriptionArn"] == arn
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["ConfirmationWasAuthenticated"] == "true"

    reply = mail_server.aws_json("sns", "publish", "--topic-arn", topic, "--subject", "From the CLI",
                                 "--message", "sent by aws sns publish")
    assert uuid.UUID(reply["MessageId"])
    notification = json.loads(_body(smtp.wait_for(address, "From the CLI")))
    assert notification["Type"] == "Notification" and notification["Message"] == "sent by aws sns publish"
    assert notification["MessageId"] == reply["MessageId"] and notification["Subject"] == "From the CLI"
    # AuthenticateOnUnsubscribe: the link in the mail no longer unsubscribes; a signed call does.
    assert httpx.get(notification["UnsubscribeURL"]).status_code == 403
    mail_server.aws("sns", "unsubscribe", "--subscription-arn", arn)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_errors_are_snss(mail_server, sns):
    topic = _topic(sns)
    missing = topic + "-missing"
    cases = [
        (lambda: sns.publish(TopicArn=missing, Message="m"), "NotFound", 404, "Topic does not exist"),
        (lambda: sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="+15555550100"), "InvalidParameter", 400,
         "Invalid parameter: Protocol"),
        (lambda: sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="not-an-address"), "InvalidParameter",
         400, "Invalid parameter: Email address"),
        (lambda: sns.publish(TopicArn=topic, Message="m", Subject="two\nlines"), "InvalidParameter", 400,
         "Invalid parameter: Subject"),
        (lambda: sns.publish(TopicArn=topic, Message="m", Subject="x" * 101), "InvalidParameter", 400,
         "Invalid parameter: Subject"),
        (lambda: sns.publish(TopicArn="arn:aws:sns:us-east-1:nope", Message="m"), "InvalidParameter", 400,
         "Invalid parameter: TopicArn"),
        (lambda: sns.publish(TopicArn=topic, Message="x" * (256 * 1024 + 1)), "InvalidParameter", 400,
         "Invalid parameter: Message too long"),
        (lambda: sns.get_topic_attributes(TopicArn=topic.replace(mail_server.account_id, "210987654321")),
         "AuthorizationError", 403, "is not authorized to perform: SNS:GetTopicAttributes"),
        (lambda: sns.create_topic(Name="bad name!"), "InvalidParameter", 400, "Invalid parameter: Topic Name"),
        (lambda: sns.create_topic(Name=topic.rsplit(":", 1)[1], Attributes={"DisplayName": "other"}),
         "InvalidParameter", 400, "Topic already exists with different attributes"),
    ]
    for call, code, status, text in cases:
        with pytest.raises(ClientError) as exc:
            call()
        assert (_code(exc), exc.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status), text
        assert text in exc.value.response["Error"]["Message"]
    result = subprocess.run(
        [str(VENV_BIN / "aws"), "--profile", "selfmaker", "sns", "publish", "--topic-arn", missing, "--message", "m"],
        env=mail_server.env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "NotFound" in result.stderr


def _verify_signature(envelope: dict) -> None:
    """Check the envelope's signature as SNS subscribers do, with the certificate it points at."""
    if envelope["Type"] == "Notification":
        fields = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    else:
        fields = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
    text = "".join(f"{name}\n{envelope[name]}\n" for name in fields if name in envelope)
    certificate = x509.load_pem_x509_certificate(httpx.get(envelope["SigningCertURL"]).content)
    digest = hashes.SHA256() if envelope["SignatureVersion"] == "2" else hashes.SHA1()
    certificate.public_key().verify(base64.b64decode(envelope["Signature"]), text.encode(), padding.PKCS1v15(),
                                    digest)


def test_http_subscription_is_confirmed_and_delivered(sns):
    receiver = HttpReceiver().start()
    try:
        topic = _topic(sns, SignatureVersion="2")
        endpoint = receiver.url + "/hooks/sns"
        arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint,
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
        (confirmation,) = receiver.wait_for("SubscriptionConfirmation")
        assert confirmation.path == "/hooks/sns"
        assert confirmation.headers["x-amz-sns-topic-arn"] == topic
        envelope = confirmation.json()
        _verify_signature(envelope)
        assert httpx.get(envelope["SubscribeURL"]).status_code == 200
        assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "false"

        receiver.fail_next = 1  # the first try answers 500: SNS retries
        message_id = sns.publish(TopicArn=topic, Message="build finished", Subject="CI", MessageAttributes={
            "stage": {"DataType": "String", "StringValue": "test"}})["MessageId"]
        tries = receiver.wait_for("Notification", count=2)
        assert [t.body for t in tries][0] == tries[1].body
        notification = tries[1].json()
        assert tries[1].headers["x-amz-sns-subscription-arn"] == arn
        assert (notification["MessageId"], notification["Message"], notification["Subject"]) == \
            (message_id, "build finished", "CI")
        assert notification["MessageAttributes"] == {"stage": {"Type": "String", "Value": "test"}}
        _verify_signature(notification)

        sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="RawMessageDelivery",
                                        AttributeValue="true")
        sns.publish(TopicArn=topic, Message="raw body")
        raw = receiver.wait_for("Notification", count=3)[2]
        assert raw.body == b"raw body" and raw.headers["x-amz-sns-rawdelivery"] == "true"
    finally:
        receiver.stop()


def test_private_endpoints_are_refused_unless_allowed(server):
    sns = server.client("sns")
    topic = sns.create_topic(Name=f"t-{uuid.uuid4().hex[:10]}")["TopicArn"]
    for endpoint in (f"http://127.0.0.1:{free_port()}/", "http://169.254.169.254/latest/meta-data/",
                     "http://10.1.2.3:8080/", "http://[::1]:8080/", server.endpoint_url + "/"):
        with pytest.raises(ClientError) as exc:
            sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint)
        assert _code(exc) == "InvalidParameter", endpoint
        assert "Invalid parameter: Endpoint" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=topic, Protocol="https", Endpoint="http://example.com/")
    assert _code(exc) == "InvalidParameter"
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def _mail_cli(data_dir, *args: str) -> str:
    result = subprocess.run([str(VENV_BIN / "selfmaker"), "mail", "--data-dir", str(data_dir), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_without_smtp_mail_is_kept_in_the_outbox(tmp_path):
    proc = ServerProcess(tmp_path / "data", tmp_path / "home", extra_env={"SELFMAKER_SMTP_URL": ""}).start()
    try:
        sns = proc.client("sns")
        topic = sns.create_topic(Name="outbox", Attributes={"DisplayName": "Outbox test"})["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="kept@example.com")
        listing = wait_until(lambda: out if "kept@example.com" in (out := _mail_cli(proc.data_dir)) else None,
                             what="the confirmation in the outbox")
        assert "Outbox test - Subscription Confirmation" in listing
        entry_id = re.search(r"^(\d{8}T\d{9}-[0-9a-f]{12})\s", listing, re.M).group(1)
        shown = _mail_cli(proc.data_dir, "--show", entry_id)
        assert "To: kept@example.com" in shown and "Links:" in shown
        link = re.search(r"^\s+(http\S+/_selfmaker/sns/confirm\S+)$", shown, re.M).group(1)
        assert httpx.get(link).status_code == 200
        (sub,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        assert sub["SubscriptionArn"] != "PendingConfirmation"
        missing = subprocess.run([str(VENV_BIN / "selfmaker"), "mail", "--data-dir", str(proc.data_dir), "--show",
                                  "../../selfmaker.db"], capture_output=True, text=True, timeout=60)
        assert missing.returncode == 1 and "no message" in missing.stderr
    finally:
        _stop_everything(proc)


def _attempts(server, address: str) -> list[tuple[int, bool, str]]:
    engine = sqlalchemy.create_engine(database_url(server.database))
    try:
        with engine.connect() as db:
            return [tuple(row) for row in db.execute(sqlalchemy.text(
                "SELECT a.attempt, a.ok, a.detail FROM sns_delivery_attempts a JOIN sns_deliveries d "
                "ON d.delivery_id = a.delivery_id WHERE d.endpoint = :address ORDER BY a.attempt"),
                {"address": address})]
    finally:
        engine.dispose()


def _wait_attempts(server, address: str, count: int) -> list[tuple[int, bool, str]]:
    return wait_until(lambda: found if len(found := _attempts(server, address)) >= count else None,
                      what=f"{count} delivery attempts recorded")


def test_smtp_down_is_retried_recorded_and_resumed_after_a_restart(tmp_path):
    port = free_port()  # nothing listens here yet: the SMTP server is down
    env = {"SELFMAKER_SMTP_URL": f"smtp://127.0.0.1:{port}", "SELFMAKER_SNS_RETRY_DELAYS": "0.2,0.2,60"}
    first = ServerProcess(tmp_path / "data", tmp_path / "home", extra_env=env).start()
    sink = None
    try:
        sns = first.client("sns")
        topic = sns.create_topic(Name="down")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="later@example.com")
        failures = _wait_attempts(first, "later@example.com", 3)
        assert [ok for _, ok, _ in failures] == [False, False, False]
        assert "ConnectionRefusedError" in failures[0][2] and f"127.0.0.1:{port}" in failures[0][2]
        first.kill()  # mid-backoff: the delivery is still pending in the store

        sink = SmtpSink(port=port).start()
        second = ServerProcess(tmp_path / "data", tmp_path / "home", extra_env=env).start()
        try:
            mail = sink.wait_for("later@example.com", "Subscription Confirmation")
            assert "/_selfmaker/sns/confirm?" in _body(mail)
            attempts = _wait_attempts(second, "later@example.com", 4)
            assert [(n, ok) for n, ok, _ in attempts] == [(1, False), (2, False), (3, False), (4, True)]
        finally:
            _stop_everything(second)
    finally:
        _stop_everything(first)
        if sink is not None:
            sink.stop()
