"""The configuration contract with the operator."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelviz_app.config import AppConfig, ConfigError, config_path_from
from modelviz_app.datasets import CATALOG_DATASETS
from modelviz_app.models import CATALOG_MODELS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "app-config"


def test_catalog_names():
    assert CATALOG_MODELS == (
        "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "mobilenet", "mobilenet_v2",
        "mobilenet_v3_small", "mobilenet_v3_large", "resnet50", "efficientnet_b0", "fashion-cnn",
        "fashion-mobilenet_v2",
    )  # fmt: skip
    assert CATALOG_DATASETS == ("imagenet-sample", "fashion-mnist")


@pytest.mark.parametrize("name", ["demo.yaml", "fashion.yaml"])
def test_examples_are_valid(name):
    config = AppConfig.load(EXAMPLES / name)
    assert config.models and config.dataset.catalog in CATALOG_DATASETS


def test_full_contract(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        """
title: t
models:
  - {name: effnet-lite0, catalog: efficientnet-lite0}
  - {name: mine, path: /m/model.keras, labels: /m/labels.txt}
  - {name: mobilenet, catalog: mobilenet_v2, weights: /w/mobilenet_v2.h5}
dataset: {path: /mnt/data, maxImages: 500}
cacheDir: /var/cache/modelviz
"""
    )
    config = AppConfig.load(path)
    assert [m.name for m in config.models] == ["effnet-lite0", "mine", "mobilenet"]
    assert config.dataset.max_images == 500
    assert config.cache_dir == Path("/var/cache/modelviz")
    assert config.models[2].weights == Path("/w/mobilenet_v2.h5")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"models": [], "dataset": {"catalog": "fashion-mnist"}}, "models"),
        ({"models": [{"name": "a", "catalog": "nope"}], "dataset": {"catalog": "fashion-mnist"}}, "models.0.catalog"),
        ({"models": [{"name": "Bad_Name", "catalog": "fashion-cnn"}], "dataset": {"catalog": "fashion-mnist"}},
         "models.0.name"),
        ({"models": [{"name": "a", "catalog": "fashion-cnn", "path": "/x.keras", "labels": "/l"}],
          "dataset": {"catalog": "fashion-mnist"}}, "exactly one of catalog or path"),
        ({"models": [{"name": "a", "path": "/x.keras"}], "dataset": {"catalog": "fashion-mnist"}}, "labels"),
        ({"models": [{"name": "a", "path": "/x.onnx", "labels": "/l"}], "dataset": {"catalog": "fashion-mnist"}},
         ".keras or .h5"),
        ({"models": [{"name": "a", "catalog": "fashion-cnn"}] * 2, "dataset": {"catalog": "fashion-mnist"}}, "unique"),
        ({"models": [{"name": f"m{i}", "catalog": "fashion-cnn"} for i in range(9)],
          "dataset": {"catalog": "fashion-mnist"}}, "models"),
        ({"models": [{"name": "a", "catalog": "fashion-cnn"}], "dataset": {}}, "dataset"),
        ({"models": [{"name": "a", "catalog": "fashion-cnn"}], "dataset": {"catalog": "x"}}, "dataset.catalog"),
        ({"models": [{"name": "a", "catalog": "fashion-cnn"}], "dataset": {"catalog": "fashion-mnist", "maxImages": 0}},
         "dataset.maxImages"),
        ({"models": [{"name": "a", "catalog": "fashion-cnn"}], "dataset": {"catalog": "fashion-mnist"}, "extra": 1},
         "extra"),
    ],
)  # fmt: skip
def test_errors_name_the_field(data, expected):
    with pytest.raises(ConfigError) as err:
        AppConfig.parse(data, "cfg.yaml")
    assert expected in str(err.value)
    assert "cfg.yaml" in str(err.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        AppConfig.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        AppConfig.load(bad)


def test_config_path_sources():
    assert config_path_from(["--config", "/a.yaml"], {"MODELVIZ_CONFIG": "/b.yaml"}) == Path("/a.yaml")
    assert config_path_from(["--config=/c.yaml"], {}) == Path("/c.yaml")
    assert config_path_from([], {"MODELVIZ_CONFIG": "/b.yaml"}) == Path("/b.yaml")
    assert config_path_from([], {}) is None
