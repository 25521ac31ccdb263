"""Headline quality of every configured model, without a browser: ``modelviz app evaluate``.

The same code path as the pages: the configuration, the dataset loader, the process-wide model registry and
:func:`modelviz_app.evaluation.evaluate` (so predictions cached on disk by the app are reused, and those computed here
are reused by the app), then the shared class space the pages draw from. The result is a compact JSON document that
fits a Kubernetes termination message (4 KiB) with 8 models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelviz_app.config import AppConfig
from modelviz_app.metrics import averaged_prf, confusion_matrix, expected_calibration_error, per_class_prf

__all__ = ["ECE_BINS", "MESSAGE_LIMIT", "ModelQuality", "Outcome", "evaluate_config", "quality_of", "render"]

ECE_BINS = 15  # equal-width bins of top-1 confidence, as on the Overview page
MESSAGE_LIMIT = 4096  # the kubelet's cap on a termination message
_NAME_LIMIT = 48  # a worst class's display name is cut here (ImageNet names can be long)
_DIGITS = 4


@dataclass(frozen=True)
class ModelQuality:
    """One model's figures, or why it has none."""

    name: str
    images: int = 0
    top1: float | None = None
    top5: float | None = None
    ece: float | None = None
    macro_f1: float | None = None
    worst_class: str | None = None
    worst_class_recall: float | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name}
        if self.error is not None:
            doc["error"] = self.error
            return doc
        doc["images"] = self.images
        for key, value in (
            ("top1", self.top1),
            ("top5", self.top5),
            ("ece", self.ece),
            ("macroF1", self.macro_f1),
            ("worstClassRecall", self.worst_class_recall),
        ):
            if value is not None and np.isfinite(value):
                doc[key] = round(float(value), _DIGITS)
        if self.worst_class is not None:
            doc["worstClass"] = self.worst_class[:_NAME_LIMIT]
        return doc


@dataclass(frozen=True)
class Outcome:
    """What an evaluation produced: per model figures or errors, the dataset's error, and whether the figures are
    in (False for a shard that left them to the shard finishing last)."""

    models: list[ModelQuality]
    dataset_error: str | None = None
    complete: bool = True


def quality_of(
    name: str, y_true: np.ndarray, pred: np.ndarray, rank: np.ndarray, probs: np.ndarray, y_out: np.ndarray,
    n_classes: int, n_dataset: int, class_names: list[str],
) -> ModelQuality:  # fmt: skip
    """Figures from one model's predictions in the shared class space.

    ``y_true``/``pred``: class indices (the dataset's classes first, ``n_dataset`` of them); ``rank``: the true
    class's rank (0 = top-1); ``probs`` with ``y_out`` (the true class as the model's output index) for the ECE.
    Macro F1 averages over the dataset's classes that have images; the worst class is the lowest recall among them
    (the first such class on a tie).
    """
    cm = confusion_matrix(y_true, pred, n_classes)
    _, recall, _, support = per_class_prf(cm)
    present = np.flatnonzero(support[:n_dataset] > 0)
    macro = averaged_prf(cm, present)["macro"]["F1"] if len(present) else float("nan")
    worst = int(present[np.argmin(recall[present])]) if len(present) else None
    return ModelQuality(
        name=name,
        images=len(y_true),
        top1=float(np.mean(rank < 1)) if len(rank) else None,
        top5=float(np.mean(rank < 5)) if len(rank) else None,
        ece=expected_calibration_error(y_out, probs, ECE_BINS) if len(y_out) else None,
        macro_f1=macro,
        worst_class=class_names[worst] if worst is not None else None,
        worst_class_recall=float(recall[worst]) if worst is not None else None,
    )


def evaluate_config(config: AppConfig, cache: Path, shard: tuple[int, int] | None = None) -> Outcome:
    """Every model's figures (a model that cannot be loaded or run carries its loader's message); the dataset's
    error, if it could not be loaded.

    With ``shard`` (index, count) only that slice of the images is predicted, into ``config.predictionsDir``; the
    shard that finds every slice there joins them and computes the figures. The others return no figures (an empty
    list when every model predicted its slice) and ``complete`` False.
    """
    from modelviz_app._classes import class_space, model_view
    from modelviz_app.datasets import load_dataset
    from modelviz_app.evaluation import Evaluation, evaluate, merge_shards, predict_shard
    from modelviz_app.models import LoadedModel
    from modelviz_app.serving._registry import SHARED_MODELS

    shared = config.predictions_dir
    if shard is not None and shared is None:
        raise ValueError("a sharded evaluation needs predictionsDir in the configuration")
    spec = config.dataset
    try:
        dataset = load_dataset(spec.catalog, spec.path, spec.max_images)
    except Exception as exc:
        return Outcome([ModelQuality(m.name, error="dataset not loaded") for m in config.models], _describe(exc))
    loaded: dict[str, LoadedModel] = {}
    evaluations: dict[str, Evaluation] = {}
    errors: dict[str, str] = {}
    complete = True
    for model_spec in config.models:
        try:
            model, predictor = SHARED_MODELS.load(model_spec, cache)
            if shard is not None:
                assert shared is not None
                predict_shard(model, predictor, dataset, shared, *shard)
                if not merge_shards(model, dataset, shared, shard[1]):
                    complete = False
                    continue
            evaluations[model_spec.name] = evaluate(model, predictor, dataset, cache, shared=shared)
            loaded[model_spec.name] = model
        except Exception as exc:  # one model's failure is its own result; the others are still evaluated
            errors[model_spec.name] = _describe(exc)
    results: dict[str, ModelQuality] = {n: ModelQuality(n, error=e) for n, e in errors.items()}
    if not complete:
        # Another shard has yet to write its slice: it will report the figures.
        return Outcome(list(results.values()), None, complete=False)
    if loaded:
        space = class_space(dataset, loaded)
        for name in loaded:
            view = model_view(evaluations[name], space.outputs[name], dataset.labels)
            results[name] = quality_of(
                name,
                view.y_true,
                view.pred,
                view.rank,
                view.probs,
                view.evaluation.y_true,
                len(space),
                space.n_dataset,
                space.names,
            )
    return Outcome([results[m.name] for m in config.models])


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, RuntimeError | ValueError | OSError):
        text = f"{type(exc).__name__}: {text}"
    return text


def render(
    models: list[ModelQuality],
    dataset_error: str | None = None,
    limit: int = MESSAGE_LIMIT,
    shard: tuple[int, int] | None = None,
    complete: bool = True,
) -> str:
    """The JSON document, at most ``limit`` bytes: error messages are shortened evenly to fit, never the figures.

    A shard's document says which shard it is and whether it holds the figures (``complete``).
    """
    ok = dataset_error is None and all(m.error is None for m in models)
    doc: dict[str, Any] = {"ok": ok, "eceBins": ECE_BINS, "models": [m.as_json() for m in models]}
    if shard is not None:
        doc["shard"] = f"{shard[0]}/{shard[1]}"
        doc["complete"] = complete
    if dataset_error is not None:
        doc["error"] = dataset_error
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    # Shorten the longest messages first until the document fits (figures are a few dozen bytes per model).
    cap = max((len(str(m.get("error", ""))) for m in doc["models"]), default=0)
    cap = max(cap, len(str(doc.get("error", ""))))
    while len(text.encode()) > limit and cap > 16:
        cap = cap * 3 // 4
        for entry in [doc, *doc["models"]]:
            if "error" in entry and len(entry["error"]) > cap:
                entry["error"] = entry["error"][: cap - 1] + "…"
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return text
