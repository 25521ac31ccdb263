"""The batcher on its own: bounded batches, each caller its own row, errors to every caller, the loop kept free."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest

from modelviz_app.config import ConfigError
from modelviz_app.serving._batching import Batcher, BatchSettings
from modelviz_app.serving._service import batch_settings_from


def _double(calls: list[int]):
    def run(inputs: list[np.ndarray]) -> np.ndarray:
        calls.append(len(inputs))
        time.sleep(0.02)  # a model call takes a while: requests pile up meanwhile
        return np.stack([x * 2 for x in inputs])

    return run


async def _burst(batcher: Batcher, n: int) -> list[np.ndarray]:
    async def one(i: int) -> np.ndarray:
        with batcher.announce() as submit:
            await asyncio.sleep(0.001 * (i % 3))  # reading and decoding take a little, differently long
            return (await submit(np.full(3, float(i)))).probs

    return await asyncio.gather(*(one(i) for i in range(n)))


def test_bursts_are_batched_within_the_bound_and_rows_go_back_to_their_callers() -> None:
    calls: list[int] = []

    async def main() -> list[np.ndarray]:
        batcher = Batcher("m", _double(calls), BatchSettings(max_batch=8, max_wait_s=0.05))
        batcher.start()
        try:
            return await _burst(batcher, 40)
        finally:
            await batcher.stop()

    rows = asyncio.run(main())
    assert [float(r[0]) for r in rows] == [2.0 * i for i in range(40)]
    assert sum(calls) == 40 and max(calls) <= 8 and len(calls) < 40


def test_batching_off_is_one_call_per_request() -> None:
    calls: list[int] = []

    async def main() -> None:
        batcher = Batcher("m", _double(calls), BatchSettings(max_batch=1))
        batcher.start()
        await _burst(batcher, 10)
        await batcher.stop()

    asyncio.run(main())
    assert calls == [1] * 10


def test_a_lone_request_is_not_held_back() -> None:
    async def main() -> float:
        batcher = Batcher("m", lambda xs: np.stack(xs), BatchSettings(max_batch=32, max_wait_s=0.5))
        batcher.start()
        start = time.perf_counter()
        await batcher.submit(np.zeros(2))
        elapsed = time.perf_counter() - start
        await batcher.stop()
        return elapsed

    assert asyncio.run(main()) < 0.25  # well under the 0.5 s bound: nobody else was announced


def test_a_failing_call_fails_each_of_its_callers_and_the_next_batch_runs() -> None:
    def run(inputs: list[np.ndarray]) -> np.ndarray:
        if any(float(x[0]) < 0 for x in inputs):
            raise RuntimeError("model broke")
        return np.stack(inputs)

    async def main() -> tuple[list[Any], np.ndarray]:
        batcher = Batcher("m", run, BatchSettings(max_batch=4, max_wait_s=0.05))
        batcher.start()
        bad = await asyncio.gather(*(batcher.submit(np.full(1, -1.0)) for _ in range(3)), return_exceptions=True)
        good = await batcher.submit(np.full(1, 5.0))
        await batcher.stop()
        return bad, good.probs

    bad, good = asyncio.run(main())
    assert all(isinstance(e, RuntimeError) and str(e) == "model broke" for e in bad)
    assert float(good[0]) == 5.0


def test_an_input_the_model_fails_on_fails_only_its_own_caller() -> None:
    calls: list[int] = []

    def run(inputs: list[np.ndarray]) -> np.ndarray:
        calls.append(len(inputs))
        if any(float(x[0]) < 0 for x in inputs):
            raise ValueError("cannot take a negative")
        return np.stack([x * 2 for x in inputs])

    async def main() -> list[Any]:
        batcher = Batcher("m", run, BatchSettings(max_batch=8, max_wait_s=0.05))
        batcher.start()
        values = [1.0, 2.0, -1.0, 3.0]
        out = await asyncio.gather(*(batcher.submit(np.full(1, v)) for v in values), return_exceptions=True)
        await batcher.stop()
        return out

    out = asyncio.run(main())
    assert calls[0] == 4, calls  # they were batched, then run one by one
    assert isinstance(out[2], ValueError) and str(out[2]) == "cannot take a negative"
    assert [float(out[i].probs[0]) for i in (0, 1, 3)] == [2.0, 4.0, 6.0]


def test_the_collector_outlives_a_wrong_row_count_and_failing_metrics() -> None:
    def short(inputs: list[np.ndarray]) -> np.ndarray:
        return np.stack(inputs)[:1]  # one row, whatever the batch

    def broken_metrics(_size: int, _seconds: float) -> None:
        raise RuntimeError("registry gone")

    async def main() -> tuple[list[float], float]:
        batcher = Batcher("m", short, BatchSettings(max_batch=8, max_wait_s=0.05), broken_metrics)
        batcher.start()
        burst = await asyncio.wait_for(asyncio.gather(*(batcher.submit(np.full(1, float(i))) for i in range(3))), 10)
        later = await asyncio.wait_for(batcher.submit(np.full(1, 9.0)), 10)
        await batcher.stop()
        return [float(r.probs[0]) for r in burst], float(later.probs[0])

    burst, later = asyncio.run(main())
    assert burst == [0.0, 1.0, 2.0] and later == 9.0


def test_a_slow_batch_leaves_the_event_loop_free() -> None:
    started = threading.Event()

    def slow(inputs: list[np.ndarray]) -> np.ndarray:
        started.set()
        time.sleep(0.6)
        return np.stack(inputs)

    async def main() -> int:
        batcher = Batcher("m", slow, BatchSettings())
        batcher.start()
        task = asyncio.create_task(batcher.submit(np.zeros(1)))
        ticks = 0
        while not task.done():  # what a health check needs: the loop getting around while the model works
            await asyncio.sleep(0.005)
            ticks += started.is_set()
        await batcher.stop()
        return ticks

    # A loop blocked by the call would tick once or twice in its 0.6 s; a free one ticks every few ms (counted
    # loosely: a busy machine may not schedule the process for a while).
    ticks = asyncio.run(main())
    assert started.is_set() and ticks >= 10, ticks


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MODELVIZ_BATCH_MAX_SIZE": "0"}, "between 1 and 1024"),
        ({"MODELVIZ_BATCH_MAX_SIZE": "many"}, "MODELVIZ_BATCH_MAX_SIZE"),
        ({"MODELVIZ_BATCH_MAX_WAIT_MS": "nan"}, "between 0 and 1000"),
    ],
)
def test_settings_from_the_environment(env: dict[str, str], message: str) -> None:
    assert batch_settings_from({}) == BatchSettings(8, 0.005)
    assert batch_settings_from({"MODELVIZ_BATCH_MAX_SIZE": "1"}).enabled is False
    with pytest.raises(ConfigError, match=message):
        batch_settings_from(env)
