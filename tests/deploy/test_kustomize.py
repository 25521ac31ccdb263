"""deploy/base and deploy/overlays/namespaced: rendered by the pinned kubectl, accepted by the real API server.

Everything is applied server-side with ``--dry-run=server`` (admission, schema and RBAC-escalation checks run, nothing
is persisted), after the target namespace itself has been created for real.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelviz_operator.constants import pod_security_context
from tests.deploy_helpers import BASE, NAMESPACED, Render, dump, find
from tests.kube_helpers import REPO, Kubectl

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/modelviz/operator:0.1.0"
SYSTEM = "modelviz-system"
CRD = "modelvisualizers.modelviz.io"


def dry_run_apply(kubectl: Kubectl, docs: list[dict[str, Any]]) -> str:
    result = kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=modelviz-deploy-test", "-f", "-",
        input_text=dump(docs),
    )  # fmt: skip
    return result.stdout


def ensure_namespace(kubectl: Kubectl, docs: list[dict[str, Any]]) -> None:
    namespace = find(docs, "Namespace")
    kubectl("apply", "--server-side", "-f", "-", input_text=yaml.safe_dump(namespace))


def operator_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pod = find(docs, "Deployment", "modelviz-operator")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return dict(container)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_base_renders_and_the_api_server_accepts_it(kubectl: Kubectl, render: Render) -> None:
    docs = render(BASE)
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == [
        ("ClusterRole", "modelviz-operator"),
        ("ClusterRoleBinding", "modelviz-operator"),
        ("CustomResourceDefinition", CRD),
        ("Deployment", "modelviz-operator"),
        ("Namespace", SYSTEM),
        ("Service", "modelviz-operator-metrics"),
        ("ServiceAccount", "modelviz-operator"),
    ]
    for doc in docs:
        if doc["kind"] in ("ServiceAccount", "Deployment", "Service"):
            assert doc["metadata"]["namespace"] == SYSTEM, doc["metadata"]
    # The CRD is the generated file, unchanged apart from the part-of label.
    generated = yaml.safe_load((REPO / "crds" / f"{CRD}.yaml").read_text())
    rendered = find(docs, "CustomResourceDefinition")
    assert rendered["spec"] == generated["spec"]
    binding = find(docs, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "modelviz-operator",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "modelviz-operator", "namespace": SYSTEM}]

    ensure_namespace(kubectl, docs)
    out = dry_run_apply(kubectl, docs).splitlines()
    for _kind, name in kinds:
        assert any(line.endswith(f"/{name} serverside-applied (server dry run)") for line in out), out


def test_base_deployment_is_hardened(render: Render) -> None:
    docs = render(BASE)
    deployment = find(docs, "Deployment", "modelviz-operator")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "modelviz-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # The operator's own pod runs as the pods it starts do (modelviz_operator.constants).
    assert pod["securityContext"] == pod_security_context()
    container = operator_container(docs)
    assert container["image"] == IMAGE
    assert container["args"] == ["--liveness=http://0.0.0.0:8080/healthz", "--log-format=json"]
    assert env_of(container)["MODELVIZ_BENCH_IMAGE"] == container["image"]
    assert "MODELVIZ_NAMESPACES" not in env_of(container)  # the base watches every namespace
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security.get("privileged", False) is False
    # The only writable path is an emptyDir at /tmp.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp": "tmp"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["tmp"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz" and probe["port"] in ("health", 8080)
    for key in ("requests", "limits"):
        assert set(container["resources"][key]) == {"cpu", "memory"}, container["resources"]
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(ports["metrics"])
    assert annotations["prometheus.io/path"] == "/metrics"
    service = find(docs, "Service", "modelviz-operator-metrics")
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(9090, "metrics")]


def test_namespaced_overlay_swaps_cluster_rbac_for_a_role(kubectl: Kubectl, render: Render, namespace: str) -> None:
    docs = render(NAMESPACED)
    # No rights cluster-wide at all (exact Role rules: test_rbac.py, which also runs an operator holding only them).
    assert [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")] == []
    role, binding = find(docs, "Role"), find(docs, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == SYSTEM
    assert binding["roleRef"]["kind"] == "Role" and binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "modelviz-operator", "namespace": SYSTEM}]
    container = operator_container(docs)
    # The operator watches the namespace it runs in, the one holding its Role.
    assert env_of(container)["MODELVIZ_NAMESPACES"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env_of(container)["MODELVIZ_CLUSTER_SCANNING"] == "false"  # else kopf would want Namespaces and CRDs
    assert container["securityContext"] == operator_container(render(BASE))["securityContext"]
    ensure_namespace(kubectl, docs)
    assert "(server dry run)" in dry_run_apply(kubectl, docs)

    # Installed into another namespace by an overlay of the overlay: everything namespaced follows.
    moved = render(NAMESPACED, namespace)
    for doc in moved:
        if doc["kind"] not in ("CustomResourceDefinition", "Namespace"):
            assert doc["metadata"]["namespace"] == namespace, doc["metadata"]
    assert find(moved, "RoleBinding")["subjects"][0]["namespace"] == namespace
    rest = [d for d in moved if d["kind"] != "Namespace"]
    assert "(server dry run)" in dry_run_apply(kubectl, rest)


@pytest.mark.parametrize("target", [BASE, NAMESPACED], ids=["base", "namespaced"])
def test_an_images_override_moves_the_benchmark_image_with_the_operator(
    render: Render, tmp_path: Path, target: Path
) -> None:
    # The way a platform team pins its own registry: an overlay with `images:` (what `kustomize edit set image` writes).
    moved = "registry.example.com/mv/operator:9.9.9"
    overlay = {
        "resources": [os.path.relpath(target, tmp_path)],
        "images": [{"name": IMAGE.split(":")[0], "newName": moved.split(":")[0], "newTag": moved.split(":")[1]}],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    before, after = operator_container(render(target)), operator_container(render(tmp_path))
    assert (before["image"], env_of(before)["MODELVIZ_BENCH_IMAGE"]) == (IMAGE, IMAGE)
    assert (after["image"], env_of(after)["MODELVIZ_BENCH_IMAGE"]) == (moved, moved)
    # Nothing else in the env looks like an image, so nothing else changed.
    assert {k: v for k, v in env_of(after).items() if k != "MODELVIZ_BENCH_IMAGE"} == {
        k: v for k, v in env_of(before).items() if k != "MODELVIZ_BENCH_IMAGE"
    }


def test_argocd_application_points_at_a_renderable_base(render: Render) -> None:
    app = yaml.safe_load((REPO / "deploy" / "argocd" / "application.yaml").read_text())
    source, destination = app["spec"]["source"], app["spec"]["destination"]
    path = REPO / source["path"]
    assert path == BASE and (path / "kustomization.yaml").is_file()
    docs = render(path)
    namespaced = [d for d in docs if d["kind"] in ("ServiceAccount", "Deployment", "Service")]
    assert {d["metadata"]["namespace"] for d in namespaced} == {destination["namespace"]}
