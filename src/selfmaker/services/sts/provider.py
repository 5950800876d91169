"""STS: who am I."""

from __future__ import annotations

from selfmaker.services.base import RequestContext


class STSService:
    def GetCallerIdentity(self, ctx: RequestContext, params: dict) -> dict:
        arn = ctx.principal_arn
        # Root's UserId is the account id; an IAM user's is its unique id (we use the key's owner name).
        user_id = ctx.account_id if arn.endswith(":root") else arn.rsplit("/", 1)[-1]
        return {"UserId": user_id, "Account": ctx.account_id, "Arn": arn}
