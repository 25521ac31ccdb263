"""Coalescing per key: at most one run in flight per resource, later requests folded into exactly one more run.

Why a work queue and not a lock per resource: with a lock, every event for a busy resource parks a kopf worker
thread until the running reconcile ends, and then runs a full reconcile of its own, so a burst of N pod or child
events costs N serial reconciles and can hold every worker. Here a request that finds its resource busy only marks
it dirty and returns at once; the running reconcile sees the mark when it ends and runs once more, reading the
state as it is then (which covers every event folded in). A reconcile reads the world afresh and is idempotent, so
one pass after the last event is all that any of the events needed.

The table holds only resources with a run in flight: an entry is removed when its last pass ends (or raises), so it
never grows with the number of resources ever seen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

__all__ = ["WorkQueue"]


class WorkQueue:
    """``run(key, fn)``: run ``fn`` now, or, when a run for ``key`` is in flight, have that run call it once more."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dirty: dict[Hashable, bool] = {}  # key -> requested again while running

    def run(self, key: Hashable, fn: Callable[[], object]) -> bool:
        """True when this call ran ``fn`` (possibly several passes); False when it was folded into a running one."""
        with self._lock:
            if key in self._dirty:
                self._dirty[key] = True
                return False
            self._dirty[key] = False
        try:
            while True:
                fn()
                with self._lock:
                    if not self._dirty[key]:
                        del self._dirty[key]
                        return True
                    self._dirty[key] = False
        except BaseException:
            # The caller sees the error (kopf retries its handler, which reconciles again): no pass is lost.
            with self._lock:
                self._dirty.pop(key, None)
            raise

    def busy(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._dirty

    def __len__(self) -> int:
        with self._lock:
            return len(self._dirty)
