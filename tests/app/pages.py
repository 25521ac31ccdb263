"""The app's pages and the predictions the tests expect them to show."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .conftest import CLASSES

APP = Path(__file__).resolve().parents[2] / "visualizer" / "modelviz_app" / "app.py"


PAGES = {
    "pages/overview.py": "Overview",
    "pages/per_class.py": "Per-class metrics",
    "pages/confusion.py": "Confusion",
    "pages/misclassified.py": "Misclassified images",
    "pages/hardest.py": "Hardest examples",
    "pages/compare.py": "Compare models",
    "pages/calibration.py": "Calibration",
    "pages/curves.py": "ROC and precision-recall",
    "pages/upload.py": "Try an image",
    "pages/export.py": "Export",
}


def _predictions(tiny, name: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(image ids, true class, predicted class, probabilities by class) recomputed outside the app from its
    prediction cache; classes are the dataset's indices (its folders, sorted), the app's class ids."""
    from modelviz_app.datasets import load_dataset
    from modelviz_app.evaluation import evaluate
    from modelviz_app.models import Predictor, load_file_model

    dataset = load_dataset(None, tiny.dataset)
    model = load_file_model(name, tiny.models[name], tiny.labels, tiny.cache)
    ev = evaluate(model, Predictor(model, tiny.cache), dataset, tiny.cache)
    to_dataset = np.array([dataset.class_ids.index(label) for label in model.labels])
    probs = np.zeros_like(ev.probs)
    probs[:, to_dataset] = ev.probs
    return dataset.ids, dataset.labels, to_dataset[ev.probs.argmax(axis=1)], probs


NAMES = sorted(CLASSES)  # the folder dataset's class order
