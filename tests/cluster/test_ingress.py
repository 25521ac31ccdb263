"""spec.ingress on the local cluster: the Ingress object, its status handling and the API server's CEL rules.

No ingress controller runs here; the test writes the Ingress status the way a controller does once it has an
address, as the LoadBalancer test does for a cloud controller.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.kube_helpers import Kubectl, condition, visualizer, wait_for
from tests.operator_helpers import OperatorProcess

pytestmark = pytest.mark.cluster


def explain(kubectl: Kubectl, namespace: str, operator: OperatorProcess) -> Any:
    def _explain() -> str:
        dump = kubectl("get", "mviz,ingress", "-n", namespace, "-o", "yaml", check=False).stdout
        return f"{dump[-5000:]}\n--- operator ---\n{operator.logs()}"

    return _explain


def rejected(kubectl: Kubectl, namespace: str, ingress: dict[str, Any]) -> str:
    result = kubectl(
        "apply", "--server-side", "-n", namespace, "-f", "-",
        input_text=yaml.safe_dump(visualizer("bad", ingress=ingress)), check=False,
    )  # fmt: skip
    assert result.returncode != 0, f"accepted: {ingress}"
    return result.stderr


def test_ingress_object_and_url(kubectl: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    host = f"front.{namespace}.example.com"
    spec = {"host": host, "className": "nginx", "annotations": {"team": "ml"}}
    kubectl.apply(visualizer("front", ingress=spec), namespace)
    why = explain(kubectl, namespace, operator)
    ingress = wait_for(lambda: kubectl.get("ingress", "front", namespace), timeout=60, what="the Ingress", explain=why)
    assert ingress["metadata"]["ownerReferences"][0]["name"] == "front"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie" and annotations["team"] == "ml"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == host
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": "front", "port": {"name": "http"}}}

    def ready() -> dict[str, Any] | None:
        obj = kubectl.get("mviz", "front", namespace)
        cond = condition(obj, "Ready")
        return obj if cond and cond["status"] == "True" else None

    obj = wait_for(ready, timeout=60, what="front Ready", explain=why)
    internal = f"http://front.{namespace}.svc.cluster.local/"
    assert obj["status"]["url"] == internal and not obj["status"].get("ingressUrl")

    # What a controller writes once it serves the host.
    patch = '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.20"}]}}}'
    kubectl("patch", "ingress", "front", "-n", namespace, "--subresource=status", "--type=merge", "-p", patch)
    obj = wait_for(
        lambda: (o := kubectl.get("mviz", "front", namespace)) and o["status"].get("ingressUrl") and o,
        timeout=60,
        what="the Ingress URL in status",
        explain=why,
    )
    assert obj["status"]["url"] == obj["status"]["ingressUrl"] == f"http://{host}/"
    assert obj["status"]["internalUrl"] == internal
    assert host in kubectl("get", "mviz", "front", "-n", namespace).stdout

    # Hand-deleted: repaired. Dropped from the spec: deleted, and the URL is the Service's again.
    kubectl("delete", "ingress", "front", "-n", namespace)
    wait_for(lambda: kubectl.get("ingress", "front", namespace), timeout=60, what="the Ingress back", explain=why)
    kubectl("patch", "mviz", "front", "-n", namespace, "--type=json", "-p", '[{"op":"remove","path":"/spec/ingress"}]')
    gone = lambda: kubectl.get("ingress", "front", namespace) is None  # noqa: E731
    wait_for(gone, timeout=60, what="the Ingress gone", explain=why)
    obj = wait_for(
        lambda: o if (o := kubectl.get("mviz", "front", namespace)) and not o["status"].get("ingressUrl") else None,
        timeout=60,
        what="the Ingress URL to go",
        explain=why,
    )
    assert obj["status"]["url"] == internal


def test_cel_rules_name_the_field(kubectl: Kubectl, crd: str, namespace: str) -> None:
    for host in ("Viz.Example.com", "viz_1.example.com", "10.0.0.1", "*.example.com", "viz.example.com."):
        error = rejected(kubectl, namespace, {"host": host})
        assert "spec.ingress.host" in error and "lowercase DNS name" in error, error
    error = rejected(kubectl, namespace, {"host": "viz.example.com", "tls": True})
    assert "spec.ingress.tlsSecretName" in error and "required when tls is true" in error, error
    error = rejected(kubectl, namespace, {"host": "viz.example.com", "path": "viz"})
    assert "spec.ingress.path" in error, error
    ok = {"host": "viz.example.com", "tls": True, "tlsSecretName": "viz-cert", "path": "/viz"}
    kubectl.apply(visualizer("good", ingress=ok), namespace, "--dry-run=server")
