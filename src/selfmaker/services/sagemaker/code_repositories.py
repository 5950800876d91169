"""Git repositories registered with SageMaker (CreateCodeRepository …): a name for a repository URL, branch
and credentials secret, for notebook instances to name as their default or additional repositories."""

from __future__ import annotations

import time

from sqlalchemy import JSON, Column, Engine, Float, String, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from selfmaker.services.base import RequestContext, validation_error
from selfmaker.services.sagemaker.common import arn, listing_page, write_tags
from selfmaker.store.tables import metadata, tags

code_repositories = Table(
    "code_repositories",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(63), primary_key=True),
    Column("arn", String(2048), nullable=False),
    Column("git_config", JSON, nullable=False),  # {RepositoryUrl, Branch?, SecretArn?}
    Column("creation_time", Float, nullable=False),
    Column("last_modified_time", Float, nullable=False),
)

_KIND = "code-repository"
_SORT_KEYS = {"Name": "name", "CreationTime": "creation_time", "LastModifiedTime": "last_modified_time"}


class CodeRepositories:
    engine: Engine

    def _repository(self, ctx: RequestContext, name: str):
        with self.engine.connect() as conn:
            row = conn.execute(select(code_repositories).where(
                code_repositories.c.account_id == ctx.account_id, code_repositories.c.region == ctx.region,
                code_repositories.c.name == name,
            )).first()
        if row is None:
            raise validation_error(f"Cannot find Code Repository {name}. RecordNotFound")
        return row

    def CreateCodeRepository(self, ctx: RequestContext, params: dict) -> dict:
        name = params["CodeRepositoryName"]
        repository_arn = arn(ctx, _KIND, name)
        now = time.time()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(code_repositories).values(
                    account_id=ctx.account_id, region=ctx.region, name=name, arn=repository_arn,
                    git_config=params["GitConfig"], creation_time=now, last_modified_time=now,
                ))
                write_tags(conn, repository_arn, params.get("Tags", []))
        except IntegrityError:
            raise validation_error(f"Cannot create a duplicate Code Repository ({repository_arn})") from None
        return {"CodeRepositoryArn": repository_arn}

    def DescribeCodeRepository(self, ctx: RequestContext, params: dict) -> dict:
        row = self._repository(ctx, params["CodeRepositoryName"])
        return {"CodeRepositoryName": row.name, "CodeRepositoryArn": row.arn, "CreationTime": row.creation_time,
                "LastModifiedTime": row.last_modified_time, "GitConfig": row.git_config}

    def UpdateCodeRepository(self, ctx: RequestContext, params: dict) -> dict:
        row = self._repository(ctx, params["CodeRepositoryName"])
        git_config = dict(row.git_config)
        if "SecretArn" in params.get("GitConfig", {}):
            git_config["SecretArn"] = params["GitConfig"]["SecretArn"]
        with self.engine.begin() as conn:
            conn.execute(update(code_repositories).where(code_repositories.c.arn == row.arn)
                         .values(git_config=git_config, last_modified_time=time.time()))
        return {"CodeRepositoryArn": row.arn}

    def DeleteCodeRepository(self, ctx: RequestContext, params: dict) -> dict:
        row = self._repository(ctx, params["CodeRepositoryName"])
        with self.engine.begin() as conn:
            conn.execute(delete(tags).where(tags.c.resource_arn == row.arn))
            conn.execute(delete(code_repositories).where(code_repositories.c.arn == row.arn))
        return {}

    def ListCodeRepositories(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            rows = conn.execute(select(code_repositories).where(
                code_repositories.c.account_id == ctx.account_id, code_repositories.c.region == ctx.region,
            )).all()
        contains = params.get("NameContains")
        selected = [
            row for row in rows
            if (not contains or contains.lower() in row.name.lower())
        ]
        items, token = listing_page(selected, params, _SORT_KEYS, "Name")
        return {
            "CodeRepositorySummaryList": [
                {"CodeRepositoryName": row.name, "CodeRepositoryArn": row.arn, "CreationTime": row.creation_time,
                 "LastModifiedTime": row.last_modified_time, "GitConfig": row.git_config}
                for row in items
            ],
            "NextToken": token,
        }
