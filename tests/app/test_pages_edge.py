"""Data nobody lists: awkward class names, a class without images, unreadable and unusual image files, one image,
a network that outputs logits; every page through AppTest and the numbers against scikit-learn."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn import metrics as skm
from streamlit.testing.v1 import AppTest

from tests.app.pages import APP, PAGES

# The tiny models' outputs are red, green, blue (in that order); here their classes have names a spreadsheet, a
# markdown renderer or a CSV reader would trip over.
EDGE = ["=red", 'green, "leaf"', "$blue"]
DRILL = "confusion-drill"


def _edge_folder(root: Path) -> Path:
    rng = np.random.default_rng(3)
    folder = root / "edge"
    for c, (name, count) in enumerate(zip(EDGE, (6, 5, 4), strict=True)):
        (folder / name).mkdir(parents=True)
        for i in range(count):
            image = rng.integers(0, 90, size=(20, 24, 3), dtype=np.uint8)
            image[..., c] += np.uint8(120 if i % 3 else 40)
            if i % 3 == 0:  # leans to the next colour: some mistakes
                image[..., (c + 1) % 3] += np.uint8(100)
            Image.fromarray(image).save(folder / name / f"{i}.png")
    red, green, blue = (folder / n for n in EDGE)
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 220, 128
    Image.fromarray(rgba, "RGBA").save(red / "rgba.png")
    Image.fromarray(np.array([[[230, 10, 10]]], dtype=np.uint8)).save(red / "one-pixel.png")
    # A truncated JPEG: Image.verify() passes it, decoding fails.
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    (red / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    Image.fromarray((np.arange(20 * 24).reshape(20, 24) * 100).astype(np.uint16)).save(green / "deep.png")
    (blue / ".ipynb_checkpoints").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(blue / ".ipynb_checkpoints" / "0-checkpoint.png")
    (blue / "._0.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (folder / "yellow").mkdir()  # a class without images, which no model knows
    return folder


@pytest.fixture(scope="module")
def edge(tiny) -> Path:
    folder = _edge_folder(tiny.root / "edge-data")
    (tiny.root / "edge-labels.txt").write_text("\n".join(EDGE) + "\n", encoding="utf-8")
    return folder


def _config(tiny, name: str, dataset: Path, labels: Path, extra: dict[str, Path] | None = None) -> Path:
    models = [{"name": n, "path": str(p), "labels": str(labels)} for n, p in {**tiny.models, **(extra or {})}.items()]
    return tiny.config(name, models, dataset={"path": str(dataset)})


@pytest.fixture
def restore_config() -> Iterator[None]:
    previous = os.environ.get("MODELVIZ_CONFIG")
    yield
    if previous is None:
        os.environ.pop("MODELVIZ_CONFIG", None)
    else:
        os.environ["MODELVIZ_CONFIG"] = previous


def _run(config: Path, page: str) -> AppTest:
    os.environ["MODELVIZ_CONFIG"] = str(config)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    if page != "pages/overview.py":
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [PAGES[page]]
    assert not at.error, [e.value for e in at.error]
    return at


def _predictions(tiny, dataset_path: Path, labels: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) dataset class indices recomputed outside the pages (from the prediction cache)."""
    from modelviz_app.datasets import load_dataset
    from modelviz_app.evaluation import evaluate
    from modelviz_app.models import Predictor, load_file_model

    dataset = load_dataset(None, dataset_path)
    model = load_file_model(name, tiny.models[name], labels, tiny.cache)
    ev = evaluate(model, Predictor(model, tiny.cache), dataset, tiny.cache)
    to_dataset = np.array([dataset.class_ids.index(label) for label in model.labels])
    return dataset.labels, to_dataset[ev.probs.argmax(axis=1)]


def test_folder_leaves_out_unreadable_and_hidden_files_and_scales_deep_images(edge: Path) -> None:
    from modelviz_app.datasets import load_dataset

    dataset = load_dataset(None, edge)
    assert dataset.class_ids == ["$blue", "=red", 'green, "leaf"', "yellow"]
    assert np.bincount(dataset.labels, minlength=4).tolist() == [4, 8, 6, 0]
    assert [s.split(":")[0] for s in dataset.skipped] == ["=red/cut.jpg"]  # hidden files are not even counted
    context = dataset.context()
    assert "18 images" in context and "1 unreadable file left out" in context and "sample" not in context
    images = {i: dataset.image(k) for k, i in enumerate(dataset.ids)}
    deep = (np.arange(20 * 24).reshape(20, 24) * 100).astype(np.float64)
    np.testing.assert_array_equal(images['green, "leaf"/deep.png'], np.round(deep * 255 / 65535).astype(np.uint8))
    assert images["=red/rgba.png"].shape == (10, 10, 3) and images["=red/one-pixel.png"].shape == (1, 1, 3)


def test_float_images_are_scaled(tmp_path: Path) -> None:
    from modelviz_app.datasets import decode_image

    values = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    Image.fromarray(values, "F").save(tmp_path / "f.tif")
    np.testing.assert_array_equal(decode_image(tmp_path / "f.tif"), np.round(values * 255).astype(np.uint8))


