"""AWS::IAM::Role (Ref: name; Arn, RoleId), AWS::IAM::User (Ref: name; Arn; with its console password,
LoginProfile, and its Groups), AWS::IAM::Policy (inline, on roles/users/groups), AWS::IAM::ManagedPolicy
(Ref: ARN), AWS::IAM::Group (Ref: name; Arn), AWS::IAM::UserToGroupAddition, AWS::IAM::InstanceProfile
(Ref: name; Arn) and AWS::IAM::AccessKey (Ref: the key id; SecretAccessKey), through the IAM provider's
operations."""

from __future__ import annotations

import json

from selfmaker.domain.partitions import partition_of
from selfmaker.services.cloudformation.calls import ProviderCalls, ProviderError, ResourceFailure
from selfmaker.services.cloudformation.resources.base import (
    Current,
    ResourceRequest,
    ResourceType,
    changed,
    generated_name,
    tag_list,
)

_TARGETS = (("Roles", "Role", "RoleName"), ("Users", "User", "UserName"), ("Groups", "Group", "GroupName"))


def document(value) -> str:
    """A policy document as IAM takes it: JSON text (templates usually give an object)."""
    return value if isinstance(value, str) else json.dumps(value)


def _gone(err: ProviderError) -> bool:
    return err.code == "NoSuchEntity"


async def _ignoring_missing(call: ProviderCalls, operation: str, params: dict) -> None:
    try:
        await call("iam", operation, params)
    except ProviderError as err:
        if not _gone(err):
            raise


async def _sync_policies(call: ProviderCalls, kind: str, name: str, old: dict, new: dict) -> None:
    """A role's, user's or group's (``kind``) Policies and ManagedPolicyArns, from ``old`` properties to ``new``."""
    owner = {f"{kind}Name": name}
    old_inline = {p["PolicyName"]: p["PolicyDocument"] for p in old.get("Policies", [])}
    new_inline = {p["PolicyName"]: p["PolicyDocument"] for p in new.get("Policies", [])}
    for policy_name, body in new_inline.items():
        if old_inline.get(policy_name) != body:
            await call("iam", f"Put{kind}Policy",
                       {**owner, "PolicyName": policy_name, "PolicyDocument": document(body)})
    for policy_name in old_inline.keys() - new_inline.keys():
        await _ignoring_missing(call, f"Delete{kind}Policy", {**owner, "PolicyName": policy_name})
    old_managed, new_managed = set(old.get("ManagedPolicyArns", [])), set(new.get("ManagedPolicyArns", []))
    for arn in sorted(new_managed - old_managed):
        await call("iam", f"Attach{kind}Policy", {**owner, "PolicyArn": arn})
    for arn in sorted(old_managed - new_managed):
        await _ignoring_missing(call, f"Detach{kind}Policy", {**owner, "PolicyArn": arn})


async def _sync_members(call: ProviderCalls, old: set[tuple[str, str]], new: set[tuple[str, str]]) -> None:
    """The group memberships (group, user) a resource made, from ``old`` to ``new``."""
    for group, user in sorted(new - old):
        await call("iam", "AddUserToGroup", {"GroupName": group, "UserName": user})
    for group, user in sorted(old - new):
        await _ignoring_missing(call, "RemoveUserFromGroup", {"GroupName": group, "UserName": user})


async def _remove_policies(call: ProviderCalls, kind: str, name: str) -> bool:
    """Detach and delete every policy of a role, user or group before it goes; False when it is gone already."""
    owner = {f"{kind}Name": name}
    try:
        attached = await call("iam", f"ListAttached{kind}Policies", owner)
        inline = await call("iam", f"List{kind}Policies", owner)
    except ProviderError as err:
        if _gone(err):
            return False
        raise
    for policy in attached.get("AttachedPolicies", []):
        await _ignoring_missing(call, f"Detach{kind}Policy", {**owner, "PolicyArn": policy["PolicyArn"]})
    for policy_name in inline.get("PolicyNames", []):
        await _ignoring_missing(call, f"Delete{kind}Policy", {**owner, "PolicyName": policy_name})
    return True


