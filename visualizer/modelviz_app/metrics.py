"""Classification metrics in plain numpy (checked against scikit-learn in the tests)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "SMALL_SAMPLE",
    "McNemar",
    "OperatingPoint",
    "Reliability",
    "average_precision",
    "averaged_prf",
    "confusion_matrix",
    "expected_calibration_error",
    "grouped_mean_interval",
    "mcnemar",
    "most_confused",
    "operating_point",
    "paired_accuracy_difference",
    "per_class_prf",
    "pr_curve",
    "reliability",
    "roc_auc",
    "roc_curve",
    "topk_accuracy",
    "true_class_rank",
]

# Fewer independent sources than this and a normal-approximation interval is a rough guide only.
SMALL_SAMPLE = 30
_CHUNK = 4096


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


def averaged_prf(cm: np.ndarray, classes: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Macro, weighted and micro precision/recall/F1 over ``classes`` (default: those with support), as scikit-learn's
    ``precision_recall_fscore_support(labels=classes, average=...)`` computes them (zero_division=0)."""
    precision, recall, f1, support = per_class_prf(cm)
    if classes is None:
        classes = np.flatnonzero(support > 0)
    classes = np.asarray(classes, dtype=np.int64)
    out: dict[str, dict[str, float]] = {}
    sel = support[classes].astype(np.float64)
    out["macro"] = {
        "precision": float(precision[classes].mean()) if len(classes) else float("nan"),
        "recall": float(recall[classes].mean()) if len(classes) else float("nan"),
        "F1": float(f1[classes].mean()) if len(classes) else float("nan"),
    }
    weights = sel / sel.sum() if sel.sum() > 0 else np.zeros_like(sel)
    out["weighted"] = {
        "precision": float(np.sum(precision[classes] * weights)),
        "recall": float(np.sum(recall[classes] * weights)),
        "F1": float(np.sum(f1[classes] * weights)),
    }
    tp = float(np.diag(cm)[classes].sum())
    predicted = float(cm[:, classes].sum())
    actual = float(cm[classes].sum())
    mp = tp / predicted if predicted else 0.0
    mr = tp / actual if actual else 0.0
    out["micro"] = {"precision": mp, "recall": mr, "F1": 2 * mp * mr / (mp + mr) if mp + mr else 0.0}
    return out


def true_class_rank(y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Rank of each image's true class among the scores (0 = top-1); among equal scores the lower index ranks first,
    so the top-1 is ``argmax`` (what accuracy and the confusion matrix use). scikit-learn's ``top_k_accuracy_score``
    breaks exact ties the other way. Row blocks keep memory flat at (50,000, 1,000)."""
    y = np.asarray(y_true, dtype=np.int64)
    rank = np.empty(len(y), dtype=np.int64)
    cols = np.arange(probs.shape[1])
    for start in range(0, len(y), _CHUNK):
        block, t = probs[start : start + _CHUNK], y[start : start + _CHUNK]
        pt = block[np.arange(len(t)), t]
        rank[start : start + len(t)] = (block > pt[:, None]).sum(axis=1) + (
            (block == pt[:, None]) & (cols[None, :] < t[:, None])
        ).sum(axis=1)
    return rank


def topk_accuracy(y_true: np.ndarray, probs: np.ndarray, k: int) -> float:
    if len(y_true) == 0:
        return float("nan")
    return float(np.mean(true_class_rank(y_true, probs) < k))


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def fpr(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0


def operating_point(y: np.ndarray, scores: np.ndarray, threshold: float) -> OperatingPoint:
    """Counts when "score >= threshold" means positive (the convention of scikit-learn's curves)."""
    y = np.asarray(y, dtype=bool)
    positive = np.asarray(scores) >= threshold
    tp = int(np.sum(positive & y))
    fp = int(np.sum(positive & ~y))
    return OperatingPoint(float(threshold), tp, fp, int(np.sum(y)) - tp, int(np.sum(~y)) - fp)


def grouped_mean_interval(
    values: np.ndarray, groups: np.ndarray | None = None, confidence: float = 0.95
) -> tuple[float, float, float, int]:
    """Mean of per-image values with a normal interval whose variance treats each group (variants of one source
    photo) as one independent observation: the cluster-robust variance of a mean. (mean, low, high, groups)."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    g = np.arange(n) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    mean = float(v.mean())
    sums = np.bincount(g, weights=v - mean)
    count = len(sums)
    if count < 2:
        return mean, float("nan"), float("nan"), count
    se = math.sqrt(count / (count - 1) * float(np.sum(sums**2))) / n
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return mean, mean - z * se, mean + z * se, count


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
    values = off.ravel()
    # Only the non-zero cells can be listed: a 1,000 x 1,000 matrix is a million cells, nearly all zero (and
    # np.partition degrades on that many equal values: ~1 s where this takes milliseconds).
    candidates = np.flatnonzero(values)
    flat = candidates[np.argsort(-values[candidates], kind="stable")][:k]
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
    correct_a: np.ndarray, correct_b: np.ndarray, confidence: float = 0.95, groups: np.ndarray | None = None
) -> tuple[float, float, float]:
    """acc(A) - acc(B) on the same images with a normal-approximation interval of the paired differences; with
    ``groups``, images of one source count once (cluster-robust variance). One image has no interval (NaN), not a
    zero-width one."""
    d = np.asarray(correct_a, dtype=np.float64) - np.asarray(correct_b, dtype=np.float64)
    n = len(d)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    if groups is not None:
        mean, low, high, _ = grouped_mean_interval(d, groups, confidence)
        return mean, low, high
    mean = float(d.mean())
    if n < 2:
        return mean, float("nan"), float("nan")
    se = float(d.std(ddof=1) / math.sqrt(n))
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return mean, mean - z * se, mean + z * se
