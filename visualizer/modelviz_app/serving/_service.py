"""The configured models as a service: loaded once at startup (through the shared registry), each behind a batcher."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from modelviz_app.config import CONFIG_ENV, AppConfig, ConfigError, ModelSpec, config_path_from
from modelviz_app.models import LoadedModel, Predictor
from modelviz_app.paths import cache_root
from modelviz_app.serving._batching import Batcher, BatchSettings
from modelviz_app.serving._registry import SHARED_MODELS
from modelviz_app.serving._telemetry import Metrics

__all__ = ["BATCH_MAX_SIZE_ENV", "BATCH_MAX_WAIT_ENV", "ModelEntry", "Service", "batch_settings_from"]

BATCH_MAX_SIZE_ENV = "MODELVIZ_BATCH_MAX_SIZE"
BATCH_MAX_WAIT_ENV = "MODELVIZ_BATCH_MAX_WAIT_MS"
_LOG = logging.getLogger("modelviz_app.serving")


def batch_settings_from(environ: dict[str, str] | os._Environ[str]) -> BatchSettings:
    """``MODELVIZ_BATCH_MAX_SIZE`` (1 = no batching; default 8) and ``MODELVIZ_BATCH_MAX_WAIT_MS`` (default 5)."""
    defaults = BatchSettings()
    try:
        size = int(environ.get(BATCH_MAX_SIZE_ENV, defaults.max_batch))
        wait_ms = float(environ.get(BATCH_MAX_WAIT_ENV, defaults.max_wait_s * 1000))
    except ValueError as exc:
        raise ConfigError(f"{BATCH_MAX_SIZE_ENV}/{BATCH_MAX_WAIT_ENV}: {exc}") from None
    if not 1 <= size <= 1024:
        raise ConfigError(f"{BATCH_MAX_SIZE_ENV} must be between 1 and 1024, got {size}")
    if not 0 <= wait_ms <= 1000:  # also rejects NaN
        raise ConfigError(f"{BATCH_MAX_WAIT_ENV} must be between 0 and 1000 ms, got {wait_ms}")
    return BatchSettings(size, wait_ms / 1000)


@dataclass
class ModelEntry:
    spec: ModelSpec
    state: Literal["loading", "ready", "failed"] = "loading"
    model: LoadedModel | None = None
    predictor: Predictor | None = None
    batcher: Batcher | None = None
    error: str | None = None
    load_seconds: float | None = None


def _runner(model: LoadedModel, predictor: Predictor) -> object:
    def run(images: list[np.ndarray]) -> np.ndarray:
        # Resizing and the float conversion happen here, on the inference thread, one pass for the whole batch.
        return predictor.predict(model.preprocess(np.stack([model.fit(image) for image in images])))

    return run


@dataclass
class Service:
    settings: BatchSettings
    config: AppConfig | None = None
    problem: str | None = None  # why there is nothing to serve (no or invalid configuration)
    cache: Path | None = None
    entries: dict[str, ModelEntry] = field(default_factory=dict)

    @classmethod
    def from_argv(cls, argv: list[str], environ: dict[str, str] | os._Environ[str] = os.environ) -> Service:
        service = cls(batch_settings_from(environ))
        path = config_path_from(argv, dict(environ))
        if path is None:
            service.problem = f"no configuration: set {CONFIG_ENV} or pass --config"
            return service
        try:
            service.config = AppConfig.load(path)
        except ConfigError as exc:
            service.problem = str(exc)
            return service
        service.cache = cache_root(service.config.cache_dir)
        service.entries = {spec.name: ModelEntry(spec) for spec in service.config.models}
        return service

    async def start(self) -> None:
        from modelviz_app._ui import describe_error

        assert self.cache is not None or not self.entries
        for name, entry in self.entries.items():
            started = time.monotonic()
            try:
                assert self.cache is not None
                model, predictor = await asyncio.to_thread(SHARED_MODELS.load, entry.spec, self.cache)
                # Every fixed batch size allocated before the first request, not during the first burst.
                await asyncio.to_thread(predictor.warm)
            except Exception as exc:  # one broken model must not stop the others (the pages show the same error)
                entry.state, entry.error = "failed", describe_error(exc)
                _LOG.warning("model %s could not be loaded: %s", name, entry.error)
                Metrics.model_up.labels(name).set(0)
                continue
            entry.model, entry.predictor = model, predictor
            entry.load_seconds = round(time.monotonic() - started, 3)
            entry.batcher = Batcher(
                name,
                _runner(model, predictor),  # type: ignore[arg-type]
                self.settings,
                lambda size, seconds, name=name: Metrics.batch(name, size, seconds),  # type: ignore[misc]
            )
            entry.batcher.start()
            entry.state = "ready"
            Metrics.model_up.labels(name).set(1)
            _LOG.info("model %s ready (%s) in %.1f s", name, predictor.backend, entry.load_seconds)

    async def stop(self) -> None:
        for entry in self.entries.values():
            if entry.batcher is not None:
                await entry.batcher.stop()
