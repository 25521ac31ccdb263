"""Tiny real data for the app tests: two small Keras models, a three-class image folder and configurations."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from .browser import launch_browser

ROOT = Path(__file__).resolve().parents[2]
# The package lives under visualizer/; tests run from a checkout whether or not it is installed.
if str(ROOT / "visualizer") not in sys.path:
    sys.path.insert(0, str(ROOT / "visualizer"))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASSES = ["red", "green", "blue"]


@dataclass(frozen=True)
class TinyEnv:
    root: Path
    dataset: Path
    labels: Path
    models: dict[str, Path]
    cache: Path

    def config(self, name: str, models: list[dict[str, str]] | None = None, **extra: object) -> Path:
        data: dict[str, object] = {
            "title": "tiny",
            "models": models
            if models is not None
            else [{"name": n, "path": str(p), "labels": str(self.labels)} for n, p in self.models.items()],
            "dataset": {"path": str(self.dataset)},
            "cacheDir": str(self.cache),
        }
        data.update(extra)
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path


def _write_images(folder: Path) -> None:
    rng = np.random.default_rng(7)
    for c, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True)
        for i in range(8):
            image = rng.integers(0, 90, size=(20, 24, 3), dtype=np.uint8)
            # Mostly the class colour; every fourth image leans to the next colour, so models make mistakes.
            strength = 120 if i % 4 else 60
            image[..., c] += np.uint8(strength)
            if i % 4 == 0:
                image[..., (c + 1) % 3] += np.uint8(100)
            Image.fromarray(image).save(folder / name / f"{name}-{i}.png")


def _models(folder: Path) -> dict[str, Path]:
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    # "colour-mean": picks the brightest channel (a sensible classifier); "tiny-conv": random weights.
    inputs = keras.Input((16, 16, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    dense = layers.Dense(3, activation="softmax")
    mean_model = keras.Model(inputs, dense(x))
    dense.set_weights([np.eye(3, dtype=np.float32) * 12, np.zeros(3, dtype=np.float32)])
    conv = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            layers.Rescaling(1 / 255),
            layers.Conv2D(4, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    paths = {"colour-mean": folder / "colour-mean.keras", "tiny-conv": folder / "tiny-conv.h5"}
    mean_model.save(paths["colour-mean"])
    conv.save(paths["tiny-conv"])
    return paths


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyEnv:
    root = tmp_path_factory.mktemp("tiny")
    _write_images(root / "images")
    labels = root / "labels.txt"
    labels.write_text("\n".join(CLASSES) + "\n")
    return TinyEnv(root, root / "images", labels, _models(root), root / "cache")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    yield from launch_browser(tmp_path_factory)
