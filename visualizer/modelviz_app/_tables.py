"""Per-class tables shared by pages, joined across models by class id."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelviz_app._ui import AppState
from modelviz_app.metrics import averaged_prf, confusion_matrix, per_class_prf

__all__ = ["MICRO_LIMIT", "auc_table", "averages_frame", "dataset_classes_with_images", "matrices", "per_class_frame"]


_MATRICES: dict[int, np.ndarray] = {}


def matrices(state: AppState) -> dict[str, np.ndarray]:
    """(true, predicted) counts per model in the shared class space; once per process (views live as long)."""
    assert state.space is not None
    out = {}
    for name, view in state.views.items():
        if id(view) not in _MATRICES:
            _MATRICES[id(view)] = confusion_matrix(view.y_true, view.pred, len(state.space))
        out[name] = _MATRICES[id(view)]
    return out


def per_class_frame(state: AppState, k: int = 5) -> pd.DataFrame:
    """Long table: model, class id, class, precision, recall, F1, top-k recall, support, predicted."""
    assert state.space is not None
    frames = []
    for name, cm in matrices(state).items():
        view = state.views[name]
        precision, recall, f1, support = per_class_prf(cm)
        predicted = cm.sum(axis=0)
        idx = np.flatnonzero((support > 0) | (predicted > 0))
        hits = np.bincount(view.y_true[view.topk_correct(k)], minlength=len(support))
        with np.errstate(invalid="ignore", divide="ignore"):
            topk = np.where(support > 0, hits / np.maximum(support, 1), 0.0)
        frames.append(
            pd.DataFrame(
                {
                    "model": name,
                    "class_id": [state.space.keys[i] for i in idx],
                    "class": [state.space.names[i] for i in idx],
                    "precision": precision[idx],
                    "recall": recall[idx],
                    "F1": f1[idx],
                    "top-k recall": topk[idx],
                    "support": support[idx],
                    "predicted": predicted[idx],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def dataset_classes_with_images(state: AppState, cm: np.ndarray) -> np.ndarray:
    """What macro averages run over: a class without images has no recall to average (a 0 there would only pull
    the average down), as in the operator's macroF1 and scikit-learn's ``labels=np.unique(y_true)``."""
    assert state.space is not None
    return np.flatnonzero(cm.sum(axis=1)[: state.space.n_dataset] > 0)


def averages_frame(state: AppState) -> pd.DataFrame:
    assert state.space is not None
    rows = []
    for name, cm in matrices(state).items():
        for avg, values in averaged_prf(cm, dataset_classes_with_images(state, cm)).items():
            rows.append({"model": name, "average": avg, **values})
    return pd.DataFrame(rows)


def _mean_defined(values: list[float]) -> float:
    """Mean of the defined values; NaN (no warning) when none is: one class alone has no ROC curve."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if len(finite) else float("nan")


_AUC_CACHE: dict[tuple[int, ...], tuple[pd.DataFrame, pd.DataFrame]] = {}
# Micro averages sort every (image, class) score at once; above this many they would take seconds per model.
MICRO_LIMIT = 5_000_000


def auc_table(state: AppState) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ROC AUC and average precision of every dataset class (one against the rest) per model, and their macro and
    micro averages (scikit-learn's ``average="macro"|"micro"`` on the one-hot labels). Computed once per process."""
    from modelviz_app.metrics import average_precision, roc_auc

    assert state.space is not None and state.dataset is not None
    key = tuple(id(v) for v in state.views.values())
    if key in _AUC_CACHE:
        return _AUC_CACHE[key]
    classes = np.unique(state.dataset.labels)
    table = pd.DataFrame({"class": [state.space.names[c] for c in classes],
                          "support": np.bincount(state.dataset.labels)[classes]})  # fmt: skip
    rows = []
    for name, view in state.views.items():
        scores = {c: view.scores(int(c)) for c in classes}
        auc = [roc_auc(view.y_true == c, scores[c]) for c in classes]
        ap = [average_precision(view.y_true == c, scores[c]) for c in classes]
        table[f"{name} AUC"], table[f"{name} AP"] = auc, ap
        micro_auc = micro_ap = float("nan")
        if len(classes) > 1 and len(view.y_true) * len(classes) <= MICRO_LIMIT:
            onehot = (view.y_true[:, None] == classes[None, :]).ravel()
            flat = np.stack([scores[c] for c in classes], axis=1).ravel()
            micro_auc, micro_ap = roc_auc(onehot, flat), average_precision(onehot, flat)
        rows.append({"model": name, "macro AUC": _mean_defined(auc), "micro AUC": micro_auc,
                     "macro AP": _mean_defined(ap), "micro AP": micro_ap})  # fmt: skip
    result = (table, pd.DataFrame(rows))
    _AUC_CACHE[key] = result
    return result
