"""Every page on the example configurations: real ImageNet models on the photo sample, trained Fashion-MNIST models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from modelviz_app.config import AppConfig
from modelviz_app.models import train_fashion
from modelviz_app.paths import cache_root

from .pages import APP, PAGES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "app-config"


@pytest.mark.slow
@pytest.mark.parametrize("example", ["demo.yaml", "fashion.yaml"])
def test_example_pages(example: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = AppConfig.load(EXAMPLES / example)
    if any(m.catalog and m.catalog.startswith("fashion") for m in config.models):
        train_fashion(cache_root(config.cache_dir), log=lambda _: None)  # what `modelviz app prepare` does; cached
    monkeypatch.setenv("MODELVIZ_CONFIG", str(EXAMPLES / example))
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    names = [m.name for m in config.models]
    for page, title in PAGES.items():
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        assert [t.value for t in at.title] == [title]
        sidebar = " ".join(c.value for c in at.sidebar.caption)
        assert all(name in sidebar for name in names)
    at.switch_page("pages/overview.py")
    at.run()
    table = at.dataframe[0].value
    assert list(table["model"]) == names
    # Real models, real data: far above chance (1/7 classes on the sample, 1/10 on Fashion-MNIST).
    assert (table["top-5 accuracy"] > 0.6).all(), table
    assert os.environ["MODELVIZ_CONFIG"].endswith(example)
