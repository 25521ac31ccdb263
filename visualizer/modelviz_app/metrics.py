"""Classification metrics in plain numpy (checked against scikit-learn in the tests)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "McNemar",
    "Reliability",
    "average_precision",
    "confusion_matrix",
    "expected_calibration_error",
    "mcnemar",
    "most_confused",
    "paired_accuracy_difference",
    "per_class_prf",
    "pr_curve",
    "reliability",
    "roc_auc",
    "roc_curve",
    "topk_accuracy",
]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(true, predicted) counts."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def per_class_prf(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 and support per class; 0 where undefined (scikit-learn's zero_division=0)."""
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    return precision, recall, f1, support


def topk_accuracy(y_true: np.ndarray, probs: np.ndarray, k: int) -> float:
    if len(y_true) == 0:
        return float("nan")
    k = min(k, probs.shape[1])
    # Ties broken like scikit-learn's top_k_accuracy_score: a stable sort of descending scores.
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == np.asarray(y_true)[:, None], axis=1)))


@dataclass(frozen=True)
class Reliability:
    edges: np.ndarray  # (bins + 1,)
    confidence: np.ndarray  # mean top-1 probability per bin (nan when empty)
    accuracy: np.ndarray  # accuracy per bin (nan when empty)
    counts: np.ndarray  # images per bin
    ece: float


def reliability(y_true: np.ndarray, probs: np.ndarray, bins: int = 15) -> Reliability:
    """Top-1 confidence binned into equal-width bins (right-inclusive, as in Guo et al. 2017)."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(which, weights=confidence, minlength=bins) / counts
        acc = np.bincount(which, weights=correct, minlength=bins) / counts
    n = max(len(confidence), 1)
    ece = float(np.nansum(counts / n * np.abs(acc - conf)))
    return Reliability(edges, conf, acc, counts, ece)


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    return reliability(y_true, probs, bins).ece


def _binary_clf_curve(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(-scores, kind="mergesort")
    scores, y = scores[order], np.asarray(y, dtype=np.float64)[order]
    distinct = np.flatnonzero(np.diff(scores))
    ends = np.r_[distinct, len(y) - 1]
    tps = np.cumsum(y)[ends]
    fps = 1 + ends - tps
    return fps, tps, scores[ends]


def roc_curve(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score (scikit-learn's drop_intermediate=False)."""
    fps, tps, thresholds = _binary_clf_curve(y, scores)
    fps, tps = np.r_[0, fps], np.r_[0, tps]
    thresholds = np.r_[np.inf, thresholds]
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, thresholds


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(y, scores)
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        return float("nan")
    return float(np.trapezoid(tpr, fpr))


def pr_curve(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) as scikit-learn returns them: recall decreasing, ending at (1, 0)."""
    fps, tps, thresholds = _binary_clf_curve(y, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tps + fps > 0, tps / (tps + fps), 0.0)
    recall = tps / tps[-1] if tps[-1] > 0 else np.ones_like(tps, dtype=np.float64)
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def average_precision(y: np.ndarray, scores: np.ndarray) -> float:
    """Step-wise area under the PR curve (scikit-learn's average_precision_score)."""
    if not np.any(y):
        return float("nan")
    precision, recall, _ = pr_curve(y, scores)
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def most_confused(cm: np.ndarray, k: int = 20) -> list[tuple[int, int, int]]:
    """The k largest off-diagonal cells as (true, predicted, count), largest first."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:k]
    pairs = [(int(i // cm.shape[1]), int(i % cm.shape[1])) for i in flat]
    return [(t, p, int(off[t, p])) for t, p in pairs if off[t, p] > 0]


@dataclass(frozen=True)
class McNemar:
    only_a: int  # images model A gets right and model B wrong
    only_b: int
    statistic: float  # chi-squared with continuity correction
    p_value: float  # exact binomial when the discordant count is small, else chi-squared


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = only_a + only_b
    statistic = (abs(only_a - only_b) - 1) ** 2 / n if n else 0.0
    if n == 0:
        p = 1.0
    elif n < 25:
        tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2**n
        p = min(1.0, 2 * tail)
    else:
        p = math.erfc(math.sqrt(statistic / 2))  # chi-squared, 1 degree of freedom
    return McNemar(only_a, only_b, float(statistic), float(p))


def paired_accuracy_difference(
    correct_a: np.ndarray, correct_b: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """acc(A) - acc(B) on the same images with a normal-approximation interval of the paired differences."""
    d = np.asarray(correct_a, dtype=np.float64) - np.asarray(correct_b, dtype=np.float64)
    n = len(d)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return mean, mean - z * se, mean + z * se
