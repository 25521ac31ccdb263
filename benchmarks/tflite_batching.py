"""The ceiling batching can reach: LiteRT/XNNPACK images/s per image against batched, on one converted model.

    python benchmarks/tflite_batching.py [--model efficientnet-lite0] [--seconds 1.5] [--repeat 3] [--cache DIR]

Inference only (random preprocessed input: no decoding, no HTTP), in one process, each configuration timed for
--seconds, rounds interleaved so a shared machine's load swings hit every row alike, the median round kept:

* fixed batch b with 1 and 2 threads: one interpreter allocated once at batch b (what ``FixedBatches`` holds);
* dynamic sizes, as the server sees them (a seeded sequence of batch sizes 1..32): the old path (one interpreter,
  ``resize_tensor_input`` + ``allocate_tensors`` whenever the chunk size changes) against ``FixedBatches``;
* two single-threaded interpreters on two Python threads (the GIL is released while a model runs).

Writes a markdown table beside this script (``tflite_batching.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "visualizer"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from modelviz_app.models._runner import BATCH_SIZES, FixedBatches  # noqa: E402


def _interpreter(path: Path, batch: int, threads: int, shape: tuple[int, ...]) -> tuple[Any, int, int]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    inp = it.get_input_details()[0]["index"]
    it.resize_tensor_input(inp, [batch, *shape])
    it.allocate_tensors()
    return it, inp, it.get_output_details()[0]["index"]


def _fixed(path: Path, batch: int, threads: int, shape: tuple[int, ...]) -> Callable[[], int]:
    it, inp, out = _interpreter(path, batch, threads, shape)
    x = np.random.default_rng(0).standard_normal((batch, *shape)).astype(np.float32)

    def step() -> int:
        it.set_tensor(inp, x)
        it.invoke()
        it.get_tensor(out)
        return batch

    return step


def _sizes(count: int = 64) -> list[int]:
    return [int(s) for s in np.random.default_rng(1).integers(1, 33, size=count)]


def _old_dynamic(path: Path, shape: tuple[int, ...]) -> Callable[[], int]:
    """The previous runner: chunks of 8 on one interpreter, re-allocated whenever the chunk's size changes."""
    it, inp, out = _interpreter(path, 1, 2, shape)
    current = [1]
    sizes = _sizes()
    x = np.random.default_rng(0).standard_normal((32, *shape)).astype(np.float32)
    turn = [0]

    def step() -> int:
        n = sizes[turn[0] % len(sizes)]
        turn[0] += 1
        for i in range(0, n, 8):
            part = x[i : min(n, i + 8)]
            if len(part) != current[0]:
                it.resize_tensor_input(inp, list(part.shape))
                it.allocate_tensors()
                current[0] = len(part)
            it.set_tensor(inp, part)
            it.invoke()
            it.get_tensor(out)
        return n

    return step


def _new_dynamic(path: Path, shape: tuple[int, ...]) -> Callable[[], int]:
    fixed = FixedBatches(path, 2)
    fixed.allocate_all(shape)
    sizes = _sizes()
    x = np.random.default_rng(0).standard_normal((32, *shape)).astype(np.float32)
    turn = [0]

    def step() -> int:
        n = sizes[turn[0] % len(sizes)]
        turn[0] += 1
        fixed.run(x[:n])
        return n

    return step


def _two_threads(path: Path, batch: int, shape: tuple[int, ...]) -> Callable[[], int]:
    steps = [_fixed(path, batch, 1, shape) for _ in range(2)]

    def step() -> int:
        threads = [threading.Thread(target=s) for s in steps]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return 2 * batch

    return step


def _time(step: Callable[[], int], seconds: float) -> float:
    step()  # warm: first call per interpreter
    images, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        images += step()
    return images / elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="efficientnet-lite0")
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cache", type=Path)
    p.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "tflite_batching.md")
    args = p.parse_args(argv)
    from modelviz_app.models import Predictor, load_catalog
    from modelviz_app.paths import cache_root

    cache = cache_root(args.cache)
    model = load_catalog(args.model, args.model, None, cache)
    predictor = Predictor(model, cache)
    if predictor.backend != "tflite":
        raise SystemExit(f"{args.model} has no TFLite copy in {cache}: run `modelviz app prepare` first")
    path = cache / "tflite" / f"{model.key}.tflite"
    shape = (*model.input_size, model.channels)
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    configs: dict[str, Callable[[], int]] = {}
    for threads in (2, 1):
        for b in (1, 2, 4, 8, 32):
            configs[f"fixed batch {b}, {threads} thread{'s' if threads > 1 else ''}"] = _fixed(path, b, threads, shape)
    configs["dynamic sizes 1-32, old path (re-allocate on size change), 2 threads"] = _old_dynamic(path, shape)
    configs[f"dynamic sizes 1-32, FixedBatches {BATCH_SIZES}, 2 threads"] = _new_dynamic(path, shape)
    for b in (1, 8):
        configs[f"two 1-thread interpreters on two Python threads, batch {b} each"] = _two_threads(path, b, shape)
    rounds: dict[str, list[float]] = {name: [] for name in configs}
    for r in range(args.repeat):
        for name, step in configs.items():
            rounds[name].append(_time(step, args.seconds))
            print(f"[tflite_batching] round {r + 1} {name}: {rounds[name][-1]:.1f} img/s", file=sys.stderr, flush=True)
    load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    rate = {name: statistics.median(v) for name, v in rounds.items()}
    base = rate["fixed batch 1, 2 threads"]
    lines = [
        f"# LiteRT batching ceiling ({args.model})",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC} by `python benchmarks/tflite_batching.py` on "
        f"{os.cpu_count()} CPUs; load average {load_before} before, {load_after} after (shared machine: compare rows "
        f"within this run). Inference only, random input of {shape}; each row the median of {args.repeat} rounds of "
        f"{args.seconds:g} s, rounds interleaved.",
        "",
        "| configuration | images/s | vs one image per call (2 threads) |",
        "|---|---:|---:|",
        *(f"| {name} | {v:.1f} | {v / base:.2f}x |" for name, v in rate.items()),
        "",
    ]
    text = "\n".join(lines)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
