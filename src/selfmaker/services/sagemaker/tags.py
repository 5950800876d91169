"""AddTags / ListTags / DeleteTags on SageMaker resources of the caller's account and region."""

from __future__ import annotations

from sqlalchemy import Engine, delete, select

from selfmaker.services.base import RequestContext, validation_error
from selfmaker.services.metering import refresh_tags
from selfmaker.services.pagination import page
from selfmaker.services.sagemaker.common import read_tags, write_tags
from selfmaker.store.tables import lifecycle_configs, notebook_instances, tags


class Tags:
    engine: Engine

    def _tagged_resource(self, ctx: RequestContext, resource_arn: str) -> str:
        with self.engine.connect() as conn:
            found = any(
                conn.execute(
                    select(table.c.arn).where(
                        table.c.account_id == ctx.account_id, table.c.region == ctx.region, table.c.arn == resource_arn
                    )
                ).first()
                for table in (notebook_instances, lifecycle_configs)
            )
        if not found:
            raise validation_error(f"Resource {resource_arn} does not exist in this account and region.")
        return resource_arn

    def AddTags(self, ctx: RequestContext, params: dict) -> dict:
        resource = self._tagged_resource(ctx, params["ResourceArn"])
        with self.engine.begin() as conn:
            write_tags(conn, resource, params["Tags"])
        return {"Tags": params["Tags"]}

    def ListTags(self, ctx: RequestContext, params: dict) -> dict:
        resource = self._tagged_resource(ctx, params["ResourceArn"])
        items, token = page(read_tags(self.engine, resource), params.get("MaxResults"), params.get("NextToken"), 50)
        return {"Tags": items, "NextToken": token}

    def DeleteTags(self, ctx: RequestContext, params: dict) -> dict:
        resource = self._tagged_resource(ctx, params["ResourceArn"])
        with self.engine.begin() as conn:
            conn.execute(delete(tags).where(tags.c.resource_arn == resource, tags.c.key.in_(params["TagKeys"])))
            refresh_tags(conn, resource)
        return {}
