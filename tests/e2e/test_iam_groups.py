"""IAM groups through boto3 and the AWS CLI: their lifecycle, members and policies, and the authorizer applying
a group's policies to its members (API and console alike), at once on every change."""

from __future__ import annotations

import json

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.console.conftest import sign_in
from tests.e2e.test_iam import _allow, _document, _error, _unique, make_user

ACCOUNT = "123456789012"
PASSWORD = "Gr0up-Member-Passw0rd!xyz"


def _deny(action, resource="*") -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


def _denied(call) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call()
    return _error(exc)


def test_groups_are_created_read_listed_renamed_and_deleted(server):
    iam = server.client("iam")
    name, path = _unique("group"), f"/{_unique('team')}/"
    created = iam.create_group(GroupName=name, Path=path)["Group"]
    assert created["GroupName"] == name and created["Path"] == path
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:group{path}{name}"
    assert created["GroupId"].startswith("AGPA") and len(created["GroupId"]) == 21
    assert _denied(lambda: iam.create_group(GroupName=name.upper())) == (
        "EntityAlreadyExists", f"Group with name {name.upper()} already exists.", 409)

    got = iam.get_group(GroupName=name)
    assert got["Group"] == created and got["Users"] == [] and got["IsTruncated"] is False
    assert _denied(lambda: iam.get_group(GroupName="no-such-group")) == (
        "NoSuchEntity", "The group with name no-such-group cannot be found.", 404)

    second = _unique("group")
    iam.create_group(GroupName=second, Path=path)
    listed = iam.list_groups(PathPrefix=path)["Groups"]
    assert sorted(g["GroupName"] for g in listed) == sorted([name, second])
    first_page = iam.list_groups(PathPrefix=path, MaxItems=1)
    assert first_page["IsTruncated"] and len(first_page["Groups"]) == 1
    rest = iam.list_groups(PathPrefix=path, Marker=first_page["Marker"])["Groups"]
    assert [g["GroupName"] for g in first_page["Groups"] + rest] == sorted([name, second], key=str.lower)

    assert _denied(lambda: iam.update_group(GroupName=name, NewGroupName=second))[0] == "EntityAlreadyExists"
    renamed, new_path = _unique("renamed"), f"/{_unique('moved')}/"
    iam.update_group(GroupName=name, NewGroupName=renamed, NewPath=new_path)
    after = iam.get_group(GroupName=renamed)["Group"]
    assert after["GroupId"] == created["GroupId"] and after["Path"] == new_path
    assert after["Arn"] == f"arn:aws:iam::{ACCOUNT}:group{new_path}{renamed}"
    assert _denied(lambda: iam.get_group(GroupName=name))[0] == "NoSuchEntity"
    assert _denied(lambda: iam.update_group(GroupName="no-such-group", NewGroupName="x")) == (
        "NoSuchEntity", "The group with name no-such-group cannot be found.", 404)

    for group in (renamed, second):
        iam.delete_group(GroupName=group)
    assert iam.list_groups(PathPrefix=path)["Groups"] == []
    assert _denied(lambda: iam.delete_group(GroupName=renamed)) == (
        "NoSuchEntity", f"The group with name {renamed} cannot be found.", 404)


