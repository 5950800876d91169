"""What the IAM operations share: IAM's errors, ARNs and unique ids, Marker paging, policy documents."""

from __future__ import annotations

import base64
import json
import secrets
import string
from urllib.parse import quote

from sqlalchemy import Connection, Engine, select, update

from selfmaker import bounded_json
from selfmaker.domain import policy_grammar
from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.iam.tables import iam_attachments, iam_groups, iam_inline_policies, iam_roles, iam_users

_ID_ALPHABET = string.ascii_uppercase + string.digits
DEFAULT_MAX_ITEMS = 100
OWNER_TABLES = {"user": iam_users, "role": iam_roles, "group": iam_groups}  # what owns policies


def no_such_entity(message: str) -> ServiceError:
    return ServiceError("NoSuchEntity", message, 404)


def already_exists(message: str) -> ServiceError:
    return ServiceError("EntityAlreadyExists", message, 409)


def delete_conflict(message: str) -> ServiceError:
    return ServiceError("DeleteConflict", message, 409)


def limit_exceeded(message: str) -> ServiceError:
    return ServiceError("LimitExceeded", message, 409)


def invalid_input(message: str) -> ServiceError:
    return ServiceError("InvalidInput", message)


def refuse_boundary(params: dict) -> None:
    # Ignoring a boundary would grant more than its author meant: say so instead.
    if "PermissionsBoundary" in params:
        raise invalid_input("Selfmaker does not support permissions boundaries yet: create the user or role "
                            "without PermissionsBoundary and narrow its permissions with its own policies.")


def unique_id(prefix: str) -> str:
    """IAM's unique ids: a four-letter kind (AIDA user, AROA role, ANPA policy) and 17 characters."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def iam_arn(ctx: RequestContext, kind: str, path: str, name: str) -> str:
    # IAM is global: no region in its ARNs, but the partition of the region asked in.
    return ctx.arn("iam", f"{kind}{path}{name}", region="")


def caller_kind(ctx: RequestContext) -> str:
    """root, user or assumed-role, read off the caller's ARN."""
    if ctx.principal_arn.endswith(":root"):
        return "root"
    return "user" if ":user/" in ctx.principal_arn else "assumed-role"


def named_or_calling_user(ctx: RequestContext, params: dict) -> str:
    """The UserName given, else the calling user's name (as IAM defaults it); root and roles must name one."""
    name = params.get("UserName")
    if name is None:
        if caller_kind(ctx) != "user":
            raise ServiceError("ValidationError", "Must specify userName when calling with non-User credentials")
        name = ctx.principal_arn.rsplit("/", 1)[-1]
    return name


# IAM's quotas on documents, counted without white space: a managed policy, a role's trust policy, and all the
# inline policies of one user, role or group together.
MANAGED_POLICY_SIZE = 6144
TRUST_POLICY_SIZE = 2048
INLINE_POLICIES_SIZE = {"user": 2048, "role": 10240, "group": 5120}


def check_document(text: str, kind: policy_grammar.Kind = "inline") -> str:
    """A policy document as given, once IAM's grammar accepts it (else MalformedPolicyDocument) and, for a
    managed or trust policy, once it fits IAM's quota (else LimitExceeded)."""
    try:
        policy_grammar.parse(text, kind)
    except policy_grammar.PolicyError as err:
        raise ServiceError("MalformedPolicyDocument", err.message) from None
    if kind == "managed" and policy_grammar.size(text) > MANAGED_POLICY_SIZE:
        raise limit_exceeded(f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}")
    if kind == "trust" and policy_grammar.size(text) > TRUST_POLICY_SIZE:
        raise limit_exceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}")
    return text


def check_inline_size(conn: Connection, ctx: RequestContext, kind: str, owner, name: str, document: str) -> None:
    """IAM's LimitExceeded when ``document``, put as inline policy ``name`` of ``owner``, would make its inline
    policies together larger than the quota of its kind."""
    others = conn.execute(
        select(iam_inline_policies.c.document).where(
            iam_inline_policies.c.account_id == ctx.account_id, iam_inline_policies.c.owner_kind == kind,
            iam_inline_policies.c.owner_key == owner.name_key, iam_inline_policies.c.name != name,
        )
    ).scalars()
    limit = INLINE_POLICIES_SIZE[kind]
    if policy_grammar.size(document) + sum(policy_grammar.size(other) for other in others) > limit:
        raise limit_exceeded(f"Maximum policy size of {limit} bytes exceeded for {kind} {owner.name}")


def encoded(document: str) -> str:
    # IAM answers policy documents URL-encoded; botocore decodes them back into dicts.
    return quote(document, safe="")


def listing(items: list, params: dict, key: str) -> dict:
    """One page of ``items`` by IAM's Marker and MaxItems."""
    start = 0
    if params.get("Marker"):
        try:
            start = bounded_json.loads(base64.urlsafe_b64decode(params["Marker"].encode()))["offset"]
            if not isinstance(start, int) or start < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise ServiceError("ValidationError", "Invalid Marker: it was not returned by this listing.") from None
    end = start + (params.get("MaxItems") or DEFAULT_MAX_ITEMS)
    truncated = end < len(items)
    marker = base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode() if truncated else None
    return {key: items[start:end], "IsTruncated": truncated, "Marker": marker}


def find_owner(conn: Connection, ctx: RequestContext, kind: str, name: str):
    """The user, role or group (``kind``) of that name, or IAM's NoSuchEntity."""
    table = OWNER_TABLES[kind]
    row = conn.execute(
        select(table).where(table.c.account_id == ctx.account_id, table.c.name_key == name.lower())
    ).first()
    if row is None:
        raise no_such_entity(f"The {kind} with name {name} cannot be found.")
    return row


def require_no_policies(conn: Connection, ctx: RequestContext, kind: str, key: str) -> None:
    """IAM's DeleteConflict when a user, role or group still has inline or attached policies."""
    for table, message in (
        (iam_inline_policies, "Cannot delete entity, must delete policies first."),
        (iam_attachments, "Cannot delete entity, must detach all policies first."),
    ):
        owned = conn.execute(
            select(table).where(table.c.account_id == ctx.account_id, table.c.owner_kind == kind,
                                table.c.owner_key == key)
        ).first()
        if owned is not None:
            raise delete_conflict(message)


def update_owner(engine: Engine, ctx: RequestContext, kind: str, name: str, change) -> None:
    """Read a user, role or group and write what ``change(row)`` returns, in one transaction."""
    table = OWNER_TABLES[kind]
    with engine.begin() as conn:
        row = find_owner(conn, ctx, kind, name)
        values = change(row)
        if values:
            conn.execute(
                update(table).where(table.c.account_id == ctx.account_id, table.c.name_key == row.name_key)
                .values(**values)
            )
