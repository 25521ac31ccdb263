"""Models loaded once per process: the HTTP API and every Streamlit session share the same objects."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from modelviz_app.config import ModelSpec
from modelviz_app.models import LoadedModel, Predictor, load_catalog, load_file_model

__all__ = ["RUNTIME_ENV", "SHARED_MODELS", "ModelRegistry", "load_model"]

# ``keras`` runs the Keras models themselves (no TFLite copy): for comparisons, and for models LiteRT gets wrong.
RUNTIME_ENV = "MODELVIZ_RUNTIME"


def load_model(spec: ModelSpec, cache: Path) -> tuple[LoadedModel, Predictor]:
    """Load one configured model and its runner (TFLite when it agrees with Keras)."""
    if spec.catalog is not None:
        model = load_catalog(spec.name, spec.catalog, spec.weights, cache)
    else:
        assert spec.path is not None and spec.labels is not None
        model = load_file_model(spec.name, spec.path, spec.labels, cache)
    return model, Predictor(model, cache, use_tflite=os.environ.get(RUNTIME_ENV, "tflite") != "keras")


class ModelRegistry:
    """``load`` returns the one copy of a model per (entry, cache directory); concurrent callers wait for it.

    Failures are not remembered: a model file that appears later loads on the next attempt (as the pages retry).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        self._loaded: dict[tuple[str, str], tuple[LoadedModel, Predictor]] = {}

    def load(self, spec: ModelSpec, cache: Path) -> tuple[LoadedModel, Predictor]:
        key = (spec.model_dump_json(by_alias=True), str(cache))
        with self._lock:
            found = self._loaded.get(key)
            if found is not None:
                return found
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one load per key; others wait for it rather than load a second copy
            with self._lock:
                found = self._loaded.get(key)
            if found is None:
                found = load_model(spec, cache)
                with self._lock:
                    self._loaded[key] = found
            return found

    def loaded(self) -> int:
        with self._lock:
            return len(self._loaded)


SHARED_MODELS = ModelRegistry()
