"""Dynamic micro-batching: concurrent requests for one model become one batched call on an inference thread.

A request ``announce``s itself while its image is being read and decoded, then ``submit``s the fitted image. The
collector takes what is queued (up to ``max_batch``) and, while announced requests are still on their way, waits for
them at most ``max_wait_s``: a lone request is never held back, a burst is gathered. The batched call runs on the
batcher's own thread, so the event loop (health checks, the UI's websockets) keeps running while a model works.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

__all__ = ["BatchResult", "BatchSettings", "Batcher"]

_LOG = logging.getLogger("modelviz_app.serving")


@dataclass(frozen=True)
class BatchSettings:
    # 8, not more: the cost per image does not fall with the batch size on LiteRT here, and under closed-loop load a
    # batch as large as the number of clients leaves no request arriving (being read, decoded) while it runs.
    max_batch: int = 8
    max_wait_s: float = 0.005

    @property
    def enabled(self) -> bool:
        return self.max_batch > 1


@dataclass(frozen=True)
class BatchResult:
    """One caller's row of the batched output, with what the batch cost."""

    probs: np.ndarray
    batch_size: int
    inference_s: float


_Item = tuple[np.ndarray, "asyncio.Future[BatchResult]"]


class Batcher:
    """Batches calls of ``run(images) -> probs`` (a list of per-request inputs in, one row per input out)."""

    def __init__(
        self,
        name: str,
        run: Callable[[list[np.ndarray]], np.ndarray],
        settings: BatchSettings,
        on_batch: Callable[[int, float], None] = lambda _size, _seconds: None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.calls = 0  # batched calls made (tests and /api/v1/models read it)
        self._run = run
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._pending = 0  # announced, not yet queued
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"infer-{name}")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._collect(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._executor.shutdown(wait=False, cancel_futures=True)

    @contextlib.contextmanager
    def announce(self) -> Iterator[Callable[[np.ndarray], Awaitable[BatchResult]]]:
        """A request that will submit soon (or give up): the collector waits for it. Yields its ``submit``."""
        pending = True

        def done() -> None:
            nonlocal pending
            if pending:
                pending = False
                self._pending -= 1
                self._arrived.set()

        async def submit(item: np.ndarray) -> BatchResult:
            future: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
            self._queue.put_nowait((item, future))
            done()
            return await future

        self._pending += 1
        try:
            yield submit
        finally:
            done()

    async def submit(self, item: np.ndarray) -> BatchResult:
        with self.announce() as submit:
            return await submit(item)

    def _drain(self, items: list[_Item]) -> None:
        while len(items) < self.settings.max_batch:
            try:
                items.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                return

    async def _gather(self) -> list[_Item]:
        items = [await self._queue.get()]
        self._drain(items)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.max_wait_s
        # Announced requests not yet queued are on their way (reading or decoding): worth a few ms.
        while len(items) < self.settings.max_batch and self._pending > 0:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
            self._drain(items)
        return items

    def _call(self, inputs: list[np.ndarray]) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        out = self._run(inputs)
        return out, time.perf_counter() - start

    async def _collect(self) -> None:
        while True:
            items = [item for item in await self._gather() if not item[1].done()]  # callers that gave up
            if not items:
                continue
            try:
                await self._answer(items)
            except Exception as exc:  # the collector outlives any batch: a dead one would hang every later caller
                _LOG.exception("batch of %d for %s failed", len(items), self.name)
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)

    async def _answer(self, items: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        self.calls += 1
        try:
            out, seconds = await loop.run_in_executor(self._executor, self._call, [x for x, _ in items])
            if len(out) != len(items):
                raise RuntimeError(f"{self.name} returned {len(out)} rows for {len(items)} inputs")
        except Exception as exc:
            if len(items) > 1:
                # One input the model cannot take must not fail the requests gathered with it: each alone, so
                # only its own caller learns why.
                for item in items:
                    if not item[1].done():
                        await self._answer([item])
                return
            if not items[0][1].done():
                items[0][1].set_exception(exc)
            return
        for row, (_, future) in zip(out, items, strict=True):
            if not future.done():
                future.set_result(BatchResult(row, len(items), seconds))
        try:
            self._on_batch(len(items), seconds)
        except Exception:  # metrics must not fail the requests already answered
            _LOG.exception("recording a batch of %s failed", self.name)
