"""Console passwords of IAM users ("login profiles"), and the check the console's sign-in makes.

A user has at most one login profile: an Argon2id hash of its password, and whether the user must choose
a new one at the next sign-in. Passwords are never stored or answered in clear. Login profiles do not
change what a principal may do, so unlike policy changes they leave the directory's cache alone.

New passwords must satisfy the account password policy (password_policy.py), else AWS's default minimum
length. Every password a user is given is also remembered (its hash, when it was set; the last 24) for two
of the policy's rules:

- PasswordReusePrevention N: UpdateLoginProfile and ChangePassword refuse any of the user's last N passwords,
  the current one included.
- MaxPasswordAge: once the current password is older than that many days, the console's sign-in check
  answers the user as if PasswordResetRequired were set (the console then has it choose a new one, with
  ChangePassword); with HardExpiry as well, the check refuses the password outright, as a wrong one, until
  an administrator sets a new one with UpdateLoginProfile. Nothing else (API calls with access keys) expires.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from selfmaker.services.base import RequestContext, ServiceError, blocking
from selfmaker.services.iam.common import (
    already_exists,
    caller_kind,
    find_owner,
    invalid_input,
    named_or_calling_user,
    no_such_entity,
)
from selfmaker.services.iam.password_policy import account_password_policy
from selfmaker.services.iam.passwords import (
    check_password_policy,
    hash_password,
    password_violation,
    used_recently,
    verify_password,
)
from selfmaker.services.iam.tables import iam_login_profiles, iam_password_history, iam_users

HISTORY = 24  # passwords remembered per user: the most PasswordReusePrevention allows
DAY = 86400.0


@dataclass(frozen=True)
class ConsoleUser:
    arn: str
    name: str
    password_reset_required: bool


def check_console_password(engine: Engine, account_id: str, user_name: str, password: str) -> ConsoleUser | None:
    """The IAM user whose console password this is, or None (no such user, no login profile, wrong password,
    or a password past the policy's MaxPasswordAge under HardExpiry)."""
    profiles = iam_login_profiles
    with engine.connect() as conn:
        row = conn.execute(
            select(iam_users.c.arn, iam_users.c.name, iam_users.c.name_key, profiles.c.password_hash,
                   profiles.c.password_reset_required, profiles.c.created)
            .join(profiles, (profiles.c.account_id == iam_users.c.account_id)
                  & (profiles.c.user_key == iam_users.c.name_key))
            .where(iam_users.c.account_id == account_id, iam_users.c.name_key == user_name.lower())
        ).first()
        policy = account_password_policy(conn, account_id)
        max_age = (policy or {}).get("MaxPasswordAge")
        set_at = _password_set_at(conn, account_id, row) if row is not None and max_age else None
    # Verify even when there is nothing to verify against (that costs the same), so that how long a
    # sign-in takes does not tell which user names exist or have a password.
    matched = verify_password(row.password_hash if row is not None else None, password)
    if row is None or not matched:
        return None
    reset_required = row.password_reset_required
    if set_at is not None and time.time() - set_at > max_age * DAY:
        if policy.get("HardExpiry"):
            return None
        reset_required = True
    return ConsoleUser(row.arn, row.name, reset_required)


def _password_set_at(conn: Connection, account_id: str, row) -> float:
    """When the current password was set: its history entry, else (set before history was kept) the profile's
    creation."""
    history = iam_password_history
    set_at = conn.execute(
        select(func.max(history.c.set_at)).where(
            history.c.account_id == account_id, history.c.user_key == row.name_key,
            history.c.password_hash == row.password_hash)
    ).scalar()
    return row.created if set_at is None else set_at


def _recent_hashes(conn: Connection, ctx: RequestContext, user, profile, policy: dict | None) -> list[str]:
    """The hashes of the user's last PasswordReusePrevention passwords, the current one first (none without
    that rule)."""
    count = (policy or {}).get("PasswordReusePrevention", 0)
    if not count:
        return []
    history = iam_password_history
    earlier = conn.execute(
        select(history.c.password_hash)
        .where(history.c.account_id == ctx.account_id, history.c.user_key == user.name_key)
        .order_by(history.c.id.desc()).limit(count)
    ).scalars()
    hashes = [profile.password_hash, *(stored for stored in earlier if stored != profile.password_hash)]
    return hashes[:count]


def _check_new_password(password: str, policy: dict | None, recent: list[str]) -> None:
    check_password_policy(password, policy)
    if used_recently(password, recent):
        raise password_violation("Password was used too recently: the account's password policy prevents "
                                 f"reusing the last {policy['PasswordReusePrevention']} passwords")


def _remember(conn: Connection, ctx: RequestContext, user, password_hash: str) -> None:
    """Add a user's new password to its history, which keeps the last HISTORY."""
    history = iam_password_history
    mine = (history.c.account_id == ctx.account_id, history.c.user_key == user.name_key)
    conn.execute(insert(history).values(account_id=ctx.account_id, user_key=user.name_key,
                                        password_hash=password_hash, set_at=time.time()))
    stale = conn.execute(
        select(history.c.id).where(*mine).order_by(history.c.id.desc()).offset(HISTORY)
    ).scalars().all()
    if stale:
        conn.execute(delete(history).where(history.c.id.in_(stale)))


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

    @blocking
    def CreateLoginProfile(self, ctx: RequestContext, params: dict) -> dict:
        _refuse_session_duration(params)
        name = named_or_calling_user(ctx, params)
        if "Password" not in params:  # optional in the model only for AWS's AssumeRoot sessions
            raise ServiceError("ValidationError", "Password is required to create a login profile for an IAM user.")
        with self.engine.connect() as conn:
            check_password_policy(params["Password"], account_password_policy(conn, ctx.account_id))
        password_hash = hash_password(params["Password"])  # before the transaction: hashing takes a while
        with self.engine.begin() as conn:
            user = find_owner(conn, ctx, "user", name)
            if conn.execute(select(iam_login_profiles.c.user_key).where(*_where(ctx, user))).first() is not None:
                raise already_exists(f"Login Profile for user {user.name} already exists.")
            conn.execute(insert(iam_login_profiles).values(
                account_id=ctx.account_id, user_key=user.name_key, password_hash=password_hash,
                password_reset_required=params.get("PasswordResetRequired", False), created=time.time(),
            ))
            _remember(conn, ctx, user, password_hash)
            return {"LoginProfile": _shape(user, _profile(conn, ctx, user))}

    def GetLoginProfile(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            user = find_owner(conn, ctx, "user", named_or_calling_user(ctx, params))
            return {"LoginProfile": _shape(user, _profile(conn, ctx, user))}

    @blocking
    def UpdateLoginProfile(self, ctx: RequestContext, params: dict) -> dict:
        _refuse_session_duration(params)
        values: dict = {}
        with self.engine.connect() as conn:
            user = find_owner(conn, ctx, "user", params["UserName"])
            profile = _profile(conn, ctx, user)
            policy = account_password_policy(conn, ctx.account_id)
            recent = _recent_hashes(conn, ctx, user, profile, policy) if "Password" in params else []
        if "Password" in params:  # checked and hashed outside any transaction: that takes a while
            _check_new_password(params["Password"], policy, recent)
            values["password_hash"] = hash_password(params["Password"])
        if "PasswordResetRequired" in params:  # what is not given stays as it was
            values["password_reset_required"] = params["PasswordResetRequired"]
        with self.engine.begin() as conn:
            _profile(conn, ctx, user)
            if values:
                conn.execute(update(iam_login_profiles).where(*_where(ctx, user)).values(**values))
            if "password_hash" in values:
                _remember(conn, ctx, user, values["password_hash"])
        return {}

    def DeleteLoginProfile(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            user = find_owner(conn, ctx, "user", named_or_calling_user(ctx, params))
            _profile(conn, ctx, user)
            conn.execute(delete(iam_login_profiles).where(*_where(ctx, user)))
        return {}

    @blocking
    def ChangePassword(self, ctx: RequestContext, params: dict) -> dict:
        """The calling IAM user's own password, given the current one; clears PasswordResetRequired."""
        if caller_kind(ctx) != "user":
            raise ServiceError("InvalidUserType", "Only IAM users can change their own password with "
                               "ChangePassword; the root user's password is not affected by it.")
        with self.engine.connect() as conn:
            user = find_owner(conn, ctx, "user", ctx.principal_arn.rsplit("/", 1)[-1])
            profile = _profile(conn, ctx, user)
            policy = account_password_policy(conn, ctx.account_id)
            recent = _recent_hashes(conn, ctx, user, profile, policy)
        if not verify_password(profile.password_hash, params["OldPassword"]):
            raise ServiceError("AccessDenied", "The old password is incorrect.", 403)
        _check_new_password(params["NewPassword"], policy, recent)
        password_hash = hash_password(params["NewPassword"])
        with self.engine.begin() as conn:
            conn.execute(update(iam_login_profiles).where(*_where(ctx, user)).values(
                password_hash=password_hash, password_reset_required=False))
            _remember(conn, ctx, user, password_hash)
        return {}
