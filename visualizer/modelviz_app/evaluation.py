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

__all__ = [
    "BATCH_SIZE",
    "WORKERS",
    "Evaluation",
    "class_mapping",
    "evaluate",
    "merge_shards",
    "predict_shard",
    "predictions_path",
    "shard_path",
]

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
    """Dataset class index -> model output index (-1: a class without images the model does not know, which no
    image needs); an error naming the classes with images that the model does not know."""
    mapping = [model.class_index(c) for c in dataset.class_ids]
    present = set(np.unique(dataset.labels).tolist())
    missing = [dataset.class_names[i] for i, m in enumerate(mapping) if m is None and i in present]
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise ModelLoadError(f"{model.name} has no output for the dataset's classes {shown}")
    return np.array([-1 if m is None else m for m in mapping], dtype=np.int64)


def predictions_path(cache: Path, model: LoadedModel, dataset: Dataset) -> Path:
    return cache / "predictions" / f"{model.key}-{dataset.key}-{_FORMAT}.npz"


def shard_path(shared: Path, model: LoadedModel, dataset: Dataset, index: int, count: int) -> Path:
    return shared / "predictions" / "shards" / f"{model.key}-{dataset.key}-{_FORMAT}.{index}-of-{count}.npz"


def shard_rows(n: int, index: int, count: int) -> range:
    """The contiguous slice of ``n`` images that shard ``index`` of ``count`` predicts."""
    return range(n * index // count, n * (index + 1) // count)


def _load(path: Path) -> tuple[np.ndarray, dict[str, object]]:
    with np.load(path) as data:
        return np.asarray(data["probs"]), dict(json.loads(str(data["meta"])))


def _save(path: Path, probs: np.ndarray, meta: dict[str, object]) -> bool:
    text = json.dumps(meta)
    return write_atomically(path, lambda p: np.savez_compressed(p, probs=probs, meta=np.array(text)))


def _predict(
    model: LoadedModel,
    predictor: Predictor,
    dataset: Dataset,
    rows: range,
    progress: ProgressFn | None,
    batch_size: int,
    workers: int,
) -> tuple[np.ndarray, float]:
    """Probabilities of the images in ``rows`` and the inference seconds they took (all workers summed)."""
    n = len(rows)
    probs = np.zeros((n, len(model.labels)), dtype=np.float32)
    infer = 0.0
    local = threading.local()

    def run(start: int) -> tuple[int, float]:
        # Each worker decodes and resizes its batch (PIL and numpy release the GIL) and then runs it on its own
        # interpreter, so one worker's decoding overlaps the other's inference.
        if not hasattr(local, "predict"):
            local.predict = predictor.worker()
        stop = min(n, start + batch_size)
        batch = model.preprocess(np.stack([model.fit(dataset.image(rows[i])) for i in range(start, stop)]))
        t0 = time.perf_counter()
        probs[start:stop] = local.predict(batch)
        return stop, time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for stop, seconds in pool.map(run, range(0, n, batch_size)):
            infer += seconds
            if progress is not None:
                progress(stop / max(n, 1), f"{model.name}: {stop}/{n} images")
    return probs, infer


def predict_shard(
    model: LoadedModel,
    predictor: Predictor,
    dataset: Dataset,
    shared: Path,
    index: int,
    count: int,
    batch_size: int = BATCH_SIZE,
    workers: int = WORKERS,
) -> Path:
    """Predict one shard of the dataset into the shared directory (kept when already there); its path."""
    path = shard_path(shared, model, dataset, index, count)
    if not path.exists() and not predictions_path(shared, model, dataset).exists():
        rows = shard_rows(len(dataset), index, count)
        probs, infer = _predict(model, predictor, dataset, rows, None, batch_size, workers)
        meta = {"seconds": infer, "images": len(rows), "backend": predictor.backend}
        if not _save(path, probs, meta):
            raise OSError(f"cannot write predictions to {path}")
    return path


def merge_shards(model: LoadedModel, dataset: Dataset, shared: Path, count: int) -> bool:
    """Join every shard into the shared predictions file once all are there; whether that file exists now."""
    target = predictions_path(shared, model, dataset)
    if target.exists():
        return True
    paths = [shard_path(shared, model, dataset, i, count) for i in range(count)]
    if not all(p.exists() for p in paths):
        return False
    parts = [_load(p) for p in paths]
    probs = np.concatenate([probs for probs, _ in parts])
    seconds = sum(float(str(meta["seconds"])) for _, meta in parts) / max(len(dataset), 1)
    meta = {"seconds_per_image": seconds, "backend": str(parts[0][1]["backend"])}
    if not _save(target, probs, meta):
        raise OSError(f"cannot write predictions to {target}")
    return True


def evaluate(
    model: LoadedModel,
    predictor: Predictor,
    dataset: Dataset,
    cache: Path | None,
    progress: ProgressFn | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int = WORKERS,
    shared: Path | None = None,
) -> Evaluation:
    """Predictions of the whole dataset: from ``shared`` (written by the evaluation Job) when there, else from the
    cache, else computed (and cached)."""
    y_true = class_mapping(model, dataset)[dataset.labels]
    found = predictions_path(shared, model, dataset) if shared is not None else None
    path = predictions_path(cache, model, dataset) if cache is not None else None
    for source in (found, path):
        if source is not None and source.exists():
            probs, meta = _load(source)
            seconds = float(str(meta["seconds_per_image"]))
            return Evaluation(model.name, model.labels, y_true, probs, seconds, str(meta["backend"]), True)
    n = len(dataset)
    probs, infer = _predict(model, predictor, dataset, range(n), progress, batch_size, workers)
    seconds = infer / max(n, 1)
    if path is not None:
        _save(path, probs, {"seconds_per_image": seconds, "backend": predictor.backend})
    return Evaluation(model.name, model.labels, y_true, probs, seconds, predictor.backend, False)
