"""The clock that usage is metered by: the wall clock, which a test-mode server lets tests set.

Only metering reads it (when an instance entered or left a billed state, and "now" for a period still
running); signatures, sessions and tokens keep the real time, so moving it never opens a door.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self._frozen: float | None = None  # set: time stands still there until moved again

    def now(self) -> float:
        return time.time() if self._frozen is None else self._frozen

    def set(self, at: float | None) -> None:
        """Freeze the clock at ``at`` (seconds since the epoch); None lets it run with the wall clock again."""
        self._frozen = at

    @property
    def frozen(self) -> float | None:
        return self._frozen
