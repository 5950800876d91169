"""IAM instance profiles through boto3 and the AWS CLI: one role each, tags, and the conflicts IAM raises."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_iam import _error, _trust, _unique

ACCOUNT = "123456789012"


def _denied(call) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call()
    return _error(exc)


def _role(iam) -> dict:
    return iam.create_role(RoleName=_unique("role"), AssumeRolePolicyDocument=_trust({"Service": "ec2.amazonaws.com"}),
                           Path="/hosts/")["Role"]


def test_instance_profiles_are_created_read_listed_and_deleted(server):
    iam = server.client("iam")
    name, path = _unique("profile"), f"/{_unique('fleet')}/"
    created = iam.create_instance_profile(InstanceProfileName=name, Path=path,
                                          Tags=[{"Key": "team", "Value": "ml"}])["InstanceProfile"]
    assert created["InstanceProfileName"] == name and created["Path"] == path and created["Roles"] == []
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile{path}{name}"
    assert created["InstanceProfileId"].startswith("AIPA") and len(created["InstanceProfileId"]) == 21
    assert created["Tags"] == [{"Key": "team", "Value": "ml"}]
    assert _denied(lambda: iam.create_instance_profile(InstanceProfileName=name)) == (
        "EntityAlreadyExists", f"Instance Profile {name} already exists.", 409)
    assert iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"] == created
    assert _denied(lambda: iam.get_instance_profile(InstanceProfileName="no-such-profile")) == (
        "NoSuchEntity", "Instance Profile no-such-profile cannot be found.", 404)

    second = _unique("profile")
    iam.create_instance_profile(InstanceProfileName=second, Path=path)
    first_page = iam.list_instance_profiles(PathPrefix=path, MaxItems=1)
    assert first_page["IsTruncated"] and len(first_page["InstanceProfiles"]) == 1
    rest = iam.list_instance_profiles(PathPrefix=path, Marker=first_page["Marker"])["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in first_page["InstanceProfiles"] + rest] == sorted(
        [name, second], key=str.lower)

    for profile in (name, second):
        iam.delete_instance_profile(InstanceProfileName=profile)
    assert iam.list_instance_profiles(PathPrefix=path)["InstanceProfiles"] == []
    assert _denied(lambda: iam.delete_instance_profile(InstanceProfileName=name))[0] == "NoSuchEntity"


def test_a_profile_holds_one_role_that_cannot_go_while_it_is_held(server):
    iam = server.client("iam")
    profile = iam.create_instance_profile(InstanceProfileName=_unique("profile"))["InstanceProfile"]
    name = profile["InstanceProfileName"]
    role, other = _role(iam), _role(iam)
    server.aws("iam", "add-role-to-instance-profile", "--instance-profile-name", name,
               "--role-name", role["RoleName"])
    held = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
    assert [(r["RoleName"], r["RoleId"], r["Arn"]) for r in held] == [(role["RoleName"], role["RoleId"], role["Arn"])]
    assert held[0]["AssumeRolePolicyDocument"] == json.loads(_trust({"Service": "ec2.amazonaws.com"}))
    for extra in (other, role):
        assert _denied(lambda extra=extra: iam.add_role_to_instance_profile(
            InstanceProfileName=name, RoleName=extra["RoleName"])) == (
            "LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1", 409)
    assert _denied(lambda: iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName="no-such-role")) == (
        "NoSuchEntity", "The role with name no-such-role cannot be found.", 404)
    assert _denied(lambda: iam.add_role_to_instance_profile(InstanceProfileName="no-such-profile",
                                                            RoleName=role["RoleName"]))[0] == "NoSuchEntity"

    second = iam.create_instance_profile(InstanceProfileName=_unique("profile"))["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=second["InstanceProfileName"], RoleName=role["RoleName"])
    listed = server.aws_json("iam", "list-instance-profiles-for-role", "--role-name", role["RoleName"])
    assert sorted(p["InstanceProfileName"] for p in listed["InstanceProfiles"]) == sorted(
        [name, second["InstanceProfileName"]])
    assert iam.list_instance_profiles_for_role(RoleName=other["RoleName"])["InstanceProfiles"] == []

    assert _denied(lambda: iam.delete_role(RoleName=role["RoleName"])) == (
        "DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.", 409)
    assert _denied(lambda: iam.delete_instance_profile(InstanceProfileName=name)) == (
        "DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.", 409)
    assert _denied(lambda: iam.remove_role_from_instance_profile(InstanceProfileName=name,
                                                                 RoleName=other["RoleName"]))[0] == "NoSuchEntity"

    for profile_name in (name, second["InstanceProfileName"]):
        iam.remove_role_from_instance_profile(InstanceProfileName=profile_name, RoleName=role["RoleName"])
        iam.delete_instance_profile(InstanceProfileName=profile_name)
    assert iam.list_instance_profiles_for_role(RoleName=role["RoleName"])["InstanceProfiles"] == []
    for gone in (role, other):
        iam.delete_role(RoleName=gone["RoleName"])


def test_instance_profile_tags(server):
    iam = server.client("iam")
    name = iam.create_instance_profile(InstanceProfileName=_unique("tagged"))["InstanceProfile"]["InstanceProfileName"]
    iam.tag_instance_profile(InstanceProfileName=name, Tags=[{"Key": "env", "Value": "lab"},
                                                             {"Key": "owner", "Value": "kim"}])
    iam.tag_instance_profile(InstanceProfileName=name, Tags=[{"Key": "env", "Value": "prod"}])
    tags = iam.list_instance_profile_tags(InstanceProfileName=name)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "prod"), ("owner", "kim")]
    iam.untag_instance_profile(InstanceProfileName=name, TagKeys=["owner"])
    assert iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Tags"] == [
        {"Key": "env", "Value": "prod"}]
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert _denied(lambda: iam.tag_instance_profile(InstanceProfileName=name, Tags=too_many))[0] == "LimitExceeded"
    assert _denied(lambda: iam.list_instance_profile_tags(InstanceProfileName="no-such-profile"))[0] == "NoSuchEntity"
    iam.delete_instance_profile(InstanceProfileName=name)


def test_account_summary_counts_instance_profiles(server):
    iam = server.client("iam")
    before = iam.get_account_summary()["SummaryMap"]
    assert before["InstanceProfilesQuota"] == 1000
    name = iam.create_instance_profile(InstanceProfileName=_unique("counted"))["InstanceProfile"]["InstanceProfileName"]
    assert iam.get_account_summary()["SummaryMap"]["InstanceProfiles"] == before["InstanceProfiles"] + 1
    iam.delete_instance_profile(InstanceProfileName=name)
    assert iam.get_account_summary()["SummaryMap"]["InstanceProfiles"] == before["InstanceProfiles"]
