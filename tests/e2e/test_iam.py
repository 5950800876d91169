"""IAM, STS AssumeRole and policy evaluation on every request, through boto3 and the AWS CLI."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from selfmaker.services.identity import Credential, CredentialStore
from selfmaker.store.db import open_store
from tests.conftest import VENV_BIN

ACCOUNT = "123456789012"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _error(exc: pytest.ExceptionInfo) -> tuple[str, str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def _document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(action, resource="*") -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def _trust(principal) -> str:
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]})


class Identity:
    """One set of credentials against the test server, for boto3 clients and the AWS CLI."""

    def __init__(self, server, key_id: str, secret: str, token: str | None = None):
        self.server, self.key_id, self.secret, self.token = server, key_id, secret, token

    def client(self, service: str, region: str = "us-east-1", **config):
        return boto3.client(service, endpoint_url=self.server.endpoint_url, region_name=region,
                            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret,
                            aws_session_token=self.token, config=Config(retries={"max_attempts": 1}, **config))

    def aws(self, *args: str) -> subprocess.CompletedProcess:
        env = {key: value for key, value in self.server.env.items() if not key.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=self.key_id, AWS_SECRET_ACCESS_KEY=self.secret, AWS_DEFAULT_REGION="us-east-1",
                   AWS_ENDPOINT_URL=self.server.endpoint_url, AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_MAX_ATTEMPTS="1")
        if self.token:
            env["AWS_SESSION_TOKEN"] = self.token
        return subprocess.run([str(VENV_BIN / "aws"), "--output", "json", *args], env=env, capture_output=True,
                              text=True, timeout=120)


def make_user(server, *statements: dict) -> tuple[str, Identity]:
    """A new IAM user with an access key and (when given) one inline policy of these statements."""
    iam = server.client("iam")
    name = _unique("user")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=_document(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, Identity(server, key["AccessKeyId"], key["SecretAccessKey"])


def make_role(server, trust: str, *statements: dict, **extra) -> dict:
    iam = server.client("iam")
    role = iam.create_role(RoleName=_unique("role"), AssumeRolePolicyDocument=trust, **extra)["Role"]
    if statements:
        iam.put_role_policy(RoleName=role["RoleName"], PolicyName="inline", PolicyDocument=_document(*statements))
    return role


def assume(identity: Identity, role_arn: str, session: str = "test-session", **extra) -> Identity:
    credentials = identity.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session, **extra)["Credentials"]
    return Identity(identity.server, credentials["AccessKeyId"], credentials["SecretAccessKey"],
                    credentials["SessionToken"])


def denied_message(principal: str, action: str, resource: str) -> str:
    return (f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action")


# --- users and access keys -------------------------------------------------------------------------


def test_users_through_boto3_and_the_cli(server):
    iam = server.client("iam")
    name = _unique("alice")
    user = iam.create_user(UserName=name, Path="/team/", Tags=[{"Key": "course", "Value": "fastai"}])["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/team/{name}"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert iam.get_user(UserName=name.upper())["User"]["UserId"] == user["UserId"]  # names ignore case
    assert iam.get_user(UserName=name)["User"]["Tags"] == [{"Key": "course", "Value": "fastai"}]
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=name)
    assert _error(exc) == ("EntityAlreadyExists", f"User with name {name} already exists.", 409)
    assert name in [u["UserName"] for u in iam.list_users(PathPrefix="/team/")["Users"]]
    assert name not in [u["UserName"] for u in iam.list_users(PathPrefix="/other/")["Users"]]

    cli_name = _unique("bob")
    created = server.aws_json("iam", "create-user", "--user-name", cli_name)["User"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{cli_name}"
    assert server.aws_json("iam", "get-user", "--user-name", cli_name)["User"]["UserId"] == created["UserId"]
    assert cli_name in [u["UserName"] for u in server.aws_json("iam", "list-users")["Users"]]
    server.aws("iam", "delete-user", "--user-name", cli_name)
    missing = server.aws("iam", "get-user", "--user-name", cli_name, check=False)
    assert missing.returncode != 0
    assert f"(NoSuchEntity) when calling the GetUser operation: The user with name {cli_name} cannot be found." \
        in missing.stderr
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=cli_name)
    assert _error(exc) == ("NoSuchEntity", f"The user with name {cli_name} cannot be found.", 404)


def test_listings_page_by_marker(server):
    iam = server.client("iam")
    path = f"/{_unique('page')}/"
    names = sorted(_unique("paged") for _ in range(3))
    for name in names:
        iam.create_user(UserName=name, Path=path)
    first = iam.list_users(PathPrefix=path, MaxItems=2)
    assert first["IsTruncated"] and [u["UserName"] for u in first["Users"]] == names[:2]
    rest = iam.list_users(PathPrefix=path, MaxItems=2, Marker=first["Marker"])
    assert not rest["IsTruncated"] and [u["UserName"] for u in rest["Users"]] == names[2:]
    pages = iam.get_paginator("list_users").paginate(PathPrefix=path, PaginationConfig={"PageSize": 1})
    assert [u["UserName"] for page in pages for u in page["Users"]] == names
    with pytest.raises(ClientError) as exc:
        iam.list_users(Marker="garbage")
    assert _error(exc)[0] == "ValidationError"
    with pytest.raises(ClientError) as exc:
        server.client("iam", parameter_validation=False).create_user(UserName="no spaces allowed")
    assert _error(exc)[:2] == ("ValidationError", "1 validation error detected: Value 'no spaces allowed' at "
                                                  "'userName' failed to satisfy constraint: Member must satisfy "
                                                  "regular expression pattern: [\\w+=,.@-]+")


def test_get_user_without_a_name_is_the_caller(server):
    assert server.client("iam").get_user()["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    name, alice = make_user(server, _allow("iam:GetUser"))
    assert alice.client("iam").get_user()["User"]["UserName"] == name


def test_delete_user_refuses_while_keys_or_policies_remain(server):
    iam = server.client("iam")
    name, alice = make_user(server, _allow("sagemaker:List*"))
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    for message, remedy in (
        ("Cannot delete entity, must delete access keys first.",
         lambda: iam.delete_access_key(UserName=name, AccessKeyId=alice.key_id)),
        ("Cannot delete entity, must delete policies first.",
         lambda: iam.delete_user_policy(UserName=name, PolicyName="inline")),
        ("Cannot delete entity, must detach all policies first.",
         lambda: iam.detach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")),
    ):
        with pytest.raises(ClientError) as exc:
            iam.delete_user(UserName=name)
        assert _error(exc) == ("DeleteConflict", message, 409)
        remedy()
    iam.delete_user(UserName=name)


def test_access_keys_limit_status_and_deletion(server):
    iam = server.client("iam")
    name, first = make_user(server, _allow("sagemaker:List*"))
    second = iam.create_access_key(UserName=name)["AccessKey"]
    with pytest.raises(ClientError) as exc:
        iam.create_access_key(UserName=name)
    assert _error(exc) == ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in listed} == {first.key_id, second["AccessKeyId"]}
    assert {k["Status"] for k in listed} == {"Active"}

    sm = first.client("sagemaker")
    sm.list_notebook_instances()
    iam.update_access_key(UserName=name, AccessKeyId=first.key_id, Status="Inactive")
    with pytest.raises(ClientError) as exc:
        sm.list_notebook_instances()
    assert _error(exc)[0] == "UnrecognizedClientException"
    iam.update_access_key(UserName=name, AccessKeyId=first.key_id, Status="Active")
    sm.list_notebook_instances()
    iam.delete_access_key(UserName=name, AccessKeyId=first.key_id)
    with pytest.raises(ClientError) as exc:
        first.client("sts").get_caller_identity()
    assert _error(exc)[:1] == ("InvalidClientTokenId",)
    with pytest.raises(ClientError) as exc:
        iam.delete_access_key(UserName=name, AccessKeyId=first.key_id)
    assert _error(exc) == ("NoSuchEntity", f"The Access Key with id {first.key_id} cannot be found.", 404)
    with pytest.raises(ClientError) as exc:
        iam.list_access_keys()
    assert _error(exc)[:2] == ("ValidationError", "Must specify userName when calling with non-User credentials")


# --- roles and policies ----------------------------------------------------------------------------


def test_roles_crud_and_trust_policy_updates(server):
    iam = server.client("iam")
    trust = _trust({"Service": "sagemaker.amazonaws.com"})
    role = make_role(server, trust, _allow("sagemaker:Describe*"), Path="/service-role/", Description="notebooks")
    name = role["RoleName"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/service-role/{name}"
    assert role["RoleId"].startswith("AROA")
    got = iam.get_role(RoleName=name)["Role"]
    assert got["AssumeRolePolicyDocument"] == json.loads(trust)  # URL-encoded on the wire, a dict in boto3
    assert (got["Description"], got["MaxSessionDuration"]) == ("notebooks", 3600)
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    assert _error(exc) == ("EntityAlreadyExists", f"Role with name {name} already exists.", 409)
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=_unique("bounded"), AssumeRolePolicyDocument=trust,
                        PermissionsBoundary="arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert _error(exc)[0] == "InvalidInput" and "permissions boundaries" in _error(exc)[1]
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=_unique("bad"), AssumeRolePolicyDocument="{not json")
    assert _error(exc) == ("MalformedPolicyDocument", "Syntax errors in policy.", 400)
    with pytest.raises(ClientError) as exc:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=_document(_allow("sts:AssumeRole")))
    assert _error(exc)[:2] == ("MalformedPolicyDocument", "Missing required field Principal")
    new_trust = _trust({"AWS": ACCOUNT})
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=new_trust)
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == json.loads(new_trust)
    iam.tag_role(RoleName=name, Tags=[{"Key": "team", "Value": "ml"}])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "team", "Value": "ml"}]
    listed = server.aws_json("iam", "list-roles", "--path-prefix", "/service-role/")["Roles"]
    assert name in [r["RoleName"] for r in listed]
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["inline"]
    assert iam.get_role_policy(RoleName=name, PolicyName="inline")["PolicyDocument"]["Statement"][0]["Action"] == \
        "sagemaker:Describe*"
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=name)
    assert _error(exc) == ("DeleteConflict", "Cannot delete entity, must delete policies first.", 409)
    iam.delete_role_policy(RoleName=name, PolicyName="inline")
    with pytest.raises(ClientError) as exc:
        iam.delete_role_policy(RoleName=name, PolicyName="inline")
    assert _error(exc) == ("NoSuchEntity", "The role policy with name inline cannot be found.", 404)
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName=name)
    assert _error(exc) == ("NoSuchEntity", f"The role with name {name} cannot be found.", 404)


def test_managed_policies_aws_and_customer(server):
    iam = server.client("iam")
    aws_arns = {p["Arn"] for p in iam.list_policies(Scope="AWS", MaxItems=1000)["Policies"]}
    for cited in ("AdministratorAccess", "ReadOnlyAccess", "AmazonSageMakerFullAccess", "AmazonSNSFullAccess",
                  "CloudWatchLogsFullAccess", "IAMFullAccess", "AmazonS3FullAccess", "AmazonSageMakerReadOnly",
                  "service-role/AWSLambdaBasicExecutionRole"):
        assert f"arn:aws:iam::aws:policy/{cited}" in aws_arns
    admin = iam.get_policy_version(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess", VersionId="v1")
    assert admin["PolicyVersion"]["Document"]["Statement"][0]["Action"] == ["*"]

    name = _unique("notebooks")
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=name, PolicyDocument=_document({"Effect": "Allow"}))
    assert _error(exc) == ("MalformedPolicyDocument", "Policy statement must contain actions.", 400)
    policy = iam.create_policy(PolicyName=name, PolicyDocument=_document(_allow("sagemaker:*")))["Policy"]
    arn = policy["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/{name}"
    assert (policy["DefaultVersionId"], policy["AttachmentCount"]) == ("v1", 0)
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=name, PolicyDocument=_document(_allow("sagemaker:*")))
    assert _error(exc)[0] == "EntityAlreadyExists"
    assert arn in {p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]}
    assert arn not in {p["Arn"] for p in iam.list_policies(Scope="AWS", MaxItems=1000)["Policies"]}

    role = make_role(server, _trust({"AWS": ACCOUNT}))
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    assert {p["PolicyName"] for p in attached} == {name, "AmazonSageMakerFullAccess"}
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn="arn:aws:iam::aws:policy/NoSuchThing")
    assert _error(exc) == ("NoSuchEntity",
                           "Policy arn:aws:iam::aws:policy/NoSuchThing does not exist or is not attachable.", 404)
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert _error(exc) == ("DeleteConflict", "Cannot delete a policy attached to entities.", 409)
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=role["RoleName"])
    assert _error(exc) == ("DeleteConflict", "Cannot delete entity, must detach all policies first.", 409)

    iam.create_policy_version(PolicyArn=arn, PolicyDocument=_document(_allow("sagemaker:List*")), SetAsDefault=True)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v2", "v1"]
    iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
    assert _error(exc) == ("NoSuchEntity", f"Policy {arn} was not found.", 404)
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert _error(exc)[:2] == ("DeleteConflict", "This policy has more than one version. Before you delete a policy, "
                                                 "you must delete the policy's versions. The default version is "
                                                 "deleted with the policy.")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn=arn)
    assert _error(exc) == ("NoSuchEntity", f"Policy {arn} does not exist or is not attachable.", 404)
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    assert _error(exc)[0] == "InvalidInput"


# --- authorization ---------------------------------------------------------------------------------


def test_a_reader_can_list_but_not_stop(server):
    name, reader = make_user(server, _allow(["sagemaker:List*", "sagemaker:Describe*"]))
    sm = reader.client("sagemaker")
    sm.list_notebook_instances()
    with pytest.raises(ClientError) as exc:
        sm.describe_notebook_instance(NotebookInstanceName="nowhere")
    assert _error(exc)[0] == "ValidationException"  # allowed through, then not found
    with pytest.raises(ClientError) as exc:
        sm.stop_notebook_instance(NotebookInstanceName="Fastai")
    resource = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/fastai"
    assert _error(exc) == ("AccessDeniedException", denied_message(f"arn:aws:iam::{ACCOUNT}:user/{name}",
                                                                   "sagemaker:StopNotebookInstance", resource), 400)
    cli = reader.aws("sagemaker", "stop-notebook-instance", "--notebook-instance-name", "fastai")
    assert cli.returncode != 0 and "(AccessDeniedException)" in cli.stderr
    assert reader.aws("sagemaker", "list-notebook-instances").returncode == 0
    # Query services answer AccessDenied with HTTP 403.
    with pytest.raises(ClientError) as exc:
        reader.client("iam").list_users()
    assert _error(exc) == ("AccessDenied", denied_message(f"arn:aws:iam::{ACCOUNT}:user/{name}", "iam:ListUsers",
                                                          "*"), 403)


def test_policy_changes_apply_at_once(server):
    iam = server.client("iam")
    name, user = make_user(server)
    logs = user.client("logs")
    with pytest.raises(ClientError) as exc:
        logs.describe_log_groups()
    assert _error(exc)[0] == "AccessDeniedException"
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/CloudWatchLogsFullAccess")
    logs.describe_log_groups()
    iam.detach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/CloudWatchLogsFullAccess")
    with pytest.raises(ClientError):
        logs.describe_log_groups()


def test_an_explicit_deny_beats_an_allow(server):
    iam = server.client("iam")
    name, user = make_user(server, {"Effect": "Deny", "Action": "sagemaker:Stop*", "Resource": "*"})
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    sm = user.client("sagemaker")
    sm.list_notebook_instances()
    with pytest.raises(ClientError) as exc:
        sm.stop_notebook_instance(NotebookInstanceName="any")
    code, message, _ = _error(exc)
    assert code == "AccessDeniedException"
    assert message.endswith("on resource: arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/any with an "
                            "explicit deny in an identity-based policy")
    deny = iam.create_policy(PolicyName=_unique("no-lifecycle"), PolicyDocument=_document(
        {"Effect": "Deny", "Action": "sagemaker:*NotebookInstanceLifecycleConfig*", "Resource": "*"}))["Policy"]
    iam.attach_user_policy(UserName=name, PolicyArn=deny["Arn"])
    with pytest.raises(ClientError) as exc:
        sm.list_notebook_instance_lifecycle_configs()
    assert _error(exc)[1].endswith(f"with an explicit deny in an identity-based policy: {deny['Arn']}")


def test_not_action_and_not_resource(server):
    _, everything_but_iam = make_user(server, {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    everything_but_iam.client("sagemaker").list_notebook_instances()
    with pytest.raises(ClientError) as exc:
        everything_but_iam.client("iam").list_roles()
    assert _error(exc)[0] == "AccessDenied"
    secret = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/secret"
    _, not_secret = make_user(server, {"Effect": "Allow", "Action": "sagemaker:*", "NotResource": secret})
    sm = not_secret.client("sagemaker")
    with pytest.raises(ClientError) as exc:
        sm.describe_notebook_instance(NotebookInstanceName="secret")
    assert _error(exc)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        sm.describe_notebook_instance(NotebookInstanceName="public")
    assert _error(exc)[0] == "ValidationException"


def test_users_may_manage_their_own_keys_through_a_policy_variable(server):
    name, user = make_user(server, _allow(["iam:*AccessKey*", "iam:GetUser"],
                                          f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"))
    iam = user.client("iam")
    key = iam.create_access_key()["AccessKey"]  # no UserName: the caller
    assert key["UserName"] == name
    assert len(iam.list_access_keys()["AccessKeyMetadata"]) == 2
    iam.delete_access_key(AccessKeyId=key["AccessKeyId"])
    other, _ = make_user(server)
    with pytest.raises(ClientError) as exc:
        iam.list_access_keys(UserName=other)
    assert _error(exc) == ("AccessDenied", denied_message(f"arn:aws:iam::{ACCOUNT}:user/{name}", "iam:ListAccessKeys",
                                                          f"arn:aws:iam::{ACCOUNT}:user/{other}"), 403)


def test_conditions_on_username_and_region(server):
    _, user = make_user(server, {"Effect": "Allow", "Action": "sagemaker:List*", "Resource": "*",
                                 "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}})
    user.client("sagemaker", region="eu-west-1").list_notebook_instances()
    with pytest.raises(ClientError) as exc:
        user.client("sagemaker").list_notebook_instances()
    assert _error(exc)[0] == "AccessDeniedException"


def test_passing_a_role_to_sagemaker_takes_iam_pass_role(server):
    name, user = make_user(server, _allow("sagemaker:*"))
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/NotebookRole"
    with pytest.raises(ClientError) as exc:
        user.client("sagemaker").create_notebook_instance(NotebookInstanceName=_unique("nb"),
                                                          InstanceType="ml.t3.medium", RoleArn=role_arn)
    assert _error(exc) == ("AccessDeniedException",
                           denied_message(f"arn:aws:iam::{ACCOUNT}:user/{name}", "iam:PassRole", role_arn), 400)


# --- STS -------------------------------------------------------------------------------------------


def test_caller_identity_as_user_and_as_assumed_role(server):
    name, user = make_user(server)
    identity = json.loads(user.aws("sts", "get-caller-identity").stdout)  # always allowed, as on AWS
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    assert identity["Arn"] == user_arn and identity["UserId"].startswith("AIDA")
    # A trust policy naming the user lets them in with no identity policy of their own.
    role = make_role(server, _trust({"AWS": user_arn}), _allow("sagemaker:List*"))
    assumed = assume(user, role["Arn"], "course-session")
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role['RoleName']}/course-session"
    identity = json.loads(assumed.aws("sts", "get-caller-identity").stdout)
    assert identity == {"UserId": f"{role['RoleId']}:course-session", "Account": ACCOUNT, "Arn": session_arn}
    sm = assumed.client("sagemaker")
    sm.list_notebook_instances()  # the role's policy
    with pytest.raises(ClientError) as exc:
        sm.stop_notebook_instance(NotebookInstanceName="x")
    assert _error(exc)[1].startswith(f"User: {session_arn} is not authorized to perform: "
                                     "sagemaker:StopNotebookInstance")


def test_assume_role_response_and_duration_limits(server):
    name, user = make_user(server)
    role = make_role(server, _trust({"AWS": f"arn:aws:iam::{ACCOUNT}:user/{name}"}))
    sts = user.client("sts", parameter_validation=False)  # the server must check, not boto3
    before = time.time()
    answer = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=900)
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA") and credentials["SessionToken"]
    assert before + 890 < credentials["Expiration"].timestamp() < time.time() + 910
    assert answer["AssumedRoleUser"]["AssumedRoleId"] == f"{role['RoleId']}:s1"
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=100)
    assert _error(exc)[:2] == ("ValidationError", "1 validation error detected: Value '100' at 'durationSeconds' "
                                                  "failed to satisfy constraint: Member must have value greater than "
                                                  "or equal to 900")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=7200)
    assert _error(exc)[:2] == ("ValidationError",
                               "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")


def test_assume_role_refused_by_identity_policy_and_trust_policy(server):
    name, user = make_user(server)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    sts = user.client("sts")
    # Trusting the account leaves the decision to the caller's own policies.
    account_trust = make_role(server, _trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=account_trust["Arn"], RoleSessionName="s1")
    assert _error(exc) == ("AccessDenied", denied_message(user_arn, "sts:AssumeRole", account_trust["Arn"]), 403)
    server.client("iam").put_user_policy(UserName=name, PolicyName="assume",
                                         PolicyDocument=_document(_allow("sts:AssumeRole")))
    sts.assume_role(RoleArn=account_trust["Arn"], RoleSessionName="s1")
    # Allowed by their own policies, still refused by a trust policy that does not name them.
    service_only = make_role(server, _trust({"Service": "sagemaker.amazonaws.com"}))
    missing = f"arn:aws:iam::{ACCOUNT}:role/{_unique('missing')}"
    for role_arn in (service_only["Arn"], missing):
        with pytest.raises(ClientError) as exc:
            sts.assume_role(RoleArn=role_arn, RoleSessionName="s1")
        assert _error(exc) == ("AccessDenied", f"User: {user_arn} is not authorized to perform: sts:AssumeRole on "
                                               f"resource: {role_arn}", 403)
    with pytest.raises(ClientError) as exc:
        server.client("sts").assume_role(RoleArn=account_trust["Arn"], RoleSessionName="s1")
    assert _error(exc)[:2] == ("AccessDenied", "Roles may not be assumed by root accounts.")


def test_session_policies_narrow_the_role(server):
    name, user = make_user(server)
    role = make_role(server, _trust({"AWS": f"arn:aws:iam::{ACCOUNT}:user/{name}"}), _allow("sagemaker:*"))
    narrow = assume(user, role["Arn"], Policy=_document(_allow("sagemaker:ListNotebookInstances")))
    sm = narrow.client("sagemaker")
    sm.list_notebook_instances()
    with pytest.raises(ClientError) as exc:
        sm.list_notebook_instance_lifecycle_configs()
    assert _error(exc)[1].endswith("because no session policy allows the "
                                   "sagemaker:ListNotebookInstanceLifecycleConfigs action")
    with pytest.raises(ClientError) as exc:
        assume(user, role["Arn"], Policy="{bad")
    assert _error(exc)[0] == "MalformedPolicyDocument"


def test_temporary_credentials_need_their_own_session_token(server):
    name, user = make_user(server)
    role = make_role(server, _trust({"AWS": f"arn:aws:iam::{ACCOUNT}:user/{name}"}), _allow("sagemaker:List*"))
    assumed = assume(user, role["Arn"])
    assumed.client("sagemaker").list_notebook_instances()
    for token in ("wrong-token", None):
        forged = Identity(server, assumed.key_id, assumed.secret, token)
        with pytest.raises(ClientError) as exc:
            forged.client("sagemaker").list_notebook_instances()
        assert _error(exc)[:2] == ("UnrecognizedClientException",
                                   "The security token included in the request is invalid.")
        with pytest.raises(ClientError) as exc:
            forged.client("sts").get_caller_identity()
        assert _error(exc)[0] == "InvalidClientTokenId"


def test_expired_temporary_credentials_are_refused_as_expired(server):
    # An STS session cannot be shorter than 900 s, so write an already expired one into the store.
    store = CredentialStore(open_store(server.database))
    expired = Credential("ASIAEXPIREDTEST00001", "expired-secret", ACCOUNT,
                         f"arn:aws:sts::{ACCOUNT}:assumed-role/Gone/session", "expired-token", time.time() - 60)
    store.add(expired)
    stale = Identity(server, expired.access_key_id, expired.secret_access_key, expired.session_token)
    with pytest.raises(ClientError) as exc:
        stale.client("sagemaker").list_notebook_instances()
    assert _error(exc)[:2] == ("ExpiredTokenException", "The security token included in the request is expired")
    with pytest.raises(ClientError) as exc:
        stale.client("sts").get_caller_identity()
    assert _error(exc)[:2] == ("ExpiredToken", "The security token included in the request is expired")
