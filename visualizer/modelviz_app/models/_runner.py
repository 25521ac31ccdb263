"""Batched inference: a TFLite (XNNPACK) copy of the Keras model where it agrees with Keras, else Keras itself.

On 2 CPU cores the LiteRT interpreter runs these networks 2-3x faster than ``predict_on_batch``; the converted file is
cached next to the other converted models and checked against Keras on every load before it is trusted.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelviz_app.models._base import LoadedModel
from modelviz_app.paths import write_atomically

__all__ = ["AGREEMENT_TOLERANCE", "BATCH_SIZES", "FixedBatches", "Predictor", "batch_plan"]

AGREEMENT_TOLERANCE = 2e-5  # max |p_tflite - p_keras| over the check batch, probabilities
_LOG = logging.getLogger(__name__)
# XNNPACK's cost per image does not fall with the batch size on these CNNs (their spatial size already fills the
# matrix kernels; on 2 cores batches of 1-2 were fastest, 8 and more slower), while each allocated size costs memory
# (lite0: ~43 MB per interpreter + ~11 MB per image of batch): two small sizes (benchmarks/tflite_batching.md).
BATCH_SIZES = (1, 2)


def _convert(keras_model: Any, target: Path) -> None:
    from modelviz_app.models._quiet import import_tensorflow

    import_tensorflow()
    import tensorflow as tf

    # from_keras_model freezes variables reliably but fails on some Keras 3 functional models; the concrete-function
    # route covers those. Either result is only trusted after the agreement check below.
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its temporary SavedModel's signature
            flat = tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()
    except Exception:
        fn = tf.function(lambda x: keras_model(x, training=False))
        concrete = fn.get_concrete_function(tf.TensorSpec([None, *keras_model.input_shape[1:]], tf.float32))
        flat = tf.lite.TFLiteConverter.from_concrete_functions([concrete], keras_model).convert()
    if not write_atomically(target, lambda p: p.write_bytes(flat)):
        raise RuntimeError(f"cannot cache {target}")


class Predictor:
    """``predict(batch)`` for preprocessed NHWC float32 batches; thread-safe (Streamlit sessions share it)."""

    def __init__(self, model: LoadedModel, cache_dir: Path | None, use_tflite: bool = True, threads: int = 2) -> None:
        self.model = model
        self.backend = "keras"
        self.max_diff: float | None = None
        self._lock = threading.Lock()
        self._interpreter: Any = None
        self._fixed: FixedBatches | None = None
        self._threads = threads
        self._path: Path | None = None
        if use_tflite and cache_dir is not None:
            try:
                self._interpreter = self._open_tflite(cache_dir / "tflite" / f"{model.key}.tflite", threads)
            except Exception as exc:  # a model LiteRT cannot run is still served by Keras
                _LOG.warning("%s: TFLite path unavailable (%s); using Keras", model.name, exc)
                self._interpreter = self._fixed = self._path = None

    def _open_tflite(self, path: Path, threads: int) -> Any:
        from ai_edge_litert.interpreter import Interpreter

        record = path.with_suffix(".json")
        if path.exists() and record.exists():
            # Checked against Keras when it was converted; the file name is the model's content key.
            checked = json.loads(record.read_text()).get("max_abs_diff")
            if not (isinstance(checked, float) and checked <= AGREEMENT_TOLERANCE):
                raise RuntimeError(f"TFLite output differed from Keras by {checked} when converted")
            self.max_diff = checked
            self.backend = "tflite"
            self._path = path
            return Interpreter(model_path=str(path), num_threads=threads)
        shape = (*self.model.input_size, self.model.channels)
        _convert(self.model.keras_model, path)
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        rng = np.random.default_rng(0)
        probe = self.model.preprocess(rng.uniform(0, 255, size=(2, *shape)).astype(np.float32))
        self._interpreter, self._path = interpreter, path
        got = self._run_tflite(probe)
        want = np.asarray(self.model.keras_model.predict_on_batch(probe))
        self.max_diff = float(np.abs(got - want).max())
        text = json.dumps({"max_abs_diff": self.max_diff})
        write_atomically(record, lambda p: p.write_text(text))
        if not self.max_diff <= AGREEMENT_TOLERANCE:  # also rejects NaN
            raise RuntimeError(f"TFLite output differs from Keras by {self.max_diff:.2e}")
        self.backend = "tflite"
        self._path = path
        return interpreter

    def _run_tflite(self, batch: np.ndarray) -> np.ndarray:
        if self._fixed is None:
            self._fixed = FixedBatches(self._path, self._threads, interpreter=self._interpreter)
        return self._fixed.run(batch)

    def warm(self) -> None:
        """Allocate every batch size now (a server calls this at start, so the first burst pays no allocation)."""
        with self._lock:
            if self.backend == "tflite":
                if self._fixed is None:
                    self._fixed = FixedBatches(self._path, self._threads, interpreter=self._interpreter)
                self._fixed.allocate_all((*self.model.input_size, self.model.channels))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            if self.backend == "tflite":
                return self._run_tflite(batch)
            return np.asarray(self.model.keras_model.predict_on_batch(batch))

    def worker(self, threads: int = 1) -> Callable[[np.ndarray], np.ndarray]:
        """A ``predict`` for one evaluation thread: its own interpreters (``threads`` each), no lock.

        On 2 cores, two such workers each decoding and then inferring their own batches beat one 2-thread
        interpreter fed by a decoding thread: no XNNPACK thread-pool hand-offs, and decoding fills the gaps.
        Keras (one graph, not thread-safe here) falls back to the shared, locked ``predict``.
        """
        if self.backend != "tflite" or self._path is None:
            return self.predict
        return FixedBatches(self._path, threads).run


def batch_plan(n: int, sizes: tuple[int, ...] = BATCH_SIZES) -> list[tuple[int, int, int]]:
    """How to run ``n`` images on interpreters of fixed batch ``sizes``: ``(start, count, size)`` per call.

    Largest size first; a remainder is padded up to the next size when that wastes at most a quarter of it (with
    sizes 1, 2, 4, 8: 7 -> 8, 3 -> 4) and otherwise split (5 -> 4 + 1): no call re-allocates a tensor.
    """
    ordered = sorted(sizes)
    plan: list[tuple[int, int, int]] = []
    start = 0
    while start < n:
        left = n - start
        fits = [s for s in ordered if s <= left]
        size = fits[-1] if fits else ordered[0]
        above = next((s for s in ordered if s > left), None)
        if above is not None and (above - left) * 4 <= above:
            size = above
        count = min(size, left)
        plan.append((start, count, size))
        start += count
    return plan


class FixedBatches:
    """One LiteRT interpreter per fixed batch size, each allocated once; batches are split or padded to fit.

    Resizing one interpreter's input to each new batch size (``resize_tensor_input`` + ``allocate_tensors``) costs
    about as much as running several images, and dynamic batches have a new size almost every call.
    Not thread-safe: one caller at a time (the predictor's lock, or one evaluation worker each).
    """

    def __init__(
        self, path: Path | None, threads: int, sizes: tuple[int, ...] = BATCH_SIZES, interpreter: Any = None
    ) -> None:
        self.path = path
        self.threads = threads
        self.sizes = tuple(sorted(sizes))
        self.allocations = 0  # interpreters allocated (tests read it)
        self._by_size: dict[int, tuple[Any, int, int]] = {}
        self._spare = interpreter  # one already opened (the conversion check's): used for the first size

    def _get(self, size: int, shape: tuple[int, ...]) -> tuple[Any, int, int]:
        found = self._by_size.get(size)
        if found is None:
            if self._spare is not None:
                it, self._spare = self._spare, None
            else:
                from ai_edge_litert.interpreter import Interpreter

                it = Interpreter(model_path=str(self.path), num_threads=self.threads)
            inp = it.get_input_details()[0]["index"]
            it.resize_tensor_input(inp, [size, *shape])
            it.allocate_tensors()
            self.allocations += 1
            found = self._by_size[size] = (it, inp, it.get_output_details()[0]["index"])
        return found

    def allocate_all(self, shape: tuple[int, ...]) -> None:
        for size in self.sizes:
            self._get(size, shape)

    def run(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        shape = tuple(batch.shape[1:])
        if len(batch) == 0:
            it, _, _ = self._get(self.sizes[0], shape)
            return np.zeros((0, *it.get_output_details()[0]["shape"][1:]), np.float32)
        parts = []
        for start, count, size in batch_plan(len(batch), self.sizes):
            it, inp, out = self._get(size, shape)
            part = batch[start : start + count]
            if count < size:  # padding rows: zeros, their outputs dropped
                part = np.concatenate([part, np.zeros((size - count, *shape), np.float32)])
            it.set_tensor(inp, part)
            it.invoke()  # releases the GIL
            parts.append(np.array(it.get_tensor(out)[:count]))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
