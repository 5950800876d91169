"""What the SageMaker operations share: ARNs, filters, tags."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select

from selfmaker.services.base import RequestContext, validation_error
from selfmaker.services.metering import refresh_tags
from selfmaker.services.pagination import page
from selfmaker.store.tables import tags

MAX_TAGS = 50


def arn(ctx: RequestContext, kind: str, name: str) -> str:
    # SageMaker lowercases resource names in ARNs.
    return ctx.arn("sagemaker", f"{kind}/{name.lower()}")


def _in_time_window(moment: float, params: dict, before: str, after: str) -> bool:
    return not (
        (params.get(before) is not None and moment >= params[before])
        or (params.get(after) is not None and moment <= params[after])
    )


def listing_page(
    rows: list, params: dict, sort_keys: dict[str, str], default_sort: str, default_order: str = "Ascending"
) -> tuple[list, str | None]:
    """What every SageMaker List* shares: the creation/modification time windows, SortBy/SortOrder, paging."""
    kept = [
        row
        for row in rows
        if _in_time_window(row.creation_time, params, "CreationTimeBefore", "CreationTimeAfter")
        and _in_time_window(row.last_modified_time, params, "LastModifiedTimeBefore", "LastModifiedTimeAfter")
    ]
    sort_key = sort_keys[params.get("SortBy", default_sort)]
    kept.sort(key=lambda row: getattr(row, sort_key), reverse=params.get("SortOrder", default_order) == "Descending")
    return page(kept, params.get("MaxResults"), params.get("NextToken"))


def read_tags(engine: Engine, resource_arn: str) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(tags).where(tags.c.resource_arn == resource_arn).order_by(tags.c.key)).all()
    return [{"Key": row.key, "Value": row.value} for row in rows]


def write_tags(conn, resource_arn: str, new_tags: list[dict]) -> None:
    """Insert or replace tags inside the caller's transaction, keeping SageMaker's 50-tag limit."""
    keys = {tag["Key"] for tag in new_tags}
    current = {
        row.key for row in conn.execute(select(tags.c.key).where(tags.c.resource_arn == resource_arn)).all()
    }
    if len(current | keys) > MAX_TAGS:
        raise validation_error(f"A resource can have at most {MAX_TAGS} tags; {resource_arn} would have "
                               f"{len(current | keys)}.")
    conn.execute(delete(tags).where(tags.c.resource_arn == resource_arn, tags.c.key.in_(keys)))
    if new_tags:
        conn.execute(
            insert(tags),
            [{"resource_arn": resource_arn, "key": t["Key"], "value": t.get("Value", "")} for t in new_tags],
        )
    refresh_tags(conn, resource_arn)
