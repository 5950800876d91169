"""IAM users: create, read, list, rename, tag, delete (only once nothing hangs on them, as IAM insists)."""

from __future__ import annotations

import time

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.iam import tags
from selfmaker.services.iam.common import (
    already_exists,
    caller_kind,
    delete_conflict,
    find_owner,
    iam_arn,
    listing,
    refuse_boundary,
    require_no_policies,
    unique_id,
    update_owner,
)
from selfmaker.services.iam.directory import Directory
from selfmaker.services.iam.tables import iam_group_members, iam_login_profiles, iam_password_history, iam_users
from selfmaker.services.iam.user_renames import rename_user
from selfmaker.services.identity import CredentialStore
from selfmaker.store.tables import access_keys


def user_shape(row, with_tags: bool = True) -> dict:
    shape = {"Path": row.path, "UserName": row.name, "UserId": row.user_id, "Arn": row.arn,
             "CreateDate": row.create_date}
    if with_tags and row.tags:
        shape["Tags"] = row.tags
    return shape


class Users:
    engine: Engine
    directory: Directory
    credentials: CredentialStore

    def CreateUser(self, ctx: RequestContext, params: dict) -> dict:
        refuse_boundary(params)
        name, path = params["UserName"], params.get("Path", "/")
        values = dict(
            account_id=ctx.account_id, name_key=name.lower(), name=name, path=path,
            arn=iam_arn(ctx, "user", path, name), user_id=unique_id("AIDA"),
            tags=tags.checked(params.get("Tags", [])), create_date=time.time(),
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(iam_users).values(**values))
        except IntegrityError:
            raise already_exists(f"User with name {name} already exists.") from None
        with self.engine.connect() as conn:
            return {"User": user_shape(find_owner(conn, ctx, "user", name))}

    def GetUser(self, ctx: RequestContext, params: dict) -> dict:
        name = params.get("UserName")
        if name is None:
            kind = caller_kind(ctx)
            if kind == "root":
                return {"User": self._root(ctx)}
            if kind != "user":
                raise ServiceError("ValidationError", "Must specify userName when calling with non-User credentials")
            name = ctx.principal_arn.rsplit("/", 1)[-1]
        with self.engine.connect() as conn:
            return {"User": user_shape(find_owner(conn, ctx, "user", name))}

    def _root(self, ctx: RequestContext) -> dict:
        with self.engine.connect() as conn:
            created = conn.execute(
                select(func.min(access_keys.c.created)).where(access_keys.c.principal_arn == ctx.principal_arn)
            ).scalar()
        return {"Path": "/", "UserId": ctx.account_id, "Arn": ctx.principal_arn, "CreateDate": created or 0.0}

    def ListUsers(self, ctx: RequestContext, params: dict) -> dict:
        prefix = params.get("PathPrefix", "/")
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(iam_users).where(iam_users.c.account_id == ctx.account_id).order_by(iam_users.c.name_key)
            ).all()
        users = [user_shape(row, with_tags=False) for row in rows if row.path.startswith(prefix)]
        return listing(users, params, "Users")

    def DeleteUser(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            user = find_owner(conn, ctx, "user", params["UserName"])
            if conn.execute(select(iam_login_profiles.c.user_key).where(
                iam_login_profiles.c.account_id == ctx.account_id, iam_login_profiles.c.user_key == user.name_key
            )).first():
                raise delete_conflict("Cannot delete entity, must delete login profile first.")
            if conn.execute(select(access_keys.c.access_key_id).where(access_keys.c.principal_arn == user.arn)).first():
                raise delete_conflict("Cannot delete entity, must delete access keys first.")
            if conn.execute(select(iam_group_members.c.group_id).where(
                iam_group_members.c.account_id == ctx.account_id, iam_group_members.c.user_id == user.user_id
            )).first():
                raise delete_conflict("Cannot delete entity, must remove user from all groups first.")
            require_no_policies(conn, ctx, "user", user.name_key)
            conn.execute(
                delete(iam_users).where(iam_users.c.account_id == ctx.account_id, iam_users.c.name_key == user.name_key)
            )
            # Its earlier passwords go with it: a new user of the same name starts afresh.
            conn.execute(delete(iam_password_history).where(
                iam_password_history.c.account_id == ctx.account_id, iam_password_history.c.user_key == user.name_key
            ))
        self.directory.changed()
        return {}

    def UpdateUser(self, ctx: RequestContext, params: dict) -> dict:
        new_name = params.get("NewUserName", params["UserName"])
        try:
            with self.engine.begin() as conn:
                user = find_owner(conn, ctx, "user", params["UserName"])
                new_name, new_path = params.get("NewUserName", user.name), params.get("NewPath", user.path)
                moved = rename_user(conn, ctx, user, new_name, new_path, iam_arn(ctx, "user", new_path, new_name))
        except IntegrityError:  # the name (or the ARN) is another user's
            raise already_exists(f"User with name {new_name} already exists.") from None
        for access_key_id in moved:
            self.credentials.forget(access_key_id)  # its cached credential names the old ARN
        self.directory.changed()
        return {}

    def TagUser(self, ctx: RequestContext, params: dict) -> dict:
        update_owner(self.engine, ctx, "user", params["UserName"],
                     lambda row: {"tags": tags.merged(row.tags, params["Tags"])})
        return {}

    def UntagUser(self, ctx: RequestContext, params: dict) -> dict:
        update_owner(self.engine, ctx, "user", params["UserName"],
                     lambda row: {"tags": tags.without(row.tags, params["TagKeys"])})
        return {}

    def ListUserTags(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            user = find_owner(conn, ctx, "user", params["UserName"])
        return listing(user.tags, params, "Tags")
