"""Read PyTorch checkpoints (``.pth``) into numpy arrays without importing torch.

Two layouts exist: the legacy one (a stream of pickles followed by raw storages) and the zip one (``data.pkl`` plus
one file per storage). Both pickle tensors as ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``
with storages referenced through ``persistent_load``; we resolve those to numpy views.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["load_state_dict"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass
class _StorageType:
    dtype: np.dtype[Any]


@dataclass
class _LazyTensor:
    """A tensor whose storage bytes are read after the pickle (legacy layout)."""

    key: str
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: Any, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any) -> _LazyTensor:
    return _LazyTensor(str(storage), int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    return data


class _Unpickler(pickle.Unpickler):
    """Only the few globals a state dict needs; anything else is refused (checkpoints are pickles)."""

    def __init__(self, file: IO[bytes], storages: dict[str, np.dtype[Any]]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a checkpoint")

    def persistent_load(self, pid: Any) -> Any:
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        self.storages[key] = storage_type.dtype
        return key


def _materialize(tensor: _LazyTensor, buffers: dict[str, np.ndarray]) -> np.ndarray:
    flat = buffers[tensor.key]
    if not tensor.size:
        return np.array(flat[tensor.offset])
    itemsize = flat.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[tensor.offset :], shape=tensor.size, strides=tuple(s * itemsize for s in tensor.stride)
    )
    return np.ascontiguousarray(view)


def _walk(obj: Any, fn: Callable[[_LazyTensor], np.ndarray]) -> Any:
    if isinstance(obj, _LazyTensor):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _walk(v, fn) for k, v in obj.items()}
    return obj


def _load_legacy(data: bytes) -> dict[str, Any]:
    f = io.BytesIO(data)
    if pickle.load(f) != _LEGACY_MAGIC:  # noqa: S301 - plain ints and dicts only
        raise ValueError("not a PyTorch checkpoint (bad magic number)")
    pickle.load(f)  # noqa: S301 - protocol version
    pickle.load(f)  # noqa: S301 - sys info (endianness, type sizes)
    storages: dict[str, np.dtype[Any]] = {}
    result = _Unpickler(f, storages).load()
    keys = pickle.load(f)  # noqa: S301 - list of storage keys, in file order
    buffers: dict[str, np.ndarray] = {}
    for key in keys:
        (numel,) = struct.unpack("<q", f.read(8))
        dtype = storages[str(key)]
        raw = f.read(numel * dtype.itemsize)
        buffers[str(key)] = np.frombuffer(raw, dtype=dtype)
    out: dict[str, Any] = _walk(result, lambda t: _materialize(t, buffers))
    return out


def _load_zip(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = next(n for n in names if n.endswith("data.pkl"))
        prefix = pkl[: -len("data.pkl")]
        storages: dict[str, np.dtype[Any]] = {}
        result = _Unpickler(io.BytesIO(zf.read(pkl)), storages).load()
        buffers = {key: np.frombuffer(zf.read(f"{prefix}data/{key}"), dtype=dt) for key, dt in storages.items()}
    out: dict[str, Any] = _walk(result, lambda t: _materialize(t, buffers))
    return out


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The checkpoint's tensors by name, as float arrays in PyTorch layout (e.g. conv weights OIHW)."""
    path = Path(path)
    state = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path.read_bytes())
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
