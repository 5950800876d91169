"""Inline policies: documents embedded in one user, role or group, by name."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select

from selfmaker.services.base import RequestContext
from selfmaker.services.iam.common import (
    check_document,
    check_inline_size,
    encoded,
    find_owner,
    listing,
    no_such_entity,
)
from selfmaker.services.iam.directory import Directory
from selfmaker.services.iam.tables import iam_inline_policies as inline

_NAME_PARAM = {"user": "UserName", "role": "RoleName", "group": "GroupName"}


class InlinePolicies:
    engine: Engine
    directory: Directory

    def _where(self, ctx: RequestContext, kind: str, owner) -> tuple:
        return inline.c.account_id == ctx.account_id, inline.c.owner_kind == kind, inline.c.owner_key == owner.name_key

    def _put(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        document = check_document(params["PolicyDocument"])
        with self.engine.begin() as conn:
            owner = find_owner(conn, ctx, kind, params[_NAME_PARAM[kind]])
            check_inline_size(conn, ctx, kind, owner, params["PolicyName"], document)
            conn.execute(delete(inline).where(*self._where(ctx, kind, owner), inline.c.name == params["PolicyName"]))
            conn.execute(
                insert(inline).values(account_id=ctx.account_id, owner_kind=kind, owner_key=owner.name_key,
                                      name=params["PolicyName"], document=document)
            )
        self.directory.changed()
        return {}

    def _document(self, conn, ctx: RequestContext, kind: str, params: dict) -> tuple[object, str]:
        owner = find_owner(conn, ctx, kind, params[_NAME_PARAM[kind]])
        document = conn.execute(
            select(inline.c.document).where(*self._where(ctx, kind, owner), inline.c.name == params["PolicyName"])
        ).scalar()
        if document is None:
            raise no_such_entity(f"The {kind} policy with name {params['PolicyName']} cannot be found.")
        return owner, document

    def _get(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        with self.engine.connect() as conn:
            owner, document = self._document(conn, ctx, kind, params)
        return {_NAME_PARAM[kind]: owner.name, "PolicyName": params["PolicyName"], "PolicyDocument": encoded(document)}

    def _delete(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        with self.engine.begin() as conn:
            owner, _ = self._document(conn, ctx, kind, params)
            conn.execute(delete(inline).where(*self._where(ctx, kind, owner), inline.c.name == params["PolicyName"]))
        self.directory.changed()
        return {}

    def _list(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        with self.engine.connect() as conn:
            owner = find_owner(conn, ctx, kind, params[_NAME_PARAM[kind]])
            names = conn.execute(
                select(inline.c.name).where(*self._where(ctx, kind, owner)).order_by(inline.c.name)
            ).scalars().all()
        return listing(list(names), params, "PolicyNames")

    def PutUserPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._put(ctx, "user", params)

    def GetUserPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._get(ctx, "user", params)

    def DeleteUserPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._delete(ctx, "user", params)

    def ListUserPolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list(ctx, "user", params)

    def PutRolePolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._put(ctx, "role", params)

    def GetRolePolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._get(ctx, "role", params)

    def DeleteRolePolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._delete(ctx, "role", params)

    def ListRolePolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list(ctx, "role", params)

    def PutGroupPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._put(ctx, "group", params)

    def GetGroupPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._get(ctx, "group", params)

    def DeleteGroupPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._delete(ctx, "group", params)

    def ListGroupPolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list(ctx, "group", params)