class Role(ResourceType):
    type_name = "AWS::IAM::Role"
    required = frozenset({"AssumeRolePolicyDocument"})
    optional = frozenset({
        "RoleName", "Path", "Description", "MaxSessionDuration", "PermissionsBoundary", "Policies",
        "ManagedPolicyArns", "Tags",
    })
    attributes = frozenset({"Arn", "RoleId"})
    replace_on = frozenset({"RoleName", "Path"})
    name_property = "RoleName"
    name_limit = 64

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        props = request.properties
        params = {"RoleName": request.physical_name, "AssumeRolePolicyDocument": document(
            props["AssumeRolePolicyDocument"])}
        for key in ("Path", "Description", "MaxSessionDuration", "PermissionsBoundary"):
            if key in props:
                params[key] = props[key]
        if "Tags" in props:
            params["Tags"] = tag_list(props)
        await call("iam", "CreateRole", params)
        return request.physical_name

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        await _sync_policies(call, "Role", physical_id, {}, request.properties)
        return await self._attributes(call, physical_id)

    async def _attributes(self, call: ProviderCalls, name: str) -> dict:
        role = (await call("iam", "GetRole", {"RoleName": name}))["Role"]
        return {"Ref": name, "Arn": role["Arn"], "RoleId": role["RoleId"]}

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        old, new, name = current.properties, request.properties, current.physical_id
        if changed(old, new, "AssumeRolePolicyDocument"):
            await call("iam", "UpdateAssumeRolePolicy",
                       {"RoleName": name, "PolicyDocument": document(new["AssumeRolePolicyDocument"])})
        if changed(old, new, "Description") or changed(old, new, "MaxSessionDuration"):
            params = {"RoleName": name, "Description": new.get("Description", "")}
            if "MaxSessionDuration" in new:
                params["MaxSessionDuration"] = new["MaxSessionDuration"]
            await call("iam", "UpdateRole", params)
        if changed(old, new, "Tags"):
            gone = [t["Key"] for t in tag_list(old) if t["Key"] not in {n["Key"] for n in tag_list(new)}]
            if gone:
                await call("iam", "UntagRole", {"RoleName": name, "TagKeys": gone})
            if tag_list(new):
                await call("iam", "TagRole", {"RoleName": name, "Tags": tag_list(new)})
        await _sync_policies(call, "Role", name, old, new)
        return await self._attributes(call, name)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        name = current.physical_id or current.name
        if await _remove_policies(call, "Role", name):
            await _ignoring_missing(call, "DeleteRole", {"RoleName": name})


def _memberships(user: str, properties: dict) -> set[tuple[str, str]]:
    return {(group, user) for group in properties.get("Groups", [])}


