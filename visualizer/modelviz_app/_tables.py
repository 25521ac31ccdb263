"""Per-class tables shared by pages, joined across models by the dataset's class names."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelviz_app.evaluation import Evaluation
from modelviz_app.metrics import confusion_matrix, per_class_prf

__all__ = ["per_class_frame", "present_classes"]


def present_classes(ev: Evaluation) -> np.ndarray:
    """Output indices that are a true class or a prediction (the rest of 1000 ImageNet classes are all zero)."""
    return np.union1d(np.unique(ev.y_true), np.unique(ev.pred))


def per_class_frame(evaluations: dict[str, Evaluation]) -> pd.DataFrame:
    """Long table: model, class, precision, recall, F1, support, predicted."""
    frames = []
    for name, ev in evaluations.items():
        cm = confusion_matrix(ev.y_true, ev.pred, len(ev.labels))
        precision, recall, f1, support = per_class_prf(cm)
        idx = present_classes(ev)
        frames.append(
            pd.DataFrame(
                {
                    "model": name,
                    "class": [ev.labels[i] for i in idx],
                    "precision": precision[idx],
                    "recall": recall[idx],
                    "F1": f1[idx],
                    "support": support[idx],
                    "predicted": cm.sum(axis=0)[idx],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
