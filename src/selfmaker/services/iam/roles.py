"""IAM roles: a trust policy (who may assume it) and the policies its sessions act under."""

from __future__ import annotations

import time

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from selfmaker.services.base import RequestContext
from selfmaker.services.iam import tags
from selfmaker.services.iam.common import (
    already_exists,
    check_document,
    delete_conflict,
    encoded,
    find_owner,
    iam_arn,
    listing,
    refuse_boundary,
    require_no_policies,
    unique_id,
    update_owner,
)
from selfmaker.services.iam.directory import Directory
from selfmaker.services.iam.tables import iam_instance_profile_roles, iam_roles

DEFAULT_MAX_SESSION = 3600


def role_shape(row, with_tags: bool = True) -> dict:
    shape = {
        "Path": row.path, "RoleName": row.name, "RoleId": row.role_id, "Arn": row.arn,
        "CreateDate": row.create_date, "AssumeRolePolicyDocument": encoded(row.trust_policy),
        "Description": row.description, "MaxSessionDuration": row.max_session_duration,
    }
    if with_tags:
        shape["RoleLastUsed"] = {}
        if row.tags:
            shape["Tags"] = row.tags
    return shape


class Roles:
    engine: Engine
    directory: Directory

    def _update_role(self, ctx: RequestContext, name: str, change) -> None:
        update_owner(self.engine, ctx, "role", name, change)
        self.directory.changed()

    def CreateRole(self, ctx: RequestContext, params: dict) -> dict:
        refuse_boundary(params)
        name, path = params["RoleName"], params.get("Path", "/")
        values = dict(
            account_id=ctx.account_id, name_key=name.lower(), name=name, path=path,
            arn=iam_arn(ctx, "role", path, name), role_id=unique_id("AROA"),
            trust_policy=check_document(params["AssumeRolePolicyDocument"], "trust"),
            description=params.get("Description"),
            max_session_duration=params.get("MaxSessionDuration", DEFAULT_MAX_SESSION),
            tags=tags.checked(params.get("Tags", [])), create_date=time.time(),
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(iam_roles).values(**values))
        except IntegrityError:
            raise already_exists(f"Role with name {name} already exists.") from None
        self.directory.changed()
        with self.engine.connect() as conn:
            return {"Role": role_shape(find_owner(conn, ctx, "role", name), with_tags=False)}

    def GetRole(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            return {"Role": role_shape(find_owner(conn, ctx, "role", params["RoleName"]))}

    def ListRoles(self, ctx: RequestContext, params: dict) -> dict:
        prefix = params.get("PathPrefix", "/")
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(iam_roles).where(iam_roles.c.account_id == ctx.account_id).order_by(iam_roles.c.name_key)
            ).all()
        return listing([role_shape(row, with_tags=False) for row in rows if row.path.startswith(prefix)], params,
                       "Roles")

    def DeleteRole(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            row = find_owner(conn, ctx, "role", params["RoleName"])
            if conn.execute(select(iam_instance_profile_roles.c.profile_key).where(
                iam_instance_profile_roles.c.account_id == ctx.account_id,
                iam_instance_profile_roles.c.role_id == row.role_id,
            )).first():
                raise delete_conflict("Cannot delete entity, must remove roles from instance profile first.")
            require_no_policies(conn, ctx, "role", row.name_key)
            conn.execute(
                delete(iam_roles).where(iam_roles.c.account_id == ctx.account_id, iam_roles.c.name_key == row.name_key)
            )
        self.directory.changed()
        return {}

    def UpdateAssumeRolePolicy(self, ctx: RequestContext, params: dict) -> dict:
        document = check_document(params["PolicyDocument"], "trust")
        self._update_role(ctx, params["RoleName"], lambda row: {"trust_policy": document})
        return {}

    def UpdateRole(self, ctx: RequestContext, params: dict) -> dict:
        changes = {}
        if "Description" in params:
            changes["description"] = params["Description"]
        if "MaxSessionDuration" in params:
            changes["max_session_duration"] = params["MaxSessionDuration"]
        self._update_role(ctx, params["RoleName"], lambda row: changes)
        return {}

    def UpdateRoleDescription(self, ctx: RequestContext, params: dict) -> dict:
        self._update_role(ctx, params["RoleName"], lambda row: {"description": params["Description"]})
        with self.engine.connect() as conn:
            return {"Role": role_shape(find_owner(conn, ctx, "role", params["RoleName"]))}

    def TagRole(self, ctx: RequestContext, params: dict) -> dict:
        self._update_role(ctx, params["RoleName"], lambda row: {"tags": tags.merged(row.tags, params["Tags"])})
        return {}

    def UntagRole(self, ctx: RequestContext, params: dict) -> dict:
        self._update_role(ctx, params["RoleName"], lambda row: {"tags": tags.without(row.tags, params["TagKeys"])})
        return {}

    def ListRoleTags(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            row = find_owner(conn, ctx, "role", params["RoleName"])
        return listing(row.tags, params, "Tags")
