"""IAM login profiles (console passwords) and the console's sign-in check, called directly over a temporary
store."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from selfmaker.gateway.authz import resource_arn
from selfmaker.services.base import RequestContext
from selfmaker.services.iam import login_profiles
from selfmaker.services.iam.directory import Directory
from selfmaker.services.iam.login_profiles import ConsoleUser, check_console_password
from selfmaker.services.iam.tables import iam_login_profiles
from tests.services.support import ACCOUNT, fails, iam_ctx

OTHER_ACCOUNT = "210987654321"
PASSWORD = "correct horse battery"


@pytest.fixture
def ctx() -> RequestContext:
    return iam_ctx()


def test_create_get_update_delete(iam, ctx):
    iam.CreateUser(ctx, {"UserName": "Alice"})
    created = iam.CreateLoginProfile(ctx, {"UserName": "alice", "Password": PASSWORD,
                                           "PasswordResetRequired": True})["LoginProfile"]
    # The name as the user has it, whatever case the request used; no password in the answer.
    assert set(created) == {"UserName", "CreateDate", "PasswordResetRequired"}
    assert created["UserName"] == "Alice" and created["PasswordResetRequired"] is True
    assert iam.GetLoginProfile(ctx, {"UserName": "ALICE"})["LoginProfile"] == created

    iam.UpdateLoginProfile(ctx, {"UserName": "Alice", "PasswordResetRequired": False})
    profile = iam.GetLoginProfile(ctx, {"UserName": "Alice"})["LoginProfile"]
    assert profile["PasswordResetRequired"] is False and profile["CreateDate"] == created["CreateDate"]
    assert check_console_password(iam.engine, ACCOUNT, "Alice", PASSWORD) is not None  # password kept

    iam.UpdateLoginProfile(ctx, {"UserName": "Alice", "Password": "a brand new one"})
    assert check_console_password(iam.engine, ACCOUNT, "Alice", PASSWORD) is None
    assert check_console_password(iam.engine, ACCOUNT, "Alice", "a brand new one") is not None
    assert iam.GetLoginProfile(ctx, {"UserName": "Alice"})["LoginProfile"]["PasswordResetRequired"] is False

    iam.DeleteLoginProfile(ctx, {"UserName": "Alice"})
    fails("NoSuchEntity", iam.GetLoginProfile, ctx, {"UserName": "Alice"},
          message="Login Profile for User Alice cannot be found.")
    assert check_console_password(iam.engine, ACCOUNT, "Alice", "a brand new one") is None


def test_the_password_is_stored_as_an_argon2id_hash(iam, ctx):
    iam.CreateUser(ctx, {"UserName": "alice"})
    iam.CreateLoginProfile(ctx, {"UserName": "alice", "Password": PASSWORD})
    with iam.engine.connect() as conn:
        stored = conn.execute(select(iam_login_profiles.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_errors(iam, ctx):
    fails("NoSuchEntity", iam.CreateLoginProfile, ctx, {"UserName": "nobody", "Password": PASSWORD},
          message="The user with name nobody cannot be found.")
    for call in (iam.GetLoginProfile, iam.UpdateLoginProfile, iam.DeleteLoginProfile):
        fails("NoSuchEntity", call, ctx, {"UserName": "nobody"}, message="The user with name nobody cannot be found.")
    iam.CreateUser(ctx, {"UserName": "bob"})
    for call in (iam.GetLoginProfile, iam.UpdateLoginProfile, iam.DeleteLoginProfile):
        fails("NoSuchEntity", call, ctx, {"UserName": "bob"}, message="Login Profile for User bob cannot be found.")
    fails("PasswordPolicyViolation", iam.CreateLoginProfile, ctx, {"UserName": "bob", "Password": "short"})
    fails("ValidationError", iam.CreateLoginProfile, ctx, {"UserName": "bob"})
    fails("InvalidInput", iam.CreateLoginProfile, ctx,
          {"UserName": "bob", "Password": PASSWORD, "MaxSigninSessionDuration": 7200})
    iam.CreateLoginProfile(ctx, {"UserName": "bob", "Password": PASSWORD})
    fails("EntityAlreadyExists", iam.CreateLoginProfile, ctx, {"UserName": "Bob", "Password": PASSWORD},
          message="Login Profile for user bob already exists.")
    fails("PasswordPolicyViolation", iam.UpdateLoginProfile, ctx, {"UserName": "bob", "Password": "short"})
    assert check_console_password(iam.engine, ACCOUNT, "bob", PASSWORD) is not None  # a refused update changes nothing
    # Root has no login profile of its own to default to.
    fails("ValidationError", iam.GetLoginProfile, ctx, {})


def test_delete_user_is_refused_while_it_has_a_login_profile(iam, ctx):
    iam.CreateUser(ctx, {"UserName": "carol"})
    iam.CreateLoginProfile(ctx, {"UserName": "carol", "Password": PASSWORD})
    fails("DeleteConflict", iam.DeleteUser, ctx, {"UserName": "carol"},
          message="Cannot delete entity, must delete login profile first.")
    iam.GetUser(ctx, {"UserName": "carol"})  # still there
    iam.DeleteLoginProfile(ctx, {"UserName": "carol"})
    iam.DeleteUser(ctx, {"UserName": "carol"})
    fails("NoSuchEntity", iam.GetUser, ctx, {"UserName": "carol"})


def test_a_user_acts_on_its_own_login_profile_when_it_names_none(iam, ctx):
    arn = iam.CreateUser(ctx, {"UserName": "dave"})["User"]["Arn"]
    dave = iam_ctx("user/dave")
    assert iam.CreateLoginProfile(dave, {"Password": PASSWORD})["LoginProfile"]["UserName"] == "dave"
    assert iam.GetLoginProfile(dave, {})["LoginProfile"]["UserName"] == "dave"
    # ...and the gateway checks those requests against the caller's own ARN, as for ChangePassword.
    directory = Directory(iam.engine)
    for operation in ("GetLoginProfile", "CreateLoginProfile", "DeleteLoginProfile", "ChangePassword"):
        assert resource_arn(dave, directory, "iam", operation, {}) == arn
    iam.DeleteLoginProfile(dave, {})
    fails("NoSuchEntity", iam.GetLoginProfile, ctx, {"UserName": "dave"})


def test_change_password(iam, ctx):
    iam.CreateUser(ctx, {"UserName": "erin"})
    erin = iam_ctx("user/erin")
    fails("NoSuchEntity", iam.ChangePassword, erin, {"OldPassword": PASSWORD, "NewPassword": "whatever-long"},
          message="Login Profile for User erin cannot be found.")
    iam.CreateLoginProfile(ctx, {"UserName": "erin", "Password": PASSWORD, "PasswordResetRequired": True})

    fails("AccessDenied", iam.ChangePassword, erin, {"OldPassword": "not the password", "NewPassword": "x" * 12},
          message="The old password is incorrect.")
    fails("PasswordPolicyViolation", iam.ChangePassword, erin, {"OldPassword": PASSWORD, "NewPassword": "short"})
    signed_in = check_console_password(iam.engine, ACCOUNT, "erin", PASSWORD)
    assert signed_in is not None and signed_in.password_reset_required  # neither refusal changed anything

    iam.ChangePassword(erin, {"OldPassword": PASSWORD, "NewPassword": "my own choice"})
    assert check_console_password(iam.engine, ACCOUNT, "erin", PASSWORD) is None
    assert check_console_password(iam.engine, ACCOUNT, "Erin", "my own choice") == ConsoleUser(
        arn=f"arn:aws:iam::{ACCOUNT}:user/erin", name="erin", password_reset_required=False)
    assert iam.GetLoginProfile(ctx, {"UserName": "erin"})["LoginProfile"]["PasswordResetRequired"] is False

    fails("InvalidUserType", iam.ChangePassword, ctx, {"OldPassword": PASSWORD, "NewPassword": "my own choice"})
    role = RequestContext(ACCOUNT, "us-east-1", f"arn:aws:sts::{ACCOUNT}:assumed-role/SomeRole/session", "ASIA",
                          "r", "http://127.0.0.1:1")
    fails("InvalidUserType", iam.ChangePassword, role, {"OldPassword": PASSWORD, "NewPassword": "my own choice"})


def test_check_console_password(iam, ctx):
    iam.CreateUser(ctx, {"UserName": "Frank", "Path": "/staff/"})
    iam.CreateUser(ctx, {"UserName": "nopassword"})
    iam.CreateLoginProfile(ctx, {"UserName": "Frank", "Password": PASSWORD, "PasswordResetRequired": True})
    assert check_console_password(iam.engine, ACCOUNT, "frank", PASSWORD) == ConsoleUser(
        arn=f"arn:aws:iam::{ACCOUNT}:user/staff/Frank", name="Frank", password_reset_required=True)
    assert check_console_password(iam.engine, ACCOUNT, "Frank", PASSWORD.upper()) is None
    assert check_console_password(iam.engine, ACCOUNT, "Frank", "") is None
    assert check_console_password(iam.engine, ACCOUNT, "nopassword", PASSWORD) is None
    assert check_console_password(iam.engine, ACCOUNT, "nobody", PASSWORD) is None
    assert check_console_password(iam.engine, OTHER_ACCOUNT, "Frank", PASSWORD) is None


def test_sign_in_verifies_a_hash_even_for_unknown_users(iam, ctx, monkeypatch):
    """So that the time a sign-in takes does not tell which user names exist or have a password."""
    iam.CreateUser(ctx, {"UserName": "nopassword"})
    verified = []
    real = login_profiles.verify_password
    monkeypatch.setattr(login_profiles, "verify_password",
                        lambda stored, password: verified.append((stored, password)) or real(stored, password))
    for name in ("nobody", "nopassword"):
        assert check_console_password(iam.engine, ACCOUNT, name, PASSWORD) is None
    assert verified == [(None, PASSWORD), (None, PASSWORD)]
