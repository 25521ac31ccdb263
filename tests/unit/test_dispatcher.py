"""The dispatcher the watch handlers queue passes on (modelviz_operator.workqueue.Dispatcher)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from modelviz_operator.workqueue import Dispatcher


def _wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_waiting_key_is_queued_once_and_served_off_the_callers_thread() -> None:
    release = threading.Event()
    served: list[tuple[Hashable, str]] = []

    def handle(key: Hashable) -> None:
        assert release.wait(10)
        served.append((key, threading.current_thread().name))

    passes = Dispatcher(handle, workers=1, on_error=lambda key: None)
    assert passes.add("a") is True
    _wait_for(lambda: len(passes) == 0)  # taken by the worker, which is held
    assert passes.add("b") is True
    assert [passes.add("b") for _ in range(20)] == [False] * 20  # waiting already: one pass serves them all
    assert passes.add("a") is True  # in flight is not waiting: it gets one more pass
    release.set()
    _wait_for(lambda: len(served) == 3)
    assert [key for key, _ in served] == ["a", "b", "a"]
    assert all(name != threading.current_thread().name for _, name in served)


def test_a_failing_pass_is_reported_and_the_worker_goes_on() -> None:
    errors: list[Hashable] = []
    served: list[Hashable] = []

    def handle(key: Hashable) -> None:
        if key == "bad":
            raise RuntimeError("a bug")
        served.append(key)

    passes = Dispatcher(handle, workers=1, on_error=errors.append)
    passes.add("bad")
    passes.add("good")
    _wait_for(lambda: served == ["good"])
    assert errors == ["bad"]
