"""deploy/helm/modelviz, through the real helm (built from its Go module and cached by version).

The chart must install what the kustomize manifests install: rendered with its defaults it equals
``kubectl kustomize deploy/base`` object by object (Helm's own labels aside, the Namespace left to
``--create-namespace``), and with ``namespaced=true`` it equals deploy/overlays/namespaced, in any namespace. Then it
is installed into the local cluster, taking over the CRD a kustomize install left (the migration path), and an
operator holding only the chart's RBAC and env reconciles a ModelVisualizer; ``helm uninstall`` keeps the CRD and
the resources (``helm.sh/resource-policy: keep``).

Runs before the session-wide operator starts (tests/deploy/conftest.py), so that only the chart's operator
reconciles what this test applies.
"""

from __future__ import annotations

import copy
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy_helpers import BASE, DEPLOY, NAMESPACED, Render, find, service_account_kubeconfig
from tests.kube_helpers import REPO, Kubectl, condition, visualizer, wait_for
from tests.operator_helpers import start_operator, stop_operator
from tests.sandbox import container_env

CHART = DEPLOY / "helm" / "modelviz"
SYSTEM = "modelviz-system"
CRD = "modelvisualizers.modelviz.io"
SA = "modelviz-operator"
# What Helm adds that kustomize does not, and the CRD's keep policy (checked separately).
HELM_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
)
HELM_ANNOTATIONS = ("helm.sh/resource-policy",)


@pytest.fixture(scope="session")
def helm() -> str:
    from modelviz_cluster.tools import ensure_helm

    return str(ensure_helm())


