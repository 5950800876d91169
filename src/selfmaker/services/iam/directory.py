"""IAM as the rest of the server reads it: who an access key's principal is, and which policies apply.

The gateway asks on every request of a non-root caller, so a principal's compiled policies are cached
per access key; every IAM or STS change calls ``changed()``, which drops them all (changes are rare,
lookups constant). Everything runs on the event loop's thread, so there is no race to guard.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection, Engine, select

from selfmaker.domain.policy import Policy, compile_policy
from selfmaker.services.iam import aws_managed
from selfmaker.services.iam.tables import (
    iam_attachments,
    iam_group_members,
    iam_groups,
    iam_inline_policies,
    iam_instance_profiles,
    iam_policies,
    iam_policy_versions,
    iam_roles,
    iam_users,
    sts_sessions,
)

# What IAM names, by the resource kind its ARNs say.
_NAMED = {"user": iam_users, "role": iam_roles, "group": iam_groups, "instance-profile": iam_instance_profiles}


@dataclass(frozen=True)
class Principal:
    arn: str  # as errors name the caller: the user's ARN, or arn:aws:sts::…:assumed-role/<role>/<session>
    kind: Literal["root", "user", "assumed-role", "unknown"]
    account_id: str
    unique_id: str  # the account id, AIDA…, or AROA…:<session>
    policies: tuple[Policy, ...] = ()
    # Session policies of a role session (None: none given): they can only narrow what the role allows.
    session_policies: tuple[Policy, ...] | None = None
    context: dict[str, str] = field(default_factory=dict)  # condition keys, lower case
    role_arn: str | None = None  # for assumed roles


def role_name_from_arn(arn: str) -> str | None:
    """``arn:<partition>:iam::<acct>:role/<path>/<name>`` → name (paths are not part of a role's identity)."""
    prefix, sep, rest = arn.partition(":role/")
    if not sep or not re.match(r"arn:aws[a-z-]*:iam::", prefix):
        return None
    return rest.rsplit("/", 1)[-1] or None


def groups_of(conn: Connection, account_id: str, user_id: str) -> list:
    """The groups (rows) a user, by its AIDA… id, is in, by name."""
    return conn.execute(
        select(iam_groups).join(iam_group_members, (iam_group_members.c.account_id == iam_groups.c.account_id)
                                & (iam_group_members.c.group_id == iam_groups.c.group_id))
        .where(iam_group_members.c.account_id == account_id, iam_group_members.c.user_id == user_id)
        .order_by(iam_groups.c.name_key)
    ).all()


class Directory:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._principals: dict[str, Principal] = {}

    def changed(self) -> None:
        self._principals.clear()

    # --- rows ------------------------------------------------------------------------------------------

    def owner_arn(self, account_id: str, kind: str, name: str) -> str | None:
        """The ARN (with its path) of the user, role, group or instance profile of that name, or None."""
        table = _NAMED[kind]
        with self.engine.connect() as conn:
            return conn.execute(
                select(table.c.arn).where(table.c.account_id == account_id, table.c.name_key == name.lower())
            ).scalar()

    def role(self, conn: Connection, account_id: str, name: str):
        return conn.execute(
            select(iam_roles).where(iam_roles.c.account_id == account_id, iam_roles.c.name_key == name.lower())
        ).first()

    def role_by_arn(self, conn: Connection, arn: str):
        name = role_name_from_arn(arn)
        if name is None:
            return None
        account_id = arn.split(":")[4]
        row = self.role(conn, account_id, name)
        return row if row is not None and row.arn == arn else None

    def managed_document(self, conn: Connection, arn: str, version: str | None = None) -> str | None:
        """A managed policy's document (its default version unless told), or None when there is none."""
        if arn in aws_managed.BY_ARN:
            return aws_managed.BY_ARN[arn].document if version in (None, aws_managed.VERSION) else None
        if version is None:
            version = conn.execute(select(iam_policies.c.default_version).where(iam_policies.c.arn == arn)).scalar()
        return conn.execute(
            select(iam_policy_versions.c.document).where(
                iam_policy_versions.c.policy_arn == arn, iam_policy_versions.c.version_id == version
            )
        ).scalar()

    def owner_policies(self, conn: Connection, account_id: str, kind: str, key: str) -> tuple[Policy, ...]:
        """Inline and attached managed policies of a user or role, compiled."""
        inline = conn.execute(
            select(iam_inline_policies.c.document).where(
                iam_inline_policies.c.account_id == account_id,
                iam_inline_policies.c.owner_kind == kind,
                iam_inline_policies.c.owner_key == key,
            )
        ).scalars()
        policies = [compile_policy(json.loads(document)) for document in inline]
        attached = conn.execute(
            select(iam_attachments.c.policy_arn).where(
                iam_attachments.c.account_id == account_id,
                iam_attachments.c.owner_kind == kind,
                iam_attachments.c.owner_key == key,
            )
        ).scalars()
        policies += self._managed(conn, list(attached))
        return tuple(policies)

    def group_policies(self, conn: Connection, account_id: str, user_id: str) -> tuple[Policy, ...]:
        """The policies of every group the user (by its AIDA… id) is in, compiled."""
        return tuple(policy for group in groups_of(conn, account_id, user_id)
                     for policy in self.owner_policies(conn, account_id, "group", group.name_key))

    def _managed(self, conn: Connection, arns: list[str]) -> list[Policy]:
        policies = []
        for arn in arns:
            document = self.managed_document(conn, arn)
            if document is not None:
                policies.append(compile_policy(json.loads(document), arn))
        return policies

    # --- principals ------------------------------------------------------------------------------------

    def principal(self, access_key_id: str, principal_arn: str, account_id: str) -> Principal:
        found = self._principals.get(access_key_id)
        if found is None:
            with self.engine.connect() as conn:
                found = self._load(conn, access_key_id, principal_arn, account_id)
            self._principals[access_key_id] = found
        return found

    def _load(self, conn: Connection, access_key_id: str, arn: str, account_id: str) -> Principal:
        base = {"aws:principalaccount": account_id, "aws:principalarn": arn}
        if arn == f"arn:aws:iam::{account_id}:root":
            return Principal(arn, "root", account_id, account_id, context={**base, "aws:principaltype": "Account"})
        if ":user/" in arn:
            user = conn.execute(select(iam_users).where(iam_users.c.arn == arn)).first()
            if user is not None:
                context = {**base, "aws:principaltype": "User", "aws:username": user.name, "aws:userid": user.user_id}
                policies = self.owner_policies(conn, account_id, "user", user.name_key)
                policies += self.group_policies(conn, account_id, user.user_id)  # a user acts under its groups' too
                return Principal(arn, "user", account_id, user.user_id, policies, context=context)
        session = conn.execute(select(sts_sessions).where(sts_sessions.c.access_key_id == access_key_id)).first()
        if session is not None:
            unique_id = f"{session.role_id}:{session.session_name}"
            context = {**base, "aws:principaltype": "AssumedRole", "aws:principalarn": session.role_arn,
                       "aws:userid": unique_id}
            role = self.role_by_arn(conn, session.role_arn)
            # A role deleted (or deleted and made anew) leaves its old sessions with no permissions.
            policies = () if role is None or role.role_id != session.role_id else self.owner_policies(
                conn, account_id, "role", role.name_key
            )
            session_policies = None
            if session.policy is not None or session.policy_arns:
                inline = [compile_policy(json.loads(session.policy))] if session.policy is not None else []
                session_policies = tuple(inline + self._managed(conn, session.policy_arns))
            return Principal(arn, "assumed-role", account_id, unique_id, policies, session_policies, context,
                             session.role_arn)
        return Principal(arn, "unknown", account_id, arn, context=base)
