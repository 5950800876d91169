"""IAM access keys of users: at most two each, Active or Inactive, kept where the gateway looks them up, and
when each was last used."""

from __future__ import annotations

from sqlalchemy import Engine, select

from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.iam.common import caller_kind, find_owner, limit_exceeded, listing, no_such_entity
from selfmaker.services.iam.directory import Directory
from selfmaker.services.iam.key_usage import KeyUsage
from selfmaker.services.iam.tables import iam_users
from selfmaker.services.identity import Credential, CredentialStore, new_access_key_id, new_secret_access_key
from selfmaker.store.tables import access_keys

MAX_KEYS = 2


class AccessKeys:
    engine: Engine
    directory: Directory
    credentials: CredentialStore
    key_usage: KeyUsage

    def _user(self, ctx: RequestContext, params: dict):
        """The user named, or the calling user when none is (as IAM defaults it)."""
        name = params.get("UserName")
        if name is None:
            # Root keys stay the server's own (SELFMAKER_ROOT_*): IAM users hold every other key.
            if caller_kind(ctx) != "user":
                raise ServiceError("ValidationError", "Must specify userName when calling with non-User credentials")
            name = ctx.principal_arn.rsplit("/", 1)[-1]
        with self.engine.connect() as conn:
            return find_owner(conn, ctx, "user", name)

    def _key(self, ctx: RequestContext, params: dict):
        user = self._user(ctx, params)
        for row in self.credentials.keys_of(user.arn):
            if row.access_key_id == params["AccessKeyId"]:
                return row
        raise no_such_entity(f"The Access Key with id {params['AccessKeyId']} cannot be found.")

    def CreateAccessKey(self, ctx: RequestContext, params: dict) -> dict:
        user = self._user(ctx, params)
        if len(self.credentials.keys_of(user.arn)) >= MAX_KEYS:
            raise limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}")
        credential = Credential(new_access_key_id(), new_secret_access_key(), ctx.account_id, user.arn)
        self.credentials.add(credential)
        row = next(r for r in self.credentials.keys_of(user.arn) if r.access_key_id == credential.access_key_id)
        return {
            "AccessKey": {
                "UserName": user.name, "AccessKeyId": row.access_key_id, "Status": row.status,
                "SecretAccessKey": row.secret_access_key, "CreateDate": row.created,
            }
        }

    def ListAccessKeys(self, ctx: RequestContext, params: dict) -> dict:
        user = self._user(ctx, params)
        keys = [
            {"UserName": user.name, "AccessKeyId": row.access_key_id, "Status": row.status, "CreateDate": row.created}
            for row in self.credentials.keys_of(user.arn)
        ]
        return listing(keys, params, "AccessKeyMetadata")

    def UpdateAccessKey(self, ctx: RequestContext, params: dict) -> dict:
        row = self._key(ctx, params)
        self.credentials.set_status(row.access_key_id, params["Status"])
        self.directory.changed()
        return {}

    def DeleteAccessKey(self, ctx: RequestContext, params: dict) -> dict:
        row = self._key(ctx, params)
        self.credentials.remove(row.access_key_id)
        self.key_usage.forget(row.access_key_id)
        self.directory.changed()
        return {}

    def GetAccessKeyLastUsed(self, ctx: RequestContext, params: dict) -> dict:
        key_id = params["AccessKeyId"]
        with self.engine.connect() as conn:
            key = conn.execute(select(access_keys).where(access_keys.c.access_key_id == key_id,
                                                         access_keys.c.account_id == ctx.account_id,
                                                         access_keys.c.session_token.is_(None))).first()
            if key is None:  # temporary (STS) keys are not IAM's
                raise no_such_entity(f"The Access Key with id {key_id} cannot be found.")
            user = conn.execute(select(iam_users.c.name).where(iam_users.c.arn == key.principal_arn)).scalar()
            used = self.key_usage.last_used(conn, key_id)
        last_used = {"ServiceName": "N/A", "Region": "N/A"} if used is None else {
            "LastUsedDate": used.last_used, "ServiceName": used.service, "Region": used.region}
        return {"UserName": user, "AccessKeyLastUsed": last_used}