class User(ResourceType):
    type_name = "AWS::IAM::User"
    optional = frozenset({
        "UserName", "Path", "Groups", "LoginProfile", "ManagedPolicyArns", "Policies", "PermissionsBoundary", "Tags",
    })
    attributes = frozenset({"Arn"})
    replace_on = frozenset({"UserName", "Path"})
    name_property = "UserName"
    name_limit = 64

    def check(self, logical_id: str, properties: dict) -> None:
        super().check(logical_id, properties)
        login = properties.get("LoginProfile")
        if login is not None and (not isinstance(login, dict) or "Password" not in login):
            raise ResourceFailure(f"Properties validation failed for resource {logical_id} with message: "
                                  "#/LoginProfile: required key [Password] not found")

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        props = request.properties
        params = {"UserName": request.physical_name}
        for key in ("Path", "PermissionsBoundary"):
            if key in props:
                params[key] = props[key]
        if "Tags" in props:
            params["Tags"] = tag_list(props)
        await call("iam", "CreateUser", params)
        return request.physical_name

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        await _sync_policies(call, "User", physical_id, {}, request.properties)
        await _sync_members(call, set(), _memberships(physical_id, request.properties))
        await self._sync_login_profile(call, physical_id, None, request.properties.get("LoginProfile"))
        return await self._attributes(call, physical_id)

    async def _attributes(self, call: ProviderCalls, name: str) -> dict:
        return {"Ref": name, "Arn": (await call("iam", "GetUser", {"UserName": name}))["User"]["Arn"]}

    async def _sync_login_profile(self, call: ProviderCalls, name: str, old: dict | None, new: dict | None) -> None:
        """LoginProfile ({Password, PasswordResetRequired}) from ``old`` to ``new``; None is no console password."""
        if old == new:
            return
        if new is None:
            await _ignoring_missing(call, "DeleteLoginProfile", {"UserName": name})
            return
        params = {"UserName": name, "Password": new["Password"],
                  "PasswordResetRequired": new.get("PasswordResetRequired", False)}
        await call("iam", "CreateLoginProfile" if old is None else "UpdateLoginProfile", params)

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        old, new, name = current.properties, request.properties, current.physical_id
        if changed(old, new, "Tags"):
            gone = [t["Key"] for t in tag_list(old) if t["Key"] not in {n["Key"] for n in tag_list(new)}]
            if gone:
                await call("iam", "UntagUser", {"UserName": name, "TagKeys": gone})
            if tag_list(new):
                await call("iam", "TagUser", {"UserName": name, "Tags": tag_list(new)})
        await _sync_policies(call, "User", name, old, new)
        await _sync_members(call, _memberships(name, old), _memberships(name, new))
        await self._sync_login_profile(call, name, old.get("LoginProfile"), new.get("LoginProfile"))
        return await self._attributes(call, name)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        name = current.physical_id or current.name
        if await _remove_policies(call, "User", name):
            # IAM refuses to delete a user that still has a console password or is in a group.
            await _ignoring_missing(call, "DeleteLoginProfile", {"UserName": name})
            groups = (await call("iam", "ListGroupsForUser", {"UserName": name})).get("Groups", [])
            await _sync_members(call, {(group["GroupName"], name) for group in groups}, set())
            await _ignoring_missing(call, "DeleteUser", {"UserName": name})


class Policy(ResourceType):
    """An inline policy put on each role, user and group it names."""

    type_name = "AWS::IAM::Policy"
    required = frozenset({"PolicyName", "PolicyDocument"})
    optional = frozenset({"Roles", "Users", "Groups"})

    def physical_name(self, stack_name: str, logical_id: str, properties: dict) -> str:
        # Its physical id only names it in the stack (IAM knows it by PolicyName): "<stack>-<Logic>-<RANDOM>".
        return generated_name(stack_name, logical_id[:5], 128)

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        if not any(request.properties.get(key) for key, _, _ in _TARGETS):
            raise ResourceFailure("At least one of [Groups,Roles,Users] must be non-empty.")
        await self._put(call, request.properties, {})
        return request.physical_name

    async def _put(self, call: ProviderCalls, new: dict, old: dict) -> None:
        for key, kind, name_key in _TARGETS:
            for target in new.get(key, []):
                await call("iam", f"Put{kind}Policy", {
                    name_key: target, "PolicyName": new["PolicyName"],
                    "PolicyDocument": document(new["PolicyDocument"]),
                })
        for key, kind, name_key in _TARGETS:
            for target in old.get(key, []):
                if target not in new.get(key, []) or old["PolicyName"] != new["PolicyName"]:
                    await _ignoring_missing(call, f"Delete{kind}Policy",
                                            {name_key: target, "PolicyName": old["PolicyName"]})

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        await self._put(call, request.properties, current.properties)
        return dict(current.attributes)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        props = current.properties
        for key, kind, name_key in _TARGETS:
            for target in props.get(key, []):
                await _ignoring_missing(call, f"Delete{kind}Policy", {name_key: target,
                                                                     "PolicyName": props["PolicyName"]})


