"""UpdateUser and GetAccessKeyLastUsed, through boto3 and the AWS CLI against a real server."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _error(exc: pytest.ExceptionInfo) -> tuple[str, str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def _document(action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})


def _client(server, key: dict, service: str = "iam", region: str = "us-east-1"):
    return boto3.client(service, endpoint_url=server.endpoint_url, region_name=region,
                        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                        config=Config(retries={"max_attempts": 1}))


def test_update_user_renames_and_moves_it_with_everything_it_has(server):
    iam = server.client("iam")
    old, new = _unique("before"), _unique("after")
    iam.create_user(UserName=old, Tags=[{"Key": "team", "Value": "ml"}])
    key = iam.create_access_key(UserName=old)["AccessKey"]
    iam.put_user_policy(UserName=old, PolicyName="list-users", PolicyDocument=_document("iam:ListUsers"))
    managed = iam.create_policy(PolicyName=_unique("topics"), PolicyDocument=_document("sns:ListTopics"))["Policy"]
    iam.attach_user_policy(UserName=old, PolicyArn=managed["Arn"])
    iam.create_login_profile(UserName=old, Password="Correct-Horse-Battery-9")
    as_user = _client(server, key)
    as_user.list_users()  # the key works, and is cached, under the old name

    with pytest.raises(ClientError) as exc:
        iam.update_user(UserName=_unique("nobody"), NewUserName=_unique("x"))
    assert _error(exc)[0] == "NoSuchEntity"
    iam.update_user(UserName=old, NewUserName=new, NewPath="/moved/")

    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName=old)
    assert _error(exc) == ("NoSuchEntity", f"The user with name {old} cannot be found.", 404)
    user = iam.get_user(UserName=new)["User"]
    assert (user["UserName"], user["Path"], user["Arn"]) == (new, "/moved/", f"arn:aws:iam::{ACCOUNT}:user/moved/{new}")
    assert user["Tags"] == [{"Key": "team", "Value": "ml"}]
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=new)["AccessKeyMetadata"]] == [key["AccessKeyId"]]
    assert iam.list_user_policies(UserName=new)["PolicyNames"] == ["list-users"]
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=new)["AttachedPolicies"]] == \
        [managed["Arn"]]
    assert iam.get_login_profile(UserName=new)["LoginProfile"]["UserName"] == new

    # The same key goes on working, as the renamed user, under the same policies.
    assert _client(server, key, "sts").get_caller_identity()["Arn"] == user["Arn"]
    as_user.list_users()
    _client(server, key, "sns").list_topics()
    with pytest.raises(ClientError) as exc:
        as_user.list_roles()
    assert _error(exc)[0] == "AccessDenied"

    taken = _unique("taken")
    iam.create_user(UserName=taken)
    with pytest.raises(ClientError) as exc:
        iam.update_user(UserName=new, NewUserName=taken.upper())
    assert _error(exc) == ("EntityAlreadyExists", f"User with name {taken.upper()} already exists.", 409)

    # The AWS CLI renames too (and only the path, when told only that).
    server.aws("iam", "update-user", "--user-name", new, "--new-path", "/")
    assert iam.get_user(UserName=new)["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{new}"
    assert _client(server, key, "sts").get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{new}"


def test_update_user_keeps_group_memberships(server):
    iam = server.client("iam")
    old, new, group = _unique("member"), _unique("renamed"), _unique("group")
    iam.create_user(UserName=old)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=old)
    iam.update_user(UserName=old, NewUserName=new)
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [new]


def test_get_access_key_last_used(server):
    iam = server.client("iam")
    name = _unique("user")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=_document("*"))
    key = iam.create_access_key(UserName=name)["AccessKey"]

    never = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert never["UserName"] == name
    assert never["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}

    before = time.time()
    _client(server, key, "sns", region="eu-west-1").list_topics()
    used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert (used["ServiceName"], used["Region"]) == ("sns", "eu-west-1")
    assert before - 1 <= used["LastUsedDate"].timestamp() <= time.time() + 1

    # Written at most once a minute per key: a second use right after leaves the record as it was.
    _client(server, key, "iam").list_users()
    again = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert again == used

    # The user may ask about its own key; the CLI asks the same way.
    own = _client(server, key).get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert own["UserName"] == name
    cli = server.aws_json("iam", "get-access-key-last-used", "--access-key-id", key["AccessKeyId"])
    assert cli["AccessKeyLastUsed"]["ServiceName"] == "sns"

    with pytest.raises(ClientError) as exc:
        iam.get_access_key_last_used(AccessKeyId="AKIANOSUCHKEY0000000")
    assert _error(exc)[:2] == ("NoSuchEntity", "The Access Key with id AKIANOSUCHKEY0000000 cannot be found.")
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as exc:
        iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert _error(exc)[0] == "NoSuchEntity"


def test_policies_and_instance_profiles_without_tags_answer_an_empty_list(server):
    # As IAM: GetPolicy and GetInstanceProfile always carry Tags, [] when there are none.
    iam = server.client("iam")
    document = json.dumps({"Version": "2012-10-17",
                           "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    arn = iam.create_policy(PolicyName="untagged-policy", PolicyDocument=document)["Policy"]["Arn"]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == []
    iam.create_instance_profile(InstanceProfileName="untagged-profile", Tags=[{"Key": "a", "Value": "b"}])
    iam.untag_instance_profile(InstanceProfileName="untagged-profile", TagKeys=["a"])
    assert iam.get_instance_profile(InstanceProfileName="untagged-profile")["InstanceProfile"]["Tags"] == []
    iam.delete_instance_profile(InstanceProfileName="untagged-profile")
    iam.delete_policy(PolicyArn=arn)
