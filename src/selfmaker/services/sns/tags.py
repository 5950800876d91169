"""Topic tags (on the shared ``tags`` table): TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, delete, insert, select

from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.sns.arns import topic_in_scope
from selfmaker.services.sns.errors import invalid_parameter, resource_not_found
from selfmaker.services.sns.tables import sns_topics
from selfmaker.store.tables import tags

MAX_TAGS = 50


def check_tags(given: list[dict]) -> dict[str, str]:
    keys = [tag["Key"] for tag in given]
    if len(set(keys)) != len(keys):
        raise invalid_parameter("Tags", "Duplicated keys are not allowed.")
    if any(key.lower().startswith("aws:") for key in keys):
        raise invalid_parameter("Tags", "Tag keys must not start with 'aws:'")
    return {tag["Key"]: tag["Value"] for tag in given}


def read_tags(conn: Connection, arn: str) -> dict[str, str]:
    return dict(conn.execute(select(tags.c.key, tags.c.value).where(tags.c.resource_arn == arn)).all())


def write_tags(conn: Connection, arn: str, new: dict[str, str]) -> None:
    merged = read_tags(conn, arn) | new
    if len(merged) > MAX_TAGS:
        raise ServiceError("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
    conn.execute(delete(tags).where(tags.c.resource_arn == arn, tags.c.key.in_(list(new))))
    if new:
        conn.execute(insert(tags), [{"resource_arn": arn, "key": k, "value": v} for k, v in new.items()])


class TopicTags:
    engine: Engine

    def _tagged_topic(self, conn: Connection, ctx: RequestContext, arn: str, action: str) -> str:
        topic = topic_in_scope(ctx, arn, action, "ResourceArn")
        if conn.execute(select(sns_topics.c.arn).where(sns_topics.c.arn == topic.arn)).first() is None:
            raise resource_not_found()
        return topic.arn

    def TagResource(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            arn = self._tagged_topic(conn, ctx, params["ResourceArn"], "TagResource")
            write_tags(conn, arn, check_tags(params["Tags"]))
        return {}

    def UntagResource(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.begin() as conn:
            arn = self._tagged_topic(conn, ctx, params["ResourceArn"], "UntagResource")
            conn.execute(delete(tags).where(tags.c.resource_arn == arn, tags.c.key.in_(params["TagKeys"])))
        return {}

    def ListTagsForResource(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            arn = self._tagged_topic(conn, ctx, params["ResourceArn"], "ListTagsForResource")
            found = read_tags(conn, arn)
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(found.items())]}
