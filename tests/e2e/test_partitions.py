"""ARNs in the partition of the region asked in (``aws-cn``, ``aws-us-gov``), as AWS makes them."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})


@pytest.mark.parametrize(("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"),
                                                   ("eu-west-1", "aws")])
def test_regional_arns_name_the_regions_partition(server, region, partition):
    topic = server.client("sns", region_name=region).create_topic(Name=f"alerts-{partition}")["TopicArn"]
    assert topic == f"arn:{partition}:sns:{region}:{ACCOUNT}:alerts-{partition}"
    logs = server.client("logs", region_name=region)
    logs.create_log_group(logGroupName=f"/partition/{partition}")
    [group] = logs.describe_log_groups(logGroupNamePrefix=f"/partition/{partition}")["logGroups"]
    assert group["arn"].startswith(f"arn:{partition}:logs:{region}:{ACCOUNT}:log-group:/partition/")
    config = server.client("sagemaker", region_name=region).create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=f"config-{partition}")["NotebookInstanceLifecycleConfigArn"]
    assert config.startswith(f"arn:{partition}:sagemaker:{region}:{ACCOUNT}:")
    stack = server.client("cloudformation", region_name=region).create_stack(
        StackName=f"stack-{partition}", TemplateBody=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}),
    )["StackId"]
    assert stack.startswith(f"arn:{partition}:cloudformation:{region}:{ACCOUNT}:stack/stack-{partition}/")


def test_iam_and_sts_arns_in_the_china_partition(server):
    iam = server.client("iam", region_name="cn-north-1")
    role = iam.create_role(RoleName="china-role", AssumeRolePolicyDocument=TRUST)["Role"]
    assert role["Arn"] == f"arn:aws-cn:iam::{ACCOUNT}:role/china-role"
    user = iam.create_user(UserName="china-user")["User"]
    assert user["Arn"] == f"arn:aws-cn:iam::{ACCOUNT}:user/china-user"
    iam.put_user_policy(UserName="china-user", PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="china-user")["AccessKey"]
    sts = server.client("sts", region_name="cn-north-1", aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"] == user["Arn"]
    session = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="lab")
    assert session["AssumedRoleUser"]["Arn"] == f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/china-role/lab"
    # Those credentials act as the role: it has no policies, so IAM refuses them by their ARN.
    credentials = session["Credentials"]
    as_role = boto3.client("iam", endpoint_url=server.endpoint_url, region_name="cn-north-1",
                           aws_access_key_id=credentials["AccessKeyId"],
                           aws_secret_access_key=credentials["SecretAccessKey"],
                           aws_session_token=credentials["SessionToken"])
    with pytest.raises(ClientError) as exc:
        as_role.list_users()
    assert f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/china-role/lab" in exc.value.response["Error"]["Message"]


def test_a_topic_arn_of_another_partition_is_refused(server):
    sns = server.client("sns", region_name="us-east-1")
    sns.create_topic(Name="same-name")
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=f"arn:aws-cn:sns:us-east-1:{ACCOUNT}:same-name", Message="hi")
    assert exc.value.response["Error"]["Code"] == "InvalidParameter"
