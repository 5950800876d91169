"""The lock-out after repeated sign-in failures: each failure past the fifth doubles a wait, up to 15 minutes.

Kept in the store, keyed by account and user name, so neither a restart nor a new browser resets it.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, delete, insert, select, update

from selfmaker.console.tables import console_signin_failures

FREE_ATTEMPTS = 5
FIRST_DELAY = 30.0
MAX_DELAY = 900.0


class Lockout:
    def __init__(self, engine: Engine):
        self.engine = engine

    def wait_left(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        with self.engine.connect() as conn:
            until = conn.execute(select(console_signin_failures.c.locked_until)
                                 .where(console_signin_failures.c.key == key)).scalar()
        return max(0.0, (until or 0.0) - time.time())

    def failed(self, key: str) -> None:
        table = console_signin_failures
        with self.engine.begin() as conn:
            failures = conn.execute(select(table.c.failures).where(table.c.key == key)).scalar()
            if failures is None:
                conn.execute(insert(table).values(key=key, failures=1, locked_until=0.0))
                return
            failures += 1
            over = failures - FREE_ATTEMPTS
            locked_until = time.time() + min(MAX_DELAY, FIRST_DELAY * 2 ** (over - 1)) if over > 0 else 0.0
            conn.execute(update(table).where(table.c.key == key).values(failures=failures, locked_until=locked_until))

    def succeeded(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(console_signin_failures).where(console_signin_failures.c.key == key))
