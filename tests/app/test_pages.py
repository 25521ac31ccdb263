"""Every page through streamlit.testing's AppTest on tiny data: no exception and the expected elements."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.pages import APP, NAMES, PAGES, _predictions

MODELS = ["colour-mean", "tiny-conv"]


def _app(config: Path) -> AppTest:
    os.environ["MODELVIZ_CONFIG"] = str(config)  # AppTest runs the script in this process
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    return at


@pytest.fixture(scope="module")
def app(tiny) -> Iterator[AppTest]:
    # A third model whose file is missing: its error panel must not stop the other two.
    models = [{"name": n, "path": str(p), "labels": str(tiny.labels)} for n, p in tiny.models.items()]
    models.append({"name": "broken", "path": str(tiny.root / "missing.keras"), "labels": str(tiny.labels)})
    previous = os.environ.get("MODELVIZ_CONFIG")
    yield _app(tiny.config("pages", models))
    if previous is None:
        os.environ.pop("MODELVIZ_CONFIG", None)
    else:
        os.environ["MODELVIZ_CONFIG"] = previous


def _texts(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption] + [e.value for e in at.sidebar.caption]
    return "\n".join(str(p) for p in parts)


def _charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


def _check_common(at: AppTest, title: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [title]
    # Dataset context and the configuration's title on every page; no cache or dataset paths.
    captions = [c.value for c in at.caption]
    assert any("**images** (image folder)" in c and "24 images" in c for c in captions), captions
    sidebar = " ".join(str(e.value) for e in [*at.sidebar.markdown, *at.sidebar.caption])
    assert "tiny" in sidebar and "/" not in sidebar.replace("images/s", ""), sidebar
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "broken" in errors[0] and "does not exist" in errors[0], errors
    assert "Traceback" not in errors[0]
    text = _texts(at)
    for name in MODELS:
        assert name in text


@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders(app: AppTest, page: str) -> None:
    app.switch_page(page)
    app.run()
    _check_common(app, PAGES[page])
    charts = _charts(app)
    if page == "pages/overview.py":
        assert len(app.metric) == 4 and len(app.dataframe) == 1 and len(app.get("vega_lite_chart")) == 3
        table = app.dataframe[0].value
        assert set(MODELS) <= set(table["model"]) and "ECE (15 bins)" in table.columns
        assert "top-5 accuracy" in table.columns and (table["source"].str.count("/") == 0).all()
        app.radio[0].set_value(2).run()
        assert "top-2 accuracy" in app.dataframe[0].value.columns
    elif page == "pages/per_class.py":
        averages = app.dataframe[0].value
        assert set(averages["average"]) == {"macro", "micro", "weighted"}
        columns = list(app.dataframe[1].value.columns)
        assert {f"{m} · F1" for m in MODELS} <= set(columns)
        assert set(app.dataframe[1].value["class"]) == {"red", "green", "blue"}
        app.text_input[0].input("re").run()
        assert set(app.dataframe[1].value["class"]) == {"red", "green"}
        app.multiselect[0].set_value(["tiny-conv"]).run()
        assert not any(c.startswith("colour-mean") for c in app.dataframe[1].value.columns)
    elif page == "pages/confusion.py":
        assert len(charts) == 2  # one heatmap per model
        assert app.multiselect[0].value  # classes shown, by class index
        assert set(app.dataframe[0].value["model"]) <= set(MODELS)
        app.multiselect[0].set_value([0, 2]).run()  # red and blue: green predictions go to "other"
        assert not app.exception and len(_charts(app)) == 2
        assert "other" in str(_charts(app)[0].proto.spec)
        app.toggle[1].set_value(True).run()  # hide the diagonal
        assert not app.exception
    elif page == "pages/misclassified.py":
        assert len(app.get("image")) > 0
        assert "true:" in _texts(app)
        app.checkbox[0].check().run()  # only where models disagree
        assert not app.exception
        app.selectbox[1].set_value("wrong for every model").run()
        assert not app.exception
    elif page == "pages/hardest.py":
        table = app.dataframe[0].value
        assert list(table["loss"]) == sorted(table["loss"], reverse=True)
        assert len(app.get("download_button")) == 1 and len(app.get("image")) > 0
    elif page == "pages/compare.py":
        assert len(charts) >= 2
        assert [o for o in app.selectbox[1].options] == ["tiny-conv"]  # B cannot be A
        pairs = app.dataframe[0].value
        assert {"McNemar p", "95% CI low", "95% CI high"} <= set(pairs.columns)
        assert any("independent source images" in w.value for w in app.warning)  # 24 images: small sample
        app.selectbox[0].set_value("tiny-conv").run()
        assert app.selectbox[1].value == "colour-mean" and not app.exception
    elif page == "pages/calibration.py":
        assert len(charts) == 2
        assert {m.label for m in app.metric} == {f"ECE · {m}" for m in MODELS}
        hist = _charts(app)[1].proto.spec
        assert '"autorange":true' in hist.replace(" ", "")
    elif page == "pages/curves.py":
        assert len(charts) == 2
        app.selectbox[0].set_value(1).run()  # green (classes are the sorted folder names)
        assert not app.exception and len(_charts(app)) == 2
        assert set(app.dataframe[0].value["model"]) == set(MODELS)
        assert "colour-mean AUC" in app.dataframe[2].value.columns
    elif page == "pages/export.py":
        labels = {b.label for b in app.get("download_button")}  # type: ignore[union-attr]
        assert labels >= {"Predictions (CSV)", "Metrics report (JSON)"}
    elif page == "pages/upload.py":
        # AppTest cannot upload files; a dataset image goes through the same path (the browser test uploads).
        assert len(charts) == len(MODELS)
        frames = [d.value for d in app.dataframe]
        assert len(frames) == len(MODELS) and all(len(f) == 3 for f in frames)  # 3 classes: top-5 is all of them
        assert all(name in _texts(app) and "ms" in _texts(app) for name in MODELS)


def test_invalid_config_shows_field_error(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELVIZ_CONFIG", raising=False)  # restored after the test
    path = tiny.root / "invalid.yaml"
    path.write_text("models: [{name: Bad_Name, catalog: fashion-cnn}]\ndataset: {catalog: fashion-mnist}\n")
    at = _app(path)
    assert not at.exception
    assert "models.0.name" in at.error[0].value


def test_missing_config_is_explained(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELVIZ_CONFIG", raising=False)  # restored after the test
    at = _app(tiny.root / "nope.yaml")
    assert not at.exception
    assert "does not exist" in at.error[0].value


def test_broken_dataset_keeps_upload_working(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELVIZ_CONFIG", raising=False)  # restored after the test
    at = _app(tiny.config("nodata", dataset={"path": str(tiny.root / "no-such-folder")}))
    assert not at.exception
    assert "no-such-folder" in at.error[0].value
    at.switch_page("pages/upload.py")
    at.run()
    assert not at.exception and [t.value for t in at.title] == ["Try an image"]


def _gallery_ids(at: AppTest) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]  # type: ignore[union-attr]


def test_confusion_cell_opens_its_images(app: AppTest, tiny) -> None:
    from sklearn.metrics import confusion_matrix

    app.switch_page("pages/confusion.py")
    app.run()
    ids, y, pred, _ = _predictions(tiny, "tiny-conv")
    cm = confusion_matrix(y, pred, labels=range(3))
    off = cm - np.diag(np.diag(cm))
    t, p = np.unravel_index(np.argmax(off), off.shape)
    assert off[t, p] > 0
    # What a click on the cell (or its row in the pairs table) stores; the browser test clicks for real.
    app.session_state["confusion-drill"] = {"model": "tiny-conv", "true": int(t), "pred": int(p)}
    app.run()
    assert not app.exception
    assert f"True {NAMES[t]}, predicted {NAMES[p]} by tiny-conv" in [s.value for s in app.subheader]
    want = {ids[i] for i in np.flatnonzero((y == t) & (pred == p))}
    assert set(_gallery_ids(app)) == want and len(want) == off[t, p]
    pairs = app.dataframe[0].value
    row = pairs[(pairs["model"] == "tiny-conv") & (pairs["true"] == NAMES[t]) & (pairs["predicted as"] == NAMES[p])]
    assert int(row["images"].iloc[0]) == off[t, p]
    app.button[0].click().run()  # close
    assert "confusion-drill" not in app.session_state


def test_misclassified_filter_means_the_chosen_model(app: AppTest, tiny) -> None:
    app.switch_page("pages/misclassified.py")
    app.run()
    ids, y, pred, _ = _predictions(tiny, "colour-mean")
    app.selectbox[0].set_value("colour-mean").run()
    wrong = np.flatnonzero(pred != y)
    assert len(wrong) > 0
    target = int(np.bincount(pred[wrong]).argmax())
    app.multiselect[1].set_value([target]).run()  # predicted class (by colour-mean)
    want = {ids[i] for i in wrong if pred[i] == target}
    assert set(_gallery_ids(app)) == want


def test_threshold_moves_the_operating_point(app: AppTest, tiny) -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score

    app.switch_page("pages/curves.py")
    app.run()
    red = NAMES.index("red")
    app.selectbox[0].set_value(red).run()  # red against the rest
    _, y, _, probs = _predictions(tiny, "colour-mean")
    scores = probs[:, red]
    for threshold in (0.3, 0.8):
        app.slider[0].set_value(threshold).run()
        table = app.dataframe[0].value.set_index("model")
        truth, hit = y == red, scores >= threshold
        got = table.loc["colour-mean"]
        assert got["precision"] == pytest.approx(precision_score(truth, hit, zero_division=0))
        assert got["recall"] == pytest.approx(recall_score(truth, hit))
        assert got["F1"] == pytest.approx(f1_score(truth, hit))
        assert got["threshold"] == pytest.approx(threshold)


def test_hardest_examples_paginate_and_tag_label_errors(app: AppTest, tiny) -> None:
    app.switch_page("pages/hardest.py")
    app.run()
    app.selectbox[0].set_value("colour-mean").run()
    table = app.dataframe[0].value
    ids, y, _, probs = _predictions(tiny, "colour-mean")
    loss = -np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1))
    assert list(table["image"]) == [ids[i] for i in np.argsort(-loss, kind="stable")]
    assert len(_gallery_ids(app)) == 16  # first page of 24
    app.number_input[0].set_value(2).run()
    assert len(_gallery_ids(app)) == 8
    # Suspected label errors: both models predict the same other class with at least 70%.
    both = [_predictions(tiny, m) for m in MODELS]
    preds = [b[2] for b in both]
    confident = [b[3].max(axis=1) >= 0.7 for b in both]
    want = {ids[i] for i in np.flatnonzero((preds[0] == preds[1]) & confident[0] & confident[1] & (preds[0] != y))}
    app.toggle[0].set_value(True).run()
    assert set(app.dataframe[0].value["image"]) == want
