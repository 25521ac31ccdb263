"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (IDX files, gzip)."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

__all__ = ["FASHION_CLASSES", "FASHION_DIR_ENV", "fashion_dir", "fashion_files", "read_fashion"]

FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FASHION_DIR_ENV = "MODELVIZ_FASHION_DIR"
_DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")


def fashion_dir() -> Path:
    return Path(os.environ.get(FASHION_DIR_ENV, _DEFAULT_DIR))


def fashion_files(split: str) -> tuple[Path, Path]:
    """(images, labels) paths of ``train`` or ``t10k``; a clear error naming the Debian package when absent."""
    base = fashion_dir()
    images, labels = base / f"{split}-images-idx3-ubyte.gz", base / f"{split}-labels-idx1-ubyte.gz"
    for path in (images, labels):
        if not path.exists():
            raise FileNotFoundError(f"Fashion-MNIST file {path} is missing (apt-get install dataset-fashion-mnist)")
    return images, labels


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def read_fashion(split: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and int64 labels (N,)."""
    images, labels = fashion_files(split)
    return _read_idx(images), _read_idx(labels).astype(np.int64)