def run_helm(helm: str, *args: str, kubeconfig: Path | None = None, check: bool = True) -> str:
    env_args = [f"--kubeconfig={kubeconfig}"] if kubeconfig else []
    result = subprocess.run([helm, *args, *env_args], capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def template(helm: str, namespace: str = SYSTEM, *values: str) -> list[dict[str, Any]]:
    from modelviz_cluster.versions import KUBERNETES_VERSION

    # The capabilities of the Kubernetes the tests run (without a cluster, helm assumes an old one).
    args = ["template", "modelviz", str(CHART), f"--namespace={namespace}", f"--kube-version={KUBERNETES_VERSION}"]
    out = run_helm(helm, *args, *values)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def without_helm_metadata(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    meta = doc["metadata"]
    for key in HELM_LABELS:
        meta.get("labels", {}).pop(key, None)
    for key in HELM_ANNOTATIONS:
        meta.get("annotations", {}).pop(key, None)
    if meta.get("annotations") == {}:
        del meta["annotations"]
    return doc


def by_identity(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    keyed = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}
    assert len(keyed) == len(docs), "two objects with the same kind, namespace and name"
    return keyed


def assert_same_objects(chart: list[dict[str, Any]], kustomize: list[dict[str, Any]]) -> None:
    ours = by_identity([without_helm_metadata(d) for d in chart])
    theirs = by_identity([d for d in kustomize if d["kind"] != "Namespace"])
    assert sorted(ours) == sorted(theirs)
    for key, expected in theirs.items():
        diff = f"helm:\n{yaml.safe_dump(ours[key])}\nkustomize:\n{yaml.safe_dump(expected)}"
        assert ours[key] == expected, f"{key} differs:\n{diff}"


def operator_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = find(docs, "Deployment", SA)["spec"]["template"]["spec"]["containers"]
    return dict(container)


def env_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in operator_container(docs).get("env", [])}


def test_chart_lints_clean(helm: str) -> None:
    for values in ([], ["--set", "namespaced=true"], ["--set", "namespaced=true,watchNamespaces={a,b}"]):
        out = run_helm(helm, "lint", "--strict", str(CHART), *values)
        assert "1 chart(s) linted, 0 chart(s) failed" in out, out
        assert "[WARNING]" not in out and "[ERROR]" not in out, out


@pytest.mark.cluster  # kubectl kustomize: the pinned kubectl comes with the cluster
def test_defaults_render_what_kustomize_base_renders(helm: str, render: Render) -> None:
    chart = template(helm)
    assert_same_objects(chart, render(BASE))
    crd = find(chart, "CustomResourceDefinition")
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    # The chart's copy of the CRD is the generated file (`modelviz crd --check` keeps both fresh).
    generated = (REPO / "crds" / f"{CRD}.yaml").read_text()
    assert (CHART / "files" / f"{CRD}.yaml").read_text() == generated
    assert crd["spec"] == yaml.safe_load(generated)["spec"]


@pytest.mark.cluster
@pytest.mark.parametrize("target", [SYSTEM, "platform-tools"])
def test_namespaced_mode_renders_what_the_overlay_renders(helm: str, render: Render, target: str) -> None:
    chart = template(helm, target, "--set", "namespaced=true")
    assert_same_objects(chart, render(NAMESPACED, None if target == SYSTEM else target))


def test_values_reach_the_manifests(helm: str) -> None:
    docs = template(
        helm,
        "ops",
        "--set", "image.repository=registry.example.com/mv/operator,image.tag=9.9.9",
        "--set", "watchNamespaces={shop,lab}",
        "--set", "settings.resyncSeconds=30,settings.fieldManager=mv,settings.metricsPort=9100",
        "--set", "resources.limits.memory=1Gi",
        "--set", "crd.install=false",
    )  # fmt: skip
    container = operator_container(docs)
    assert container["image"] == "registry.example.com/mv/operator:9.9.9"
    env = env_of(docs)
    assert env["MODELVIZ_BENCH_IMAGE"] == container["image"]  # the benchmark Jobs follow the operator image
    assert env["MODELVIZ_NAMESPACES"] == "shop,lab"
    assert env["MODELVIZ_RESYNC_SECONDS"] == "30" and env["MODELVIZ_FIELD_MANAGER"] == "mv"
    assert env["MODELVIZ_METRICS_PORT"] == "9100"
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"] == 9100
    service = find(docs, "Service", f"{SA}-metrics")
    assert service["spec"]["ports"][0]["port"] == 9100
    assert container["resources"]["limits"]["memory"] == "1Gi"
    assert [d for d in docs if d["kind"] == "CustomResourceDefinition"] == []
    assert find(docs, "ClusterRoleBinding")["subjects"][0]["namespace"] == "ops"

    # Namespaced mode over a list: a Role and RoleBinding in each, bound to the release's ServiceAccount.
    docs = template(helm, "ops", "--set", "namespaced=true,watchNamespaces={shop,lab}")
    assert [d for d in docs if d["kind"].startswith("Cluster") and d["kind"] != "CustomResourceDefinition"] == []
    roles = sorted(d["metadata"]["namespace"] for d in docs if d["kind"] == "Role")
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    assert roles == ["lab", "shop"] and len(bindings) == 2
    assert all(b["subjects"] == [{"kind": "ServiceAccount", "name": SA, "namespace": "ops"}] for b in bindings)
    assert env_of(docs)["MODELVIZ_NAMESPACES"] == "shop,lab"
    assert env_of(docs)["MODELVIZ_CLUSTER_SCANNING"] == "false"


@pytest.mark.cluster
def test_install_reconcile_and_uninstall_keeps_the_crd(
    helm: str, cluster: Any, crd: str, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    config = Path(kubectl.kubeconfig)
    # The CRD is there already, applied with kubectl: Helm takes it over once it carries Helm's ownership metadata.
    kubectl("label", "crd", CRD, "app.kubernetes.io/managed-by=Helm", "--overwrite")
    owner = ["meta.helm.sh/release-name=modelviz", f"meta.helm.sh/release-namespace={namespace}"]
    kubectl("annotate", "crd", CRD, *owner, "--overwrite")
    installed = False
    try:
        out = run_helm(
            helm, "install", "modelviz", str(CHART), f"--namespace={namespace}", "--set=namespaced=true",
            "--wait", "--timeout=120s", kubeconfig=config,
        )  # fmt: skip
        installed = True
        assert "STATUS: deployed" in out, out
        text = run_helm(helm, "get", "manifest", "modelviz", f"--namespace={namespace}", kubeconfig=config)
        manifest = [d for d in yaml.safe_load_all(text) if d]
        assert {d["kind"] for d in manifest} == {
            "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service",
        }  # fmt: skip
        # kwok runs no container: the Deployment rolled out (helm --wait), its operator runs here as a process with
        # the pod's env and the chart's ServiceAccount token, holding exactly the chart's RBAC.
        deployment = kubectl.json("get", "deployment", SA, "-n", namespace)
        assert deployment["status"].get("readyReplicas") == 1
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        manager = f"modelviz-helm-{uuid.uuid4().hex[:6]}"
        env = {
            **container_env(container, {"metadata.name": "modelviz-operator-0", "metadata.namespace": namespace}),
            "KUBECONFIG": str(service_account_kubeconfig(kubectl, namespace, SA, tmp_path / "sa.kubeconfig")),
            "MODELVIZ_FIELD_MANAGER": manager,
        }
        assert env["MODELVIZ_NAMESPACES"] == namespace and env["MODELVIZ_CLUSTER_SCANNING"] == "false"
        running = start_operator(cluster, tmp_path / "operator.log", env)
        try:
            kubectl.apply(visualizer("charted", replicas=2), namespace)

            def ready() -> dict[str, Any] | None:
                obj = kubectl.get("mviz", "charted", namespace)
                cond = condition(obj, "Ready")
                return obj if cond and cond["status"] == "True" else None

            obj = wait_for(ready, timeout=60, what="charted Ready", explain=running.logs)
        finally:
            stop_operator(running)
        assert obj["status"]["readyReplicas"] == 2
        child = kubectl.json("get", "deployment", "charted", "-n", namespace, "--show-managed-fields")
        assert manager in {m.get("manager") for m in child["metadata"]["managedFields"]}
        log = running.log.read_text(errors="replace")
        assert "forbidden" not in log.lower() and "Traceback" not in log, running.logs(60)

        run_helm(helm, "uninstall", "modelviz", f"--namespace={namespace}", "--wait", kubeconfig=config)
        installed = False
    finally:
        if installed:
            run_helm(helm, "uninstall", "modelviz", f"--namespace={namespace}", kubeconfig=config, check=False)
    # Kept: the CRD and every ModelVisualizer; gone: the operator and its RBAC.
    assert kubectl("get", "crd", CRD, check=False).returncode == 0
    assert kubectl.get("mviz", "charted", namespace) is not None
    for kind in ("deployment", "role", "rolebinding", "serviceaccount"):
        assert kubectl.get(kind, SA, namespace) is None, kind
