"""Managed policies: standalone, versioned documents (customer's own, or AWS's fixed ones), attached to
users, roles and groups by ARN."""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from selfmaker.services.base import RequestContext
from selfmaker.services.iam import aws_managed, tags
from selfmaker.services.iam.common import (
    already_exists,
    check_document,
    delete_conflict,
    encoded,
    find_owner,
    iam_arn,
    invalid_input,
    limit_exceeded,
    listing,
    no_such_entity,
    unique_id,
)
from selfmaker.services.iam.directory import Directory
from selfmaker.services.iam.tables import iam_attachments, iam_policies, iam_policy_versions

MAX_VERSIONS = 5
MAX_ATTACHED = 10  # managed policies per user, per role or per group
_NAME_PARAM = {"user": "UserName", "role": "RoleName", "group": "GroupName"}


def _not_attachable(arn: str):
    return no_such_entity(f"Policy {arn} does not exist or is not attachable.")


class ManagedPolicies:
    engine: Engine
    directory: Directory

    # --- reading ---------------------------------------------------------------------------------------

    def _attachments(self, conn: Connection, ctx: RequestContext, arn: str) -> int:
        return conn.execute(
            select(func.count()).select_from(iam_attachments).where(
                iam_attachments.c.account_id == ctx.account_id, iam_attachments.c.policy_arn == arn
            )
        ).scalar()

    def _customer(self, conn: Connection, ctx: RequestContext, arn: str):
        row = conn.execute(
            select(iam_policies).where(iam_policies.c.arn == arn, iam_policies.c.account_id == ctx.account_id)
        ).first()
        if row is None:
            raise _not_attachable(arn)
        return row

    def _policy(self, conn: Connection, ctx: RequestContext, arn: str) -> dict:
        """GetPolicy's Policy shape, for an AWS managed or a customer managed policy."""
        managed = aws_managed.BY_ARN.get(arn)
        if managed is not None:
            shape = {
                "PolicyName": managed.name, "PolicyId": managed.policy_id, "Arn": arn, "Path": managed.path,
                "DefaultVersionId": aws_managed.VERSION, "Description": managed.description,
                "CreateDate": aws_managed.CREATED, "UpdateDate": aws_managed.CREATED,
            }
        else:
            row = self._customer(conn, ctx, arn)
            shape = {
                "PolicyName": row.name, "PolicyId": row.policy_id, "Arn": arn, "Path": row.path,
                "DefaultVersionId": row.default_version, "Description": row.description,
                "CreateDate": row.create_date, "UpdateDate": row.update_date, "Tags": row.tags or [],
            }
        return {**shape, "AttachmentCount": self._attachments(conn, ctx, arn), "PermissionsBoundaryUsageCount": 0,
                "IsAttachable": True}

    def GetPolicy(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            return {"Policy": self._policy(conn, ctx, params["PolicyArn"])}

    def GetPolicyVersion(self, ctx: RequestContext, params: dict) -> dict:
        arn, version = params["PolicyArn"], params["VersionId"]
        with self.engine.connect() as conn:
            policy = self._policy(conn, ctx, arn)
            document = self.directory.managed_document(conn, arn, version)
            created = conn.execute(
                select(iam_policy_versions.c.create_date).where(
                    iam_policy_versions.c.policy_arn == arn, iam_policy_versions.c.version_id == version
                )
            ).scalar()
        if document is None:
            raise no_such_entity(f"Policy {arn} version {version} does not exist or is not attachable.")
        return {
            "PolicyVersion": {
                "Document": encoded(document), "VersionId": version,
                "IsDefaultVersion": version == policy["DefaultVersionId"],
                "CreateDate": created or aws_managed.CREATED,
            }
        }

    def ListPolicies(self, ctx: RequestContext, params: dict) -> dict:
        scope, prefix = params.get("Scope", "All"), params.get("PathPrefix", "/")
        with self.engine.connect() as conn:
            arns = []
            if scope in ("All", "AWS"):
                arns += list(aws_managed.BY_ARN)
            if scope in ("All", "Local"):
                arns += conn.execute(
                    select(iam_policies.c.arn).where(iam_policies.c.account_id == ctx.account_id)
                ).scalars().all()
            policies = [self._policy(conn, ctx, arn) for arn in arns]
        selected = [
            {key: value for key, value in policy.items() if key not in ("Description", "Tags")}
            for policy in sorted(policies, key=lambda p: p["PolicyName"].lower())
            if policy["Path"].startswith(prefix) and (not params.get("OnlyAttached") or policy["AttachmentCount"])
        ]
        return listing(selected, params, "Policies")

    def ListPolicyVersions(self, ctx: RequestContext, params: dict) -> dict:
        arn = params["PolicyArn"]
        with self.engine.connect() as conn:
            policy = self._policy(conn, ctx, arn)
            rows = conn.execute(
                select(iam_policy_versions).where(iam_policy_versions.c.policy_arn == arn)
                .order_by(iam_policy_versions.c.create_date.desc())
            ).all()
        if arn in aws_managed.BY_ARN:
            versions = [{"VersionId": aws_managed.VERSION, "IsDefaultVersion": True, "CreateDate": aws_managed.CREATED}]
        else:
            versions = [{"VersionId": row.version_id, "IsDefaultVersion": row.version_id == policy["DefaultVersionId"],
                         "CreateDate": row.create_date} for row in rows]
        return listing(versions, params, "Versions")

    # --- writing (customer managed policies only) ------------------------------------------------------

    def _writable(self, conn: Connection, ctx: RequestContext, arn: str):
        if arn in aws_managed.BY_ARN:
            raise invalid_input(f"Policy {arn} is an AWS managed policy: it can be attached, not changed or deleted.")
        return self._customer(conn, ctx, arn)

    def CreatePolicy(self, ctx: RequestContext, params: dict) -> dict:
        name, path = params["PolicyName"], params.get("Path", "/")
        document = check_document(params["PolicyDocument"], "managed")
        arn, now = iam_arn(ctx, "policy", path, name), time.time()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(iam_policies).values(
                        arn=arn, account_id=ctx.account_id, name_key=name.lower(), name=name, path=path,
                        policy_id=unique_id("ANPA"), description=params.get("Description"), default_version="v1",
                        next_version=2, tags=tags.checked(params.get("Tags", [])), create_date=now,
                        update_date=now,
                    )
                )
                conn.execute(insert(iam_policy_versions).values(policy_arn=arn, version_id="v1", document=document,
                                                                create_date=now))
        except IntegrityError:
            raise already_exists(f"A policy called {name} already exists. Duplicate names are not allowed.") from None
        with self.engine.connect() as conn:
            policy = self._policy(conn, ctx, arn)
        return {"Policy": {key: value for key, value in policy.items() if key != "Description"}}

    def DeletePolicy(self, ctx: RequestContext, params: dict) -> dict:
        arn = params["PolicyArn"]
        with self.engine.begin() as conn:
            self._writable(conn, ctx, arn)
            if self._attachments(conn, ctx, arn):
                raise delete_conflict("Cannot delete a policy attached to entities.")
            versions = conn.execute(
                select(func.count()).select_from(iam_policy_versions).where(iam_policy_versions.c.policy_arn == arn)
            ).scalar()
            if versions > 1:
                raise delete_conflict(
                    "This policy has more than one version. Before you delete a policy, you must delete the "
                    "policy's versions. The default version is deleted with the policy."
                )
            conn.execute(delete(iam_policies).where(iam_policies.c.arn == arn))
        self.directory.changed()
        return {}

    def CreatePolicyVersion(self, ctx: RequestContext, params: dict) -> dict:
        arn = params["PolicyArn"]
        document = check_document(params["PolicyDocument"], "managed")
        now = time.time()
        with self.engine.begin() as conn:
            row = self._writable(conn, ctx, arn)
            count = conn.execute(
                select(func.count()).select_from(iam_policy_versions).where(iam_policy_versions.c.policy_arn == arn)
            ).scalar()
            if count >= MAX_VERSIONS:
                raise limit_exceeded(
                    f"A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new version, "
                    "you must delete an existing version."
                )
            version = f"v{row.next_version}"
            conn.execute(insert(iam_policy_versions).values(policy_arn=arn, version_id=version, document=document,
                                                            create_date=now))
            changes = {"next_version": row.next_version + 1, "update_date": now}
            if params.get("SetAsDefault"):
                changes["default_version"] = version
            conn.execute(update(iam_policies).where(iam_policies.c.arn == arn).values(**changes))
        self.directory.changed()
        return {"PolicyVersion": {"VersionId": version, "IsDefaultVersion": bool(params.get("SetAsDefault")),
                                  "CreateDate": now}}

    def _version_exists(self, conn: Connection, arn: str, version: str) -> None:
        found = conn.execute(
            select(iam_policy_versions.c.version_id).where(
                iam_policy_versions.c.policy_arn == arn, iam_policy_versions.c.version_id == version
            )
        ).first()
        if found is None:
            raise no_such_entity(f"Policy {arn} version {version} does not exist or is not deletable.")

    def DeletePolicyVersion(self, ctx: RequestContext, params: dict) -> dict:
        arn, version = params["PolicyArn"], params["VersionId"]
        with self.engine.begin() as conn:
            row = self._writable(conn, ctx, arn)
            self._version_exists(conn, arn, version)
            if version == row.default_version:
                raise delete_conflict("Cannot delete the default version of a policy.")
            conn.execute(delete(iam_policy_versions).where(iam_policy_versions.c.policy_arn == arn,
                                                           iam_policy_versions.c.version_id == version))
        return {}

    def SetDefaultPolicyVersion(self, ctx: RequestContext, params: dict) -> dict:
        arn, version = params["PolicyArn"], params["VersionId"]
        with self.engine.begin() as conn:
            self._writable(conn, ctx, arn)
            self._version_exists(conn, arn, version)
            conn.execute(update(iam_policies).where(iam_policies.c.arn == arn)
                         .values(default_version=version, update_date=time.time()))
        self.directory.changed()
        return {}

    # --- tags (customer managed policies have them; AWS managed ones have none) ---------------------------

    def _retag(self, ctx: RequestContext, arn: str, change) -> None:
        with self.engine.begin() as conn:
            row = self._writable(conn, ctx, arn)
            conn.execute(update(iam_policies).where(iam_policies.c.arn == arn).values(tags=change(row.tags)))

    def TagPolicy(self, ctx: RequestContext, params: dict) -> dict:
        self._retag(ctx, params["PolicyArn"], lambda current: tags.merged(current, params["Tags"]))
        return {}

    def UntagPolicy(self, ctx: RequestContext, params: dict) -> dict:
        self._retag(ctx, params["PolicyArn"], lambda current: tags.without(current, params["TagKeys"]))
        return {}

    def ListPolicyTags(self, ctx: RequestContext, params: dict) -> dict:
        arn = params["PolicyArn"]
        if arn in aws_managed.BY_ARN:
            return listing([], params, "Tags")
        with self.engine.connect() as conn:
            return listing(self._customer(conn, ctx, arn).tags, params, "Tags")

    # --- attachments -----------------------------------------------------------------------------------

    def _attached_where(self, ctx: RequestContext, kind: str, owner) -> tuple:
        return (iam_attachments.c.account_id == ctx.account_id, iam_attachments.c.owner_kind == kind,
                iam_attachments.c.owner_key == owner.name_key)

    def _attach(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        arn = params["PolicyArn"]
        with self.engine.begin() as conn:
            owner = find_owner(conn, ctx, kind, params[_NAME_PARAM[kind]])
            self._policy(conn, ctx, arn)
            attached = conn.execute(
                select(iam_attachments.c.policy_arn).where(*self._attached_where(ctx, kind, owner))
            ).scalars().all()
            if arn in attached:
                return {}  # attaching twice is no change, as in IAM
            if len(attached) >= MAX_ATTACHED:
                raise limit_exceeded(f"Cannot exceed quota for PoliciesPer{kind.title()}: {MAX_ATTACHED}")
            conn.execute(insert(iam_attachments).values(account_id=ctx.account_id, owner_kind=kind,
                                                        owner_key=owner.name_key, policy_arn=arn))
        self.directory.changed()
        return {}

    def _detach(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        arn = params["PolicyArn"]
        with self.engine.begin() as conn:
            owner = find_owner(conn, ctx, kind, params[_NAME_PARAM[kind]])
            gone = conn.execute(
                delete(iam_attachments).where(*self._attached_where(ctx, kind, owner),
                                              iam_attachments.c.policy_arn == arn)
            ).rowcount
        if not gone:
            raise no_such_entity(f"Policy {arn} was not found.")
        self.directory.changed()
        return {}

    def _list_attached(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        prefix = params.get("PathPrefix", "/")
        with self.engine.connect() as conn:
            owner = find_owner(conn, ctx, kind, params[_NAME_PARAM[kind]])
            arns = conn.execute(
                select(iam_attachments.c.policy_arn).where(*self._attached_where(ctx, kind, owner))
                .order_by(iam_attachments.c.policy_arn)
            ).scalars().all()
            policies = [self._policy(conn, ctx, arn) for arn in arns]
        attached = [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]} for p in policies
                    if p["Path"].startswith(prefix)]
        return listing(attached, params, "AttachedPolicies")

    def AttachUserPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._attach(ctx, "user", params)

    def DetachUserPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._detach(ctx, "user", params)

    def ListAttachedUserPolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_attached(ctx, "user", params)

    def AttachRolePolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._attach(ctx, "role", params)

    def DetachRolePolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._detach(ctx, "role", params)

    def ListAttachedRolePolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_attached(ctx, "role", params)

    def AttachGroupPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._attach(ctx, "group", params)

    def DetachGroupPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._detach(ctx, "group", params)

    def ListAttachedGroupPolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_attached(ctx, "group", params)
