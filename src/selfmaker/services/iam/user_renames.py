"""UpdateUser's new name or path: every row that names the user by its name or ARN follows it.

Group memberships name users by their unique id, which a rename keeps, so they need nothing.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from selfmaker.console.tables import console_sessions
from selfmaker.services.base import RequestContext
from selfmaker.services.iam.tables import (
    iam_attachments,
    iam_inline_policies,
    iam_login_profiles,
    iam_password_history,
    iam_users,
)
from selfmaker.store.tables import access_keys


def rename_user(conn: Connection, ctx: RequestContext, user, name: str, path: str, arn: str) -> list[str]:
    """Give ``user`` (its row) a new name, path and ARN; the ids of its access keys, whose principal changed."""
    account, old_key, new_key = ctx.account_id, user.name_key, name.lower()
    conn.execute(update(iam_users).where(iam_users.c.account_id == account, iam_users.c.name_key == old_key)
                 .values(name_key=new_key, name=name, path=path, arn=arn))
    for table in (iam_inline_policies, iam_attachments):
        conn.execute(update(table).where(table.c.account_id == account, table.c.owner_kind == "user",
                                         table.c.owner_key == old_key).values(owner_key=new_key))
    for table in (iam_login_profiles, iam_password_history):
        conn.execute(update(table).where(table.c.account_id == account, table.c.user_key == old_key)
                     .values(user_key=new_key))
    # Console sign-ins were made under the old name: they end, and the user signs in under the new one.
    conn.execute(delete(console_sessions).where(console_sessions.c.principal_arn == user.arn))
    keys = conn.execute(select(access_keys.c.access_key_id).where(access_keys.c.principal_arn == user.arn)).scalars()
    moved = list(keys)
    conn.execute(update(access_keys).where(access_keys.c.principal_arn == user.arn).values(principal_arn=arn))
    return moved
