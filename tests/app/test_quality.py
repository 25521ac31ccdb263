"""``modelviz app evaluate``: figures against scikit-learn on the same predictions, the cache reused, the 4 KiB cap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from modelviz_app.cli import main
from modelviz_app.config import AppConfig
from modelviz_app.datasets import load_dataset
from modelviz_app.evaluation import predictions_path
from modelviz_app.quality import ECE_BINS, MESSAGE_LIMIT, ModelQuality, evaluate_config, render
from modelviz_app.serving._registry import load_model

from .conftest import TinyEnv


def _sklearn_ece(y: np.ndarray, probs: np.ndarray, bins: int) -> float:
    # Guo et al.: equal-width bins of top-1 confidence, right-inclusive; written out here independently.
    confidence, correct = probs.max(axis=1), (probs.argmax(axis=1) == y)
    total = 0.0
    for low, high in zip(np.linspace(0, 1, bins + 1)[:-1], np.linspace(0, 1, bins + 1)[1:], strict=True):
        inside = (confidence > low) & (confidence <= high) if low > 0 else (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def test_figures_match_scikit_learn_on_the_same_predictions(tiny: TinyEnv, tmp_path: Path) -> None:
    path = tiny.config("quality")
    output = tmp_path / "out.json"
    assert main(["evaluate", "--config", str(path), "--output", str(output)]) == 0
    doc = json.loads(output.read_text())
    assert doc["ok"] is True and doc["eceBins"] == ECE_BINS
    config = AppConfig.load(path)
    dataset = load_dataset(None, config.dataset.path, None)
    for entry in doc["models"]:
        spec = next(m for m in config.models if m.name == entry["name"])
        model, _ = load_model(spec, tiny.cache)
        # The cached predictions the command wrote (and the app reads): the reference computes from the same ones.
        with np.load(predictions_path(tiny.cache, model, dataset)) as data:
            probs = np.asarray(data["probs"], dtype=np.float64)
        y = np.array([model.class_index(dataset.class_ids[i]) for i in dataset.labels])
        pred = probs.argmax(axis=1)
        assert entry["images"] == len(y) == 24
        assert entry["top1"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-4)
        assert entry["top5"] == pytest.approx(
            skm.top_k_accuracy_score(y, probs, k=3, labels=range(3)), abs=1e-4
        )  # three classes: top-5 is every class
        assert entry["macroF1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0), abs=1e-4)
        recall = skm.recall_score(y, pred, average=None, labels=range(3), zero_division=0)
        assert entry["worstClassRecall"] == pytest.approx(recall.min(), abs=1e-4)
        # Equal recalls: the first in the dataset's class order (its folders, sorted) is named.
        by_name = {model.labels[j]: recall[j] for j in range(3)}
        assert entry["worstClass"] == min(dataset.class_names, key=lambda n: by_name[n])
        assert entry["ece"] == pytest.approx(_sklearn_ece(y, probs, ECE_BINS), abs=1e-4)


def test_cached_predictions_are_reused(tiny: TinyEnv, tmp_path: Path) -> None:
    path = tiny.config("quality-cache")
    config = AppConfig.load(path)
    first = evaluate_config(config, tiny.cache)
    dataset = load_dataset(None, config.dataset.path, None)
    model, _ = load_model(config.models[0], tiny.cache)
    cached = predictions_path(tiny.cache, model, dataset)
    assert cached.exists()
    stamp = cached.stat().st_mtime_ns
    second = evaluate_config(config, tiny.cache)
    assert cached.stat().st_mtime_ns == stamp and first == second


def test_a_model_that_cannot_be_loaded_carries_the_loaders_message(tiny: TinyEnv, tmp_path: Path) -> None:
    missing = tiny.root / "nowhere.keras"
    models = [
        {"name": "colour-mean", "path": str(tiny.models["colour-mean"]), "labels": str(tiny.labels)},
        {"name": "broken", "path": str(missing), "labels": str(tiny.labels)},
    ]
    output = tmp_path / "out.json"
    assert main(["evaluate", "--config", str(tiny.config("broken", models=models)), "--output", str(output)]) == 1
    doc = json.loads(output.read_text())
    assert doc["ok"] is False
    by_name = {m["name"]: m for m in doc["models"]}
    assert by_name["broken"]["error"] == f"model file {missing} does not exist"
    assert by_name["colour-mean"]["top1"] > 0.5


def test_eight_models_with_long_names_fit_a_termination_message() -> None:
    long_class = "a class name far longer than any display needs, " * 4
    models = [
        ModelQuality(
            name=f"model-{i}-" + "x" * 32,
            images=1_000_000,
            top1=0.123456789,
            top5=0.987654321,
            ece=0.0123456789,
            macro_f1=0.456789123,
            worst_class=long_class,
            worst_class_recall=0.000123456,
        )
        for i in range(8)
    ]
    text = render(models)
    assert len(text.encode()) <= MESSAGE_LIMIT
    doc = json.loads(text)
    assert len(doc["models"]) == 8 and all(len(m["name"]) == 40 for m in doc["models"])
    # And with every model failing with a long message, the figures' place is taken by shortened messages.
    failing = [ModelQuality(name=f"model-{i}-" + "y" * 32, error="E" * 3000) for i in range(8)]
    text = render(failing, dataset_error=None)
    assert len(text.encode()) <= MESSAGE_LIMIT
    assert all(m["error"].startswith("EEEE") for m in json.loads(text)["models"])


def test_shards_join_into_predictions_the_app_loads_instead_of_computing(tiny: TinyEnv, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    path = tiny.config("quality-shards", predictionsDir=str(shared))
    config = AppConfig.load(path)
    whole = evaluate_config(AppConfig.load(tiny.config("quality-whole")), tmp_path / "cache-whole")
    # Each index with a cache of its own, as separate pods have: only the shared directory joins them.
    first = evaluate_config(config, tmp_path / "cache-0", shard=(0, 2))
    assert first.complete is False and first.models == []
    output = tmp_path / "last.json"
    assert main(["evaluate", "--config", str(path), "--shards", "2", "--index", "1", "--output", str(output)]) == 0
    doc = json.loads(output.read_text())
    assert doc["shard"] == "1/2" and doc["complete"] is True
    for mine, reference in zip(doc["models"], whole.models, strict=True):
        assert mine["name"] == reference.name and mine["images"] == reference.images == 24
        assert mine["top1"] == pytest.approx(reference.top1, abs=1e-4)
        assert mine["ece"] == pytest.approx(reference.ece, abs=1e-3)

    # The visualizer reads the joined predictions (read-only for it) instead of predicting.
    from modelviz_app.evaluation import evaluate

    dataset = load_dataset(None, config.dataset.path, None)
    model, predictor = load_model(config.models[0], tiny.cache)
    found = evaluate(model, predictor, dataset, tmp_path / "cache-app", shared=shared)
    assert found.cached is True and found.probs.shape == (24, 3)
    assert not (tmp_path / "cache-app" / "predictions").exists()


def test_an_index_out_of_range_is_refused(tiny: TinyEnv, tmp_path: Path) -> None:
    path = tiny.config("quality-bad-index", predictionsDir=str(tmp_path))
    assert main(["evaluate", "--config", str(path), "--shards", "2", "--index", "2"]) == 2
    assert main(["evaluate", "--config", str(tiny.config("no-shared")), "--shards", "2", "--index", "0"]) == 2