def test_members_are_added_listed_paged_and_removed(server):
    iam = server.client("iam")
    group = iam.create_group(GroupName=_unique("group"))["Group"]["GroupName"]
    users = sorted((_unique("member") for _ in range(3)), key=str.lower)
    for user in users:
        iam.create_user(UserName=user)
        iam.add_user_to_group(GroupName=group, UserName=user)
    iam.add_user_to_group(GroupName=group, UserName=users[0])  # again: no change
    page = iam.get_group(GroupName=group, MaxItems=2)
    assert [u["UserName"] for u in page["Users"]] == users[:2] and page["IsTruncated"]
    rest = iam.get_group(GroupName=group, Marker=page["Marker"])
    assert [u["UserName"] for u in rest["Users"]] == users[2:] and rest["Group"]["GroupName"] == group

    groups = server.aws_json("iam", "list-groups-for-user", "--user-name", users[0])["Groups"]
    assert [g["GroupName"] for g in groups] == [group]

    assert _denied(lambda: iam.add_user_to_group(GroupName=group, UserName="no-such-user")) == (
        "NoSuchEntity", "The user with name no-such-user cannot be found.", 404)
    assert _denied(lambda: iam.add_user_to_group(GroupName="no-such-group", UserName=users[0])) == (
        "NoSuchEntity", "The group with name no-such-group cannot be found.", 404)
    assert _denied(lambda: iam.delete_user(UserName=users[0])) == (
        "DeleteConflict", "Cannot delete entity, must remove user from all groups first.", 409)
    assert _denied(lambda: iam.delete_group(GroupName=group)) == (
        "DeleteConflict", "Cannot delete entity, must remove users from group first.", 409)

    for user in users:
        iam.remove_user_from_group(GroupName=group, UserName=user)
        iam.delete_user(UserName=user)
    iam.create_user(UserName=users[0])
    code, _, status = _denied(lambda: iam.remove_user_from_group(GroupName=group, UserName=users[0]))
    assert (code, status) == ("NoSuchEntity", 404)
    assert iam.list_groups_for_user(UserName=users[0])["Groups"] == []
    iam.delete_user(UserName=users[0])
    iam.delete_group(GroupName=group)


def test_a_user_is_in_at_most_ten_groups(server):
    iam = server.client("iam")
    user = _unique("joiner")
    iam.create_user(UserName=user)
    groups = [iam.create_group(GroupName=_unique("many"))["Group"]["GroupName"] for _ in range(11)]
    for group in groups[:10]:
        iam.add_user_to_group(GroupName=group, UserName=user)
    assert _denied(lambda: iam.add_user_to_group(GroupName=groups[10], UserName=user)) == (
        "LimitExceeded", "Cannot exceed quota for GroupsPerUser: 10", 409)
    assert len(iam.list_groups_for_user(UserName=user)["Groups"]) == 10
    for group in groups[:10]:
        iam.remove_user_from_group(GroupName=group, UserName=user)
    for group in groups:
        iam.delete_group(GroupName=group)
    iam.delete_user(UserName=user)


