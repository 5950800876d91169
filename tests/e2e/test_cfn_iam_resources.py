"""CloudFormation's IAM groups, memberships, instance profiles and access keys, created, updated, rolled back
and deleted with their stacks, against a real server."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.test_cloudformation import body, events, wait_stack

TEMPLATE = body("""\
    Parameters:
      Serial:
        Type: Number
        Default: 1
      KeyStatus:
        Type: String
        Default: Active
      GroupPath:
        Type: String
        Default: /lab/
      ProfileRole:
        Type: String
        Default: First
      SecondUserGroups:
        Type: String
        Default: "yes"
    Conditions:
      SecondInGroup: !Equals [!Ref SecondUserGroups, "yes"]
      FirstRole: !Equals [!Ref ProfileRole, First]
    Resources:
      Students:
        Type: AWS::IAM::Group
        Properties:
          Path: !Ref GroupPath
          Policies:
            - PolicyName: topics
              PolicyDocument:
                Version: "2012-10-17"
                Statement:
                  - Effect: Allow
                    Action: sns:ListTopics
                    Resource: "*"
          ManagedPolicyArns:
            - arn:aws:iam::aws:policy/AmazonSageMakerReadOnly
      Student:
        Type: AWS::IAM::User
      Assistant:
        Type: AWS::IAM::User
        Properties:
          Groups: !If [SecondInGroup, [!Ref Students], !Ref "AWS::NoValue"]
      Enrolment:
        Type: AWS::IAM::UserToGroupAddition
        Properties:
          GroupName: !Ref Students
          Users: [!Ref Student]
      Key:
        Type: AWS::IAM::AccessKey
        Properties:
          UserName: !Ref Student
          Serial: !Ref Serial
          Status: !Ref KeyStatus
      First:
        Type: AWS::IAM::Role
        Properties:
          AssumeRolePolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Principal: {Service: ec2.amazonaws.com}
                Action: sts:AssumeRole
      Second:
        Type: AWS::IAM::Role
        Properties:
          AssumeRolePolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Principal: {Service: ec2.amazonaws.com}
                Action: sts:AssumeRole
      Profile:
        Type: AWS::IAM::InstanceProfile
        Properties:
          Path: /fleet/
          Roles: [!If [FirstRole, !Ref First, !Ref Second]]
    Outputs:
      GroupName:
        Value: !Ref Students
      GroupArn:
        Value: !GetAtt Students.Arn
      KeyId:
        Value: !Ref Key
      Secret:
        Value: !GetAtt Key.SecretAccessKey
      ProfileName:
        Value: !Ref Profile
      ProfileArn:
        Value: !GetAtt Profile.Arn
      Student:
        Value: !Ref Student
      Assistant:
        Value: !Ref Assistant
    """)


def _outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def _physical(cf, name: str) -> dict[str, str]:
    return {r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cf.describe_stack_resources(StackName=name)["StackResources"]}


def _signed_client(server, service: str, key_id: str, secret: str):
    return boto3.client(service, endpoint_url=server.endpoint_url, region_name=server.region,
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}))


def _parameters(**values: str) -> list[dict]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def _members(iam, group: str) -> list[str]:
    return sorted(u["UserName"] for u in iam.get_group(GroupName=group)["Users"])


def test_a_stack_of_groups_memberships_profiles_and_keys_is_created_updated_and_deleted(server):
    cf, iam = server.client("cloudformation"), server.client("iam")
    stack_id = cf.create_stack(StackName="iam-groups", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_IAM"])[
        "StackId"]
    stack = wait_stack(cf, stack_id)
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cf, stack_id)
    out, physical = _outputs(stack), _physical(cf, "iam-groups")

    group = iam.get_group(GroupName=out["GroupName"])["Group"]
    assert out["GroupName"].startswith("iam-groups-Students-") and group["Path"] == "/lab/"
    assert out["GroupArn"] == group["Arn"] == f"arn:aws:iam::{server.account_id}:group/lab/{out['GroupName']}"
    assert _members(iam, out["GroupName"]) == sorted([out["Student"], out["Assistant"]])
    assert iam.list_group_policies(GroupName=out["GroupName"])["PolicyNames"] == ["topics"]
    assert [p["PolicyName"] for p in iam.list_attached_group_policies(GroupName=out["GroupName"])[
        "AttachedPolicies"]] == ["AmazonSageMakerReadOnly"]
    assert physical["Enrolment"].startswith("iam-groups-Enrolment-")

    profile = iam.get_instance_profile(InstanceProfileName=out["ProfileName"])["InstanceProfile"]
    assert out["ProfileArn"] == profile["Arn"] and profile["Path"] == "/fleet/"
    assert [r["RoleName"] for r in profile["Roles"]] == [physical["First"]]

    # The key's outputs are credentials: a request signed with them acts as the student, through the group.
    assert physical["Key"] == out["KeyId"] and out["KeyId"].startswith("AKIA")
    sts = _signed_client(server, "sts", out["KeyId"], out["Secret"])
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{server.account_id}:user/{out['Student']}"
    assert "Topics" in _signed_client(server, "sns", out["KeyId"], out["Secret"]).list_topics()
    sagemaker = _signed_client(server, "sagemaker", out["KeyId"], out["Secret"])
    assert "NotebookInstances" in sagemaker.list_notebook_instances()

    # Update: a new Serial replaces the key; the profile takes the other role; the assistant leaves the group.
    cf.update_stack(StackName="iam-groups", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_IAM"],
                    Parameters=_parameters(Serial="2", GroupPath="/lab/moved/", ProfileRole="Second",
                                           SecondUserGroups="no"))
    stack = wait_stack(cf, stack_id)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cf, stack_id)
    updated, physical = _outputs(stack), _physical(cf, "iam-groups")
    assert updated["KeyId"] != out["KeyId"] and updated["Secret"] != out["Secret"]
    keys = iam.list_access_keys(UserName=out["Student"])["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [updated["KeyId"]]
    assert updated["GroupName"] == out["GroupName"]  # a new path keeps the group
    assert iam.get_group(GroupName=out["GroupName"])["Group"]["Path"] == "/lab/moved/"
    assert _members(iam, out["GroupName"]) == [out["Student"]]
    assert iam.list_groups_for_user(UserName=out["Assistant"])["Groups"] == []
    profile = iam.get_instance_profile(InstanceProfileName=out["ProfileName"])["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [physical["Second"]]
    with pytest.raises(ClientError) as old_key:
        _signed_client(server, "sts", out["KeyId"], out["Secret"]).get_caller_identity()
    assert old_key.value.response["Error"]["Code"] == "InvalidClientTokenId"
    fresh = _signed_client(server, "sts", updated["KeyId"], updated["Secret"])
    assert fresh.get_caller_identity()["Arn"].endswith(f":user/{out['Student']}")

    # A Status change keeps the key and switches it off.
    cf.update_stack(StackName="iam-groups", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_IAM"],
                    Parameters=_parameters(Serial="2", GroupPath="/lab/moved/", ProfileRole="Second",
                                           SecondUserGroups="no", KeyStatus="Inactive"))
    stack = wait_stack(cf, stack_id)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cf, stack_id)
    assert _outputs(stack)["KeyId"] == updated["KeyId"]
    assert iam.list_access_keys(UserName=out["Student"])["AccessKeyMetadata"][0]["Status"] == "Inactive"

    cf.delete_stack(StackName="iam-groups")
    assert wait_stack(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE", events(cf, stack_id)
    for call, params in (
        (iam.get_group, {"GroupName": out["GroupName"]}),
        (iam.get_instance_profile, {"InstanceProfileName": out["ProfileName"]}),
        (iam.get_user, {"UserName": out["Student"]}),
        (iam.get_user, {"UserName": out["Assistant"]}),
        (iam.get_role, {"RoleName": physical["First"]}),
    ):
        with pytest.raises(ClientError) as gone:
            call(**params)
        assert gone.value.response["Error"]["Code"] == "NoSuchEntity"


_EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
FAILING = {
    "Resources": {
        "Team": {"Type": "AWS::IAM::Group", "Properties": {"GroupName": "cfn-rollback-team"}},
        "Member": {"Type": "AWS::IAM::User", "Properties": {"UserName": "cfn-rollback-member",
                                                            "Groups": [{"Ref": "Team"}]}},
        "Joined": {"Type": "AWS::IAM::UserToGroupAddition",
                   "Properties": {"GroupName": {"Ref": "Team"}, "Users": [{"Ref": "Member"}]}},
        "Key": {"Type": "AWS::IAM::AccessKey", "Properties": {"UserName": {"Ref": "Member"}}},
        "Host": {"Type": "AWS::IAM::Role",
                 "Properties": {"RoleName": "cfn-rollback-host", "AssumeRolePolicyDocument": _EC2_TRUST}},
        "Spare": {"Type": "AWS::IAM::Role",
                  "Properties": {"RoleName": "cfn-rollback-spare", "AssumeRolePolicyDocument": _EC2_TRUST}},
        "Profile": {"Type": "AWS::IAM::InstanceProfile",
                    "Properties": {"InstanceProfileName": "cfn-rollback-profile", "Roles": [{"Ref": "Host"}]}},
        # An instance profile holds one role: this one, made last, fails once made.
        "Crowded": {"Type": "AWS::IAM::InstanceProfile", "DependsOn": ["Profile", "Key", "Joined"],
                    "Properties": {"InstanceProfileName": "cfn-rollback-crowded",
                                   "Roles": [{"Ref": "Host"}, {"Ref": "Spare"}]}},
    },
}


def test_a_failed_stack_rolls_its_iam_resources_back(server):
    cf, iam = server.client("cloudformation"), server.client("iam")
    stack_id = cf.create_stack(StackName="iam-rollback", TemplateBody=json.dumps(FAILING),
                               Capabilities=["CAPABILITY_NAMED_IAM"])["StackId"]
    stack = wait_stack(cf, stack_id)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", events(cf, stack_id)
    story = events(cf, stack_id)
    failure = next(reason for logical, status, reason in story if logical == "Crowded" and status == "CREATE_FAILED")
    assert "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1" in failure
    assert "(HandlerErrorCode: ServiceLimitExceeded)" in failure
    assert {logical for logical, status, _ in story if status == "DELETE_COMPLETE"} == set(FAILING["Resources"])
    for call, params in (
        (iam.get_group, {"GroupName": "cfn-rollback-team"}),
        (iam.get_user, {"UserName": "cfn-rollback-member"}),
        (iam.get_instance_profile, {"InstanceProfileName": "cfn-rollback-profile"}),
        (iam.get_instance_profile, {"InstanceProfileName": "cfn-rollback-crowded"}),
        (iam.get_role, {"RoleName": "cfn-rollback-host"}),
        (iam.get_role, {"RoleName": "cfn-rollback-spare"}),
    ):
        with pytest.raises(ClientError) as gone:
            call(**params)
        assert gone.value.response["Error"]["Code"] == "NoSuchEntity"
    cf.delete_stack(StackName=stack_id)
    assert wait_stack(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE"
