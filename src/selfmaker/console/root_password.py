"""The account root's console password: from SELFMAKER_ROOT_PASSWORD on first start, else generated.

Only its Argon2id hash is stored; a generated one is handed back once so that ``selfmaker up`` can print it.
"""

from __future__ import annotations

import os
import secrets

from sqlalchemy import Engine, delete, insert, select, update

from selfmaker.console.tables import console_sessions
from selfmaker.services.iam.passwords import check_password_policy, hash_password, verify_password
from selfmaker.store.tables import settings_kv

_KEY = "root_password_hash"


def _stored(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(settings_kv.c.value).where(settings_kv.c.key == _KEY)).scalar()


def ensure_root_password(engine: Engine) -> str | None:
    """Set the root password on first start; return it when it was generated (None otherwise)."""
    if _stored(engine) is not None:
        return None
    given = os.environ.get("SELFMAKER_ROOT_PASSWORD")
    if given:
        check_password_policy(given)
    password = given or secrets.token_urlsafe(12)
    with engine.begin() as conn:
        conn.execute(insert(settings_kv).values(key=_KEY, value=hash_password(password)))
    return None if given else password


def set_root_password(engine: Engine, password: str) -> None:
    """A new root password; the root user's console sessions end with the old one."""
    check_password_policy(password)
    with engine.begin() as conn:
        conn.execute(update(settings_kv).where(settings_kv.c.key == _KEY).values(value=hash_password(password)))
        account_id = conn.execute(select(settings_kv.c.value).where(settings_kv.c.key == "account_id")).scalar()
        root_arn = f"arn:aws:iam::{account_id}:root"
        conn.execute(delete(console_sessions).where(console_sessions.c.principal_arn == root_arn))


def check_root_password(engine: Engine, password: str) -> bool:
    return verify_password(_stored(engine), password)
