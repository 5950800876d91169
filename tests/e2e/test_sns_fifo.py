"""SNS FIFO topics, and the answers where Selfmaker used to differ from AWS, with boto3 against a real server."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ServerProcess, _stop_everything

_FIFO_NAME_RULE = ("Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII "
                   "letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.")


@pytest.fixture
def sns(server):
    return server.client("sns")


def _name(suffix: str = ".fifo") -> str:
    return f"f-{uuid.uuid4().hex[:10]}{suffix}"


def _fifo(sns, **attributes) -> str:
    return sns.create_topic(Name=_name(), Attributes={"FifoTopic": "true", **attributes})["TopicArn"]


def _error(call, **params) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as exc:
        call(**params)
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_fifo_topic_name_and_attributes(server, sns):
    name = _name()
    arn = sns.create_topic(Name=name, Attributes={"FifoTopic": "true"})["TopicArn"]
    assert arn == f"arn:aws:sns:{server.region}:{server.account_id}:{name}"
    assert sns.create_topic(Name=name, Attributes={"FifoTopic": "true"})["TopicArn"] == arn  # idempotent
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert (attributes["FifoTopic"], attributes["ContentBasedDeduplication"], attributes["FifoThroughputScope"]) == \
        ("true", "false", "Topic")
    sns.set_topic_attributes(TopicArn=arn, AttributeName="ContentBasedDeduplication", AttributeValue="True")
    sns.set_topic_attributes(TopicArn=arn, AttributeName="FifoThroughputScope", AttributeValue="MessageGroup")
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert (attributes["ContentBasedDeduplication"], attributes["FifoThroughputScope"]) == ("true", "MessageGroup")
    assert arn in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "kind", "Value": "fifo"}])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "kind", "Value": "fifo"}]

    # A standard topic has none of these, and takes none of them.
    standard = sns.create_topic(Name=_name(""), Attributes={"FifoTopic": "false"})["TopicArn"]
    assert "FifoTopic" not in sns.get_topic_attributes(TopicArn=standard)["Attributes"]
    for call, params, message in [
        (sns.create_topic, {"Name": _name(""), "Attributes": {"FifoTopic": "true"}}, _FIFO_NAME_RULE),
        (sns.create_topic, {"Name": "x" * 252 + ".fifo", "Attributes": {"FifoTopic": "true"}}, _FIFO_NAME_RULE),
        (sns.create_topic, {"Name": "a.b.fifo", "Attributes": {"FifoTopic": "true"}}, _FIFO_NAME_RULE),
        (sns.create_topic, {"Name": _name()}, "Invalid parameter: Topic Name"),
        (sns.create_topic, {"Name": _name(""), "Attributes": {"ContentBasedDeduplication": "true"}},
         "Invalid parameter: ContentBasedDeduplication Reason: ContentBasedDeduplication can only be set for FIFO "
         "topics"),
        (sns.set_topic_attributes, {"TopicArn": standard, "AttributeName": "ContentBasedDeduplication",
                                    "AttributeValue": "true"}, "can only be set for FIFO topics"),
        (sns.set_topic_attributes, {"TopicArn": arn, "AttributeName": "FifoTopic", "AttributeValue": "false"},
         "Invalid parameter: AttributeName"),
        (sns.set_topic_attributes, {"TopicArn": arn, "AttributeName": "ContentBasedDeduplication",
                                    "AttributeValue": "maybe"}, "Invalid parameter: ContentBasedDeduplication"),
        (sns.create_topic, {"Name": name, "Attributes": {"FifoTopic": "true", "ContentBasedDeduplication": "false"}},
         "Topic already exists with different attributes"),
    ]:
        code, status, text = _error(call, **params)
        assert (code, status) == ("InvalidParameter", 400), params
        assert message in text, (params, text)


def test_fifo_publish_needs_a_group_and_a_deduplication_id(sns):
    arn = _fifo(sns)
    assert _error(sns.publish, TopicArn=arn, Message="m") == (
        "InvalidParameter", 400, "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
    assert _error(sns.publish, TopicArn=arn, Message="m", MessageGroupId="g") == (
        "InvalidParameter", 400, "Invalid parameter: The topic should either have ContentBasedDeduplication "
                                 "enabled or MessageDeduplicationId provided explicitly")
    assert _error(sns.publish, TopicArn=arn, Message="m", MessageGroupId="g", MessageDeduplicationId="x" * 129)[2] \
        .startswith("Invalid parameter: MessageDeduplicationId")
    reply = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g", MessageDeduplicationId="d1")
    assert uuid.UUID(reply["MessageId"]) and reply["SequenceNumber"].isdigit()


def test_duplicates_are_accepted_answered_alike_and_sent_once(sns):
    arn = _fifo(sns)
    first = sns.publish(TopicArn=arn, Message="one", MessageGroupId="g", MessageDeduplicationId="same")
    again = sns.publish(TopicArn=arn, Message="other body", MessageGroupId="h", MessageDeduplicationId="same")
    assert (again["MessageId"], again["SequenceNumber"]) == (first["MessageId"], first["SequenceNumber"])
    second = sns.publish(TopicArn=arn, Message="two", MessageGroupId="g", MessageDeduplicationId="new")
    assert second["MessageId"] != first["MessageId"]
    assert int(second["SequenceNumber"]) > int(first["SequenceNumber"])

    # Content-based: the body's hash is the ID; an explicit ID still wins over it.
    content = _fifo(sns, ContentBasedDeduplication="true")
    a = sns.publish(TopicArn=content, Message="body", MessageGroupId="g")
    assert sns.publish(TopicArn=content, Message="body", MessageGroupId="g")["MessageId"] == a["MessageId"]
    assert sns.publish(TopicArn=content, Message="body", MessageGroupId="g",
                       MessageDeduplicationId="explicit")["MessageId"] != a["MessageId"]
    assert sns.publish(TopicArn=content, Message="another", MessageGroupId="g")["MessageId"] != a["MessageId"]

    # In MessageGroup scope, the same ID in another group is another message.
    grouped = _fifo(sns, FifoThroughputScope="MessageGroup")
    x = sns.publish(TopicArn=grouped, Message="m", MessageGroupId="g1", MessageDeduplicationId="d")
    y = sns.publish(TopicArn=grouped, Message="m", MessageGroupId="g2", MessageDeduplicationId="d")
    assert x["MessageId"] != y["MessageId"]
    assert sns.publish(TopicArn=grouped, Message="m", MessageGroupId="g2",
                       MessageDeduplicationId="d")["MessageId"] == y["MessageId"]

    # A topic deleted and made again starts with an empty window.
    sns.delete_topic(TopicArn=arn)
    sns.create_topic(Name=arn.rsplit(":", 1)[1], Attributes={"FifoTopic": "true"})
    fresh = sns.publish(TopicArn=arn, Message="one", MessageGroupId="g", MessageDeduplicationId="same")
    assert fresh["MessageId"] != first["MessageId"]


def test_fifo_publish_batch(sns):
    arn = _fifo(sns)
    reply = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "1", "MessageGroupId": "g", "MessageDeduplicationId": "d1"},
        {"Id": "b", "Message": "2", "MessageGroupId": "g", "MessageDeduplicationId": "d2"},
        {"Id": "c", "Message": "3", "MessageGroupId": "g", "MessageDeduplicationId": "d1"},
    ])
    assert reply["Failed"] == []
    by_id = {entry["Id"]: entry for entry in reply["Successful"]}
    assert sorted(by_id) == ["a", "b", "c"]
    assert by_id["c"]["MessageId"] == by_id["a"]["MessageId"] != by_id["b"]["MessageId"]
    assert int(by_id["b"]["SequenceNumber"]) > int(by_id["a"]["SequenceNumber"])
    single = sns.publish(TopicArn=arn, Message="x", MessageGroupId="g", MessageDeduplicationId="d2")
    assert single["MessageId"] == by_id["b"]["MessageId"]  # one window for Publish and PublishBatch

    code, status, message = _error(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "1", "MessageGroupId": "g", "MessageDeduplicationId": "n1"},
        {"Id": "b", "Message": "2", "MessageDeduplicationId": "n2"}])
    assert (code, message) == ("InvalidParameter", "Invalid parameter: The MessageGroupId parameter is required for "
                                                   "FIFO topics")
    # Nothing of a refused batch was kept: its first entry is new next time.
    again = sns.publish(TopicArn=arn, Message="1", MessageGroupId="g", MessageDeduplicationId="n1")
    assert again["MessageId"] not in {entry["MessageId"] for entry in reply["Successful"]}


def test_publish_batch_errors_and_standard_topics(sns):
    standard = sns.create_topic(Name=_name(""))["TopicArn"]
    reply = sns.publish_batch(TopicArn=standard, PublishBatchRequestEntries=[
        {"Id": "one", "Message": "hello", "MessageGroupId": "ignored"}, {"Id": "two", "Message": "again"}])
    assert [(e["Id"], "SequenceNumber" in e) for e in reply["Successful"]] == [("one", False), ("two", False)]
    entry = {"Message": "m"}
    for entries, code, message in [
        ([{**entry, "Id": str(i)} for i in range(11)], "TooManyEntriesInBatchRequest",
         "The batch request contains more entries than permissible."),
        ([{**entry, "Id": "x"}, {**entry, "Id": "x"}], "BatchEntryIdsNotDistinct",
         "Two or more batch entries in the request have the same Id."),
        ([{**entry, "Id": "not ok"}], "InvalidBatchEntryId",
         "The Id of a batch entry in the batch request contains an impermissible character: not ok"),
        ([{"Id": "a", "Message": "x" * 200_000}, {"Id": "b", "Message": "x" * 100_000}], "BatchRequestTooLong",
         "The length of all the messages put together is more than the limit."),
        ([{**entry, "Id": "a", "MessageDeduplicationId": "d"}], "InvalidParameter",
         "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter "
         "that is not valid for this topic type"),
        ([{"Id": "a", "Message": ""}], "InvalidParameter", "Invalid parameter: Empty message"),
    ]:
        assert _error(sns.publish_batch, TopicArn=standard, PublishBatchRequestEntries=entries) == \
            (code, 400, message)
    assert _error(sns.publish_batch, TopicArn=standard + "-gone", PublishBatchRequestEntries=[{**entry, "Id": "a"}]) \
        == ("NotFound", 404, "Topic does not exist")


def test_standard_topic_takes_a_message_group_id_but_no_deduplication_id(sns):
    standard = sns.create_topic(Name=_name(""))["TopicArn"]
    reply = sns.publish(TopicArn=standard, Message="m", MessageGroupId="g")
    assert "SequenceNumber" not in reply and uuid.UUID(reply["MessageId"])
    assert _error(sns.publish, TopicArn=standard, Message="m", MessageDeduplicationId="d") == (
        "InvalidParameter", 400, "Invalid parameter: MessageDeduplicationId Reason: The request includes "
                                 "MessageDeduplicationId parameter that is not valid for this topic type")


def test_fifo_topics_take_sqs_subscriptions_only_which_selfmaker_does_not_serve(sns):
    arn = _fifo(sns)
    for protocol, endpoint in [("email", "a@example.com"), ("email-json", "a@example.com"),
                               ("http", "http://example.com/hook"), ("https", "https://example.com/hook"),
                               ("lambda", "arn:aws:lambda:us-east-1:123456789012:function:f")]:
        assert _error(sns.subscribe, TopicArn=arn, Protocol=protocol, Endpoint=endpoint) == (
            "InvalidParameter", 400, f"Invalid parameter: Invalid protocol type: {protocol}")
    assert _error(sns.subscribe, TopicArn=arn, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:123456789012:q.fifo") \
        == ("InvalidParameter", 400, "Invalid parameter: Protocol")
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []


def test_missing_topics_and_subscriptions_are_not_found(server, sns):
    missing = f"arn:aws:sns:{server.region}:{server.account_id}:{_name('')}"
    not_found = ("NotFound", 404, "Topic does not exist")
    # Subscribe says so before looking at the endpoint (this one would be refused as private).
    assert _error(sns.subscribe, TopicArn=missing, Protocol="http", Endpoint="http://127.0.0.1:9/x") == not_found
    assert _error(sns.subscribe, TopicArn=missing, Protocol="email", Endpoint="not-an-address") == not_found
    assert _error(sns.subscribe, TopicArn=missing + ".fifo", Protocol="email", Endpoint="a@example.com") == not_found
    assert _error(sns.get_topic_attributes, TopicArn=missing) == not_found
    assert _error(sns.set_topic_attributes, TopicArn=missing, AttributeName="DisplayName",
                  AttributeValue="x") == not_found
    assert _error(sns.list_subscriptions_by_topic, TopicArn=missing) == not_found
    assert _error(sns.publish, TopicArn=missing, Message="m") == not_found
    assert _error(sns.publish, TopicArn=missing + ".fifo", Message="m", MessageGroupId="g",
                  MessageDeduplicationId="d") == not_found
    sns.delete_topic(TopicArn=missing)  # AWS: DeleteTopic is idempotent
    subscription = f"{missing}:{uuid.uuid4()}"
    assert _error(sns.get_subscription_attributes, SubscriptionArn=subscription) == \
        ("NotFound", 404, "Subscription does not exist")
    assert _error(sns.set_subscription_attributes, SubscriptionArn=subscription, AttributeName="RawMessageDelivery",
                  AttributeValue="true") == ("NotFound", 404, "Subscription does not exist")
    sns.unsubscribe(SubscriptionArn=subscription)  # gone already: not an error


def test_the_deduplication_window_survives_a_restart(tmp_path):
    first = ServerProcess(tmp_path / "data", tmp_path / "home").start()
    try:
        sns = first.client("sns")
        arn = sns.create_topic(Name="orders.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        sent = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g", MessageDeduplicationId="order-1")
        first.kill()
        second = ServerProcess(tmp_path / "data", tmp_path / "home").start()
        try:
            again = second.client("sns").publish(TopicArn=arn, Message="m", MessageGroupId="g",
                                                  MessageDeduplicationId="order-1")
            assert (again["MessageId"], again["SequenceNumber"]) == (sent["MessageId"], sent["SequenceNumber"])
        finally:
            _stop_everything(second)
    finally:
        _stop_everything(first)


_FIFO_STACK = """\
Resources:
  Named:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: {name}
      FifoTopic: true
      ContentBasedDeduplication: true
  Generated:
    Type: AWS::SNS::Topic
    Properties:
      FifoTopic: "true"
