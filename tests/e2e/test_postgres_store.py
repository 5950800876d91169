"""The whole control plane on PostgreSQL (`selfmaker up --database postgresql://…`), through boto3 and the
`selfmaker` CLI: a notebook instance's life, IAM, CloudFormation, logs, SNS, a quota request approved from the
CLI, Cost Explorer's figures, a SIGKILL of the server, and the longest values the APIs accept (PostgreSQL
enforces VARCHAR lengths, which SQLite never checks).

The tests share one test-mode server (its metering clock moved by the tests) and run in order.
"""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import ACCOUNT, VENV_BIN, running_server
from tests.e2e.jupyter_client import NotebookSession
from tests.e2e.test_notebook_lifecycle import GROUP, WAIT, _b64, _open

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
TOTAL = "L-04CE2E67"  # Total running notebook instances, 100 by default


@pytest.fixture(scope="module")
def server(tmp_path_factory, postgres):
    url = postgres.create_database()
    with running_server(tmp_path_factory.mktemp("postgres-store"), database_url=url, SELFMAKER_TEST_MODE="1") as proc:
        yield proc


def _clock(server, text: str) -> None:
    now = datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
    httpx.post(f"{server.endpoint_url}/_selfmaker/clock", json={"now": now}).raise_for_status()


def _cli(server, *args: str) -> subprocess.CompletedProcess:
    """A `selfmaker` command on the server's store (the data dir only for its quotas and catalogue files)."""
    return subprocess.run([str(VENV_BIN / "selfmaker"), *args, "--data-dir", str(server.data_dir),
                           "--database", server.database_url], env=server.env, capture_output=True, text=True,
                          timeout=60)


def _wait(server, name: str, waiter: str) -> None:
    server.client("sagemaker").get_waiter(waiter).wait(NotebookInstanceName=name, WaiterConfig=WAIT)


def test_the_store_is_postgresql(server):
    listed = subprocess.run([str(VENV_BIN / "python"), "-c", textwrap.dedent(f"""\
        import sqlalchemy
        from selfmaker.store.db import database_url
        engine = sqlalchemy.create_engine(database_url({server.database_url!r}))
        print(sorted(sqlalchemy.inspect(engine).get_table_names()))""")], capture_output=True, text=True, timeout=60)
    assert "'notebook_instances'" in listed.stdout and "'cfn_stacks'" in listed.stdout, listed.stderr
    assert not (server.data_dir / "selfmaker.db").exists()


def test_a_notebook_instance_lives_and_is_billed(server):
    sm, name = server.client("sagemaker"), "pg-life"
    sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="pg-config",
        OnStart=[{"Content": _b64("#!/bin/bash\necho started >> /home/ec2-user/SageMaker/starts.txt\n")}])
    _clock(server, "2026-03-10T10:00:00")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                LifecycleConfigName="pg-config", Tags=[{"Key": "Project", "Value": "pg"}])
    _wait(server, name, "notebook_instance_in_service")
    assert _open(server, name).run("print(2 + 3)").strip() == "5"
    _clock(server, "2026-03-10T12:00:00")
    sm.stop_notebook_instance(NotebookInstanceName=name)
    _wait(server, name, "notebook_instance_stopped")
    _clock(server, "2026-03-10T13:00:00")
    sm.start_notebook_instance(NotebookInstanceName=name)
    _wait(server, name, "notebook_instance_in_service")
    assert _open(server, name).run("print(open('/home/ec2-user/SageMaker/starts.txt').read().count('started'))"
                                   ).strip() == "2"
    _clock(server, "2026-03-10T14:30:00")
    sm.stop_notebook_instance(NotebookInstanceName=name)
    _wait(server, name, "notebook_instance_stopped")

    # 2 h + 1.5 h at $0.05 an hour, on the day and in the month, as Cost Explorer and `selfmaker usage` say.
    ce = server.client("ce")
    daily = ce.get_cost_and_usage(TimePeriod={"Start": "2026-03-10", "End": "2026-03-11"}, Granularity="DAILY",
                                  Metrics=["UnblendedCost", "UsageQuantity"])
    total = daily["ResultsByTime"][0]["Total"]
    assert (total["UnblendedCost"]["Amount"], total["UsageQuantity"]["Amount"]) == ("0.175", "3.5")
    tagged = ce.get_cost_and_usage(TimePeriod={"Start": "2026-03-01", "End": "2026-04-01"}, Granularity="MONTHLY",
                                   Metrics=["UnblendedCost"], GroupBy=[{"Type": "TAG", "Key": "Project"}])
    assert [(g["Keys"], g["Metrics"]["UnblendedCost"]["Amount"]) for g in tagged["ResultsByTime"][0]["Groups"]] \
        == [(["Project$pg"], "0.175")]
    usage = _cli(server, "usage", "--month", "2026-03")
    assert usage.returncode == 0, usage.stderr
    assert name in usage.stdout and "3.5" in usage.stdout

    sm.delete_notebook_instance(NotebookInstanceName=name)
    _wait(server, name, "notebook_instance_deleted")
    with pytest.raises(ClientError) as exc:
        sm.describe_notebook_instance(NotebookInstanceName=name)
    assert exc.value.response["Error"]["Code"] == "ValidationException"


