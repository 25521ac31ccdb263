"""An independent float64 numpy forward pass of EfficientNet-Lite straight from the PyTorch state dict, written
from efficientnet_lite_pytorch's module code (NCHW, static "same" padding, eval-mode BatchNorm)."""

from __future__ import annotations

import math

import numpy as np

from modelviz_app.models._effnet_lite import block_plan


def _pad_same(x: np.ndarray, k: int, s: int) -> tuple[np.ndarray, int, int]:
    _, h, w = x.shape
    oh, ow = math.ceil(h / s), math.ceil(w / s)
    ph, pw = max((oh - 1) * s + k - h, 0), max((ow - 1) * s + k - w, 0)
    x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))
    return x, oh, ow


def conv(x: np.ndarray, w: np.ndarray, s: int = 1) -> np.ndarray:
    k = w.shape[-1]
    x, oh, ow = _pad_same(x, k, s)
    out = np.zeros((w.shape[0], oh, ow))
    for i in range(k):
        for j in range(k):
            out += np.einsum("oc,chw->ohw", w[:, :, i, j], x[:, i : i + s * oh : s, j : j + s * ow : s])
    return out


def depthwise(x: np.ndarray, w: np.ndarray, s: int) -> np.ndarray:
    k = w.shape[-1]
    x, oh, ow = _pad_same(x, k, s)
    out = np.zeros((x.shape[0], oh, ow))
    for i in range(k):
        for j in range(k):
            out += w[:, 0, i, j][:, None, None] * x[:, i : i + s * oh : s, j : j + s * ow : s]
    return out


def forward(variant: str, sd: dict[str, np.ndarray], image_chw: np.ndarray) -> np.ndarray:
    """Softmax probabilities for one normalised CHW image."""
    p = {k: v.astype(np.float64) for k, v in sd.items()}

    def bn(x: np.ndarray, name: str) -> np.ndarray:
        scale = p[f"{name}.weight"] / np.sqrt(p[f"{name}.running_var"] + 1e-3)
        return (x - p[f"{name}.running_mean"][:, None, None]) * scale[:, None, None] + p[f"{name}.bias"][:, None, None]

    def relu6(x: np.ndarray) -> np.ndarray:
        return np.clip(x, 0, 6)

    x = relu6(bn(conv(image_chw.astype(np.float64), p["_conv_stem.weight"], 2), "_bn0"))
    for i, spec in enumerate(block_plan(variant)):
        b = f"_blocks.{i}"
        h = x
        if spec.expand != 1:
            h = relu6(bn(conv(h, p[f"{b}._expand_conv.weight"]), f"{b}._bn0"))
        h = relu6(bn(depthwise(h, p[f"{b}._depthwise_conv.weight"], spec.stride), f"{b}._bn1"))
        h = bn(conv(h, p[f"{b}._project_conv.weight"]), f"{b}._bn2")
        x = h + x if spec.residual else h
    x = relu6(bn(conv(x, p["_conv_head.weight"]), "_bn1"))
    logits = p["_fc.weight"] @ x.mean(axis=(1, 2)) + p["_fc.bias"]
    e = np.exp(logits - logits.max())
    return e / e.sum()
