"""When a person last did something in each instance's Jupyter through the gateway.

The notebook proxy notes it (which requests count is its business: see ``notebook_proxy.by_a_person``); the
idle checker reads it. Kept in memory: while the server is down nobody reaches Jupyter through it, and the
checker counts idle time from its own start at the earliest.
"""

from __future__ import annotations

import time


class BrowserActivity:
    def __init__(self) -> None:
        self._last: dict[str, float] = {}  # instance id -> seconds since the epoch

    def note(self, instance_id: str) -> None:
        self._last[instance_id] = time.time()

    def last(self, instance_id: str) -> float | None:
        return self._last.get(instance_id)

    def keep_only(self, instance_ids: set[str]) -> None:
        """Forget instances no longer running, so that the record stays as small as what runs."""
        for instance_id in set(self._last) - instance_ids:
            del self._last[instance_id]
