"""A model's predictions on a dataset: computed once in batches, cached on disk by model key + dataset content hash."""

from __future__ import annotations

import json
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

__all__ = ["BATCH_SIZE", "Evaluation", "class_mapping", "evaluate", "predictions_path"]

# 32 keeps peak memory near 1 GB for 224x224 networks while batching gives most of its speed-up.
BATCH_SIZE = 32
_FORMAT = "p3"  # bumped when the input pipeline (resize, preprocessing) changes

ProgressFn = Callable[[float, str], None]


@dataclass
class Evaluation:
    model: str
    labels: list[str]  # the model's class names (its output indices)
    y_true: np.ndarray  # (N,) true class as the model's output index
    probs: np.ndarray  # (N, C) float32
    seconds_per_image: float  # batched inference only (decode and resize excluded)
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

    def prepare(start: int) -> np.ndarray:
        stop = min(n, start + batch_size)
        return model.preprocess(np.stack([model.fit(dataset.image(i)) for i in range(start, stop)]))

    # Decoding and resizing the next batch (PIL and numpy release the GIL) overlaps with inference on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(prepare, 0) if n else None
        for start in range(0, n, batch_size):
            assert pending is not None
            batch = pending.result()
            stop = start + len(batch)
            pending = pool.submit(prepare, stop) if stop < n else None
            t0 = time.perf_counter()
            probs[start:stop] = predictor.predict(batch)
            infer += time.perf_counter() - t0
            if progress is not None:
                progress(stop / n, f"{model.name}: {stop}/{n} images")
    seconds = infer / max(n, 1)
    if path is not None:
        meta = json.dumps({"seconds_per_image": seconds, "backend": predictor.backend})
        write_atomically(path, lambda p: np.savez_compressed(p, probs=probs, meta=np.array(meta)))
    return Evaluation(model.name, model.labels, y_true, probs, seconds, predictor.backend, False)
