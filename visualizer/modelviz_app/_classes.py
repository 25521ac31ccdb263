"""One class space for every page: the dataset's classes, then whatever else some model predicts, keyed by class id
(an ImageNet wnid or a label), never by display name, so two classes that happen to share a name stay apart.

A :class:`ModelView` is one model's evaluation in that space, with what the pages keep asking for precomputed once:
predicted class, top-5, the true class's probability and rank, loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from modelviz_app.datasets import Dataset
from modelviz_app.evaluation import Evaluation, class_mapping
from modelviz_app.models import LoadedModel

__all__ = ["TOP_K", "ClassSpace", "ModelView", "class_space", "model_view"]

TOP_K = 5
_CHUNK = 4096  # rows at a time: a (N, 1000) temporary at 50,000 images would cost hundreds of MB


@dataclass(frozen=True)
class ClassSpace:
    keys: list[str]  # class ids; the dataset's classes first, in its order
    names: list[str]  # distinct display names
    n_dataset: int
    outputs: dict[str, np.ndarray]  # model name -> class index of each of its outputs

    def __len__(self) -> int:
        return len(self.keys)

    def name_of(self, index: int) -> str:
        return self.names[index]


def class_space(dataset: Dataset, models: dict[str, LoadedModel]) -> ClassSpace:
    keys = list(dataset.class_ids)
    names = list(dataset.class_names)
    where = {k: i for i, k in enumerate(keys)}
    outputs: dict[str, np.ndarray] = {}
    for name, model in models.items():
        out = np.empty(len(model.labels), dtype=np.int64)
        mapping = class_mapping(model, dataset)
        known = {int(m): c for c, m in enumerate(mapping.tolist()) if m >= 0}
        for j, key in enumerate(model.label_ids):
            if j in known:
                out[j] = known[j]
                continue
            if key not in where:
                where[key] = len(keys)
                keys.append(key)
                names.append(model.labels[j])
            out[j] = where[key]
        outputs[name] = out
    # Distinct names: a clash between different ids shows the id beside the name.
    seen: dict[str, int] = {}
    for n in names:
        seen[n.lower()] = seen.get(n.lower(), 0) + 1
    names = [f"{n} ({k})" if seen[n.lower()] > 1 and n != k else n for n, k in zip(names, keys, strict=True)]
    return ClassSpace(keys, names, len(dataset.class_ids), outputs)


@dataclass
class ModelView:
    """One model's predictions on the dataset, in the shared class space."""

    name: str
    evaluation: Evaluation
    outputs: np.ndarray  # (C_model,) class index per output
    y_true: np.ndarray  # (N,) class index
    top: np.ndarray  # (N, TOP_K) class indices, most probable first
    top_p: np.ndarray  # (N, TOP_K) their probabilities
    p_true: np.ndarray  # (N,) probability of the true class
    rank: np.ndarray  # (N,) 0 when the true class is the top-1 (argmax: equal scores, the lower index first)

    @property
    def probs(self) -> np.ndarray:
        return self.evaluation.probs

    @cached_property
    def pred(self) -> np.ndarray:
        return np.asarray(self.top[:, 0])

    @cached_property
    def confidence(self) -> np.ndarray:
        return np.asarray(self.top_p[:, 0])

    @cached_property
    def correct(self) -> np.ndarray:
        return np.asarray(self.rank == 0)

    @cached_property
    def loss(self) -> np.ndarray:
        """Cross-entropy of each image (natural log), clipped so a zero probability stays finite."""
        return np.asarray(-np.log(np.clip(self.p_true.astype(np.float64), 1e-12, 1.0)))

    @cached_property
    def output_problem(self) -> str | None:
        """Why the outputs are not probabilities (a network ending without softmax gives logits), else None: the
        confidence, calibration, loss and thresholds the pages show all read them as probabilities."""
        p = self.probs
        if not p.size:
            return None
        low, high = float(p.min()), float(p.max())
        if low < -1e-6 or high > 1 + 1e-6:
            return f"its outputs range from {low:.3g} to {high:.3g}, not 0 to 1"
        sums = p.sum(axis=1, dtype=np.float64)
        if float(np.max(np.abs(sums - 1))) > 1e-2:
            return f"its outputs for one image sum to {float(sums.min()):.3g} to {float(sums.max()):.3g}, not 1"
        return None

    def scores(self, cls: int) -> np.ndarray:
        """Probability each image belongs to class ``cls`` (0 when the model has no output for it)."""
        cols = np.flatnonzero(self.outputs == cls)
        if not len(cols):
            return np.zeros(len(self.y_true), dtype=np.float32)
        return np.asarray(self.probs[:, cols].sum(axis=1))

    def topk_correct(self, k: int) -> np.ndarray:
        return np.asarray(self.rank < k)


def model_view(evaluation: Evaluation, outputs: np.ndarray, dataset_labels: np.ndarray) -> ModelView:
    probs = evaluation.probs
    n, c = probs.shape
    k = min(TOP_K, c)
    top = np.empty((n, k), dtype=np.int64)
    top_p = np.empty((n, k), dtype=np.float32)
    rank = np.empty(n, dtype=np.int64)
    true_out = evaluation.y_true
    p_true = probs[np.arange(n), true_out] if n else np.zeros(0, dtype=np.float32)
    cols = np.arange(c)
    for start in range(0, n, _CHUNK):
        block = probs[start : start + _CHUNK]
        rows = np.arange(len(block))
        part = np.argpartition(-block, k - 1, axis=1)[:, :k] if k < c else np.broadcast_to(cols, block.shape).copy()
        # Order the k by probability, equal ones by output index (a stable sort; the first is argmax).
        vals = block[rows[:, None], part]
        order = np.lexsort((part, -vals), axis=1)
        part = np.take_along_axis(part, order, axis=1)
        if k < c:
            # argpartition picks arbitrarily among ties at the k-th value: recompute the last ranks' ties stably.
            kth = block[rows, part[:, -1]]
            tied = (block == kth[:, None]).sum(axis=1) > (block[rows[:, None], part] == kth[:, None]).sum(axis=1)
            for r in np.flatnonzero(tied):
                part[r] = np.argsort(-block[r], kind="stable")[:k]
        top[start : start + len(block)] = part
        top_p[start : start + len(block)] = block[rows[:, None], part]
        t = true_out[start : start + len(block)]
        pt = block[rows, t]
        above = (block > pt[:, None]).sum(axis=1)
        equal_before = ((block == pt[:, None]) & (cols[None, :] < t[:, None])).sum(axis=1)
        rank[start : start + len(block)] = above + equal_before
    return ModelView(
        evaluation.model, evaluation, outputs, np.asarray(dataset_labels), outputs[top], top_p, p_true, rank
    )
