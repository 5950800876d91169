"""When each access key was last used, which service and region it signed for (GetAccessKeyLastUsed).

The gateway notes every request it authenticates with a long-term key. A write per request would cost
serving time, so each key is written at most once a minute: the answer may be up to a minute old, as AWS's
own is (AWS updates it within hours). Temporary (STS) keys are not IAM access keys and are not noted.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, delete, insert, select, update

from selfmaker.services.iam.tables import iam_access_key_usage as usage

WRITE_EVERY = 60.0  # seconds between two writes for one key


class KeyUsage:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._written: dict[str, float] = {}  # access key id -> when its row was last written

    def note(self, access_key_id: str, service: str, region: str) -> None:
        now = time.time()
        if now - self._written.get(access_key_id, 0.0) < WRITE_EVERY:
            return
        self._written[access_key_id] = now
        values = {"last_used": now, "service": service, "region": region}
        with self.engine.begin() as conn:
            changed = conn.execute(update(usage).where(usage.c.access_key_id == access_key_id).values(**values))
            if not changed.rowcount:
                conn.execute(insert(usage).values(access_key_id=access_key_id, **values))

    def last_used(self, conn: Connection, access_key_id: str):
        """The key's row (last_used, service, region), or None for a key never used."""
        return conn.execute(select(usage).where(usage.c.access_key_id == access_key_id)).first()

    def forget(self, access_key_id: str) -> None:
        """A deleted key's record goes with it."""
        self._written.pop(access_key_id, None)
        with self.engine.begin() as conn:
            conn.execute(delete(usage).where(usage.c.access_key_id == access_key_id))

    def forget_all(self) -> None:
        """After the store was emptied (test-mode reset): write again on each key's next use."""
        self._written.clear()
