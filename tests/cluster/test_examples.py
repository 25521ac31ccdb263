"""Every manifest in examples/ is accepted by the real API server (server-side apply, dry run)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.kube_helpers import REPO, Kubectl

pytestmark = pytest.mark.cluster
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def test_the_examples_cover_the_documented_cases() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"minimal.yaml", "demo.yaml", "compare-models.yaml", "autoscaling.yaml", "loadbalancer.yaml"} <= names
    assert {"benchmark.yaml", "custom-model.yaml", "ingress.yaml", "quality-gate.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_valid(path: Path, kubectl: Kubectl, crd: str, namespace: str) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs and all(d["kind"] == "ModelVisualizer" for d in docs)
    result = kubectl("apply", "--server-side", "--dry-run=server", "-n", namespace, "-f", str(path), "-o", "yaml")
    applied = [d for d in yaml.safe_load_all(result.stdout) if d]
    items = applied[0].get("items", applied) if len(applied) == 1 else applied
    assert len(items) == len(docs)
    for obj in items:
        assert obj["spec"]["service"]["type"] in ("ClusterIP", "NodePort", "LoadBalancer")  # defaults applied
