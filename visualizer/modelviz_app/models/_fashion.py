"""Small Fashion-MNIST classifiers trained here (no downloaded weights): a CNN and a MobileNetV2-architecture net.

Both take 0..255 pixels (rescaling is inside the model) so they load like any user ``.keras`` model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelviz_app.datasets._fashion import FASHION_CLASSES, read_fashion

__all__ = ["FASHION_MODELS", "FASHION_RECIPE", "fashion_model_dir", "train_fashion"]

# Bumped whenever an architecture or training recipe changes, so caches keyed by it retrain.
FASHION_RECIPE = "r2"
FASHION_MODELS = ("fashion-cnn", "fashion-mobilenet_v2")


def fashion_model_dir(cache: Path) -> Path:
    return cache / "fashion" / FASHION_RECIPE


def _cnn() -> Any:
    from modelviz_app.models._quiet import import_tensorflow

    import_tensorflow()
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1 / 255),
            layers.Conv2D(32, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ],
        name="fashion_cnn",
    )


def _mobilenet_v2() -> Any:
    from modelviz_app.models._quiet import import_tensorflow

    import_tensorflow()
    import keras
    from keras import layers

    # MobileNetV2's minimum input is 32x32; 28x28 grey images are padded and repeated to RGB inside the model.
    base = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, include_top=False, pooling="avg"
    )
    # Keras' MobileNetV2 uses BatchNorm momentum 0.999: after a few hundred steps from scratch its moving statistics
    # are still mostly initial values and inference collapses to one class. 0.9 converges within the first epoch.
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = 0.9
    inputs = keras.Input((28, 28, 1))
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = layers.ZeroPadding2D(2)(x)
    x = layers.Concatenate()([x, x, x])
    x = base(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="fashion_mobilenet_v2")


_BUILDERS: dict[str, tuple[Callable[[], Any], int, int]] = {
    # name -> (builder, training images, epochs): sized for a few minutes on 2 CPU cores.
    "fashion-cnn": (_cnn, 60000, 2),
    "fashion-mobilenet_v2": (_mobilenet_v2, 30000, 3),
}


def train_fashion(
    cache: Path, force: bool = False, log: Callable[[str], None] = print, images: int | None = None
) -> dict[str, Path]:
    """Train (once) and save both models with their labels file; returns name -> ``.keras`` path.

    ``images`` caps the training images (the tests train on a few hundred).
    """
    out_dir = fashion_model_dir(cache)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = out_dir / "labels.txt"
    labels.write_text("\n".join(FASHION_CLASSES) + "\n", encoding="utf-8")
    paths = {name: out_dir / f"{name}.keras" for name in FASHION_MODELS}
    todo = [name for name in FASHION_MODELS if force or not paths[name].exists()]
    if not todo:
        return paths
    import keras  # only when training: a cached run stays free of TensorFlow

    x_train, y_train = read_fashion("train")
    x_test, y_test = read_fashion("t10k")
    keras.utils.set_random_seed(0)
    for name in todo:
        builder, count, epochs = _BUILDERS[name]
        count = min(count, images) if images else count
        model = builder()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        start = time.monotonic()
        log(f"training {name} on {count} images, {epochs} epochs")
        x = x_train[:count, ..., None].astype(np.float32)
        model.fit(x, y_train[:count], batch_size=128, epochs=epochs, verbose=0)
        _, accuracy = model.evaluate(x_test[..., None].astype(np.float32), y_test, batch_size=256, verbose=0)
        tmp = paths[name].with_suffix(".tmp.keras")
        model.save(tmp)
        tmp.replace(paths[name])
        info = {"test_accuracy": float(accuracy), "train_seconds": round(time.monotonic() - start, 1)}
        paths[name].with_suffix(".json").write_text(json.dumps(info))
        log(f"{name}: test accuracy {accuracy:.3f} in {info['train_seconds']} s")
    return paths