def test_logs(server):
    logs, group = server.client("logs"), f"/pg/Logs-{uuid.uuid4().hex[:8]}"
    now = int(time.time() * 1000)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": now + i, "message": f"line {i}"} for i in range(3)])
    events = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]
    assert [event["message"] for event in events] == ["line 0", "line 1", "line 2"]
    # The name pattern matches case-sensitively (SQLite's instr, PostgreSQL's strpos); stored bytes are a sum.
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePattern=group[4:])["logGroups"]] \
        == [group]
    assert logs.describe_log_groups(logGroupNamePattern=group[4:].upper())["logGroups"] == []
    (described,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["storedBytes"] == 3 * len("line 0")
    found = logs.filter_log_events(logGroupName=group, filterPattern="line 1")["events"]
    assert [event["message"] for event in found] == ["line 1"]
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName=group)
    assert exc.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"


def test_iam_users_and_policies(server):
    iam = server.client("iam")
    iam.create_user(UserName="pg-alice", Path="/team/")
    policy = iam.create_policy(PolicyName="pg-list", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sagemaker:ListNotebookInstances", "Resource": "*"}]}))
    iam.attach_user_policy(UserName="pg-alice", PolicyArn=policy["Policy"]["Arn"])
    key = iam.create_access_key(UserName="pg-alice")["AccessKey"]
    alice = server.client("sagemaker", aws_access_key_id=key["AccessKeyId"],
                          aws_secret_access_key=key["SecretAccessKey"])
    assert alice.list_notebook_instances()["NotebookInstances"] == []
    with pytest.raises(ClientError) as exc:
        alice.list_notebook_instance_lifecycle_configs()
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="PG-ALICE")  # IAM names are unique regardless of case
    assert exc.value.response["Error"]["Code"] == "EntityAlreadyExists"
    attached = iam.list_attached_user_policies(UserName="pg-alice")["AttachedPolicies"]
    assert [item["PolicyName"] for item in attached] == ["pg-list"]


STACK = textwrap.dedent("""\
    Resources:
      Topic:
        Type: AWS::SNS::Topic
        Properties:
          TopicName: pg-stack-topic
      Group:
        Type: AWS::Logs::LogGroup
        Properties:
          LogGroupName: /pg/stack
    Outputs:
      TopicArn:
        Value: !Ref Topic
    """)


