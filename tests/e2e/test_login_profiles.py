"""IAM console passwords (login profiles) end to end: boto3 against a real server, ChangePassword with the
user's own keys, AWS::IAM::User's LoginProfile in a stack, and the console's check of what they stored."""

from __future__ import annotations

import datetime
import textwrap

import pytest
from botocore.exceptions import ClientError

from selfmaker.services.iam.login_profiles import ConsoleUser, check_console_password
from selfmaker.store.db import open_store
from tests.e2e.test_cloudformation import events, wait_stack
from tests.e2e.test_iam import ACCOUNT, _allow, _error, _unique, make_user

PASSWORD = "correct horse battery"


def signs_in(server, name: str, password: str) -> ConsoleUser | None:
    """The console's sign-in check, in-process against the server's own store."""
    return check_console_password(open_store(server.database), ACCOUNT, name, password)


def test_login_profile_lifecycle(server):
    iam = server.client("iam")
    name = _unique("console")
    iam.create_user(UserName=name)
    with pytest.raises(ClientError) as exc:
        iam.create_login_profile(UserName=name, Password="short")
    assert _error(exc)[0::2] == ("PasswordPolicyViolation", 400)

    profile = iam.create_login_profile(UserName=name, Password=PASSWORD, PasswordResetRequired=True)["LoginProfile"]
    assert profile["UserName"] == name and profile["PasswordResetRequired"] is True
    assert isinstance(profile["CreateDate"], datetime.datetime)
    assert iam.get_login_profile(UserName=name)["LoginProfile"] == profile
    assert signs_in(server, name, PASSWORD) == ConsoleUser(f"arn:aws:iam::{ACCOUNT}:user/{name}", name, True)

    iam.update_login_profile(UserName=name, Password="another good one", PasswordResetRequired=False)
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    assert signs_in(server, name, PASSWORD) is None
    assert signs_in(server, name, "another good one") is not None

    with pytest.raises(ClientError) as exc:
        iam.create_login_profile(UserName=name, Password=PASSWORD)
    assert _error(exc) == ("EntityAlreadyExists", f"Login Profile for user {name} already exists.", 409)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=name)
    assert _error(exc) == ("DeleteConflict", "Cannot delete entity, must delete login profile first.", 409)

    iam.delete_login_profile(UserName=name)
    with pytest.raises(ClientError) as exc:
        iam.get_login_profile(UserName=name)
    assert _error(exc) == ("NoSuchEntity", f"Login Profile for User {name} cannot be found.", 404)
    with pytest.raises(ClientError) as exc:
        iam.create_login_profile(UserName="no-such-user-at-all", Password=PASSWORD)
    assert _error(exc) == ("NoSuchEntity", "The user with name no-such-user-at-all cannot be found.", 404)
    iam.delete_user(UserName=name)