def test_all_files_unreadable_is_a_clear_error(tmp_path: Path) -> None:
    from modelviz_app.datasets import DatasetLoadError, load_dataset

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DatasetLoadError, match="none of its 1 image files can be read"):
        load_dataset(None, tmp_path)


@pytest.mark.parametrize("page", [p for p in PAGES if p != "pages/upload.py"])
def test_awkward_dataset_pages(tiny, edge: Path, page: str, restore_config: None) -> None:
    config = _config(tiny, "edge", edge, tiny.root / "edge-labels.txt")
    at = _run(config, page)
    markdown = [str(e.value) for e in [*at.markdown, *at.subheader]]
    # Class names reach markdown escaped: "$blue" would start LaTeX.
    assert not [m for m in markdown if re.search(r"(?<!\\)\$", m)], markdown
    if page == "pages/overview.py":
        assert any("1 unreadable file left out" in c.value for c in at.caption)
        classes = next(m for m in at.metric if m.label == "Classes")
        assert classes.value == "4"
        assert "cut.jpg" in " ".join(markdown)
    elif page == "pages/per_class.py":
        averages = at.dataframe[0].value.set_index(["model", "average"])
        for name in tiny.models:
            y, pred = _predictions(tiny, edge, tiny.root / "edge-labels.txt", name)
            for average in ("macro", "micro", "weighted"):
                want = skm.precision_recall_fscore_support(
                    y, pred, labels=np.unique(y), average=average, zero_division=0
                )[:3]
                got = averages.loc[(name, average)]
                assert (got["precision"], got["recall"], got["F1"]) == pytest.approx(want)
            # Averaged over all four classes, the one without images would count as an F1 of 0.
            all_four = skm.f1_score(y, pred, labels=range(4), average="macro", zero_division=0)
            assert averages.loc[(name, "macro"), "F1"] == pytest.approx(all_four * 4 / 3) != all_four
        assert set(at.dataframe[1].value["class"]) == set(EDGE)
    elif page == "pages/confusion.py":
        blue, red = 0, 1
        at.session_state[DRILL] = {"model": "colour-mean", "true": blue, "pred": red}
        at.run()
        assert r"True \$blue, predicted =red by colour-mean" in [s.value for s in at.subheader]
        # A drill-down that names a model or a class this configuration does not have: a message, not a traceback.
        for stale in ({"model": "gone", "true": 0, "pred": 1}, {"model": "colour-mean", "true": 99, "pred": 0}):
            at.session_state[DRILL] = stale
            at.run()
            assert not at.exception, [e.value for e in at.exception]
            assert any("no longer here" in i.value for i in at.info)
            assert DRILL not in at.session_state
    elif page == "pages/misclassified.py":
        at.selectbox[1].set_value("all images").run()
        assert not at.exception and len(at.get("image")) == 16  # the first page of 18 (deep, RGBA, 1x1 among them)
        at.number_input[0].set_value(2).run()
        assert not at.exception and len(at.get("image")) == 2


def _edge_state(tiny, config: Path):  # type: ignore[no-untyped-def]
    from modelviz_app._classes import class_space, model_view
    from modelviz_app._ui import AppState
    from modelviz_app.config import AppConfig
    from modelviz_app.datasets import load_dataset
    from modelviz_app.evaluation import evaluate
    from modelviz_app.models import Predictor, load_file_model

    app_config = AppConfig.load(config)
    assert app_config.dataset.path is not None
    dataset = load_dataset(None, app_config.dataset.path)
    state = AppState(app_config, tiny.cache, dataset)
    for spec in app_config.models:
        assert spec.path is not None and spec.labels is not None
        model = load_file_model(spec.name, spec.path, spec.labels, tiny.cache)
        predictor = Predictor(model, tiny.cache)
        state.models[spec.name], state.predictors[spec.name] = model, predictor
        state.evaluations[spec.name] = evaluate(model, predictor, dataset, tiny.cache)
    state.space = class_space(dataset, state.models)
    state.views = {
        n: model_view(state.evaluations[n], state.space.outputs[n], dataset.labels) for n in state.evaluations
    }
    return state