def test_group_inline_and_managed_policies(server):
    iam = server.client("iam")
    group = iam.create_group(GroupName=_unique("group"))["Group"]["GroupName"]
    document = _document(_allow("sns:ListTopics"))
    iam.put_group_policy(GroupName=group, PolicyName="topics", PolicyDocument=document)
    got = iam.get_group_policy(GroupName=group, PolicyName="topics")
    assert got["GroupName"] == group and got["PolicyDocument"] == json.loads(document)
    assert iam.list_group_policies(GroupName=group)["PolicyNames"] == ["topics"]
    assert _denied(lambda: iam.get_group_policy(GroupName=group, PolicyName="nope")) == (
        "NoSuchEntity", "The group policy with name nope cannot be found.", 404)
    malformed = _denied(lambda: iam.put_group_policy(GroupName=group, PolicyName="bad",
                                                     PolicyDocument='{"Statement": "nonsense"}'))
    assert malformed[0] == "MalformedPolicyDocument"
    missing = _denied(lambda: iam.put_group_policy(GroupName="no-such-group", PolicyName="p", PolicyDocument=document))
    assert missing[0] == "NoSuchEntity"

    arn = iam.create_policy(PolicyName=_unique("managed"), PolicyDocument=document)["Policy"]["Arn"]
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)  # again: no change
    iam.attach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    attached = iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]
    assert sorted(p["PolicyArn"] for p in attached) == sorted([arn, "arn:aws:iam::aws:policy/ReadOnlyAccess"])
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    group_id = iam.get_group(GroupName=group)["Group"]["GroupId"]
    entities = iam.list_entities_for_policy(PolicyArn=arn)
    assert entities["PolicyGroups"] == [{"GroupName": group, "GroupId": group_id}]
    assert entities["PolicyUsers"] == [] and entities["PolicyRoles"] == []
    assert iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="User")["PolicyGroups"] == []
    user = _unique("holder")
    iam.create_user(UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    first = iam.list_entities_for_policy(PolicyArn=arn, MaxItems=1)
    assert first["IsTruncated"] and first["PolicyGroups"] == [{"GroupName": group, "GroupId": group_id}]
    assert first["PolicyUsers"] == []
    rest = iam.list_entities_for_policy(PolicyArn=arn, Marker=first["Marker"])
    assert [u["UserName"] for u in rest["PolicyUsers"]] == [user] and rest["PolicyGroups"] == []
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 2
    iam.detach_user_policy(UserName=user, PolicyArn=arn)
    iam.delete_user(UserName=user)
    assert _denied(lambda: iam.delete_policy(PolicyArn=arn)) == (
        "DeleteConflict", "Cannot delete a policy attached to entities.", 409)
    assert _denied(lambda: iam.delete_group(GroupName=group)) == (
        "DeleteConflict", "Cannot delete entity, must delete policies first.", 409)

    # A rename keeps the group's policies.
    renamed = _unique("renamed")
    iam.update_group(GroupName=group, NewGroupName=renamed)
    assert iam.list_group_policies(GroupName=renamed)["PolicyNames"] == ["topics"]
    assert len(iam.list_attached_group_policies(GroupName=renamed)["AttachedPolicies"]) == 2
    assert iam.list_entities_for_policy(PolicyArn=arn)["PolicyGroups"][0]["GroupName"] == renamed

    iam.delete_group_policy(GroupName=renamed, PolicyName="topics")
    assert _denied(lambda: iam.delete_group(GroupName=renamed)) == (
        "DeleteConflict", "Cannot delete entity, must detach all policies first.", 409)
    for policy_arn in (arn, "arn:aws:iam::aws:policy/ReadOnlyAccess"):
        iam.detach_group_policy(GroupName=renamed, PolicyArn=policy_arn)
    assert _denied(lambda: iam.detach_group_policy(GroupName=renamed, PolicyArn=arn))[0] == "NoSuchEntity"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    iam.delete_policy(PolicyArn=arn)
    iam.delete_group(GroupName=renamed)


def test_a_user_gets_a_permission_only_through_a_group_and_loses_it_when_removed(server):
    iam = server.client("iam")
    user, identity = make_user(server)
    sagemaker = identity.client("sagemaker")
    code, message, status = _denied(sagemaker.list_notebook_instances)
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: "
                       "sagemaker:ListNotebookInstances on resource: * because no identity-based policy allows the "
                       "sagemaker:ListNotebookInstances action")

    group = iam.create_group(GroupName=_unique("readers"))["Group"]["GroupName"]
    iam.put_group_policy(GroupName=group, PolicyName="list", PolicyDocument=_document(
        _allow("sagemaker:ListNotebookInstances")))
    _denied(sagemaker.list_notebook_instances)  # a group's policies are its members' only
    iam.add_user_to_group(GroupName=group, UserName=user)
    assert "NotebookInstances" in sagemaker.list_notebook_instances()  # at once: no wait for a cache

    iam.remove_user_from_group(GroupName=group, UserName=user)
    _denied(sagemaker.list_notebook_instances)

    # An attached managed policy acts the same way, and a rename of the group changes nothing.
    iam.delete_group_policy(GroupName=group, PolicyName="list")
    iam.attach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerReadOnly")
    iam.add_user_to_group(GroupName=group, UserName=user)
    renamed = _unique("renamed")
    iam.update_group(GroupName=group, NewGroupName=renamed)
    assert "NotebookInstances" in sagemaker.list_notebook_instances()
    iam.detach_group_policy(GroupName=renamed, PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerReadOnly")
    _denied(sagemaker.list_notebook_instances)
    iam.remove_user_from_group(GroupName=renamed, UserName=user)
    iam.delete_group(GroupName=renamed)


def test_a_deny_in_a_group_policy_wins_over_the_users_allow(server):
    iam = server.client("iam")
    user, identity = make_user(server, _allow("sagemaker:ListNotebookInstances"))
    sagemaker = identity.client("sagemaker")
    assert "NotebookInstances" in sagemaker.list_notebook_instances()
    group = iam.create_group(GroupName=_unique("barred"))["Group"]["GroupName"]
    iam.put_group_policy(GroupName=group, PolicyName="no-notebooks",
                         PolicyDocument=_document(_deny("sagemaker:*")))
    iam.add_user_to_group(GroupName=group, UserName=user)
    code, message, status = _denied(sagemaker.list_notebook_instances)
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: "
                       "sagemaker:ListNotebookInstances on resource: * with an explicit deny in an identity-based "
                       "policy")
    iam.remove_user_from_group(GroupName=group, UserName=user)
    assert "NotebookInstances" in sagemaker.list_notebook_instances()
    iam.delete_group_policy(GroupName=group, PolicyName="no-notebooks")
    iam.delete_group(GroupName=group)