class ManagedPolicy(ResourceType):
    type_name = "AWS::IAM::ManagedPolicy"
    required = frozenset({"PolicyDocument"})
    optional = frozenset({"ManagedPolicyName", "Path", "Description", "Roles", "Users", "Groups"})
    attributes = frozenset({"PolicyArn"})
    replace_on = frozenset({"ManagedPolicyName", "Path", "Description"})
    name_property = "ManagedPolicyName"
    name_limit = 128

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        props = request.properties
        params = {"PolicyName": request.physical_name, "PolicyDocument": document(props["PolicyDocument"])}
        for key in ("Path", "Description"):
            if key in props:
                params[key] = props[key]
        result = await call("iam", "CreatePolicy", params)
        return result["Policy"]["Arn"]

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        await self._attach(call, physical_id, {}, request.properties)
        return {"Ref": physical_id, "PolicyArn": physical_id}

    async def _attach(self, call: ProviderCalls, arn: str, old: dict, new: dict) -> None:
        for key, kind, name_key in _TARGETS:
            before, after = set(old.get(key, [])), set(new.get(key, []))
            for target in sorted(after - before):
                await call("iam", f"Attach{kind}Policy", {name_key: target, "PolicyArn": arn})
            for target in sorted(before - after):
                await _ignoring_missing(call, f"Detach{kind}Policy", {name_key: target, "PolicyArn": arn})

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        arn, old, new = current.physical_id, current.properties, request.properties
        if changed(old, new, "PolicyDocument"):
            versions = (await call("iam", "ListPolicyVersions", {"PolicyArn": arn}))["Versions"]
            spare = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
            if len(versions) >= 5 and spare:  # IAM keeps five versions: make room as CloudFormation does
                await call("iam", "DeletePolicyVersion", {"PolicyArn": arn, "VersionId": spare[0]["VersionId"]})
            await call("iam", "CreatePolicyVersion", {"PolicyArn": arn, "PolicyDocument": document(
                new["PolicyDocument"]), "SetAsDefault": True})
        await self._attach(call, arn, old, new)
        return dict(current.attributes)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        path = current.properties.get("Path", "/")
        partition = partition_of(call.region)
        arn = current.physical_id or f"arn:{partition}:iam::{call.account_id}:policy{path}{current.name}"
        await self._attach(call, arn, current.properties, {})
        try:
            versions = (await call("iam", "ListPolicyVersions", {"PolicyArn": arn}))["Versions"]
        except ProviderError as err:
            if _gone(err):
                return
            raise
        for version in versions:
            if not version["IsDefaultVersion"]:
                await _ignoring_missing(call, "DeletePolicyVersion",
                                        {"PolicyArn": arn, "VersionId": version["VersionId"]})
        await _ignoring_missing(call, "DeletePolicy", {"PolicyArn": arn})


class Group(ResourceType):
    type_name = "AWS::IAM::Group"
    optional = frozenset({"GroupName", "Path", "Policies", "ManagedPolicyArns"})
    attributes = frozenset({"Arn"})
    replace_on = frozenset({"GroupName"})
    name_property = "GroupName"
    name_limit = 128

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        params = {"GroupName": request.physical_name}
        if "Path" in request.properties:
            params["Path"] = request.properties["Path"]
        await call("iam", "CreateGroup", params)
        return request.physical_name

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        await _sync_policies(call, "Group", physical_id, {}, request.properties)
        return await self._attributes(call, physical_id)

    async def _attributes(self, call: ProviderCalls, name: str) -> dict:
        group = (await call("iam", "GetGroup", {"GroupName": name, "MaxItems": 1}))["Group"]
        return {"Ref": name, "Arn": group["Arn"]}

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        old, new, name = current.properties, request.properties, current.physical_id
        if changed(old, new, "Path"):  # a new path keeps the group, as IAM's UpdateGroup does
            await call("iam", "UpdateGroup", {"GroupName": name, "NewPath": new.get("Path", "/")})
        await _sync_policies(call, "Group", name, old, new)
        return await self._attributes(call, name)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        name = current.physical_id or current.name
        if await _remove_policies(call, "Group", name):
            await _ignoring_missing(call, "DeleteGroup", {"GroupName": name})


