"""Who is calling: the account, its root credentials, and every access key the gateway may accept."""

from __future__ import annotations

import os
import secrets
import string
import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, insert, select, update

from selfmaker.store.tables import access_keys, settings_kv

_KEY_ALPHABET = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    secret_access_key: str
    account_id: str
    principal_arn: str
    session_token: str | None = None
    expires: float | None = None


def new_access_key_id(prefix: str = "AKIA") -> str:
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    return secrets.token_urlsafe(30)[:40]


class CredentialStore:
    """Access keys by id, cached: the gateway looks one up on every request."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._cache: dict[str, Credential] = {}

    def lookup(self, access_key_id: str) -> Credential | None:
        credential = self._cache.get(access_key_id)
        if credential is None:
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(access_keys).where(
                        access_keys.c.access_key_id == access_key_id, access_keys.c.status == "Active"
                    )
                ).first()
            if row is None:
                return None
            credential = Credential(
                row.access_key_id, row.secret_access_key, row.account_id, row.principal_arn,
                row.session_token, row.expires,
            )
            self._cache[access_key_id] = credential
        return credential

    def add(self, credential: Credential, conn: Connection | None = None) -> None:
        """Store a new key; inside the caller's transaction when given one (STS adds its session beside)."""
        if conn is None:
            with self.engine.begin() as own:
                self.add(credential, own)
            return
        conn.execute(
            insert(access_keys).values(
                access_key_id=credential.access_key_id,
                secret_access_key=credential.secret_access_key,
                account_id=credential.account_id,
                principal_arn=credential.principal_arn,
                session_token=credential.session_token,
                expires=credential.expires,
                status="Active",
                created=time.time(),
            )
        )

    def keys_of(self, principal_arn: str) -> list:
        """Every key of a principal, active or not, oldest first (rows of access_keys)."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(access_keys).where(access_keys.c.principal_arn == principal_arn).order_by(access_keys.c.created)
            ).all()

    def set_status(self, access_key_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(access_keys).where(access_keys.c.access_key_id == access_key_id).values(status=status))
        self.forget(access_key_id)  # an inactive key must stop working at once

    def remove(self, access_key_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(access_keys).where(access_keys.c.access_key_id == access_key_id))
        self.forget(access_key_id)

    def purge_expired(self, before: float) -> None:
        """Drop temporary keys that expired before ``before`` (kept a while so they read as expired)."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(access_keys).where(access_keys.c.expires < before).returning(access_keys.c.access_key_id)
            ).scalars().all()
        for access_key_id in gone:
            self.forget(access_key_id)

    def forget(self, access_key_id: str) -> None:
        self._cache.pop(access_key_id, None)

    def forget_all(self) -> None:
        self._cache.clear()


def _setting(engine: Engine, key: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(settings_kv.c.value).where(settings_kv.c.key == key)).scalar()


def _set_setting(engine: Engine, key: str, value: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(settings_kv).values(key=key, value=value))


def bootstrap_root(engine: Engine, store: CredentialStore) -> Credential:
    """The account and its root key: made on first start (from SELFMAKER_ROOT_* when set), then kept."""
    root_key = _setting(engine, "root_access_key_id")
    if root_key is not None:
        credential = store.lookup(root_key)
        assert credential is not None, "the store lost the root access key"
        return credential
    account_id = os.environ.get("SELFMAKER_ACCOUNT_ID") or "".join(secrets.choice(string.digits) for _ in range(12))
    credential = Credential(
        access_key_id=os.environ.get("SELFMAKER_ROOT_ACCESS_KEY_ID") or new_access_key_id(),
        secret_access_key=os.environ.get("SELFMAKER_ROOT_SECRET_ACCESS_KEY") or new_secret_access_key(),
        account_id=account_id,
        principal_arn=f"arn:aws:iam::{account_id}:root",
    )
    store.add(credential)
    _set_setting(engine, "account_id", account_id)
    _set_setting(engine, "root_access_key_id", credential.access_key_id)
    return credential
