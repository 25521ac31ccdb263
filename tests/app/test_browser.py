"""End to end: ``streamlit run`` on 127.0.0.1 driven by Debian's headless Chromium (no browser download).

Screenshots of every page go to artifacts/screenshots/ (gitignored) for people to look at.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelviz_app.cli import serve_command
from modelviz_app.config import AppConfig
from modelviz_app.models import train_fashion
from modelviz_app.paths import cache_root

from .browser import CHART, free_port, settle, stop, wait_healthy
from .pages import PAGES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "app-config"
SHOTS = ROOT / "artifacts" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module", params=["demo.yaml", "fashion.yaml"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    example = request.param
    config = AppConfig.load(EXAMPLES / example)
    if any(m.catalog and m.catalog.startswith("fashion") for m in config.models):
        train_fashion(cache_root(config.cache_dir), log=lambda _: None)  # cached after `modelviz app prepare`
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(serve_command(port, "127.0.0.1", str(EXAMPLES / example)), stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        yield url, example
    finally:
        stop(proc)


def _url_path(page_file: str) -> str:
    return "" if page_file == "pages/overview.py" else Path(page_file).stem


def test_every_page_renders(served, browser) -> None:
    url, example = served
    names = [m.name for m in AppConfig.load(EXAMPLES / example).models]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    for page_file, title in PAGES.items():
        page.goto(f"{url}/{_url_path(page_file)}", wait_until="domcontentloaded")
        page.get_by_role("heading", name=title).first.wait_for(timeout=240_000)
        settle(page)
        if page_file in ("pages/misclassified.py", "pages/hardest.py"):
            gallery = '[data-testid="stImage"], [data-testid="stAlertContentSuccess"]'
            page.locator(gallery).first.wait_for(timeout=60_000)
        elif page_file == "pages/export.py":
            page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
        else:
            page.locator(CHART).first.wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0, page_file
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0, page_file
        body = page.locator("body").inner_text()
        for name in names:
            assert name in body, (page_file, name)
        assert page.get_by_role("button", name="Deploy").count() == 0, "developer toolbar shown"
        page.screenshot(path=str(SHOTS / f"{Path(example).stem}-{Path(page_file).stem}.png"), full_page=True)
        if example == "demo.yaml" and page_file in README_SHOTS:
            _readme_shot(page, page_file)
    page.close()


# The README's pictures come from this run (scripts/screenshots points MODELVIZ_SCREENSHOTS at docs/screenshots).
README_SHOTS = {
    "pages/overview.py": "overview",
    "pages/confusion.py": "confusion-drilldown",
    "pages/compare.py": "compare",
    "pages/calibration.py": "calibration",
}


def _readme_shot(page, page_file: str) -> None:
    target = Path(os.environ.get("MODELVIZ_SCREENSHOTS", SHOTS))
    target.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": 1500})
    settle(page)
    if page_file == "pages/confusion.py":
        # Open the drill-down as a user does: the first most-confused pair's row.
        grid = page.locator('[data-testid="stDataFrame"]').first
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 12, box["y"] + 35 + 17)
        page.locator("h3", has_text=", predicted ").first.wait_for(timeout=60_000)
        settle(page)
        page.locator('[data-testid="stImage"]').first.wait_for(timeout=60_000)
        page.locator("h3", has_text=", predicted ").first.scroll_into_view_if_needed()
        page.mouse.wheel(0, -700)  # the matrix above the gallery it opened
        time.sleep(1.0)
    path = target / f"{README_SHOTS[page_file]}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_upload_shows_top5_for_each_model(served, browser, tmp_path) -> None:
    from PIL import Image
    from skimage import data

    url, example = served
    names = [m.name for m in AppConfig.load(EXAMPLES / example).models]
    image = tmp_path / "upload.png"
    if example == "demo.yaml":
        Image.fromarray(data.coffee()).save(image)
    else:
        from modelviz_app.datasets import load_dataset

        Image.fromarray(load_dataset("fashion-mnist", None, limit=10).image(1)).save(image)
    page = browser.new_page()
    page.goto(f"{url}/upload", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Try an image").first.wait_for(timeout=240_000)
    settle(page)
    page.locator('input[type="file"]').set_input_files(str(image))
    page.get_by_text("upload.png").first.wait_for(timeout=60_000)
    settle(page)
    cards = page.locator('[data-testid="stVerticalBlockBorderWrapper"]')
    text = page.locator("body").inner_text()
    for name in names:
        assert f"{name} ·" in text and " ms" in text
    # One top-5 chart per model, each with five bars (a rerun's stale elements may linger a moment: wait them out).
    charts = page.locator(".js-plotly-plot")
    deadline = time.monotonic() + 60
    while charts.count() != len(names) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert charts.count() == len(names), cards.count()
    for i in range(charts.count()):
        assert charts.nth(i).locator("g.point").count() == 5
    if example == "demo.yaml":
        assert text.count("espresso") >= len(names)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(SHOTS / f"{Path(example).stem}-upload-coffee.png"), full_page=True)
    page.close()
