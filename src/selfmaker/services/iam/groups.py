"""IAM groups: named sets of users; a group's inline and attached policies apply to each of its members.

Memberships are kept by unique ids (AGPA…, AIDA…), so renaming a group (UpdateGroup) leaves them as they are;
its policies are kept by its name, like a user's or role's, and follow a rename.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from selfmaker.services.base import RequestContext
from selfmaker.services.iam.common import (
    already_exists,
    delete_conflict,
    find_owner,
    iam_arn,
    limit_exceeded,
    listing,
    no_such_entity,
    require_no_policies,
    unique_id,
)
from selfmaker.services.iam.directory import Directory, groups_of
from selfmaker.services.iam.tables import (
    iam_attachments,
    iam_group_members,
    iam_groups,
    iam_inline_policies,
    iam_users,
)
from selfmaker.services.iam.users import user_shape

MAX_GROUPS_PER_USER = 10  # IAM's GroupsPerUserQuota


def group_shape(row) -> dict:
    return {"Path": row.path, "GroupName": row.name, "GroupId": row.group_id, "Arn": row.arn,
            "CreateDate": row.create_date}


def _members(conn: Connection, ctx: RequestContext, group) -> list:
    return conn.execute(
        select(iam_users).join(iam_group_members, (iam_group_members.c.account_id == iam_users.c.account_id)
                               & (iam_group_members.c.user_id == iam_users.c.user_id))
        .where(iam_group_members.c.account_id == ctx.account_id, iam_group_members.c.group_id == group.group_id)
        .order_by(iam_users.c.name_key)
    ).all()


def _membership(ctx: RequestContext, group, user) -> tuple:
    return (iam_group_members.c.account_id == ctx.account_id, iam_group_members.c.group_id == group.group_id,
            iam_group_members.c.user_id == user.user_id)


class Groups:
    engine: Engine
    directory: Directory

    def CreateGroup(self, ctx: RequestContext, params: dict) -> dict:
        name, path = params["GroupName"], params.get("Path", "/")
        values = dict(account_id=ctx.account_id, name_key=name.lower(), name=name, path=path,
                      arn=iam_arn(ctx, "group", path, name), group_id=unique_id("AGPA"), create_date=time.time())
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(iam_groups).values(**values))
        except IntegrityError:
            raise already_exists(f"Group with name {name} already exists.") from None
        with self.engine.connect() as conn:
            return {"Group": group_shape(find_owner(conn, ctx, "group", name))}

    def GetGroup(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            group = find_owner(conn, ctx, "group", params["GroupName"])
            users = [user_shape(row, with_tags=False) for row in _members(conn, ctx, group)]
        return {"Group": group_shape(group), **listing(users, params, "Users")}

    def ListGroups(self, ctx: RequestContext, params: dict) -> dict:
        prefix = params.get("PathPrefix", "/")
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(iam_groups).where(iam_groups.c.account_id == ctx.account_id).order_by(iam_groups.c.name_key)
            ).all()
        return listing([group_shape(row) for row in rows if row.path.startswith(prefix)], params, "Groups")

    def ListGroupsForUser(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            user = find_owner(conn, ctx, "user", params["UserName"])
            groups = [group_shape(row) for row in groups_of(conn, ctx.account_id, user.user_id)]
        return listing(groups, params, "Groups")

    def UpdateGroup(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            group = find_owner(conn, ctx, "group", params["GroupName"])
            name, path = params.get("NewGroupName", group.name), params.get("NewPath", group.path)
            key = name.lower()
            if key != group.name_key and conn.execute(
                select(iam_groups.c.name_key).where(iam_groups.c.account_id == ctx.account_id,
                                                    iam_groups.c.name_key == key)
            ).first():
                raise already_exists(f"Group with name {name} already exists.")
            conn.execute(
                update(iam_groups).where(iam_groups.c.account_id == ctx.account_id,
                                         iam_groups.c.name_key == group.name_key)
                .values(name_key=key, name=name, path=path, arn=iam_arn(ctx, "group", path, name))
            )
            for table in (iam_inline_policies, iam_attachments):  # its policies go by its name
                conn.execute(
                    update(table).where(table.c.account_id == ctx.account_id, table.c.owner_kind == "group",
                                        table.c.owner_key == group.name_key).values(owner_key=key)
                )
        self.directory.changed()
        return {}

    def DeleteGroup(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            group = find_owner(conn, ctx, "group", params["GroupName"])
            if _members(conn, ctx, group):
                raise delete_conflict("Cannot delete entity, must remove users from group first.")
            require_no_policies(conn, ctx, "group", group.name_key)
            conn.execute(delete(iam_groups).where(iam_groups.c.account_id == ctx.account_id,
                                                  iam_groups.c.name_key == group.name_key))
        self.directory.changed()
        return {}

    def AddUserToGroup(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            user = find_owner(conn, ctx, "user", params["UserName"])
            group = find_owner(conn, ctx, "group", params["GroupName"])
            if conn.execute(select(iam_group_members).where(*_membership(ctx, group, user))).first():
                return {}  # adding a member again is no change, as in IAM
            count = conn.execute(
                select(func.count()).select_from(iam_group_members).where(
                    iam_group_members.c.account_id == ctx.account_id, iam_group_members.c.user_id == user.user_id)
            ).scalar()
            if count >= MAX_GROUPS_PER_USER:
                raise limit_exceeded(f"Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}")
            conn.execute(insert(iam_group_members).values(account_id=ctx.account_id, group_id=group.group_id,
                                                          user_id=user.user_id))
        self.directory.changed()
        return {}

    def RemoveUserFromGroup(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            group = find_owner(conn, ctx, "group", params["GroupName"])
            user = find_owner(conn, ctx, "user", params["UserName"])
            gone = conn.execute(delete(iam_group_members).where(*_membership(ctx, group, user))).rowcount
        if not gone:
            raise no_such_entity(f"The user with name {user.name} cannot be found in group {group.name}.")
        self.directory.changed()
        return {}