def test_group_operations_are_authorized_on_the_groups_arn(server):
    iam = server.client("iam")
    path = f"/{_unique('managed')}/"
    mine = iam.create_group(GroupName=_unique("mine"), Path=path)["Group"]
    other = iam.create_group(GroupName=_unique("other"))["Group"]
    user, identity = make_user(server, _allow(["iam:AddUserToGroup", "iam:GetGroup"],
                                              f"arn:aws:iam::{ACCOUNT}:group{path}*"))
    member = _unique("member")
    iam.create_user(UserName=member)
    client = identity.client("iam")
    client.add_user_to_group(GroupName=mine["GroupName"], UserName=member)
    assert [u["UserName"] for u in client.get_group(GroupName=mine["GroupName"])["Users"]] == [member]
    code, message, status = _denied(lambda: client.add_user_to_group(GroupName=other["GroupName"], UserName=member))
    assert (code, status) == ("AccessDenied", 403)
    assert f"iam:AddUserToGroup on resource: {other['Arn']} " in message
    iam.remove_user_from_group(GroupName=mine["GroupName"], UserName=member)
    iam.delete_user(UserName=member)
    for group in (mine, other):
        iam.delete_group(GroupName=group["GroupName"])


def test_the_console_applies_group_policies_too(server):
    iam = server.client("iam")
    user = _unique("console")
    iam.create_user(UserName=user)
    iam.create_login_profile(UserName=user, Password=PASSWORD)
    group = iam.create_group(GroupName=_unique("notebooks"))["Group"]["GroupName"]
    iam.put_group_policy(GroupName=group, PolicyName="list", PolicyDocument=_document(
        _allow("sagemaker:ListNotebookInstances")))
    with httpx.Client(base_url=server.endpoint_url, timeout=30) as client:
        assert sign_in(client, user=user, password=PASSWORD).status_code == 303
        denied = client.get("/sagemaker/notebook-instances?region=us-east-1")
        assert denied.status_code == 403
        assert "is not authorized to perform: sagemaker:ListNotebookInstances" in denied.text
        iam.add_user_to_group(GroupName=group, UserName=user)
        assert client.get("/sagemaker/notebook-instances?region=us-east-1").status_code == 200
    iam.remove_user_from_group(GroupName=group, UserName=user)
    iam.delete_group_policy(GroupName=group, PolicyName="list")
    iam.delete_group(GroupName=group)


def test_account_summary_counts_what_the_account_has(server):
    iam = server.client("iam")
    before = iam.get_account_summary()["SummaryMap"]
    assert before["AccessKeysPerUserQuota"] == 2 and before["GroupsPerUserQuota"] == 10
    assert before["UsersQuota"] == 5000 and before["GroupsQuota"] == 300 and before["RolesQuota"] == 1000
    assert before["AttachedPoliciesPerGroupQuota"] == 10 and before["VersionsPerPolicyQuota"] == 5
    assert before["AccountAccessKeysPresent"] == 1 and before["AccountMFAEnabled"] == 0
    group = iam.create_group(GroupName=_unique("counted"))["Group"]["GroupName"]
    user = _unique("counted")
    iam.create_user(UserName=user)
    arn = iam.create_policy(PolicyName=_unique("counted"), PolicyDocument=_document(_allow("sns:ListTopics")))[
        "Policy"]["Arn"]
    after = server.aws_json("iam", "get-account-summary")["SummaryMap"]
    assert after["Groups"] == before["Groups"] + 1 and after["Users"] == before["Users"] + 1
    assert after["Policies"] == before["Policies"] + 1
    assert after["PolicyVersionsInUse"] == before["PolicyVersionsInUse"] + 1
    iam.delete_policy(PolicyArn=arn)
    iam.delete_user(UserName=user)
    iam.delete_group(GroupName=group)
    assert iam.get_account_summary()["SummaryMap"]["Groups"] == before["Groups"]