def test_exports_of_awkward_names_read_back(tiny, edge: Path) -> None:
    from modelviz_app._export import csv_text, metrics_frame, metrics_report, predictions_frame, report_json

    state = _edge_state(tiny, _config(tiny, "edge-export", edge, tiny.root / "edge-labels.txt"))
    frame = pd.read_csv(io.StringIO(csv_text(predictions_frame(state))), keep_default_na=False)
    # A leading "=" would run as a formula in a spreadsheet: prefixed; commas and quotes survive the round trip.
    assert set(frame["true"]) == {"'=red", 'green, "leaf"', "$blue"}
    assert set(frame["true_id"]) == {"'=red", 'green, "leaf"', "$blue"}
    assert all(not str(v).startswith("=") for column in frame.columns for v in frame[column])
    want = [(f"'{i}" if i.startswith("=") else i) for i in state.dataset.ids]
    assert list(frame["image"]) == want
    assert frame["colour-mean:top1_p"].dtype == np.float64  # numbers stay numbers
    # The model's float32 probabilities exactly, without float64 noise digits (0.30000001192092896).
    np.testing.assert_array_equal(
        frame["colour-mean:top1_p"].to_numpy(np.float32), state.views["colour-mean"].top_p[:, 0]
    )
    text = pd.read_csv(io.StringIO(csv_text(predictions_frame(state))), dtype=str, keep_default_na=False)
    assert text["colour-mean:top1_p"].str.len().max() <= 15, list(text["colour-mean:top1_p"])
    # The report is strict JSON (no NaN): what JavaScript's JSON.parse and jq accept.
    report = json.loads(report_json(state), parse_constant=lambda c: pytest.fail(f"{c} in the report"))
    assert [c["id"] for c in report["dataset"]["classes"]] == ["$blue", "=red", 'green, "leaf"', "yellow"]
    for name in tiny.models:
        y, pred = _predictions(tiny, edge, tiny.root / "edge-labels.txt", name)
        p, r, f, _ = skm.precision_recall_fscore_support(y, pred, labels=np.unique(y), average="macro", zero_division=0)
        assert tuple(report["models"][name]["averages"]["macro"].values()) == pytest.approx((p, r, f))
    flat = pd.read_csv(io.StringIO(csv_text(metrics_frame(state))), keep_default_na=False)
    assert flat["value"].astype(float).notna().all()
    assert "'=red" in set(flat["scope"]) and 'green, "leaf"' in set(flat["class"])
    assert metrics_report(state)["models"]["colour-mean"]["top1_accuracy"] == pytest.approx(
        skm.accuracy_score(*_predictions(tiny, edge, tiny.root / "edge-labels.txt", "colour-mean"))
    )


def test_csv_text_guards_formulas_only() -> None:
    from modelviz_app._export import csv_text

    frame = pd.DataFrame(
        {"name": ["=1+1", "+cmd", "-1", "@x", "a,b\nc", "plain", "-2.5e3"], "value": [1.5, 2, 3, 4, 5, 6, 7]}
    )
    back = pd.read_csv(io.StringIO(csv_text(frame)))
    assert list(back["name"]) == ["'=1+1", "'+cmd", "-1", "'@x", "a,b\nc", "plain", "-2.5e3"]
    assert list(back["value"]) == [1.5, 2, 3, 4, 5, 6, 7]


def _logits_model(folder: Path) -> Path:
    import keras
    from keras import layers

    inputs = keras.Input((8, 8, 3))
    x = layers.GlobalAveragePooling2D()(layers.Rescaling(1 / 255)(inputs))
    dense = layers.Dense(3)  # no softmax: logits
    model = keras.Model(inputs, dense(x))
    dense.set_weights([np.eye(3, dtype=np.float32) * 12, np.zeros(3, dtype=np.float32)])
    path = folder / "logits.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def one_image(tiny) -> tuple[Path, Path]:
    folder = tiny.root / "one-image"
    (folder / "red").mkdir(parents=True)
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    image[..., 0] = 200
    Image.fromarray(image).save(folder / "red" / "only.png")
    return folder, _logits_model(tiny.root)


@pytest.mark.parametrize("page", [p for p in PAGES if p != "pages/upload.py"])
def test_one_image_three_models_one_of_them_logits(tiny, one_image, page: str, restore_config: None) -> None:
    folder, logits = one_image
    at = _run(_config(tiny, "one", folder, tiny.labels, {"logits": logits}), page)
    warnings = [w.value for w in at.warning]
    assert sum("logits does not output probabilities" in w for w in warnings) == 1, warnings
    assert not any("colour-mean does not" in w or "tiny-conv does not" in w for w in warnings)
    if page == "pages/overview.py":
        table = at.dataframe[0].value
        assert list(table["model"]) == ["colour-mean", "tiny-conv", "logits"]
        assert set(table["top-1 95% CI"]) == {"n/a"}
    elif page == "pages/compare.py":
        assert [m.delta for m in at.metric if m.label == "A - B (95% CI)"] == ["no interval from one source image"]
        pairs = at.dataframe[0].value
        assert len(pairs) == 3 and pairs["95% CI low"].isna().all()  # three models: every pair


def test_paired_difference_of_one_image_has_no_interval() -> None:
    from modelviz_app.metrics import paired_accuracy_difference

    diff, low, high = paired_accuracy_difference(np.array([True]), np.array([False]))
    assert diff == 1.0 and np.isnan(low) and np.isnan(high)


def test_class_names_match_across_unicode_normal_forms() -> None:
    import unicodedata

    from modelviz_app.models import LoadedModel

    composed = "café"
    model = LoadedModel("m", lambda: None, [composed, "tea"], [composed, "tea"], (8, 8), 3, lambda x: x, "k", "m")
    assert model.class_index(unicodedata.normalize("NFD", composed)) == 0
    assert model.class_index("Tea") == 1 and model.class_index("coffee") is None
