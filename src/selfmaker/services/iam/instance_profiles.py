"""IAM instance profiles: a named holder of at most one role, what EC2-style hosts are given to act as it."""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from selfmaker.services.base import RequestContext
from selfmaker.services.iam import tags
from selfmaker.services.iam.common import (
    already_exists,
    delete_conflict,
    find_owner,
    iam_arn,
    limit_exceeded,
    listing,
    no_such_entity,
    unique_id,
)
from selfmaker.services.iam.roles import role_shape
from selfmaker.services.iam.tables import iam_instance_profile_roles as profile_roles
from selfmaker.services.iam.tables import iam_instance_profiles as profiles
from selfmaker.services.iam.tables import iam_roles

MAX_ROLES = 1  # IAM's InstanceSessionsPerInstanceProfile, which cannot be raised


def _find(conn: Connection, ctx: RequestContext, name: str):
    row = conn.execute(
        select(profiles).where(profiles.c.account_id == ctx.account_id, profiles.c.name_key == name.lower())
    ).first()
    if row is None:
        raise no_such_entity(f"Instance Profile {name} cannot be found.")
    return row


def _roles(conn: Connection, ctx: RequestContext, profile) -> list:
    return conn.execute(
        select(iam_roles).join(profile_roles, (profile_roles.c.account_id == iam_roles.c.account_id)
                               & (profile_roles.c.role_id == iam_roles.c.role_id))
        .where(profile_roles.c.account_id == ctx.account_id, profile_roles.c.profile_key == profile.name_key)
    ).all()


def _shape(conn: Connection, ctx: RequestContext, row, with_tags: bool = True) -> dict:
    shape = {"Path": row.path, "InstanceProfileName": row.name, "InstanceProfileId": row.profile_id,
             "Arn": row.arn, "CreateDate": row.create_date,
             "Roles": [role_shape(role, with_tags=False) for role in _roles(conn, ctx, row)]}
    if with_tags:  # as IAM: an empty list when it has none
        shape["Tags"] = row.tags
    return shape


def _retag(engine: Engine, ctx: RequestContext, name: str, change) -> None:
    # A function, not a method: the provider's other mixins have a _retag of their own.
    with engine.begin() as conn:
        row = _find(conn, ctx, name)
        conn.execute(update(profiles).where(profiles.c.account_id == ctx.account_id,
                                            profiles.c.name_key == row.name_key).values(tags=change(row.tags)))


class InstanceProfiles:
    engine: Engine

    def CreateInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        name, path = params["InstanceProfileName"], params.get("Path", "/")
        values = dict(account_id=ctx.account_id, name_key=name.lower(), name=name, path=path,
                      arn=iam_arn(ctx, "instance-profile", path, name), profile_id=unique_id("AIPA"),
                      tags=tags.merged([], params.get("Tags", [])), create_date=time.time())
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(profiles).values(**values))
        except IntegrityError:
            raise already_exists(f"Instance Profile {name} already exists.") from None
        with self.engine.connect() as conn:
            return {"InstanceProfile": _shape(conn, ctx, _find(conn, ctx, name))}

    def GetInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            return {"InstanceProfile": _shape(conn, ctx, _find(conn, ctx, params["InstanceProfileName"]))}

    def ListInstanceProfiles(self, ctx: RequestContext, params: dict) -> dict:
        prefix = params.get("PathPrefix", "/")
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(profiles).where(profiles.c.account_id == ctx.account_id).order_by(profiles.c.name_key)
            ).all()
            shapes = [_shape(conn, ctx, row, with_tags=False) for row in rows if row.path.startswith(prefix)]
        return listing(shapes, params, "InstanceProfiles")

    def ListInstanceProfilesForRole(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            role = find_owner(conn, ctx, "role", params["RoleName"])
            rows = conn.execute(
                select(profiles).join(profile_roles, (profile_roles.c.account_id == profiles.c.account_id)
                                      & (profile_roles.c.profile_key == profiles.c.name_key))
                .where(profiles.c.account_id == ctx.account_id, profile_roles.c.role_id == role.role_id)
                .order_by(profiles.c.name_key)
            ).all()
            shapes = [_shape(conn, ctx, row, with_tags=False) for row in rows]
        return listing(shapes, params, "InstanceProfiles")

    def DeleteInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            row = _find(conn, ctx, params["InstanceProfileName"])
            if _roles(conn, ctx, row):
                raise delete_conflict("Cannot delete entity, must remove roles from instance profile first.")
            conn.execute(delete(profiles).where(profiles.c.account_id == ctx.account_id,
                                                profiles.c.name_key == row.name_key))
        return {}

    def AddRoleToInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            row = _find(conn, ctx, params["InstanceProfileName"])
            role = find_owner(conn, ctx, "role", params["RoleName"])
            if len(_roles(conn, ctx, row)) >= MAX_ROLES:
                raise limit_exceeded(f"Cannot exceed quota for InstanceSessionsPerInstanceProfile: {MAX_ROLES}")
            conn.execute(insert(profile_roles).values(account_id=ctx.account_id, profile_key=row.name_key,
                                                      role_id=role.role_id))
        return {}

    def RemoveRoleFromInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            row = _find(conn, ctx, params["InstanceProfileName"])
            role = find_owner(conn, ctx, "role", params["RoleName"])
            gone = conn.execute(delete(profile_roles).where(
                profile_roles.c.account_id == ctx.account_id, profile_roles.c.profile_key == row.name_key,
                profile_roles.c.role_id == role.role_id,
            )).rowcount
        if not gone:
            raise no_such_entity(f"The role with name {role.name} cannot be found in instance profile {row.name}.")
        return {}

    def TagInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        _retag(self.engine, ctx, params["InstanceProfileName"], lambda current: tags.merged(current, params["Tags"]))
        return {}

    def UntagInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        _retag(self.engine, ctx, params["InstanceProfileName"],
               lambda current: tags.without(current, params["TagKeys"]))
        return {}

    def ListInstanceProfileTags(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            row = _find(conn, ctx, params["InstanceProfileName"])
        return listing(row.tags, params, "Tags")
