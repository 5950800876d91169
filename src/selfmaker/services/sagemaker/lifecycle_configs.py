"""Notebook instance lifecycle configurations: one OnCreate and one OnStart script, base64-encoded."""

from __future__ import annotations

import base64
import binascii
import time

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from selfmaker.services.base import RequestContext, validation_error
from selfmaker.services.sagemaker.common import arn, listing_page, write_tags
from selfmaker.store.tables import lifecycle_configs, notebook_instances, tags

_KIND = "notebook-instance-lifecycle-config"
_SORT_KEYS = {"Name": "name", "CreationTime": "creation_time", "LastModifiedTime": "last_modified_time"}


def _checked_scripts(params: dict, key: str) -> list[dict]:
    scripts = params.get(key, [])
    for index, script in enumerate(scripts, start=1):
        if script.get("Content") is None:  # optional in the model, but a hook is nothing without its script
            raise validation_error(
                f"1 validation error detected: Value null at '{key[:1].lower()}{key[1:]}.{index}.member.content' "
                "failed to satisfy constraint: Member must not be null"
            )
        try:
            base64.b64decode(script["Content"], validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise validation_error(
                f"The {key} script content must be base64-encoded UTF-8 text (as `base64 -w0 script.sh` makes)."
            ) from None
    return [{"Content": script["Content"]} for script in scripts]


class LifecycleConfigs:
    engine: Engine

    def _config(self, ctx: RequestContext, name: str):
        with self.engine.connect() as conn:
            row = conn.execute(
                select(lifecycle_configs).where(
                    lifecycle_configs.c.account_id == ctx.account_id,
                    lifecycle_configs.c.region == ctx.region,
                    lifecycle_configs.c.name == name,
                )
            ).first()
        if row is None:
            raise validation_error(
                f"Unable to describe Notebook Instance Lifecycle Config ({arn(ctx, _KIND, name)}): RecordNotFound"
            )
        return row

    def CreateNotebookInstanceLifecycleConfig(self, ctx: RequestContext, params: dict) -> dict:
        name = params["NotebookInstanceLifecycleConfigName"]
        config_arn = arn(ctx, _KIND, name)
        on_create = _checked_scripts(params, "OnCreate")
        on_start = _checked_scripts(params, "OnStart")
        now = time.time()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(lifecycle_configs).values(
                        account_id=ctx.account_id, region=ctx.region, name=name, arn=config_arn,
                        on_create=on_create, on_start=on_start, creation_time=now, last_modified_time=now,
                    )
                )
                write_tags(conn, config_arn, params.get("Tags", []))
        except IntegrityError:
            raise validation_error(
                f"Unable to create Notebook Instance Lifecycle Config ({config_arn}): it already exists."
            ) from None
        return {"NotebookInstanceLifecycleConfigArn": config_arn}

    def DescribeNotebookInstanceLifecycleConfig(self, ctx: RequestContext, params: dict) -> dict:
        row = self._config(ctx, params["NotebookInstanceLifecycleConfigName"])
        return {
            "NotebookInstanceLifecycleConfigArn": row.arn,
            "NotebookInstanceLifecycleConfigName": row.name,
            "OnCreate": row.on_create,
            "OnStart": row.on_start,
            "CreationTime": row.creation_time,
            "LastModifiedTime": row.last_modified_time,
        }

    def ListNotebookInstanceLifecycleConfigs(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(lifecycle_configs).where(
                    lifecycle_configs.c.account_id == ctx.account_id, lifecycle_configs.c.region == ctx.region
                )
            ).all()
        contains = params.get("NameContains")
        selected = [
            row
            for row in rows
            if (not contains or contains.lower() in row.name.lower())
        ]
        items, token = listing_page(selected, params, _SORT_KEYS, "CreationTime", "Descending")
        return {
            "NotebookInstanceLifecycleConfigs": [
                {
                    "NotebookInstanceLifecycleConfigName": row.name,
                    "NotebookInstanceLifecycleConfigArn": row.arn,
                    "CreationTime": row.creation_time,
                    "LastModifiedTime": row.last_modified_time,
                }
                for row in items
            ],
            "NextToken": token,
        }

    def UpdateNotebookInstanceLifecycleConfig(self, ctx: RequestContext, params: dict) -> dict:
        row = self._config(ctx, params["NotebookInstanceLifecycleConfigName"])
        values: dict = {"last_modified_time": time.time()}
        if "OnCreate" in params:
            values["on_create"] = _checked_scripts(params, "OnCreate")
        if "OnStart" in params:
            values["on_start"] = _checked_scripts(params, "OnStart")
        with self.engine.begin() as conn:
            conn.execute(
                update(lifecycle_configs)
                .where(
                    lifecycle_configs.c.account_id == row.account_id,
                    lifecycle_configs.c.region == row.region,
                    lifecycle_configs.c.name == row.name,
                )
                .values(**values)
            )
        return {}

    def DeleteNotebookInstanceLifecycleConfig(self, ctx: RequestContext, params: dict) -> dict:
        row = self._config(ctx, params["NotebookInstanceLifecycleConfigName"])
        with self.engine.begin() as conn:
            users = conn.execute(
                select(notebook_instances.c.name).where(
                    notebook_instances.c.account_id == row.account_id,
                    notebook_instances.c.region == row.region,
                    notebook_instances.c.lifecycle_config_name == row.name,
                )
            ).scalars().all()
            if users:
                raise validation_error(
                    f"Unable to delete Notebook Instance Lifecycle Config ({row.arn}): it is in use by "
                    f"Notebook Instance(s) {', '.join(sorted(users))}."
                )
            conn.execute(delete(tags).where(tags.c.resource_arn == row.arn))
            conn.execute(
                delete(lifecycle_configs).where(
                    lifecycle_configs.c.account_id == row.account_id,
                    lifecycle_configs.c.region == row.region,
                    lifecycle_configs.c.name == row.name,
                )
            )
        return {}
