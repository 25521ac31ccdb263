"""The in-memory page shell keeps Streamlit's behaviour: same bytes and cache policy, ETag revalidation, a base URL
path, the websocket and uploads (checked in Chromium), and the pages share the API's models."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .api_helpers import Served, _metric, call, png, serve
from .browser import settle, stop
from .conftest import TinyEnv

pytestmark = [pytest.mark.browser, pytest.mark.slow]
BASE = "mviz"


@pytest.fixture(scope="module")
def based(tiny: TinyEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("shell")
    proc, server = serve(tmp, tiny.config("shell"), {"STREAMLIT_SERVER_BASE_URL_PATH": BASE}, health_path=f"/{BASE}")
    try:
        yield server
    finally:
        stop(proc)


def _static_dir() -> Path:
    from streamlit import file_util

    return Path(file_util.get_static_dir())


def _get(url: str, headers: dict[str, str] | None = None, method: str = "GET"):
    return call(url, method=method, headers=headers)


def test_index_and_assets_are_streamlits_bytes_with_its_cache_policy(based: Served) -> None:
    status, headers, body = _get(f"{based.url}/{BASE}/")
    shipped = (_static_dir() / "index.html").read_bytes()
    # Streamlit's index.html plus modulepreload hints for the landing page's lazy bundles, each served here.
    hints = re.findall(rb'\n *<link rel="modulepreload" crossorigin href="\./([^"]+)">', body)
    added = [h for h in hints if h not in shipped]
    assert len(added) >= 10
    links = rb'\s*<link rel="modulepreload" crossorigin href="\./(?:%s)">' % b"|".join(re.escape(h) for h in added)
    head = rb"\s*</head>"
    assert re.sub(head, b"</head>", re.sub(links, b"", body)) == re.sub(head, b"</head>", shipped)
    for href in added:
        assert _get(f"{based.url}/{BASE}/{href.decode()}")[0] == 200
    assert headers["Cache-Control"] == "no-cache" and headers["Content-Type"].startswith("text/html")
    etag = headers["ETag"]
    status, headers, body = _get(f"{based.url}/{BASE}/", {"If-None-Match": etag})
    assert status == 304 and body == b"" and headers["ETag"] == etag
    status, headers, body = _get(f"{based.url}/{BASE}/", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    asset = next(p for p in (_static_dir() / "static" / "js").glob("*.js"))
    status, headers, body = _get(f"{based.url}/{BASE}/static/js/{asset.name}")
    assert status == 200 and body == asset.read_bytes()
    assert "immutable" in headers["Cache-Control"] and headers["ETag"]
    # Outside the base path and for unknown files, Streamlit answers as it would.
    assert _get(f"{based.url}/{BASE}/static/js/nope.js")[0] in (200, 404)
    assert _get(f"{based.url}/{BASE}/_stcore/health")[2] == b"ok"
    assert _get(f"{based.url}/{BASE}/api/v1/models")[0] == 200


def test_pages_render_upload_and_share_the_models(based: Served, browser) -> None:
    page = browser.new_page()
    page.goto(f"{based.url}/{BASE}/upload", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Try an image").first.wait_for(timeout=240_000)
    settle(page)
    image = Path(based.log.parent / "red.png")
    image.write_bytes(png((230, 10, 10)))
    page.locator('input[type="file"]').set_input_files(str(image))  # through /_stcore/upload_file
    page.get_by_text("red.png").first.wait_for(timeout=60_000)
    page.get_by_text("colour-mean ·").first.wait_for(timeout=120_000)
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
    # The shell's own answers are counted too (this test's request, not another test's).
    assert call(f"{based.url}/{BASE}/")[0] == 200
    text = call(f"{based.url}/{BASE}/metrics")[2].decode()
    assert _metric(text, "modelviz_app_models_in_memory", "") == 2  # the API's copies, reused by the pages
    assert _metric(text, "modelviz_app_http_requests_total", 'code="200",method="GET",route="page"') >= 1
    with urllib.request.urlopen(f"{based.url}/{BASE}/_stcore/health", timeout=5) as response:
        assert response.read() == b"ok"
