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

import contextvars
import threading
from collections.abc import Callable, Hashable

__all__ = ["Dispatcher", "WorkQueue"]


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


class Dispatcher:
    """Keys waiting for a pass, each queued at most once, served in arrival order by a few worker threads.

    Why the watch handlers only enqueue: a handler that ran the pass itself held one of kopf's executor threads for
    the whole pass, and kopf runs every handler of every object (child events, timers, spec changes) on that one
    pool in arrival order, so under a burst a child event waited minutes behind passes of other resources before
    its copy even reached the cache. Now a handler records the event and returns; a key already waiting is not
    queued twice (the pass that serves it reads the state as it is then), and a key whose pass is running is
    folded into it by the :class:`WorkQueue` the handler calls.

    Each key keeps the context of its latest request (kopf keeps what ``kopf.event`` needs in context variables).
    Threads start on the first request, so constructing one has no side effect.
    """

    def __init__(
        self, handle: Callable[[Hashable], object], workers: int, on_error: Callable[[Hashable], object]
    ) -> None:
        self._handle = handle
        self._on_error = on_error
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._cond = threading.Condition()
        self._waiting: dict[Hashable, contextvars.Context] = {}  # insertion order: arrival order

    def add(self, key: Hashable) -> bool:
        """Queue ``key``; False when it was already waiting (then this request is served by that pass)."""
        context = contextvars.copy_context()
        with self._cond:
            queued = key not in self._waiting
            self._waiting[key] = context
            if queued:
                self._cond.notify()
            if len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name=f"reconcile-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        return queued

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    self._cond.wait()
                key = next(iter(self._waiting))
                context = self._waiting.pop(key)
            try:
                context.run(self._handle, key)
            except Exception:  # logged (and retried) by on_error: the worker must survive
                context.run(self._on_error, key)

    def __len__(self) -> int:
        with self._cond:
            return len(self._waiting)