def test_a_cloudformation_stack(server):
    cfn = server.client("cloudformation")
    cfn.create_stack(StackName="pg-stack", TemplateBody=STACK)
    cfn.get_waiter("stack_create_complete").wait(StackName="pg-stack", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    (stack,) = cfn.describe_stacks(StackName="pg-stack")["Stacks"]
    topic_arn = f"arn:aws:sns:us-east-1:{ACCOUNT}:pg-stack-topic"
    assert stack["Outputs"] == [{"OutputKey": "TopicArn", "OutputValue": topic_arn}]
    events = cfn.describe_stack_events(StackName="pg-stack")["StackEvents"]
    assert {(e["LogicalResourceId"], e["ResourceStatus"]) for e in events} >= {
        ("Topic", "CREATE_COMPLETE"), ("Group", "CREATE_COMPLETE"), ("pg-stack", "CREATE_COMPLETE")}
    assert topic_arn in [t["TopicArn"] for t in server.client("sns").list_topics()["Topics"]]
    cfn.delete_stack(StackName="pg-stack")
    cfn.get_waiter("stack_delete_complete").wait(StackName="pg-stack", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert topic_arn not in [t["TopicArn"] for t in server.client("sns").list_topics()["Topics"]]


def test_sns(server):
    sns = server.client("sns")
    topic = sns.create_topic(Name="pg-topic", Attributes={"DisplayName": "PG"})["TopicArn"]
    assert sns.create_topic(Name="pg-topic")["TopicArn"] == topic  # idempotent
    subscription = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="pg@example.com")["SubscriptionArn"]
    assert subscription == "pending confirmation"
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in listed] == [("email", "pg@example.com")]
    assert sns.publish(TopicArn=topic, Message="hello")["MessageId"]
    fifo = sns.create_topic(Name="pg.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    first = sns.publish(TopicArn=fifo, Message="m", MessageGroupId="g", MessageDeduplicationId="d")
    again = sns.publish(TopicArn=fifo, Message="m", MessageGroupId="g", MessageDeduplicationId="d")
    assert first["MessageId"] == again["MessageId"]


def test_a_quota_request_approved_from_the_cli(server):
    sq = server.client("service-quotas")
    request = sq.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=TOTAL, DesiredValue=150)
    request_id = request["RequestedQuota"]["Id"]
    listed = _cli(server, "quota", "list", "--pending")
    assert listed.returncode == 0 and request_id in listed.stdout, listed.stderr
    approved = _cli(server, "quota", "approve", request_id)
    assert approved.returncode == 0, approved.stderr
    assert sq.get_service_quota(ServiceCode="sagemaker", QuotaCode=TOTAL)["Quota"]["Value"] == 150.0
    assert sq.get_requested_service_quota_change(RequestId=request_id)["RequestedQuota"]["Status"] == "APPROVED"


def test_a_sigkilled_server_readopts_its_instance(server):
    sm, name = server.client("sagemaker"), "pg-survivor"
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE)
    _wait(server, name, "notebook_instance_in_service")
    session = _open(server, name)
    session.run("open('/tmp/marker', 'w').write('same sandbox')")
    server.kill(signal.SIGKILL)
    server.start()
    sm = server.client("sagemaker")
    _wait(server, name, "notebook_instance_in_service")
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]
    assert NotebookSession(url).run("print(open('/tmp/marker').read())").strip() == "same sandbox"
    sm.stop_notebook_instance(NotebookInstanceName=name)
    _wait(server, name, "notebook_instance_stopped")
    assert f"{name}/jupyter.log" in [s["logStreamName"] for s in server.client("logs").describe_log_streams(
        logGroupName=GROUP, logStreamNamePrefix=name)["logStreams"]]