Outputs:
  Named:
    Value: !Ref Named
  Generated:
    Value: !GetAtt Generated.TopicName
"""


def _wait_stack(cf, name: str) -> dict:
    """Poll until the stack's operation is over (by id, once it may be deleted)."""
    deadline = time.time() + 60
    while True:
        stack = cf.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        assert time.time() < deadline, stack["StackStatus"]
        time.sleep(0.2)


def test_cloudformation_fifo_topics(server, sns):
    cf = server.client("cloudformation")
    stack, name = f"fifo-{uuid.uuid4().hex[:6]}", _name()
    stack_id = cf.create_stack(StackName=stack, TemplateBody=_FIFO_STACK.format(name=name))["StackId"]
    created = _wait_stack(cf, stack)
    assert created["StackStatus"] == "CREATE_COMPLETE", created
    outputs = {o["OutputKey"]: o["OutputValue"] for o in created["Outputs"]}
    assert outputs["Named"].endswith(f":{name}")
    assert outputs["Generated"].startswith(f"{stack}-Generated-") and outputs["Generated"].endswith(".fifo")
    named = sns.get_topic_attributes(TopicArn=outputs["Named"])["Attributes"]
    assert (named["FifoTopic"], named["ContentBasedDeduplication"]) == ("true", "true")
    generated_arn = outputs["Named"].rsplit(":", 1)[0] + ":" + outputs["Generated"]
    assert sns.get_topic_attributes(TopicArn=generated_arn)["Attributes"]["ContentBasedDeduplication"] == "false"

    # Updated in place: ContentBasedDeduplication off.
    cf.update_stack(StackName=stack, TemplateBody=_FIFO_STACK.format(name=name).replace(
        "ContentBasedDeduplication: true", "ContentBasedDeduplication: false"))
    assert _wait_stack(cf, stack)["StackStatus"] == "UPDATE_COMPLETE"
    assert sns.get_topic_attributes(TopicArn=outputs["Named"])["Attributes"]["ContentBasedDeduplication"] == "false"

    # A FIFO topic's name must end in .fifo: the stack fails with SNS's reason, and rolls back.
    bad = f"{stack}-bad"
    cf.create_stack(StackName=bad, TemplateBody=json.dumps({"Resources": {"T": {
        "Type": "AWS::SNS::Topic", "Properties": {"TopicName": _name(""), "FifoTopic": True}}}}))
    assert _wait_stack(cf, bad)["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [e.get("ResourceStatusReason", "") for e in cf.describe_stack_events(StackName=bad)["StackEvents"]]
    assert any("Fifo Topic names must end with .fifo" in reason for reason in reasons), reasons

    cf.delete_stack(StackName=stack)
    assert _wait_stack(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert _error(sns.get_topic_attributes, TopicArn=outputs["Named"])[0] == "NotFound"
    cf.delete_stack(StackName=bad)


def test_publish_batch_is_authorized_as_sns_publish(server, sns):
    # AWS has no sns:PublishBatch action: a user allowed sns:Publish may publish in batches.
    iam = server.client("iam")
    user = f"publisher-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="publish", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    topic = sns.create_topic(Name=_name(""))["TopicArn"]
    as_user = server.client("sns", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    answer = as_user.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "one", "Message": "hi"}])
    assert [entry["Id"] for entry in answer["Successful"]] == ["one"]
    code, status, _ = _error(as_user.create_topic, Name=_name(""))
    assert (code, status) == ("AuthorizationError", 403)


def test_an_endpoint_whose_name_does_not_resolve_yet_is_taken_pending(sns):
    # As SNS: the name is looked up when the confirmation goes out (and refused then if private), not before.
    topic = sns.create_topic(Name=_name(""))["TopicArn"]
    answer = sns.subscribe(TopicArn=topic, Protocol="https", Endpoint="https://no-such-host.invalid/hook")
    assert answer["SubscriptionArn"] == "pending confirmation"
    code, status, message = _error(sns.subscribe, TopicArn=topic, Protocol="http", Endpoint="http://127.0.0.1:8081/hook")
    assert (code, status) == ("InvalidParameter", 400) and "loopback" in message
