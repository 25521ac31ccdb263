"""Every page through streamlit.testing's AppTest on tiny data: no exception and the expected elements."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "visualizer" / "modelviz_app" / "app.py"
MODELS = ["colour-mean", "tiny-conv"]
PAGES = {
    "pages/overview.py": "Overview",
    "pages/per_class.py": "Per-class metrics",
    "pages/confusion.py": "Confusion",
    "pages/misclassified.py": "Misclassified images",
    "pages/compare.py": "Compare models",
    "pages/calibration.py": "Calibration",
    "pages/curves.py": "ROC and precision-recall",
    "pages/upload.py": "Try an image",
}


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
        assert len(app.metric) == 4 and len(app.dataframe) == 1 and len(charts) == 3
        assert set(MODELS) <= set(app.dataframe[0].value["model"])
    elif page == "pages/per_class.py":
        columns = list(app.dataframe[0].value.columns)
        assert {f"{m} · F1" for m in MODELS} <= set(columns)
        assert set(app.dataframe[0].value["class"]) == {"red", "green", "blue"}
        app.text_input[0].input("re").run()
        assert set(app.dataframe[0].value["class"]) == {"red", "green"}
    elif page == "pages/confusion.py":
        assert len(charts) == 2  # one heatmap per model
        assert app.multiselect[0].value  # classes shown, by name
        assert set(app.dataframe[0].value["model"]) <= set(MODELS)
        app.multiselect[0].set_value(["red", "blue"]).run()
        assert not app.exception and len(_charts(app)) == 2
    elif page == "pages/misclassified.py":
        assert len(app.get("image")) > 0
        assert "true:" in _texts(app)
        app.checkbox[0].check().run()  # only where models disagree
        assert not app.exception
        app.selectbox[0].set_value("every model").run()
        assert not app.exception
    elif page == "pages/compare.py":
        assert len(charts) >= 2
        pairs = app.dataframe[0].value
        assert {"McNemar p", "95% CI low", "95% CI high"} <= set(pairs.columns)
    elif page == "pages/calibration.py":
        assert len(charts) == 2
        assert {m.label for m in app.metric} == {f"ECE · {m}" for m in MODELS}
    elif page == "pages/curves.py":
        assert len(charts) == 2
        app.selectbox[0].set_value("green").run()
        assert not app.exception and len(_charts(app)) == 2
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