def test_the_longest_values_the_apis_accept_fit(server):
    """Each value at the longest its API allows is stored (PostgreSQL would refuse one past a column's length)."""
    sm, iam, logs = server.client("sagemaker"), server.client("iam"), server.client("logs")
    long_role = f"arn:aws:iam::{ACCOUNT}:role/" + "r" * (2048 - len(f"arn:aws:iam::{ACCOUNT}:role/"))
    name = "n" * 63
    arn = sm.create_notebook_instance(
        NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=long_role,
        Tags=[{"Key": "k" * 128, "Value": "v" * 256}])["NotebookInstanceArn"]
    assert sm.describe_notebook_instance(NotebookInstanceName=name)["RoleArn"] == long_role
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "k" * 128, "Value": "v" * 256}]
    _wait(server, name, "notebook_instance_in_service")
    sm.stop_notebook_instance(NotebookInstanceName=name)
    _wait(server, name, "notebook_instance_stopped")
    sm.delete_notebook_instance(NotebookInstanceName=name)

    group, stream = "/" + "g" * 511, "s" * 512
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    message = "m" * 200_000
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": message}])
    assert logs.get_log_events(logGroupName=group, logStreamName=stream)["events"][0]["message"] == message

    path = "/" + "p" * 510 + "/"
    user = iam.create_user(UserName="u" * 64, Path=path, Tags=[{"Key": "k" * 128, "Value": "v" * 256}])["User"]
    assert user["Path"] == path
    iam.create_role(RoleName="r" * 64, Path=path, Description="d" * 1000, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    iam.create_policy(PolicyName="p" * 128, Path=path, Description="d" * 1000, PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    iam.create_group(GroupName="g" * 128, Path=path)
    iam.create_instance_profile(InstanceProfileName="i" * 128, Path=path)

    sns = server.client("sns")
    topic = sns.create_topic(Name="t" * 256)["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="a" * 64 + "@example.com")

    cfn = server.client("cloudformation")
    logical = "L" * 255
    body = f"Resources:\n  {logical}:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: /pg/long\n"
    cfn.create_stack(StackName="s" * 128, TemplateBody=body)
    cfn.get_waiter("stack_create_complete").wait(StackName="s" * 128, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    events = cfn.describe_stack_events(StackName="s" * 128)["StackEvents"]
    assert (logical, "CREATE_COMPLETE") in [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events]


def test_a_value_past_its_limit_is_a_validation_error(server):
    """Past the longest, the API's own 4xx (never PostgreSQL's refusal as a 500)."""
    sm = server.client("sagemaker")
    too_long = f"arn:aws:iam::{ACCOUNT}:role/" + "r" * 2048
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance(NotebookInstanceName="pg-too-long", InstanceType="ml.t3.medium",
                                    RoleArn=too_long)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as exc:
        sm.add_tags(ResourceArn=f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/x",
                    Tags=[{"Key": "k", "Value": "v" * 257}])
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    sns = server.client("sns")
    topic = sns.create_topic(Name="pg-limits")["TopicArn"]
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=topic, Protocol="p" * 20, Endpoint="x")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    cfn = server.client("cloudformation")
    body = f"Resources:\n  {'L' * 256}:\n    Type: AWS::Logs::LogGroup\n"
    with pytest.raises(ClientError) as exc:
        cfn.create_stack(StackName="pg-too-long", TemplateBody=body)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Resource name LLL" in exc.value.response["Error"]["Message"]
    # An export name is known only once its stack runs: one too long fails the stack, with the reason.
    body = ("Resources:\n  G:\n    Type: AWS::Logs::LogGroup\n"
            f"Outputs:\n  O:\n    Value: x\n    Export:\n      Name: !Sub '${{AWS::StackName}}{'E' * 250}'\n")
    cfn.create_stack(StackName="pg-long-export", TemplateBody=body)
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_create_complete").wait(StackName="pg-long-export",
                                                     WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    reasons = [e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName="pg-long-export")[
        "StackEvents"]]
    assert any("exceeds the maximum length of 255" in reason for reason in reasons), reasons

    # A wait condition signal (a script's PUT to the handle's presigned URL) with an overlong UniqueId.
    body = ("Resources:\n  H:\n    Type: AWS::CloudFormation::WaitConditionHandle\n"
            "  W:\n    Type: AWS::CloudFormation::WaitCondition\n    Properties:\n      Handle: !Ref H\n"
            "      Timeout: '60'\n")
    cfn.create_stack(StackName="pg-wait", TemplateBody=body)
    handle = _handle_url(cfn, "pg-wait")
    refused = httpx.put(handle, content=json.dumps({"Status": "SUCCESS", "UniqueId": "u" * 256, "Data": "d"}))
    assert refused.status_code == 400 and "UniqueId" in refused.text
    assert httpx.put(handle, content=json.dumps({"Status": "SUCCESS", "UniqueId": "u" * 255, "Data": "d"})
                     ).status_code == 200
    cfn.get_waiter("stack_create_complete").wait(StackName="pg-wait", WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def test_a_nul_character_in_a_value_is_a_validation_error(server):
    """PostgreSQL text cannot hold NUL (SQLite's can): a value with one is the API's 400 (found by the fuzzer)."""
    with pytest.raises(ClientError) as exc:
        server.client("cloudformation").describe_stacks(StackName="pg\x00stack")
    assert exc.value.response["Error"]["Code"] == "ValidationError"
    assert "NUL character" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        server.client("iam").get_policy(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/pg\x00policy")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "NUL character" in exc.value.response["Error"]["Message"]


def _handle_url(cfn, stack: str) -> str:
    deadline = time.time() + 30
    while time.time() < deadline:
        for resource in cfn.describe_stack_resources(StackName=stack)["StackResources"]:
            if resource["LogicalResourceId"] == "H" and resource.get("PhysicalResourceId"):
                return resource["PhysicalResourceId"]
        time.sleep(0.2)
    raise AssertionError("the wait condition handle was not created")


def test_a_test_mode_reset_empties_the_store(server):
    """moto's reset deletes every table's rows, children first: PostgreSQL enforces the foreign keys between."""
    assert httpx.post(f"{server.endpoint_url}/moto-api/reset", timeout=120).status_code == 200
    assert server.client("iam").list_users()["Users"] == []
    assert server.client("sns").list_topics()["Topics"] == []
    assert server.client("cloudformation").describe_stacks()["Stacks"] == []
    assert server.client("sagemaker").list_notebook_instances()["NotebookInstances"] == []
