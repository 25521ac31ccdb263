"""Where converted models, trained models and prediction caches live."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_root", "file_digest"]

CACHE_ENV = "MODELVIZ_CACHE"


def cache_root(configured: Path | None = None) -> Path:
    """The config's ``cacheDir``, else ``$MODELVIZ_CACHE``, else ``~/.cache/modelviz``."""
    if configured is not None:
        return configured
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "modelviz"


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
