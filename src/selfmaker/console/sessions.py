"""Console sessions: a random cookie names a stored session; each carries its own CSRF token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update

from selfmaker.console.tables import console_sessions
from selfmaker.services.iam.tables import iam_users

COOKIE = "selfmaker-console"
LIFETIME = 12 * 3600.0  # AWS console sessions last 12 hours at most


@dataclass(frozen=True)
class Session:
    token_hash: str
    account_id: str
    principal_arn: str
    display_name: str
    csrf_token: str
    password_reset_required: bool
    expires: float

    @property
    def is_root(self) -> bool:
        return self.principal_arn.endswith(":root")

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf_token)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def open(self, account_id: str, principal_arn: str, display_name: str, reset_required: bool = False) -> str:
        """A new session; returns the cookie value (only its hash is kept)."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.expires < now))
            conn.execute(insert(console_sessions).values(
                token_hash=_hash(token), account_id=account_id, principal_arn=principal_arn,
                display_name=display_name, csrf_token=secrets.token_urlsafe(32),
                password_reset_required=reset_required, created=now, expires=now + LIFETIME,
            ))
        return token

    def find(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(console_sessions).where(console_sessions.c.token_hash == _hash(token))).first()
        if row is None or row.expires < time.time():
            return None
        if ":user/" in row.principal_arn and not self._user_exists(row.principal_arn):
            self.close_all_of(row.principal_arn)  # a deleted user is signed out everywhere at once
            return None
        return Session(row.token_hash, row.account_id, row.principal_arn, row.display_name, row.csrf_token,
                       row.password_reset_required, row.expires)

    def _user_exists(self, arn: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(iam_users.c.arn).where(iam_users.c.arn == arn)).first() is not None

    def password_changed(self, session: Session) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(console_sessions).where(console_sessions.c.token_hash == session.token_hash)
                         .values(password_reset_required=False))

    def close(self, session: Session) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == session.token_hash))

    def close_all_of(self, principal_arn: str) -> None:
        """Sign a principal out everywhere (its password changed, or it was deleted)."""
        with self.engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.principal_arn == principal_arn))
