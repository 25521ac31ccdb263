"""The pydantic API and the CRD generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from modelviz_operator import crdgen
from modelviz_operator.api import CATALOG_DATASETS, CATALOG_MODELS, ModelVisualizerSpec

REPO = Path(__file__).resolve().parents[2]


def test_committed_crd_is_up_to_date() -> None:
    committed = (REPO / "crds" / "modelvisualizers.modelviz.io.yaml").read_text()
    assert committed == crdgen.render_crd(), "crds/ is stale: run `modelviz crd`"


def test_crd_check_command_detects_staleness(tmp_path: Path) -> None:
    stale = tmp_path / "crd.yaml"
    stale.write_text("old\n")
    assert crdgen.main(["--check", "--output", str(stale)]) == 1
    assert crdgen.main(["--output", str(stale)]) == 0
    assert crdgen.main(["--check", "--output", str(stale)]) == 0


def _walk(schema: dict, path: str = "") -> list[str]:
    """Paths of schema nodes without a description (the object roots of metadata excepted)."""
    missing = []
    for name, sub in (schema.get("properties") or {}).items():
        here = f"{path}.{name}"
        if name != "metadata" and not sub.get("description"):
            missing.append(here)
        missing += _walk(sub, here)
    if "items" in schema:
        missing += _walk(schema["items"], path + "[]")
    return missing


def test_every_field_has_a_description() -> None:
    schema = crdgen.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(schema) == []


def test_crd_shape() -> None:
    crd = yaml.safe_load(crdgen.render_crd())
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["names"]["shortNames"] == ["mviz"]
    assert version["subresources"]["scale"]["labelSelectorPath"] == ".status.selector"
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    for column in ("Models", "Replicas", "Ready", "URL", "RPS", "P99", "Top1", "Age"):
        assert column in names
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["service"]["default"] == {}
    assert spec["properties"]["models"]["x-kubernetes-list-map-keys"] == ["name"]
    assert "x-kubernetes-validations" in spec["properties"]["autoscaling"]
    limits = spec["properties"]["resources"]["properties"]["limits"]["additionalProperties"]
    assert limits == {"maxLength": 64, "x-kubernetes-int-or-string": True}


def test_replaced_apps_setup_is_expressible() -> None:
    # "MobileNet on ImageNet", 3 replicas behind a LoadBalancer on port 80 (what was done by hand).
    spec = ModelVisualizerSpec.model_validate(
        {
            "models": [{"name": "mobilenet", "catalog": "mobilenet", "weights": "/weights/mobilenet.h5"}],
            "dataset": {"catalog": "imagenet-sample"},
            "replicas": 3,
            "service": {"type": "LoadBalancer", "port": 80},
        }
    )
    assert spec.service.type == "LoadBalancer" and spec.replicas == 3


def test_unknown_fields_are_rejected_by_the_operator_model_too() -> None:
    with pytest.raises(ValidationError):
        ModelVisualizerSpec.model_validate(
            {"models": [{"name": "a", "catalog": "x"}], "dataset": {"catalog": "y"}, "replica": 2}
        )


def test_catalog_matches_the_visualizer() -> None:
    app_models = pytest.importorskip("modelviz_app.models", reason="the app extra is not installed")
    app_datasets = pytest.importorskip("modelviz_app.datasets", reason="the app extra is not installed")
    assert set(app_models.CATALOG_MODELS) == set(CATALOG_MODELS)
    assert set(app_datasets.CATALOG_DATASETS) == set(CATALOG_DATASETS)
