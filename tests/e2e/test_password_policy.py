"""The account password policy end to end: boto3 against the shared server, the policy's rules on
CreateLoginProfile, UpdateLoginProfile and ChangePassword, and AllowUsersToChangePassword at the gateway.

The policy is account-wide and the server is shared by the whole session: every test here starts and ends
with no policy, so that other tests see AWS's default."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_iam import ACCOUNT, _error, make_user
from tests.e2e.test_login_profiles import signs_in

STRONG = "Str0ng&Long"
STRICT = dict(MinimumPasswordLength=10, RequireSymbols=True, RequireNumbers=True, RequireUppercaseCharacters=True,
              RequireLowercaseCharacters=True)


def _delete_policy(iam) -> None:
    try:
        iam.delete_account_password_policy()
    except ClientError as err:
        if err.response["Error"]["Code"] != "NoSuchEntity":
            raise


@pytest.fixture
def iam(server):
    client = server.client("iam")
    _delete_policy(client)
    yield client
    _delete_policy(client)


def _refused(call, **params) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call(**params)
    return _error(exc)


def test_no_policy_until_one_is_set_and_each_update_replaces_it(iam):
    assert _refused(iam.get_account_password_policy) == (
        "NoSuchEntity", f"The Password Policy with domain name {ACCOUNT} cannot be found.", 404)
    assert _refused(iam.delete_account_password_policy) == (
        "NoSuchEntity", "The account policy with name PasswordPolicy cannot be found.", 404)

    iam.update_account_password_policy(**STRICT, AllowUsersToChangePassword=True, MaxPasswordAge=90,
                                       PasswordReusePrevention=5, HardExpiry=False)
    assert iam.get_account_password_policy()["PasswordPolicy"] == {
        **STRICT, "AllowUsersToChangePassword": True, "ExpirePasswords": True, "MaxPasswordAge": 90,
        "PasswordReusePrevention": 5, "HardExpiry": False}

    iam.update_account_password_policy(PasswordReusePrevention=24)
    assert iam.get_account_password_policy()["PasswordPolicy"] == {
        "MinimumPasswordLength": 6, "RequireSymbols": False, "RequireNumbers": False,
        "RequireUppercaseCharacters": False, "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False, "ExpirePasswords": False, "PasswordReusePrevention": 24}

    # The model's ranges, as IAM words a broken one.
    assert _refused(iam.update_account_password_policy, MinimumPasswordLength=129) == (
        "ValidationError", "1 validation error detected: Value '129' at 'minimumPasswordLength' failed to satisfy "
        "constraint: Member must have value less than or equal to 128", 400)
    assert _refused(iam.update_account_password_policy, PasswordReusePrevention=25)[0] == "ValidationError"
    assert iam.get_account_password_policy()["PasswordPolicy"]["PasswordReusePrevention"] == 24  # unchanged

    iam.delete_account_password_policy()
    assert _refused(iam.get_account_password_policy)[0] == "NoSuchEntity"


def test_weak_passwords_are_refused_by_name(server, iam):
    iam.update_account_password_policy(**STRICT)
    name, user = make_user(server)
    for password, message in (
        ("Sh0rt&", "Password should have a minimum length of 10"),
        ("n0 upper&case", "Password should have at least one uppercase letter"),
        ("N0 LOWER&CASE", "Password should have at least one lowercase letter"),
        ("No numbers & such", "Password should have at least one number"),
        ("No symbols 4 you", "Password should have at least one symbol"),
    ):
        assert _refused(iam.create_login_profile, UserName=name, Password=password) == (
            "PasswordPolicyViolation", message, 400)
    assert _refused(iam.get_login_profile, UserName=name)[0] == "NoSuchEntity"  # none was created

    iam.create_login_profile(UserName=name, Password=STRONG)
    iam.put_user_policy(UserName=name, PolicyName="own-password", PolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ChangePassword", '
        '"Resource": "arn:aws:iam::*:user/${aws:username}"}]}'))
    own = user.client("iam")
    assert _refused(own.change_password, OldPassword=STRONG, NewPassword="all lowercase 4 me!") == (
        "PasswordPolicyViolation", "Password should have at least one uppercase letter", 400)
    assert _refused(iam.update_login_profile, UserName=name, Password="Sh0rt&") == (
        "PasswordPolicyViolation", "Password should have a minimum length of 10", 400)
    assert signs_in(server, name, STRONG) is not None  # nothing refused changed it
    own.change_password(OldPassword=STRONG, NewPassword="N3w&Strong!")
    assert signs_in(server, name, "N3w&Strong!") is not None

    # Without the policy, AWS's default applies again: a minimum length of 8 and nothing else.
    iam.delete_account_password_policy()
    assert _refused(own.change_password, OldPassword="N3w&Strong!", NewPassword="Sh0rt&") == (
        "PasswordPolicyViolation", "Password should have a minimum length of 8", 400)
    own.change_password(OldPassword="N3w&Strong!", NewPassword="simple enough")
    assert signs_in(server, name, "simple enough") is not None


def test_earlier_passwords_cannot_be_reused(server, iam):
    iam.update_account_password_policy(PasswordReusePrevention=2, AllowUsersToChangePassword=True)
    name, user = make_user(server)
    own = user.client("iam")
    iam.create_login_profile(UserName=name, Password="password-1")
    own.change_password(OldPassword="password-1", NewPassword="password-2")
    reused = ("PasswordPolicyViolation", "Password was used too recently: the account's password policy prevents "
              "reusing the last 2 passwords", 400)
    assert _refused(own.change_password, OldPassword="password-2", NewPassword="password-2") == reused
    assert _refused(own.change_password, OldPassword="password-2", NewPassword="password-1") == reused
    assert _refused(iam.update_login_profile, UserName=name, Password="password-1") == reused
    iam.update_login_profile(UserName=name, Password="password-3")
    own.change_password(OldPassword="password-3", NewPassword="password-1")  # three back: allowed
    assert signs_in(server, name, "password-1") is not None


def test_allow_users_to_change_password(server, iam):
    name, user = make_user(server)  # no policies at all
    other, _ = make_user(server)
    iam.create_login_profile(UserName=name, Password="password-1")
    iam.create_login_profile(UserName=other, Password="password-1")
    own = user.client("iam")
    arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    assert _refused(own.change_password, OldPassword="password-1", NewPassword="password-2") == (
        "AccessDenied", f"User: {arn} is not authorized to perform: iam:ChangePassword on resource: {arn} because "
        "no identity-based policy allows the iam:ChangePassword action", 403)

    iam.update_account_password_policy(AllowUsersToChangePassword=True, MinimumPasswordLength=8)
    own.change_password(OldPassword="password-1", NewPassword="password-2")
    assert signs_in(server, name, "password-2") is not None
    assert own.get_account_password_policy()["PasswordPolicy"]["AllowUsersToChangePassword"] is True
    # Only its own password, and only by ChangePassword.
    for call in (own.update_login_profile, own.delete_login_profile, own.get_login_profile):
        assert _refused(call, UserName=other)[0::2] == ("AccessDenied", 403)
    assert _refused(own.update_login_profile, UserName=name, Password="password-3")[0] == "AccessDenied"
    assert _refused(own.update_account_password_policy, AllowUsersToChangePassword=False)[0] == "AccessDenied"
    assert signs_in(server, other, "password-1") is not None

    # An explicit Deny still wins.
    iam.put_user_policy(UserName=name, PolicyName="no-password-changes", PolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:ChangePassword", '
        '"Resource": "*"}]}'))
    assert _refused(own.change_password, OldPassword="password-2", NewPassword="password-3") == (
        "AccessDenied", f"User: {arn} is not authorized to perform: iam:ChangePassword on resource: {arn} with an "
        "explicit deny in an identity-based policy", 403)
    iam.delete_user_policy(UserName=name, PolicyName="no-password-changes")
    own.change_password(OldPassword="password-2", NewPassword="password-3")

    # Without the policy, the permission goes with it.
    iam.delete_account_password_policy()
    assert _refused(own.change_password, OldPassword="password-3", NewPassword="password-4")[0] == "AccessDenied"
    assert _refused(own.get_account_password_policy)[0] == "AccessDenied"
    assert signs_in(server, name, "password-3") is not None
