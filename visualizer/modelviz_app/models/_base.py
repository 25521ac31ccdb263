"""A loaded classifier: its Keras network (loaded on first use), class names, input geometry and preprocessing.

Keras is loaded lazily: when a verified TFLite copy is cached, serving never imports TensorFlow, so the app starts in
seconds.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["LoadedModel", "fit_image"]


@dataclass
class LoadedModel:
    name: str
    loader: Callable[[], Any]  # returns the Keras model; called at most once
    labels: list[str]  # display name per output index
    label_ids: list[str]  # what dataset folders may be named (ImageNet wnid, or the class name)
    input_size: tuple[int, int]  # (height, width)
    channels: int
    preprocess: Callable[[np.ndarray], np.ndarray]  # uint8 (or float 0..255) NHWC -> float32 model input
    key: str  # identifies weights + preprocessing, for caches
    source: str  # human description (package and version, file)
    crop: bool = True  # resize the shorter side and centre-crop (photos) rather than stretch (small images)
    aliases: list[set[str]] = field(default_factory=list)  # extra lower-case names per index
    _keras: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def keras_model(self) -> Any:
        with self._lock:
            if self._keras is None:
                self._keras = self.loader()
            return self._keras

    def fit(self, image: np.ndarray) -> np.ndarray:
        return fit_image(image, self.input_size, self.channels, self.crop)

    def class_index(self, class_id: str) -> int | None:
        """The output index for a dataset class named by wnid or by name; None when the model lacks it."""
        if class_id in self.label_ids:
            return self.label_ids.index(class_id)
        # NFC: macOS stores folder names decomposed ("e" + accent), a labels file usually has them composed.
        lowered = unicodedata.normalize("NFC", class_id).strip().lower().replace("_", " ")
        for i, label in enumerate(self.labels):
            if unicodedata.normalize("NFC", label).lower() == lowered:
                return i
        for i, names in enumerate(self.aliases):
            if lowered in names:
                return i
        return None


def fit_image(image: np.ndarray, size: tuple[int, int], channels: int, crop: bool = True) -> np.ndarray:
    """uint8 HxW[xC] -> uint8 HxWxC at the model's size; shorter side resized then centre crop for photos.

    Staying in uint8 until a whole batch is stacked keeps the float conversion to one pass (``preprocess``).
    """
    pil = Image.fromarray(image)
    mode = "L" if channels == 1 else "RGB"
    if pil.mode != mode:
        pil = pil.convert(mode)
    h, w = size
    if (pil.width, pil.height) != (w, h):
        box = None
        if crop:
            # Centre crop of the source with the target's aspect ratio, resized in one pass: PIL only resamples
            # the pixels it keeps (the same picture as resizing the shorter side and then cropping).
            scale = max(w / pil.width, h / pil.height)
            bw, bh = min(pil.width, w / scale), min(pil.height, h / scale)  # min: float round-off
            left, top = max(0.0, (pil.width - bw) / 2), max(0.0, (pil.height - bh) / 2)
            box = (left, top, left + bw, top + bh)
        pil = pil.resize((w, h), Image.Resampling.BILINEAR, box=box)
    array = np.asarray(pil, dtype=np.uint8)
    return array[..., None] if channels == 1 else array
