"""CloudWatch Logs and outbox console pages against a real server: log groups, streams, events, search and live
tail; the outbox with its messages and links, and that only the root user may read it."""

from __future__ import annotations

import contextlib
import html
import json
import re
import time
from urllib.parse import unquote

import httpx

from tests.conftest import ServerProcess, _stop_everything, free_port
from tests.console.conftest import ROOT_PASSWORD, sign_in

REGION = "us-east-1"


def now_ms() -> int:
    return int(time.time() * 1000)


def put(server: ServerProcess, group: str, stream: str, *messages: str, at: int | None = None) -> None:
    logs = server.client("logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    start = at or now_ms()
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": start + i, "message": m} for i, m in enumerate(messages)])


def messages_in(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<td class="message">(.*?)</td>', page, re.S)]


def tail_url(page: str) -> str:
    found = re.search(r'<tbody id="tail" hx-get="([^"]+)" hx-trigger="every 2s" hx-swap="outerHTML">', page)
    assert found, "no live-tail poller on the page"
    return html.unescape(found.group(1))


def test_log_groups_are_listed_and_searched_by_prefix(console_server, root):
    put(console_server, "/app/web", "s", "hello")
    put(console_server, "/app/worker", "s", "hello")
    put(console_server, "/other/thing", "s", "hello")
    everything = root.get(f"/cloudwatch/log-groups?region={REGION}").text
    assert all(f'data-log-group="{g}"' in everything for g in ("/app/web", "/app/worker", "/other/thing"))
    found = root.get(f"/cloudwatch/log-groups?region={REGION}&prefix=/app/").text
    assert re.findall(r'data-log-group="([^"]+)"', found) == ["/app/web", "/app/worker"]
    assert 'href="/cloudwatch/log-group?region=us-east-1&amp;group=%2Fapp%2Fweb"' in found
    none = root.get(f"/cloudwatch/log-groups?region={REGION}&prefix=/nothing").text
    assert "No log groups match this prefix." in none


def test_a_groups_streams_come_newest_first_and_filter_by_prefix(console_server, root):
    base = now_ms() - 60_000
    put(console_server, "/streams/order", "web/old", "a", at=base)
    put(console_server, "/streams/order", "web/new", "b", at=base + 20_000)
    put(console_server, "/streams/order", "batch/middle", "c", at=base + 10_000)
    page = root.get(f"/cloudwatch/log-group?region={REGION}&group=/streams/order").text
    assert re.findall(r'data-log-stream="([^"]+)"', page) == ["web/new", "batch/middle", "web/old"]
    assert "Search all log streams" in page
    web = root.get(f"/cloudwatch/log-group?region={REGION}&group=/streams/order&prefix=web/").text
    assert re.findall(r'data-log-stream="([^"]+)"', web) == ["web/new", "web/old"]
    missing = root.get(f"/cloudwatch/log-group?region={REGION}&group=/no/such/group")
    assert missing.status_code == 404 and "The specified log group does not exist." in missing.text


def test_events_read_oldest_first_and_the_search_filters_them(console_server, root):
    put(console_server, "/events/app", "one", "starting up", "ERROR disk full", "retrying", "ERROR disk still full")
    put(console_server, "/events/app", "two", "ERROR elsewhere")
    stream = root.get(f"/cloudwatch/log-events?region={REGION}&group=/events/app&stream=one")
    assert stream.status_code == 200
    assert messages_in(stream.text) == ["starting up", "ERROR disk full", "retrying", "ERROR disk still full"]
    back = html.unescape(re.search(r'<a href="([^"]+)">/events/app</a>', stream.text).group(1))
    assert unquote(back) == f"/cloudwatch/log-group?region={REGION}&group=/events/app"

    search = root.get(f"/cloudwatch/log-events?region={REGION}&group=/events/app&stream=one&filter=ERROR").text
    assert messages_in(search) == ["ERROR disk full", "ERROR disk still full"]
    assert 'value="ERROR"' in search
    phrase = root.get("/cloudwatch/log-events", params={
        "region": REGION, "group": "/events/app", "stream": "one", "filter": '"disk still" -retrying'}).text
    assert messages_in(phrase) == ["ERROR disk still full"]

    # Without a stream the search covers the whole group and says which stream each event came from.
    group = root.get(f"/cloudwatch/log-events?region={REGION}&group=/events/app&filter=ERROR").text
    assert sorted(messages_in(group)) == ["ERROR disk full", "ERROR disk still full", "ERROR elsewhere"]
    assert '<th scope="col">Log stream</th>' in group

    bad = root.get(f"/cloudwatch/log-events?region={REGION}&group=/events/app&stream=one&filter=[a, b]")
    assert bad.status_code == 400
    assert re.search(r'role="alert">This filter pattern is not valid', bad.text)


def test_live_tail_appends_only_new_events(console_server, root):
    put(console_server, "/tail/app", "live", "before the tail")
    off = root.get(f"/cloudwatch/log-events?region={REGION}&group=/tail/app&stream=live").text
    assert 'id="tail"' not in off and "Start live tail" in off
    page = root.get(f"/cloudwatch/log-events?region={REGION}&group=/tail/app&stream=live&tail=1").text
    assert "Stop live tail" in page and "Live tail is on" in page
    poll = tail_url(page)
    assert root.get(poll).status_code == 204  # nothing new: htmx keeps the poller as it is

    put(console_server, "/tail/app", "live", "first new", "second new")
    new = root.get(poll)
    assert new.status_code == 200
    assert messages_in(new.text) == ["first new", "second new"]
    following = tail_url(new.text)
    assert following != poll
    assert root.get(following).status_code == 204
    put(console_server, "/tail/app", "live", "third new")
    assert messages_in(root.get(following).text) == ["third new"]

    # A search tails too, with only the matching events.
    searching = root.get(f"/cloudwatch/log-events?region={REGION}&group=/tail/app&filter=wanted&tail=1").text
    poll = tail_url(searching)
    put(console_server, "/tail/app", "live", "wanted one", "other: skipped", "wanted two")
    assert messages_in(root.get(poll).text) == ["wanted one", "wanted two"]


def test_the_outbox_lists_mail_and_its_links_work(console_server, root):
    sns = console_server.client("sns")
    topic = sns.create_topic(Name="course-news")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="learner@example.com")
    outbox = root.get("/console/mail")
    assert outbox.status_code == 200
    assert "No SMTP server is configured" in outbox.text
    row = re.search(r'<tr data-message="([^"]+)">(.*?)</tr>', outbox.text, re.S)
    assert row, "the confirmation mail is not listed"
    assert "learner@example.com" in row.group(2)
    assert "AWS Notification - Subscription Confirmation" in row.group(2)
    assert "Not sent: no SMTP server is configured" in row.group(2)

    message = root.get(f"/console/mail/{row.group(1)}").text
    assert "<dt>To</dt><dd>learner@example.com</dd>" in message
    link = html.unescape(re.search(r'<a href="([^"]+)" rel="noopener noreferrer">', message).group(1))
    assert link.startswith(f"{console_server.endpoint_url}/_selfmaker/sns/confirm?")
    assert httpx.get(link).status_code == 200  # the link in the mail confirms the subscription
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert subscription["SubscriptionArn"].startswith(topic + ":")

    sns.publish(TopicArn=topic, Subject="Lesson 2 is out", Message="Read it at https://course.example/lesson-2 now.")
    deadline = time.time() + 15
    while "Lesson 2 is out" not in (listing := root.get("/console/mail").text):
        assert time.time() < deadline, "the published message never reached the outbox"
        time.sleep(0.2)
    newest = re.search(r'<tr data-message="([^"]+)">', listing).group(1)  # newest first
    body = root.get(f"/console/mail/{newest}").text
    assert '<a href="https://course.example/lesson-2" rel="noopener noreferrer">https://course.example/lesson-2</a>' \
        in body
    assert root.get("/console/mail/20000101T000000000-000000000000").status_code == 404
    assert root.get("/console/mail/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_iam_users_may_not_read_the_outbox(console_server, root):
    iam = console_server.client("iam")
    iam.create_user(UserName="admin-but-not-root")
    iam.create_login_profile(UserName="admin-but-not-root", Password="admin-but-not-root-1")
    iam.put_user_policy(UserName="admin-but-not-root", PolicyName="everything", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    first = re.search(r'<tr data-message="([^"]+)">', root.get("/console/mail").text).group(1)
    with httpx.Client(base_url=console_server.endpoint_url, timeout=30) as client:
        assert sign_in(client, user="admin-but-not-root", password="admin-but-not-root-1").status_code == 303
        for path in ("/console/mail", f"/console/mail/{first}"):
            refused = client.get(path)
            assert refused.status_code == 403
            assert "Only the root user can read the outbox." in refused.text
            assert "data-message" not in refused.text and "_selfmaker/sns/confirm" not in refused.text
        korean = client.get("/console/mail", headers={"Accept-Language": "ko"})
        assert "루트 사용자만 보낼 편지함을 읽을 수 있습니다." in korean.text
        assert client.get(f"/cloudwatch/log-groups?region={REGION}").status_code == 200  # the rest is theirs


def test_with_smtp_the_outbox_says_it_holds_only_undelivered_mail(tmp_path):
    smtp = f"smtp://mailer:secret-password@127.0.0.1:{free_port()}"
    proc = ServerProcess(tmp_path / "data", tmp_path / "home",
                         extra_env={"SELFMAKER_ROOT_PASSWORD": ROOT_PASSWORD, "SELFMAKER_SMTP_URL": smtp}).start()
    try:
        with httpx.Client(base_url=proc.endpoint_url, timeout=30) as client:
            assert sign_in(client, password=ROOT_PASSWORD).status_code == 303
            page = client.get("/console/mail").text
        assert "Mail is sent through the SMTP server smtp://mailer@127.0.0.1:" in page
        assert "The outbox holds only mail that could not be delivered." in page
        assert "secret-password" not in page
        assert "The outbox is empty." in page
    finally:
        _stop_everything(proc)
