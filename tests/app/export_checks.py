"""Checks of the app's exports (predictions CSV, report) shared by the export and browser tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from modelviz_app._classes import class_space, model_view
from modelviz_app._ui import AppState
from modelviz_app.config import AppConfig
from modelviz_app.datasets import load_dataset
from modelviz_app.evaluation import evaluate
from modelviz_app.models import Predictor, load_file_model


def _state(tiny) -> AppState:
    config = AppConfig.load(tiny.config("export"))
    dataset = load_dataset(None, tiny.dataset)
    state = AppState(config, tiny.cache, dataset)
    for name, path in tiny.models.items():
        model = load_file_model(name, path, tiny.labels, tiny.cache)
        predictor = Predictor(model, tiny.cache)
        state.models[name], state.predictors[name] = model, predictor
        state.evaluations[name] = evaluate(model, predictor, dataset, tiny.cache)
    state.space = class_space(dataset, state.models)
    state.views = {
        n: model_view(state.evaluations[n], state.space.outputs[n], dataset.labels) for n in state.evaluations
    }
    return state


def check_predictions_csv(text: str, state: AppState) -> None:
    """The predictions file: each model's top-5 ids and probabilities are its scores sorted, and recomputed
    accuracy equals scikit-learn's."""
    frame = pd.read_csv(pd.io.common.StringIO(text))
    assert state.dataset is not None
    assert list(frame["image"]) == state.dataset.ids
    assert list(frame["true_id"]) == [state.dataset.class_ids[c] for c in state.dataset.labels]
    for name, ev in state.evaluations.items():
        model = state.models[name]
        order = np.argsort(-ev.probs, axis=1, kind="stable")  # equal probabilities: lower index first (argmax)
        for k in range(min(5, ev.probs.shape[1])):
            assert list(frame[f"{name}:top{k + 1}_id"]) == [model.label_ids[j] for j in order[:, k]]
            np.testing.assert_allclose(frame[f"{name}:top{k + 1}_p"], ev.probs[np.arange(len(ev.probs)), order[:, k]],
                                       rtol=1e-6)  # fmt: skip
        y_true = [model.label_ids.index(t) for t in frame["true_id"]]
        assert frame[f"{name}:correct"].mean() == pytest.approx(skm.accuracy_score(y_true, ev.probs.argmax(axis=1)))


def check_report(report: dict, state: AppState) -> None:
    assert state.dataset is not None
    for name, ev in state.evaluations.items():
        got = report["models"][name]
        y, pred = ev.y_true, ev.probs.argmax(axis=1)
        labels = list(range(len(state.models[name].labels)))
        assert got["top1_accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
        assert got["top5_accuracy"] == 1.0  # three classes
        assert got["mean_log_loss"] == pytest.approx(skm.log_loss(y, ev.probs, labels=labels), rel=1e-5)
        for average in ("macro", "micro", "weighted"):
            p, r, f, _ = skm.precision_recall_fscore_support(y, pred, labels=labels, average=average, zero_division=0)
            assert tuple(got["averages"][average].values()) == pytest.approx((p, r, f))
        p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
        for row in got["per_class"]:
            j = state.models[name].label_ids.index(row["id"])
            want = (p[j], r[j], f[j], s[j])
            assert (row["precision"], row["recall"], row["F1"], row["support"]) == pytest.approx(want)
