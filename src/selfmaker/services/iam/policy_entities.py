"""ListEntitiesForPolicy: the users, groups and roles a managed policy is attached to."""

from __future__ import annotations

from sqlalchemy import Engine, select

from selfmaker.services.base import RequestContext
from selfmaker.services.iam import aws_managed
from selfmaker.services.iam.common import OWNER_TABLES, listing, no_such_entity
from selfmaker.services.iam.tables import iam_attachments, iam_policies

# Each kind's answer member and the names of its entries' members, in the order IAM answers them.
_ANSWER = {"group": ("PolicyGroups", "GroupName", "GroupId", "group_id"),
           "user": ("PolicyUsers", "UserName", "UserId", "user_id"),
           "role": ("PolicyRoles", "RoleName", "RoleId", "role_id")}
_FILTER = {"User": "user", "Role": "role", "Group": "group"}


class PolicyEntities:
    engine: Engine

    def ListEntitiesForPolicy(self, ctx: RequestContext, params: dict) -> dict:
        arn, prefix = params["PolicyArn"], params.get("PathPrefix", "/")
        wanted = params.get("EntityFilter")  # LocalManagedPolicy and AWSManagedPolicy name no entity here
        entities: list[tuple[str, dict]] = []
        with self.engine.connect() as conn:
            customer = conn.execute(select(iam_policies.c.arn).where(
                iam_policies.c.arn == arn, iam_policies.c.account_id == ctx.account_id)).first()
            if customer is None and arn not in aws_managed.BY_ARN:
                raise no_such_entity(f"Policy {arn} does not exist or is not attachable.")
            # Selfmaker has no permissions boundaries: nothing uses a policy as one.
            boundaries = params.get("PolicyUsageFilter") == "PermissionsBoundary"
            for kind, (_, name_member, id_member, id_column) in _ANSWER.items():
                if boundaries or (wanted is not None and _FILTER.get(wanted) != kind):
                    continue
                table = OWNER_TABLES[kind]
                rows = conn.execute(
                    select(table).join(iam_attachments, (iam_attachments.c.account_id == table.c.account_id)
                                       & (iam_attachments.c.owner_key == table.c.name_key))
                    .where(table.c.account_id == ctx.account_id, iam_attachments.c.owner_kind == kind,
                           iam_attachments.c.policy_arn == arn)
                    .order_by(table.c.name_key)
                ).all()
                entities += [(kind, {name_member: row.name, id_member: getattr(row, id_column)})
                             for row in rows if row.path.startswith(prefix)]
        page = listing(entities, params, "Entities")
        answer = {member: [entry for kind_of, entry in page["Entities"] if kind_of == kind]
                  for kind, (member, *_) in _ANSWER.items()}
        return {**answer, "IsTruncated": page["IsTruncated"], "Marker": page["Marker"]}
