"""Where converted models, trained models and prediction caches live."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_root", "file_digest", "write_atomically"]

_LOG = logging.getLogger(__name__)

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


def write_atomically(path: Path, write: Callable[[Path], object]) -> bool:
    """``write(tmp)`` then rename over ``path``: readers (other replicas on a shared cache) never see half a file.

    A cache that cannot be written (read-only mount, full disk) only costs speed: False, with a warning.
    """
    tmp = path.with_name(f"{path.stem}.{os.getpid()}-{threading.get_ident()}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        tmp.replace(path)
        return True
    except OSError as exc:
        _LOG.warning("cannot write cache file %s: %s", path, exc)
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
