"""The evaluation interactions in Chromium on the tiny models: a confusion cell and a pair row open the right
images, the export files hold what scikit-learn computes, and nothing is fetched from outside the app."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelviz_app.cli import serve_command

from .browser import free_port, settle, stop, wait_healthy
from .export_checks import _state, check_predictions_csv, check_report
from .pages import NAMES, PAGES, _predictions

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def served_tiny(tiny, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = tiny.config("browser")
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit-tiny") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(serve_command(port, "127.0.0.1", str(config)), stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ))  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        yield url
    finally:
        stop(proc)


def _open(page, url: str, path: str, title: str) -> None:
    page.goto(f"{url}/{path}", wait_until="domcontentloaded")
    page.get_by_role("heading", name=title).first.wait_for(timeout=240_000)
    settle(page)


def _gallery_captions(page) -> set[str]:
    return {c.strip() for c in page.locator('[data-testid="stImageCaption"]').all_inner_texts()}


def test_nothing_is_fetched_from_outside(served_tiny, browser) -> None:
    outside: list[str] = []
    page = browser.new_page()
    page.on("request", lambda r: None if r.url.startswith((served_tiny, "data:", "blob:")) else outside.append(r.url))
    for page_file, title in PAGES.items():
        _open(page, served_tiny, "" if page_file == "pages/overview.py" else Path(page_file).stem, title)
    icon = page.evaluate("document.querySelector(\"link[rel='shortcut icon']\").href")
    assert icon.startswith(served_tiny), icon
    assert outside == [], outside
    page.close()


def _click_cell(page, chart_index: int, true_name: str, pred_name: str) -> None:
    """Click the matrix cell (true, predicted) of the chart-th heatmap where plotly draws it."""
    chart = page.locator(".js-plotly-plot").nth(chart_index)
    chart.scroll_into_view_if_needed()
    x, y = chart.evaluate(
        """(gd, [t, p]) => {
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            const r = gd.getBoundingClientRect();
            return [r.left + xa._offset + xa.d2p(p), r.top + ya._offset + ya.d2p(t)];
        }""",
        [true_name, pred_name],
    )
    page.mouse.click(x, y)


def test_confusion_cell_click_opens_the_gallery(served_tiny, browser, tiny) -> None:
    ids, y, pred, _ = _predictions(tiny, "tiny-conv")
    off = np.zeros((3, 3), dtype=int)
    np.add.at(off, (y, pred), 1)
    np.fill_diagonal(off, 0)
    t, p = np.unravel_index(np.argmax(off), off.shape)
    page = browser.new_page()
    _open(page, served_tiny, "confusion", "Confusion")
    page.locator(".js-plotly-plot").nth(1).wait_for()
    _click_cell(page, 1, NAMES[t], NAMES[p])  # the second model's matrix: tiny-conv
    heading = f"True {NAMES[t]}, predicted {NAMES[p]} by tiny-conv"
    page.get_by_role("heading", name=heading).wait_for(timeout=60_000)
    settle(page)
    want = {ids[i] for i in np.flatnonzero((y == t) & (pred == p))}
    assert _gallery_captions(page) == want
    page.screenshot(path=str(_shots() / "tiny-confusion-drilldown.png"), full_page=True)
    page.close()


def test_pair_row_opens_the_gallery(served_tiny, browser, tiny) -> None:
    page = browser.new_page()
    _open(page, served_tiny, "confusion", "Confusion")
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    # Glide data grid: 35 px header, 35 px rows; the row marker column selects the row.
    page.mouse.click(box["x"] + 12, box["y"] + 35 + 17)
    page.get_by_role("heading", name="by ").or_(page.locator("h3", has_text=" by ")).first.wait_for(timeout=60_000)
    settle(page)
    heading = page.locator("h3", has_text=", predicted ").first.inner_text()
    true_name = heading.split(",")[0].removeprefix("True ").strip()
    pred_name, model = heading.split(", predicted ")[1].split(" by ")
    ids, y, pred, _ = _predictions(tiny, model.strip())
    t, p = NAMES.index(true_name), NAMES.index(pred_name.strip())
    assert _gallery_captions(page) == {ids[i] for i in np.flatnonzero((y == t) & (pred == p))}
    page.close()


def test_export_downloads_match_scikit_learn(served_tiny, browser, tiny, tmp_path) -> None:
    state = _state(tiny)
    page = browser.new_page()
    _open(page, served_tiny, "export", "Export")
    files = {}
    for label in ("Predictions (CSV)", "Metrics report (JSON)"):
        with page.expect_download() as info:
            page.get_by_role("button", name=label).click()
        target = tmp_path / info.value.suggested_filename
        info.value.save_as(target)
        files[label] = target.read_text()
    check_predictions_csv(files["Predictions (CSV)"], state)
    check_report(json.loads(files["Metrics report (JSON)"]), state)
    page.close()


def _shots() -> Path:
    shots = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def test_upload_errors_are_friendly_and_input_is_shown(served_tiny, browser, tmp_path) -> None:
    from PIL import Image

    page = browser.new_page()
    _open(page, served_tiny, "upload", "Try an image")
    fake = tmp_path / "notes.png"
    fake.write_text("not an image at all")
    huge = tmp_path / "huge.png"
    Image.new("L", (7000, 7000)).save(huge)  # 49 megapixels, a few kB compressed
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(good)
    expected = {
        fake: "notes.png cannot be used: the file is not an image this app can read",
        huge: "huge.png is too large to classify: the image is 7000x7000",
    }
    for path, message in expected.items():
        page.locator('input[type="file"]').set_input_files(str(path))
        page.get_by_text(message).first.wait_for(timeout=60_000)
        body = page.locator("body").inner_text()
        assert "BytesIO" not in body and "Traceback" not in body, body
    page.locator('input[type="file"]').set_input_files(str(good))
    page.get_by_text("model input: 16x16 colour").first.wait_for(timeout=60_000)
    page.get_by_text("model input: 12x12 colour").first.wait_for(timeout=60_000)
    page.close()


def test_threshold_slider_moves_the_operating_point(served_tiny, browser) -> None:
    page = browser.new_page()
    _open(page, served_tiny, "curves", "ROC and precision-recall")
    page.get_by_text("At threshold 0.50").wait_for(timeout=60_000)
    slider = page.get_by_role("slider").first
    slider.focus()
    for _ in range(20):
        page.keyboard.press("ArrowRight")
    page.get_by_text("At threshold 0.70").wait_for(timeout=60_000)
    settle(page)
    # The operating point's marker is drawn on both curves at the new threshold.
    names = page.locator(".js-plotly-plot .legendtext").all_text_contents()
    assert sum("@ 0.70" in n for n in names) == 4, names  # two models x (ROC, PR)
    page.close()
