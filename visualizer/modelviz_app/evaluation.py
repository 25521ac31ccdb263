"""A model's predictions on a dataset: computed once in batches, cached on disk by model key + dataset content hash."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from modelviz_app.datasets import Dataset
from modelviz_app.models import LoadedModel, ModelLoadError, Predictor
from modelviz_app.paths import write_atomically

__all__ = ["BATCH_SIZE", "WORKERS", "Evaluation", "class_mapping", "evaluate", "predictions_path"]

# 16 per worker keeps peak memory low for 224x224 networks while batching gives most of its speed-up.
BATCH_SIZE = 16
WORKERS = 2  # one per core of the machines this runs on; each has its own single-threaded interpreter
_FORMAT = "p3"  # bumped when the input pipeline (resize, preprocessing) changes

ProgressFn = Callable[[float, str], None]


@dataclass
class Evaluation:
    model: str
    labels: list[str]  # the model's class names (its output indices)
    y_true: np.ndarray  # (N,) true class as the model's output index
    probs: np.ndarray  # (N, C) float32
    seconds_per_image: float  # batched inference on one worker only (decode and resize excluded)
    backend: str  # "tflite" or "keras"
    cached: bool  # read from the disk cache

    @cached_property
    def pred(self) -> np.ndarray:
        return np.asarray(self.probs.argmax(axis=1))

    @cached_property
    def confidence(self) -> np.ndarray:
        return np.asarray(self.probs.max(axis=1))

    @cached_property
    def correct(self) -> np.ndarray:
        return np.asarray(self.pred == self.y_true)

    def topk(self, k: int = 5) -> np.ndarray:
        return np.argsort(-self.probs, axis=1, kind="stable")[:, :k]


def class_mapping(model: LoadedModel, dataset: Dataset) -> np.ndarray:
    """Dataset class index -> model output index; an error naming the classes the model does not know."""
    mapping = [model.class_index(c) for c in dataset.class_ids]
    missing = [dataset.class_names[i] for i, m in enumerate(mapping) if m is None]
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise ModelLoadError(f"{model.name} has no output for the dataset's classes {shown}")
    return np.array(mapping, dtype=np.int64)


def predictions_path(cache: Path, model: LoadedModel, dataset: Dataset) -> Path:
    return cache / "predictions" / f"{model.key}-{dataset.key}-{_FORMAT}.npz"


def evaluate(
    model: LoadedModel,
    predictor: Predictor,
    dataset: Dataset,
    cache: Path | None,
    progress: ProgressFn | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int = WORKERS,
) -> Evaluation:
    y_true = class_mapping(model, dataset)[dataset.labels]
    path = predictions_path(cache, model, dataset) if cache is not None else None
    if path is not None and path.exists():
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            probs = np.asarray(data["probs"])
        return Evaluation(model.name, model.labels, y_true, probs, meta["seconds_per_image"], meta["backend"], True)
    n = len(dataset)
    probs = np.zeros((n, len(model.labels)), dtype=np.float32)
    infer = 0.0
    local = threading.local()

    def run(start: int) -> tuple[int, float]:
        # Each worker decodes and resizes its batch (PIL and numpy release the GIL) and then runs it on its own
        # interpreter, so one worker's decoding overlaps the other's inference.
        if not hasattr(local, "predict"):
            local.predict = predictor.worker()
        stop = min(n, start + batch_size)
        batch = model.preprocess(np.stack([model.fit(dataset.image(i)) for i in range(start, stop)]))
        t0 = time.perf_counter()
        probs[start:stop] = local.predict(batch)
        return stop, time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for stop, seconds in pool.map(run, range(0, n, batch_size)):
            infer += seconds
            if progress is not None:
                progress(stop / n, f"{model.name}: {stop}/{n} images")
    seconds = infer / max(n, 1)
    if path is not None:
        meta = json.dumps({"seconds_per_image": seconds, "backend": predictor.backend})
        write_atomically(path, lambda p: np.savez_compressed(p, probs=probs, meta=np.array(meta)))
    return Evaluation(model.name, model.labels, y_true, probs, seconds, predictor.backend, False)
