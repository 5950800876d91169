"""The lock-out after repeated sign-in failures: after five wrong passwords a user waits 30 s, and each
failure after that doubles the wait, up to 15 minutes.

Kept in the store, keyed by account and user name, so neither a restart nor a new browser resets it. An
attempt is counted, in one transaction, before its password is checked (Argon2 takes a while, and parallel
attempts would all pass a check made before any of them failed): the count goes up as if the attempt were
wrong, the fifth sets the lock at once, and a right password clears it all.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from selfmaker.console.tables import console_signin_failures

FREE_ATTEMPTS = 5
FIRST_DELAY = 30.0
MAX_DELAY = 900.0


def delay_after(failures: int) -> float:
    """Seconds locked out after ``failures`` wrong passwords in a row (0 below the limit)."""
    over = failures - FREE_ATTEMPTS
    return 0.0 if over < 0 else min(MAX_DELAY, FIRST_DELAY * 2 ** min(over, 16))


class Lockout:
    def __init__(self, engine: Engine):
        self.engine = engine

    def attempt(self, key: str) -> float:
        """Count one sign-in attempt for ``key``, as a failure until ``succeeded`` says otherwise. Returns 0
        when it may go on to the password check, else the seconds until ``key`` may try again."""
        table = console_signin_failures
        for _ in range(3):  # a first attempt inserts the row; one racing it may have to go round again
            now = time.time()
            try:
                with self.engine.begin() as conn:
                    # Check and count in one statement: it takes the write lock (SQLite) or the row's lock
                    # (PostgreSQL) first, so of parallel attempts each sees the ones before it.
                    failures = conn.execute(
                        update(table).where(table.c.key == key, table.c.locked_until <= now)
                        .values(failures=table.c.failures + 1).returning(table.c.failures)).scalar()
                    if failures is None:
                        until = conn.execute(select(table.c.locked_until).where(table.c.key == key)).scalar()
                        if until is not None:
                            return max(until - now, 0.001)
                        failures = 1
                        conn.execute(insert(table).values(key=key, failures=failures, locked_until=0.0))
                    if delay_after(failures) > 0:
                        conn.execute(update(table).where(table.c.key == key)
                                     .values(locked_until=now + delay_after(failures)))
                return 0.0
            except IntegrityError:
                continue
        return FIRST_DELAY  # contended beyond reason: refuse this attempt rather than leave it uncounted

    def succeeded(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(console_signin_failures).where(console_signin_failures.c.key == key))
