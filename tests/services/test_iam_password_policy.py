"""The account password policy: its operations, the rules it puts on new console passwords (reuse and age
included), and AllowUsersToChangePassword at the authorizer; called directly over a temporary store."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from selfmaker.gateway.authz import Authorizer
from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.iam import login_profiles
from selfmaker.services.iam.login_profiles import ConsoleUser, check_console_password
from selfmaker.services.iam.passwords import check_password_policy
from selfmaker.services.iam.provider import IAMService
from selfmaker.services.iam.tables import iam_password_history
from tests.services.support import ACCOUNT, fails, iam_ctx

OTHER_ACCOUNT = "210987654321"
DAY = 86400


@pytest.fixture
def ctx() -> RequestContext:
    return iam_ctx()


def violation(password: str, policy: dict | None) -> str:
    with pytest.raises(ServiceError) as exc:
        check_password_policy(password, policy)
    assert (exc.value.code, exc.value.status) == ("PasswordPolicyViolation", 400)
    return exc.value.message


STRICT = {"MinimumPasswordLength": 10, "RequireSymbols": True, "RequireNumbers": True,
          "RequireUppercaseCharacters": True, "RequireLowercaseCharacters": True,
          "AllowUsersToChangePassword": False}


# --- the rules ----------------------------------------------------------------------------------------------

def test_without_a_policy_only_the_default_minimum_length_applies():
    assert violation("seven77", None) == "Password should have a minimum length of 8"
    check_password_policy("eightchr", None)  # nothing else is asked for


def test_each_rule_of_a_policy_is_enforced_with_its_own_message():
    check_password_policy("Abcdefgh1!", STRICT)
    assert violation("Abcdefg1!", STRICT) == "Password should have a minimum length of 10"
    assert violation("abcdefgh1!", STRICT) == "Password should have at least one uppercase letter"
    assert violation("ABCDEFGH1!", STRICT) == "Password should have at least one lowercase letter"
    assert violation("Abcdefghi!", STRICT) == "Password should have at least one number"
    assert violation("Abcdefghi1", STRICT) == "Password should have at least one symbol"
    # Letters are A to Z: accented ones are neither upper nor lower case letters to IAM.
    assert violation("Ébcdefgh1!", STRICT) == "Password should have at least one uppercase letter"
    assert violation("ABCDEFGHé1!", STRICT) == "Password should have at least one lowercase letter"
    # A policy's minimum below the default allows shorter passwords than having no policy does.
    check_password_policy("sixsix", {**STRICT, "MinimumPasswordLength": 6, "RequireSymbols": False,
                                     "RequireNumbers": False, "RequireUppercaseCharacters": False})


@pytest.mark.parametrize("symbol", list("!@#$%^&*()_+-=[]{}|'"))
def test_every_symbol_iam_lists_counts_as_one(symbol):
    check_password_policy(f"Abcdefgh1{symbol}", STRICT)


@pytest.mark.parametrize("other", list('.,;:?"/\\<>~` ') + ["é"])
def test_other_punctuation_is_not_a_symbol(other):
    assert violation(f"Abcdefgh1{other}", STRICT) == "Password should have at least one symbol"


# --- the operations -----------------------------------------------------------------------------------------

def test_get_update_delete(iam, ctx):
    fails("NoSuchEntity", iam.GetAccountPasswordPolicy, ctx, {},
          message=f"The Password Policy with domain name {ACCOUNT} cannot be found.")
    fails("NoSuchEntity", iam.DeleteAccountPasswordPolicy, ctx, {},
          message="The account policy with name PasswordPolicy cannot be found.")

    everything = {"MinimumPasswordLength": 12, "RequireSymbols": True, "RequireNumbers": True,
                  "RequireUppercaseCharacters": True, "RequireLowercaseCharacters": True,
                  "AllowUsersToChangePassword": True, "MaxPasswordAge": 90, "PasswordReusePrevention": 5,
                  "HardExpiry": True}
    assert iam.UpdateAccountPasswordPolicy(ctx, everything) == {}
    assert iam.GetAccountPasswordPolicy(ctx, {}) == {"PasswordPolicy": {**everything, "ExpirePasswords": True}}

    # An update replaces the whole policy: what it leaves out takes the documented defaults.
    iam.UpdateAccountPasswordPolicy(ctx, {"RequireNumbers": True})
    assert iam.GetAccountPasswordPolicy(ctx, {}) == {"PasswordPolicy": {
        "MinimumPasswordLength": 6, "RequireSymbols": False, "RequireNumbers": True,
        "RequireUppercaseCharacters": False, "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False, "ExpirePasswords": False}}
    # Each account has its own.
    fails("NoSuchEntity", iam.GetAccountPasswordPolicy, iam_ctx(account=OTHER_ACCOUNT), {},
          message=f"The Password Policy with domain name {OTHER_ACCOUNT} cannot be found.")

    assert iam.DeleteAccountPasswordPolicy(ctx, {}) == {}
    fails("NoSuchEntity", iam.GetAccountPasswordPolicy, ctx, {})


def test_new_passwords_follow_the_policy_and_go_back_to_the_default_without_it(iam, ctx):
    iam.CreateUser(ctx, {"UserName": "alice"})
    alice = iam_ctx("user/alice")
    iam.UpdateAccountPasswordPolicy(ctx, STRICT)
    fails("PasswordPolicyViolation", iam.CreateLoginProfile, ctx, {"UserName": "alice", "Password": "long enough"},
          message="Password should have at least one uppercase letter")
    iam.CreateLoginProfile(ctx, {"UserName": "alice", "Password": "Str0ng&Long"})
    fails("PasswordPolicyViolation", iam.UpdateLoginProfile, ctx, {"UserName": "alice", "Password": "Sh0rt!"},
          message="Password should have a minimum length of 10")
    fails("PasswordPolicyViolation", iam.ChangePassword, alice,
          {"OldPassword": "Str0ng&Long", "NewPassword": "N0 symbols here"},
          message="Password should have at least one symbol")
    assert check_console_password(iam.engine, ACCOUNT, "alice", "Str0ng&Long") is not None  # all refused
    iam.ChangePassword(alice, {"OldPassword": "Str0ng&Long", "NewPassword": "An0ther&Long"})

    iam.DeleteAccountPasswordPolicy(ctx, {})
    fails("PasswordPolicyViolation", iam.ChangePassword, alice,
          {"OldPassword": "An0ther&Long", "NewPassword": "sixsix"},
          message="Password should have a minimum length of 8")
    iam.ChangePassword(alice, {"OldPassword": "An0ther&Long", "NewPassword": "plain lowercase"})


# --- reuse ------------------------------------------------------------------------------------------------

def test_reuse_prevention_refuses_the_last_n_passwords(iam, ctx):
    iam.CreateUser(ctx, {"UserName": "bob"})
    bob = iam_ctx("user/bob")
    iam.CreateLoginProfile(ctx, {"UserName": "bob", "Password": "password-1"})
    iam.ChangePassword(bob, {"OldPassword": "password-1", "NewPassword": "password-1"})  # no policy: allowed
    iam.UpdateAccountPasswordPolicy(ctx, {"PasswordReusePrevention": 2})
    reused = ("Password was used too recently: the account's password policy prevents reusing the last "
              "2 passwords")
    # The current password is one of the last two, and so is one given before the policy existed.
    fails("PasswordPolicyViolation", iam.ChangePassword, bob,
          {"OldPassword": "password-1", "NewPassword": "password-1"}, message=reused)
    iam.ChangePassword(bob, {"OldPassword": "password-1", "NewPassword": "password-2"})
    fails("PasswordPolicyViolation", iam.ChangePassword, bob,
          {"OldPassword": "password-2", "NewPassword": "password-1"}, message=reused)
    fails("PasswordPolicyViolation", iam.UpdateLoginProfile, ctx, {"UserName": "bob", "Password": "password-1"},
          message=reused)
    iam.UpdateLoginProfile(ctx, {"UserName": "bob", "Password": "password-3"})
    # password-1 is now three passwords back: allowed again.
    iam.ChangePassword(bob, {"OldPassword": "password-3", "NewPassword": "password-1"})
    assert check_console_password(iam.engine, ACCOUNT, "bob", "password-1") is not None

    # A longer memory reaches further back, across a deleted and re-created login profile.
    iam.UpdateAccountPasswordPolicy(ctx, {"PasswordReusePrevention": 24})
    iam.DeleteLoginProfile(ctx, {"UserName": "bob"})
    iam.CreateLoginProfile(ctx, {"UserName": "bob", "Password": "password-4"})
    fails("PasswordPolicyViolation", iam.UpdateLoginProfile, ctx, {"UserName": "bob", "Password": "password-2"})
    # Changing only PasswordResetRequired checks nothing.
    iam.UpdateLoginProfile(ctx, {"UserName": "bob", "PasswordResetRequired": True})


def test_the_history_keeps_the_last_24_and_goes_with_the_user(iam, ctx, monkeypatch):
    monkeypatch.setattr(login_profiles, "hash_password", lambda password: f"fake-hash-{password}")
    iam.CreateUser(ctx, {"UserName": "carol"})
    iam.CreateLoginProfile(ctx, {"UserName": "carol", "Password": "password-0"})
    for number in range(1, 30):
        iam.UpdateLoginProfile(ctx, {"UserName": "carol", "Password": f"password-{number}"})
    with iam.engine.connect() as conn:
        kept = conn.execute(select(iam_password_history.c.password_hash)
                            .order_by(iam_password_history.c.id)).scalars().all()
    assert kept == [f"fake-hash-password-{number}" for number in range(6, 30)]

    iam.DeleteLoginProfile(ctx, {"UserName": "carol"})
    iam.DeleteUser(ctx, {"UserName": "carol"})
    with iam.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(iam_password_history)).scalar() == 0


# --- age ----------------------------------------------------------------------------------------------------

def test_an_expired_password_must_be_changed_at_sign_in(iam, ctx, monkeypatch):
    iam.CreateUser(ctx, {"UserName": "dave"})
    dave = iam_ctx("user/dave")
    iam.CreateLoginProfile(ctx, {"UserName": "dave", "Password": "password-1"})
    arn = f"arn:aws:iam::{ACCOUNT}:user/dave"
    now = login_profiles.time.time()
    later = now + 31 * DAY
    monkeypatch.setattr(login_profiles.time, "time", lambda: later)
    # No policy, or one without MaxPasswordAge: passwords never expire.
    assert check_console_password(iam.engine, ACCOUNT, "dave", "password-1") == ConsoleUser(arn, "dave", False)
    iam.UpdateAccountPasswordPolicy(ctx, {"MaxPasswordAge": 60})
    assert check_console_password(iam.engine, ACCOUNT, "dave", "password-1") == ConsoleUser(arn, "dave", False)

    iam.UpdateAccountPasswordPolicy(ctx, {"MaxPasswordAge": 30})
    assert check_console_password(iam.engine, ACCOUNT, "dave", "password-1") == ConsoleUser(arn, "dave", True)
    assert check_console_password(iam.engine, ACCOUNT, "dave", "wrong password") is None

    # A new password starts a new age.
    iam.ChangePassword(dave, {"OldPassword": "password-1", "NewPassword": "password-2"})
    assert check_console_password(iam.engine, ACCOUNT, "dave", "password-2") == ConsoleUser(arn, "dave", False)
    later += 31 * DAY
    assert check_console_password(iam.engine, ACCOUNT, "dave", "password-2") == ConsoleUser(arn, "dave", True)


def test_with_hard_expiry_an_expired_password_no_longer_signs_in(iam, ctx, monkeypatch):
    iam.CreateUser(ctx, {"UserName": "erin"})
    iam.CreateLoginProfile(ctx, {"UserName": "erin", "Password": "password-1"})
    iam.UpdateAccountPasswordPolicy(ctx, {"MaxPasswordAge": 30, "HardExpiry": True})
    assert check_console_password(iam.engine, ACCOUNT, "erin", "password-1") is not None  # not yet expired
    later = login_profiles.time.time() + 31 * DAY
    monkeypatch.setattr(login_profiles.time, "time", lambda: later)
    assert check_console_password(iam.engine, ACCOUNT, "erin", "password-1") is None
    # An administrator's new password lets the user in again.
    iam.UpdateLoginProfile(ctx, {"UserName": "erin", "Password": "password-2"})
    assert check_console_password(iam.engine, ACCOUNT, "erin", "password-2") is not None


def test_a_profile_from_before_the_history_ages_from_its_creation(iam, ctx, monkeypatch):
    iam.CreateUser(ctx, {"UserName": "frank"})
    iam.CreateLoginProfile(ctx, {"UserName": "frank", "Password": "password-1"})
    with iam.engine.begin() as conn:
        conn.execute(iam_password_history.delete())
    iam.UpdateAccountPasswordPolicy(ctx, {"MaxPasswordAge": 1, "PasswordReusePrevention": 1})
    assert check_console_password(iam.engine, ACCOUNT, "frank", "password-1").password_reset_required is False
    # Its current password still counts as used.
    fails("PasswordPolicyViolation", iam.UpdateLoginProfile, ctx, {"UserName": "frank", "Password": "password-1"})
    later = login_profiles.time.time() + 2 * DAY
    monkeypatch.setattr(login_profiles.time, "time", lambda: later)
    assert check_console_password(iam.engine, ACCOUNT, "frank", "password-1").password_reset_required is True


# --- AllowUsersToChangePassword -----------------------------------------------------------------------------

def _authorizer(iam: IAMService) -> Authorizer:
    return Authorizer(iam.engine, iam.directory)


def _user(iam: IAMService, ctx: RequestContext, name: str, *statements: dict) -> RequestContext:
    iam.CreateUser(ctx, {"UserName": name})
    if statements:
        iam.PutUserPolicy(ctx, {"UserName": name, "PolicyName": "inline",
                                "PolicyDocument": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})})
    return iam_ctx(f"user/{name}", key=f"AKID{name.upper()}")


def denied(authorize, ctx: RequestContext, operation: str, params: dict | None = None) -> str:
    with pytest.raises(ServiceError) as exc:
        authorize(ctx, "iam", operation, params or {})
    assert exc.value.code == "AccessDenied"
    return exc.value.message


def test_allow_users_to_change_password_grants_each_user_its_own_password(iam, ctx):
    authorize = _authorizer(iam)
    grace = _user(iam, ctx, "grace")
    _user(iam, ctx, "heidi")
    arn = grace.principal_arn
    assert denied(authorize, grace, "ChangePassword") == (
        f"User: {arn} is not authorized to perform: iam:ChangePassword on resource: {arn} because no "
        "identity-based policy allows the iam:ChangePassword action")
    denied(authorize, grace, "GetAccountPasswordPolicy")
    iam.UpdateAccountPasswordPolicy(ctx, {"AllowUsersToChangePassword": False})
    denied(authorize, grace, "ChangePassword")

    iam.UpdateAccountPasswordPolicy(ctx, {"AllowUsersToChangePassword": True})
    authorize(grace, "iam", "ChangePassword", {})
    authorize(grace, "iam", "GetAccountPasswordPolicy", {})
    # Nothing more: not another user's password, nor its own by the administrator's operations.
    for operation in ("UpdateLoginProfile", "DeleteLoginProfile", "GetLoginProfile"):
        denied(authorize, grace, operation, {"UserName": "heidi"})
        denied(authorize, grace, operation, {"UserName": "grace"})
    denied(authorize, grace, "UpdateAccountPasswordPolicy")
    # Roles are not IAM users: they get nothing from it.
    role = RequestContext(ACCOUNT, "us-east-1", f"arn:aws:sts::{ACCOUNT}:assumed-role/SomeRole/session", "ASIAX",
                          "r", "http://127.0.0.1:1")
    denied(authorize, role, "ChangePassword")
    denied(authorize, role, "GetAccountPasswordPolicy")

    iam.DeleteAccountPasswordPolicy(ctx, {})
    denied(authorize, grace, "ChangePassword")


def test_an_explicit_deny_wins_over_allow_users_to_change_password(iam, ctx):
    authorize = _authorizer(iam)
    iam.UpdateAccountPasswordPolicy(ctx, {"AllowUsersToChangePassword": True})
    ivan = _user(iam, ctx, "ivan", {"Effect": "Deny", "Action": ["iam:ChangePassword",
                                                                  "iam:GetAccountPasswordPolicy"], "Resource": "*"})
    arn = ivan.principal_arn
    assert denied(authorize, ivan, "ChangePassword") == (
        f"User: {arn} is not authorized to perform: iam:ChangePassword on resource: {arn} with an explicit deny "
        "in an identity-based policy")
    denied(authorize, ivan, "GetAccountPasswordPolicy")
