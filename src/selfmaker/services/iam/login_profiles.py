"""Console passwords of IAM users ("login profiles"), and the check the console's sign-in makes.

A user has at most one login profile: an Argon2id hash of its password, and whether the user must choose
a new one at the next sign-in. Passwords are never stored or answered in clear. Login profiles do not
change what a principal may do, so unlike policy changes they leave the directory's cache alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, insert, select, update

from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.iam.common import (
    already_exists,
    caller_kind,
    find_owner,
    invalid_input,
    named_or_calling_user,
    no_such_entity,
)
from selfmaker.services.iam.passwords import check_password_policy, hash_password, verify_password
from selfmaker.services.iam.tables import iam_login_profiles, iam_users


@dataclass(frozen=True)
class ConsoleUser:
    arn: str
    name: str
    password_reset_required: bool


def check_console_password(engine: Engine, account_id: str, user_name: str, password: str) -> ConsoleUser | None:
    """The IAM user whose console password this is, or None (no such user, no login profile, wrong password)."""
    profiles = iam_login_profiles
    with engine.connect() as conn:
        row = conn.execute(
            select(iam_users.c.arn, iam_users.c.name, profiles.c.password_hash, profiles.c.password_reset_required)
            .join(profiles, (profiles.c.account_id == iam_users.c.account_id)
                  & (profiles.c.user_key == iam_users.c.name_key))
            .where(iam_users.c.account_id == account_id, iam_users.c.name_key == user_name.lower())
        ).first()
    # Verify even when there is nothing to verify against (that costs the same), so that how long a
    # sign-in takes does not tell which user names exist or have a password.
    matched = verify_password(row.password_hash if row is not None else None, password)
    if row is None or not matched:
        return None
    return ConsoleUser(row.arn, row.name, row.password_reset_required)


def _profile(conn: Connection, ctx: RequestContext, user):
    row = conn.execute(
        select(iam_login_profiles).where(iam_login_profiles.c.account_id == ctx.account_id,
                                         iam_login_profiles.c.user_key == user.name_key)
    ).first()
    if row is None:
        raise no_such_entity(f"Login Profile for User {user.name} cannot be found.")
    return row


def _where(ctx: RequestContext, user) -> tuple:
    return iam_login_profiles.c.account_id == ctx.account_id, iam_login_profiles.c.user_key == user.name_key


def _shape(user, row) -> dict:
    return {"UserName": user.name, "CreateDate": row.created, "PasswordResetRequired": row.password_reset_required}


def _refuse_session_duration(params: dict) -> None:
    # Ignoring it would let console sessions last longer than their author meant: say so instead.
    if "MaxSigninSessionDuration" in params or params.get("ResetMaxSigninSessionDuration"):
        raise invalid_input("Selfmaker does not support MaxSigninSessionDuration on login profiles yet.")


class LoginProfiles:
    engine: Engine

    def CreateLoginProfile(self, ctx: RequestContext, params: dict) -> dict:
        _refuse_session_duration(params)
        name = named_or_calling_user(ctx, params)
        if "Password" not in params:  # optional in the model only for AWS's AssumeRoot sessions
            raise ServiceError("ValidationError", "Password is required to create a login profile for an IAM user.")
        check_password_policy(params["Password"])
        password_hash = hash_password(params["Password"])  # before the transaction: hashing takes a while
        with self.engine.begin() as conn:
            user = find_owner(conn, ctx, "user", name)
            if conn.execute(select(iam_login_profiles.c.user_key).where(*_where(ctx, user))).first() is not None:
                raise already_exists(f"Login Profile for user {user.name} already exists.")
            conn.execute(insert(iam_login_profiles).values(
                account_id=ctx.account_id, user_key=user.name_key, password_hash=password_hash,
                password_reset_required=params.get("PasswordResetRequired", False), created=time.time(),
            ))
            return {"LoginProfile": _shape(user, _profile(conn, ctx, user))}

    def GetLoginProfile(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            user = find_owner(conn, ctx, "user", named_or_calling_user(ctx, params))
            return {"LoginProfile": _shape(user, _profile(conn, ctx, user))}

    def UpdateLoginProfile(self, ctx: RequestContext, params: dict) -> dict:
        _refuse_session_duration(params)
        values: dict = {}
        if "Password" in params:
            check_password_policy(params["Password"])
            values["password_hash"] = hash_password(params["Password"])
        if "PasswordResetRequired" in params:  # what is not given stays as it was
            values["password_reset_required"] = params["PasswordResetRequired"]
        with self.engine.begin() as conn:
            user = find_owner(conn, ctx, "user", params["UserName"])
            _profile(conn, ctx, user)
            if values:
                conn.execute(update(iam_login_profiles).where(*_where(ctx, user)).values(**values))
        return {}

    def DeleteLoginProfile(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            user = find_owner(conn, ctx, "user", named_or_calling_user(ctx, params))
            _profile(conn, ctx, user)
            conn.execute(delete(iam_login_profiles).where(*_where(ctx, user)))
        return {}

    def ChangePassword(self, ctx: RequestContext, params: dict) -> dict:
        """The calling IAM user's own password, given the current one; clears PasswordResetRequired."""
        if caller_kind(ctx) != "user":
            raise ServiceError("InvalidUserType", "Only IAM users can change their own password with "
                               "ChangePassword; the root user's password is not affected by it.")
        with self.engine.connect() as conn:
            user = find_owner(conn, ctx, "user", ctx.principal_arn.rsplit("/", 1)[-1])
            profile = _profile(conn, ctx, user)
        if not verify_password(profile.password_hash, params["OldPassword"]):
            raise ServiceError("AccessDenied", "The old password is incorrect.", 403)
        check_password_policy(params["NewPassword"])
        password_hash = hash_password(params["NewPassword"])
        with self.engine.begin() as conn:
            conn.execute(update(iam_login_profiles).where(*_where(ctx, user)).values(
                password_hash=password_hash, password_reset_required=False))
        return {}
