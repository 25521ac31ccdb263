"""What the app exports: per-image predictions and a metrics report (JSON and CSV), from the same arrays the pages
draw (checked against scikit-learn in the tests)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from modelviz_app._tables import dataset_classes_with_images
from modelviz_app._ui import AppState
from modelviz_app.metrics import (
    averaged_prf,
    confusion_matrix,
    expected_calibration_error,
    grouped_mean_interval,
    per_class_prf,
)
from modelviz_app.quality import ECE_BINS

__all__ = ["ECE_BINS", "csv_text", "metrics_frame", "metrics_report", "predictions_frame", "report_json"]

# What makes a spreadsheet read a cell as a formula (OWASP's list for CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)  # "-1" is a number, not a formula
        except ValueError:
            return "'" + value
    return value


def csv_text(frame: pd.DataFrame) -> str:
    """CSV for spreadsheets: a text cell (class name, file name) that starts like a formula gets a leading
    apostrophe, so opening the file never runs it; numbers stay as they are, quoting is pandas' (commas, quotes,
    newlines)."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(_spreadsheet_safe)
    safe.columns = [_spreadsheet_safe(str(c)) for c in safe.columns]
    return safe.to_csv(index=False)


def _json_ready(value: Any) -> Any:
    """NaN and infinities as null: ``NaN`` is not JSON (JavaScript's and jq's parsers refuse the whole file)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def predictions_frame(state: AppState, indices: np.ndarray | None = None) -> pd.DataFrame:
    """One row per image: id, true class (id and name), each model's top-5 classes and probabilities."""
    assert state.dataset is not None and state.space is not None
    rows = np.arange(len(state.dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    keys, names = np.array(state.space.keys, dtype=object), np.array(state.space.names, dtype=object)
    true = state.dataset.labels[rows]
    data: dict[str, Any] = {
        "image": [state.dataset.ids[i] for i in rows],
        "true_id": keys[true],
        "true": names[true],
    }
    # Probabilities stay float32, what the models output: written as such they read 0.3, not 0.30000001192092896.
    for name, view in state.views.items():
        data[f"{name}:correct"] = view.correct[rows]
        data[f"{name}:p_true"] = view.p_true[rows].astype(np.float32)
        for k in range(view.top.shape[1]):
            data[f"{name}:top{k + 1}_id"] = keys[view.top[rows, k]]
            data[f"{name}:top{k + 1}"] = names[view.top[rows, k]]
            data[f"{name}:top{k + 1}_p"] = view.top_p[rows, k].astype(np.float32)
    return pd.DataFrame(data)


def metrics_report(state: AppState) -> dict[str, Any]:
    """Headline, averaged and per-class metrics of every model; class ids with their display names."""
    assert state.dataset is not None and state.space is not None
    space, ds = state.space, state.dataset
    report: dict[str, Any] = {
        "title": state.config.title,
        "dataset": {
            "name": ds.name,
            "split": ds.split,
            "images": len(ds),
            "total": ds.total or len(ds),
            "sources": ds.sources,
            "classes": [
                {"id": k, "name": n} for k, n in zip(space.keys[: space.n_dataset], state.class_names(), strict=True)
            ],
        },
        "models": {},
    }
    for name, view in state.views.items():
        cm = confusion_matrix(view.y_true, view.pred, len(space))
        precision, recall, f1, support = per_class_prf(cm)
        acc, low, high, groups = grouped_mean_interval(view.correct, state.groups)
        report["models"][name] = {
            "top1_accuracy": acc,
            "top1_accuracy_95ci": [low, high],
            "independent_sources": groups,
            "top5_accuracy": float(np.mean(view.topk_correct(5))),
            "mean_confidence": float(view.confidence.mean()),
            f"ece_{ECE_BINS}_bins": expected_calibration_error(view.evaluation.y_true, view.probs, ECE_BINS),
            "mean_log_loss": float(view.loss.mean()),
            "averages": averaged_prf(cm, dataset_classes_with_images(state, cm)),
            "per_class": [
                {
                    "id": space.keys[c],
                    "name": space.names[c],
                    "precision": float(precision[c]),
                    "recall": float(recall[c]),
                    "F1": float(f1[c]),
                    "support": int(support[c]),
                    "predicted": int(cm[:, c].sum()),
                }
                for c in range(len(space))
                if support[c] or cm[:, c].sum()
            ],
        }
    return report


def report_json(state: AppState) -> str:
    return json.dumps(_json_ready(metrics_report(state)), indent=2, allow_nan=False)


def metrics_frame(state: AppState) -> pd.DataFrame:
    """The report flattened for spreadsheets: model, scope (all, macro, micro, weighted or a class id), metric."""
    rows: list[dict[str, Any]] = []
    for name, m in metrics_report(state)["models"].items():
        for metric in ("top1_accuracy", "top5_accuracy", "mean_confidence", f"ece_{ECE_BINS}_bins", "mean_log_loss"):
            rows.append({"model": name, "scope": "all", "class": "", "metric": metric, "value": m[metric]})
        for avg, values in m["averages"].items():
            for metric, value in values.items():
                rows.append({"model": name, "scope": avg, "class": "", "metric": metric, "value": value})
        for c in m["per_class"]:
            for metric in ("precision", "recall", "F1", "support", "predicted"):
                rows.append({"model": name, "scope": c["id"], "class": c["name"], "metric": metric, "value": c[metric]})
    return pd.DataFrame(rows, columns=["model", "scope", "class", "metric", "value"])