def test_a_user_changes_its_own_password_with_its_own_keys(server):
    iam = server.client("iam")
    # What AWS's IAMUserChangePassword policy grants: ChangePassword on the caller itself, by policy variable.
    name, user = make_user(server, _allow("iam:ChangePassword", "arn:aws:iam::*:user/${aws:username}"))
    iam.create_login_profile(UserName=name, Password=PASSWORD, PasswordResetRequired=True)
    own = user.client("iam")

    with pytest.raises(ClientError) as exc:
        own.change_password(OldPassword="not the password", NewPassword="my own choice")
    assert _error(exc) == ("AccessDenied", "The old password is incorrect.", 403)
    assert signs_in(server, name, PASSWORD).password_reset_required  # unchanged

    own.change_password(OldPassword=PASSWORD, NewPassword="my own choice")
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    assert signs_in(server, name, PASSWORD) is None
    assert signs_in(server, name, "my own choice") == ConsoleUser(
        f"arn:aws:iam::{ACCOUNT}:user/{name}", name, False)

    # The policy allows no other user's login profile, nor anything else.
    with pytest.raises(ClientError) as exc:
        own.get_login_profile()
    assert _error(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        iam.change_password(OldPassword=PASSWORD, NewPassword="my own choice")
    assert _error(exc)[0::2] == ("InvalidUserType", 400)


def test_change_password_is_checked_against_the_callers_own_arn(server):
    name, user = make_user(server, _allow("iam:GetUser"))
    server.client("iam").create_login_profile(UserName=name, Password=PASSWORD)
    with pytest.raises(ClientError) as exc:
        user.client("iam").change_password(OldPassword=PASSWORD, NewPassword="my own choice")
    assert _error(exc) == (
        "AccessDenied",
        f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to perform: iam:ChangePassword on resource: "
        f"arn:aws:iam::{ACCOUNT}:user/{name} because no identity-based policy allows the iam:ChangePassword action",
        403,
    )
    assert signs_in(server, name, PASSWORD) is not None


USER_STACK = textwrap.dedent("""\
    Parameters:
      Password:
        Type: String
        NoEcho: true
      ResetRequired:
        Type: String
        Default: "true"
    Resources:
      Student:
        Type: AWS::IAM::User
        Properties:
          Path: /students/
          LoginProfile:
            Password: !Ref Password
            PasswordResetRequired: !Ref ResetRequired
          Policies:
            - PolicyName: change-own-password
              PolicyDocument:
                Version: "2012-10-17"
                Statement:
                  - Effect: Allow
                    Action: iam:ChangePassword
                    Resource: !Sub "arn:aws:iam::${AWS::AccountId}:user/students/${!aws:username}"
    Outputs:
      Arn:
        Value: !GetAtt Student.Arn
""")


def test_a_stack_user_gets_its_login_profile_and_takes_it_along(server):
    cf, iam = server.client("cloudformation"), server.client("iam")
    stack = _unique("students")
    parameters = [{"ParameterKey": "Password", "ParameterValue": PASSWORD}]
    stack_id = cf.create_stack(StackName=stack, TemplateBody=USER_STACK, Parameters=parameters,
                               Capabilities=["CAPABILITY_IAM"])["StackId"]
    created = wait_stack(cf, stack)
    assert created["StackStatus"] == "CREATE_COMPLETE", events(cf, stack)
    name = cf.describe_stack_resource(StackName=stack, LogicalResourceId="Student")["StackResourceDetail"][
        "PhysicalResourceId"]
    arn = f"arn:aws:iam::{ACCOUNT}:user/students/{name}"
    assert created["Outputs"][0]["OutputValue"] == arn
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is True
    assert signs_in(server, name, PASSWORD) == ConsoleUser(arn, name, True)
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["change-own-password"]
    # Reading the stack's events does not hand out the password the NoEcho parameter hid.
    shown = [e.get("ResourceProperties", "") for e in cf.describe_stack_events(StackName=stack)["StackEvents"]]
    assert any('"Password": "****"' in properties for properties in shown)
    assert not any(PASSWORD in properties for properties in shown)

    cf.update_stack(StackName=stack, TemplateBody=USER_STACK, Capabilities=["CAPABILITY_IAM"], Parameters=[
        {"ParameterKey": "Password", "ParameterValue": "a new term's password"},
        {"ParameterKey": "ResetRequired", "ParameterValue": "false"},
    ])
    assert wait_stack(cf, stack)["StackStatus"] == "UPDATE_COMPLETE", events(cf, stack)
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    assert signs_in(server, name, PASSWORD) is None
    assert signs_in(server, name, "a new term's password") == ConsoleUser(arn, name, False)

    cf.delete_stack(StackName=stack)
    assert wait_stack(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE", events(cf, stack_id)
    for call in (iam.get_login_profile, iam.get_user):
        with pytest.raises(ClientError) as exc:
            call(UserName=name)
        assert _error(exc)[0] == "NoSuchEntity"
    assert signs_in(server, name, "a new term's password") is None


def test_a_stack_login_profile_the_password_policy_refuses_rolls_the_user_back(server):
    cf, iam = server.client("cloudformation"), server.client("iam")
    stack = _unique("weak")
    stack_id = cf.create_stack(StackName=stack, TemplateBody=USER_STACK, Capabilities=["CAPABILITY_IAM"],
                               Parameters=[{"ParameterKey": "Password", "ParameterValue": "short"}],
                               OnFailure="DELETE")["StackId"]
    assert wait_stack(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE", events(cf, stack_id)
    failed = [reason for logical_id, status, reason in events(cf, stack_id)
              if logical_id == "Student" and status == "CREATE_FAILED"]
    assert len(failed) == 1 and "Password should have a minimum length of 8" in failed[0], failed
    users = [u["UserName"] for u in iam.list_users(PathPrefix="/students/")["Users"]]
    assert not any(user.startswith(stack) for user in users)
