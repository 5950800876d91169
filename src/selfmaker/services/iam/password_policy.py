"""The account password policy: Update/Get/DeleteAccountPasswordPolicy, and the reading the rest of IAM does.

One policy per account, stored as GetAccountPasswordPolicy answers it (less ExpirePasswords, which is
``MaxPasswordAge > 0``). UpdateAccountPasswordPolicy replaces the whole policy: what a request leaves out
takes the API's documented default (minimum length 6, no character class required, users may not change
their own password, passwords never expire, earlier ones may be reused). With no policy at all, passwords
need only AWS's default minimum length of 8 (passwords.MIN_LENGTH). The policy applies to IAM users' console
passwords (login_profiles.py), never to the root user's. AllowUsersToChangePassword is honoured where
requests are authorized (gateway/authz.py).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, delete, insert, select

from selfmaker.services.base import RequestContext
from selfmaker.services.iam.common import no_such_entity
from selfmaker.services.iam.tables import iam_password_policies

# What the policy always answers, with the defaults UpdateAccountPasswordPolicy gives what it is not told.
DEFAULTS = {
    "MinimumPasswordLength": 6,
    "RequireSymbols": False,
    "RequireNumbers": False,
    "RequireUppercaseCharacters": False,
    "RequireLowercaseCharacters": False,
    "AllowUsersToChangePassword": False,
}
# What it answers only when it was set (their defaults: no expiry, reuse allowed, HardExpiry false).
OPTIONAL = ("MaxPasswordAge", "PasswordReusePrevention", "HardExpiry")


def account_password_policy(conn: Connection, account_id: str) -> dict | None:
    """The account's password policy (DEFAULTS' keys, and those of OPTIONAL that were set), or None."""
    return conn.execute(
        select(iam_password_policies.c.policy).where(iam_password_policies.c.account_id == account_id)
    ).scalar()


class PasswordPolicies:
    engine: Engine

    def UpdateAccountPasswordPolicy(self, ctx: RequestContext, params: dict) -> dict:
        policy = {key: params.get(key, default) for key, default in DEFAULTS.items()}
        policy.update({key: params[key] for key in OPTIONAL if key in params})
        with self.engine.begin() as conn:
            conn.execute(delete(iam_password_policies).where(iam_password_policies.c.account_id == ctx.account_id))
            conn.execute(insert(iam_password_policies).values(account_id=ctx.account_id, policy=policy))
        return {}

    def GetAccountPasswordPolicy(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            policy = account_password_policy(conn, ctx.account_id)
        if policy is None:
            raise no_such_entity(f"The Password Policy with domain name {ctx.account_id} cannot be found.")
        return {"PasswordPolicy": {**policy, "ExpirePasswords": policy.get("MaxPasswordAge", 0) > 0}}

    def DeleteAccountPasswordPolicy(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            deleted = conn.execute(
                delete(iam_password_policies).where(iam_password_policies.c.account_id == ctx.account_id)
            ).rowcount
        if not deleted:
            raise no_such_entity("The account policy with name PasswordPolicy cannot be found.")
        return {}