class UserToGroupAddition(ResourceType):
    """Users put in a group (made elsewhere, or in the same stack)."""

    type_name = "AWS::IAM::UserToGroupAddition"
    required = frozenset({"GroupName", "Users"})

    def physical_name(self, stack_name: str, logical_id: str, properties: dict) -> str:
        # Like a Policy's, its physical id only names it in the stack.
        return generated_name(stack_name, logical_id, 128)

    @staticmethod
    def _memberships(properties: dict) -> set[tuple[str, str]]:
        return {(properties["GroupName"], user) for user in properties.get("Users", [])}

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        await _sync_members(call, set(), self._memberships(request.properties))
        return request.physical_name

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        await _sync_members(call, self._memberships(current.properties), self._memberships(request.properties))
        return dict(current.attributes)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        await _sync_members(call, self._memberships(current.properties), set())


class InstanceProfile(ResourceType):
    type_name = "AWS::IAM::InstanceProfile"
    required = frozenset({"Roles"})
    optional = frozenset({"InstanceProfileName", "Path"})
    attributes = frozenset({"Arn"})
    replace_on = frozenset({"InstanceProfileName", "Path"})
    name_property = "InstanceProfileName"
    name_limit = 128

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        params = {"InstanceProfileName": request.physical_name}
        if "Path" in request.properties:
            params["Path"] = request.properties["Path"]
        await call("iam", "CreateInstanceProfile", params)
        return request.physical_name

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        await self._sync_roles(call, physical_id, [], request.properties["Roles"])
        return await self._attributes(call, physical_id)

    async def _attributes(self, call: ProviderCalls, name: str) -> dict:
        profile = (await call("iam", "GetInstanceProfile", {"InstanceProfileName": name}))["InstanceProfile"]
        return {"Ref": name, "Arn": profile["Arn"]}

    async def _sync_roles(self, call: ProviderCalls, name: str, old: list[str], new: list[str]) -> None:
        # Out before in: a profile holds one role at a time.
        for role in sorted(set(old) - set(new)):
            await _ignoring_missing(call, "RemoveRoleFromInstanceProfile", {"InstanceProfileName": name,
                                                                           "RoleName": role})
        for role in sorted(set(new) - set(old)):
            await call("iam", "AddRoleToInstanceProfile", {"InstanceProfileName": name, "RoleName": role})

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        name = current.physical_id
        await self._sync_roles(call, name, current.properties.get("Roles", []), request.properties["Roles"])
        return await self._attributes(call, name)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        name = current.physical_id or current.name
        try:
            profile = (await call("iam", "GetInstanceProfile", {"InstanceProfileName": name}))["InstanceProfile"]
        except ProviderError as err:
            if _gone(err):
                return
            raise
        await self._sync_roles(call, name, [role["RoleName"] for role in profile["Roles"]], [])
        await _ignoring_missing(call, "DeleteInstanceProfile", {"InstanceProfileName": name})


class AccessKey(ResourceType):
    """A user's access key; a new Serial asks for a new key (the way to rotate it)."""

    type_name = "AWS::IAM::AccessKey"
    required = frozenset({"UserName"})
    optional = frozenset({"Serial", "Status"})
    attributes = frozenset({"SecretAccessKey"})
    replace_on = frozenset({"UserName", "Serial"})

    def __init__(self) -> None:
        # IAM tells a key's secret only when it makes the key: kept here from create to ready, by key id.
        self._secrets: dict[str, str] = {}

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        key = (await call("iam", "CreateAccessKey", {"UserName": request.properties["UserName"]}))["AccessKey"]
        self._secrets[key["AccessKeyId"]] = key["SecretAccessKey"]
        return key["AccessKeyId"]

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        secret = self._secrets.pop(physical_id)
        await self._set_status(call, request.properties, physical_id, "Active")
        return {"Ref": physical_id, "SecretAccessKey": secret}

    async def _set_status(self, call: ProviderCalls, properties: dict, key_id: str, current: str) -> None:
        status = properties.get("Status", "Active")
        if status != current:
            await call("iam", "UpdateAccessKey", {"UserName": properties["UserName"], "AccessKeyId": key_id,
                                                  "Status": status})

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        await self._set_status(call, request.properties, current.physical_id,
                               current.properties.get("Status", "Active"))
        return dict(current.attributes)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        if current.physical_id is not None:
            await _ignoring_missing(call, "DeleteAccessKey", {"UserName": current.properties["UserName"],
                                                              "AccessKeyId": current.physical_id})
