"""The operator end to end against the local control plane: children, columns, scale, edits, drift, deletion."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml

from tests.cluster.helpers import explain, wait_degraded, wait_ready
from tests.kube_helpers import REPO, Kubectl, condition, metric, reconciles, visualizer, wait_for, wait_reconciled
from tests.operator_helpers import OperatorProcess

pytestmark = pytest.mark.cluster


def test_minimal_example_yields_children_and_columns(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", str(REPO / "examples" / "minimal.yaml"))
    obj = wait_ready(kubectl, namespace, "minimal", operator)
    for kind, name in (("configmap", "minimal-config"), ("deployment", "minimal"), ("service", "minimal")):
        child = kubectl.get(kind, name, namespace)
        assert child is not None, f"{kind}/{name} missing"
        refs = child["metadata"]["ownerReferences"]
        assert refs[0]["uid"] == obj["metadata"]["uid"] and refs[0]["controller"] is True
    service = kubectl.get("service", "minimal", namespace)
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert kubectl.get("deployment", "minimal", namespace)["spec"]["replicas"] == 1
    status = obj["status"]
    assert status["readyReplicas"] == 1
    assert status["url"] == f"http://minimal.{namespace}.svc.cluster.local/"
    assert condition(obj, "Ready")["observedGeneration"] == obj["metadata"]["generation"]
    table = kubectl("get", "mviz", "minimal", "-n", namespace).stdout
    header = table.splitlines()[0].split()
    assert header == ["NAME", "MODELS", "REPLICAS", "READY", "STATUS", "URL", "SCENARIO", "RPS", "P99", "TOP1", "AGE"]
    assert "effnet-lite0" in table and "Available" in table
    events = kubectl("get", "events", "-n", namespace, "--field-selector", "involvedObject.kind=ModelVisualizer")
    assert "Created" in events.stdout


def test_scale_subresource_and_pod_disruption_budget(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    kubectl.apply(visualizer("scaled"), namespace)
    wait_ready(kubectl, namespace, "scaled", operator)
    kubectl("scale", "mviz/scaled", "--replicas=3", "-n", namespace)
    obj = wait_for(
        lambda: (
            (o := kubectl.get("mviz", "scaled", namespace))
            and o["status"].get("readyReplicas") == 3
            and condition(o, "Ready")["status"] == "True"
            and o
        ),
        timeout=60,
        what="3 ready replicas after kubectl scale",
        explain=explain(kubectl, namespace, operator),
    )
    assert obj["spec"]["replicas"] == 3
    raw = f"/apis/modelviz.io/v1alpha1/namespaces/{namespace}/modelvisualizers/scaled/scale"
    scale = json.loads(kubectl("get", "--raw", raw).stdout)
    assert scale["status"]["replicas"] == 3
    assert "app.kubernetes.io/instance=scaled" in scale["status"]["selector"]
    pdb = wait_for(lambda: kubectl.get("pdb", "scaled", namespace), timeout=30, what="the PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    kubectl("scale", "mviz/scaled", "--replicas=1", "-n", namespace)
    wait_for(lambda: kubectl.get("pdb", "scaled", namespace) is None, timeout=30, what="the PDB to go at 1 replica")


def test_edit_rolls_pods_and_autoscaling_creates_hpa(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    kubectl.apply(visualizer("edited"), namespace)
    wait_ready(kubectl, namespace, "edited", operator)
    before = kubectl.get("deployment", "edited", namespace)["spec"]["template"]["metadata"]["annotations"]
    edited = visualizer(
        "edited",
        models=[
            {"name": "effnet-lite0", "catalog": "efficientnet-lite0"},
            {"name": "effnet-lite1", "catalog": "efficientnet-lite1"},
        ],
        replicas=2,
        autoscaling={"minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 70},
        service={"type": "NodePort", "nodePort": 30080, "port": 8080},
    )
    kubectl.apply(edited, namespace)
    hpa = wait_for(lambda: kubectl.get("hpa", "edited", namespace), timeout=30, what="the HPA")
    assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 5
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    config = yaml.safe_load(kubectl.get("configmap", "edited-config", namespace)["data"]["config.yaml"])
    assert [m["name"] for m in config["models"]] == ["effnet-lite0", "effnet-lite1"]
    after = kubectl.get("deployment", "edited", namespace)["spec"]["template"]["metadata"]["annotations"]
    assert after["modelviz.io/config-hash"] != before["modelviz.io/config-hash"]
    service = kubectl.get("service", "edited", namespace)
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 30080 and service["spec"]["ports"][0]["port"] == 8080
    obj = wait_ready(kubectl, namespace, "edited", operator)
    assert obj["status"]["models"] == "effnet-lite0,effnet-lite1"
    assert obj["status"]["url"].endswith(":8080/")
    kubectl.apply(visualizer("edited"), namespace)
    wait_for(lambda: kubectl.get("hpa", "edited", namespace) is None, timeout=30, what="the HPA to be removed")


def test_drift_is_repaired(kubectl: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    kubectl.apply(visualizer("drift"), namespace)
    wait_ready(kubectl, namespace, "drift", operator)
    old_uid = kubectl.get("service", "drift", namespace)["metadata"]["uid"]
    started = time.monotonic()
    kubectl("delete", "service", "drift", "-n", namespace)
    service = wait_for(
        lambda: (s := kubectl.get("service", "drift", namespace)) and s["metadata"]["uid"] != old_uid and s,
        timeout=30,
        what="the deleted Service to come back",
        explain=explain(kubectl, namespace, operator),
    )
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert time.monotonic() - started < 30
    # A hand edit of a field the operator owns is reverted.
    kubectl("patch", "service", "drift", "-n", namespace, "--type=merge", "-p", '{"spec":{"sessionAffinity":"None"}}')
    wait_for(
        lambda: kubectl.get("service", "drift", namespace)["spec"]["sessionAffinity"] == "ClientIP",
        timeout=30,
        what="the hand edit to be reverted",
    )
    kubectl("delete", "configmap", "drift-config", "-n", namespace)
    wait_for(lambda: kubectl.get("configmap", "drift-config", namespace), timeout=30, what="the ConfigMap to return")


def test_reconcile_with_nothing_changed_writes_nothing(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    kubectl.apply(visualizer("quiet"), namespace)
    wait_ready(kubectl, namespace, "quiet", operator)
    # Settled: nothing left converging, and the operator idle after its latest pass.
    wait_for(
        lambda: condition(kubectl.get("mviz", "quiet", namespace), "Reconciling")["status"] == "False",
        timeout=60,
        what="quiet no longer Reconciling",
        explain=explain(kubectl, namespace, operator),
    )
    wait_reconciled(operator, namespace, "quiet", after=0)

    def versions() -> dict[str, str]:
        items = kubectl.json("get", "mviz,deploy,svc,cm", "-n", namespace)["items"]
        return {f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["resourceVersion"] for i in items}

    def requests() -> dict[str, float]:
        return {
            verb: metric(operator.metrics_port, "modelviz_api_requests_total", verb=verb)
            for verb in ("get", "list", "apply", "delete", "patch-status")
        }

    # The request counters are the operator's, for every resource: earlier tests' namespaces still terminating
    # would add the passes their children's deletions cause.
    wait_for(
        lambda: (
            not [
                n
                for n in kubectl.json("get", "namespaces")["items"]
                if (n.get("status") or {}).get("phase") == "Terminating"
            ]
        ),
        timeout=180,
        what="earlier tests' namespaces gone",
    )
    wait_reconciled(operator, namespace, "quiet", after=0)
    before = versions()
    passes = reconciles(operator, namespace, "quiet")
    sent = requests()
    # Touching an unrelated label triggers a full reconcile through the update handler; kopf records the handled
    # label in its annotation once the handler has returned.
    kubectl("label", "mviz", "quiet", "-n", namespace, "touched=yes")
    wait_for(
        lambda: (
            "touched"
            in kubectl.get("mviz", "quiet", namespace)["metadata"]["annotations"].get(
                "modelviz.io/last-handled-configuration", ""
            )
        ),
        timeout=30,
        what="the label change handled",
    )
    ran = wait_reconciled(operator, namespace, "quiet", after=passes) - passes
    after = versions()
    changed = {k for k in before if before[k] != after.get(k) and not k.startswith("ModelVisualizer/")}
    assert not changed, f"reconcile rewrote {changed}"
    # What a pass with nothing to do sends (every resource's passes count; only this one is settled and poked here):
    # no write, not even a no-op apply, and one read (the ModelVisualizer itself; children come from the caches).
    delta = {verb: count - sent[verb] for verb, count in requests().items()}
    assert delta["apply"] == delta["delete"] == delta["patch-status"] == 0, delta
    assert delta["get"] + delta["list"] <= 2 * ran, (delta, ran)


def test_deleting_the_resource_removes_its_children(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    kubectl.apply(visualizer("gone", replicas=2), namespace)
    wait_ready(kubectl, namespace, "gone", operator)
    kubectl("delete", "mviz", "gone", "-n", namespace)
    for kind, name in (("deployment", "gone"), ("service", "gone"), ("configmap", "gone-config"), ("pdb", "gone")):

        def gone(k: str = kind, n: str = name) -> bool:
            return kubectl.get(k, n, namespace) is None

        wait_for(gone, timeout=60, what=f"{kind}/{name} gone")


def test_crash_looping_pods_make_ready_false(kubectl: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    # kwok's stage for this annotation reports what a kubelet shows for a crashing container.
    kubectl.apply(visualizer("crashy", podAnnotations={"kwok.modelviz.io/simulate": "crashloop"}), namespace)
    obj = wait_degraded(kubectl, namespace, "crashy", operator)
    ready = condition(obj, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "CrashLoopBackOff"
    assert condition(obj, "Degraded")["reason"] == "CrashLoopBackOff"
    assert "restarting failed container" in condition(obj, "Degraded")["message"]
    events = kubectl("get", "events", "-n", namespace, "--field-selector", "type=Warning").stdout
    assert "CrashLoopBackOff" in events


def test_unknown_catalog_model_is_degraded_and_others_keep_working(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    kubectl.apply(visualizer("unknown", models=[{"name": "x", "catalog": "no-such-model"}]), namespace)
    kubectl.apply(visualizer("fine"), namespace)
    obj = wait_degraded(kubectl, namespace, "unknown", operator)
    cond = condition(obj, "Degraded")
    assert cond["reason"] == "UnknownCatalogModel"
    assert "spec.models[x].catalog" in cond["message"] and "no-such-model" in cond["message"]
    wait_ready(kubectl, namespace, "fine", operator)
    events = kubectl("get", "events", "-n", namespace, "--field-selector", "reason=UnknownCatalogModel").stdout
    assert "no-such-model" in events


def test_missing_claim_is_degraded(kubectl: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    kubectl.apply(visualizer("noclaim", dataset={"path": "images", "claimName": "photos"}), namespace)
    obj = wait_degraded(kubectl, namespace, "noclaim", operator)
    assert condition(obj, "Degraded")["reason"] == "MissingVolumeClaim"
    assert "spec.dataset.claimName" in condition(obj, "Degraded")["message"]
    deployment = kubectl.get("deployment", "noclaim", namespace)
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["dataset"]["persistentVolumeClaim"]["claimName"] == "photos"


def test_suspend_scales_to_zero(kubectl: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    kubectl.apply(visualizer("sleepy", replicas=2), namespace)
    wait_ready(kubectl, namespace, "sleepy", operator)
    kubectl.apply(visualizer("sleepy", replicas=2, suspend=True), namespace)
    obj = wait_for(
        lambda: (
            (o := kubectl.get("mviz", "sleepy", namespace))
            and condition(o, "Ready")["reason"] == "Suspended"
            and o["status"].get("replicas") == 0
            and o
        ),
        timeout=60,
        what="suspended with 0 replicas",
        explain=explain(kubectl, namespace, operator),
    )
    assert kubectl.get("deployment", "sleepy", namespace)["spec"]["replicas"] == 0
    assert kubectl.get("pdb", "sleepy", namespace) is None
    assert obj["spec"]["replicas"] == 2


@pytest.mark.parametrize(
    ("spec", "field", "text"),
    [
        ({"service": {"type": "ClusterIP", "nodePort": 30001}}, "spec.service.nodePort", "nodePort may only be set"),
        ({"autoscaling": {"minReplicas": 4, "maxReplicas": 2}}, "spec.autoscaling.minReplicas", "less than or equal"),
        (
            {"models": [{"name": "a", "catalog": "mobilenet_v2"}, {"name": "a", "catalog": "resnet50"}]},
            "spec.models[1]",
            "Duplicate value",
        ),
        ({"models": [{"name": "a", "catalog": "x", "path": "/m.keras"}]}, "spec.models[0]", "exactly one of"),
        ({"models": [{"name": "a", "path": "/m.keras"}]}, "spec.models[0].labels", "labels is required with path"),
        ({"replicas": -1}, "spec.replicas", "greater than or equal to 0"),
        ({"service": {"type": "Ingress"}}, "spec.service.type", "Unsupported value"),
        ({"models": []}, "spec.models", "at least 1"),
        ({"models": [{"name": "Not_A_Label", "catalog": "x"}]}, "spec.models[0].name", "should match"),
        (
            {"benchmark": {"runId": "r1", "requests": 10, "concurrency": 50}},
            "spec.benchmark.concurrency",
            "concurrency must not exceed requests",
        ),
    ],
)
def test_api_server_rejects_invalid_specs_naming_the_field(
    kubectl: Kubectl, crd: str, namespace: str, spec: dict[str, Any], field: str, text: str
) -> None:
    result = kubectl("apply", "-n", namespace, "-f", "-", input_text=json.dumps(visualizer("bad", **spec)), check=False)
    assert result.returncode != 0, "the API server accepted an invalid spec"
    assert field in result.stderr and text in result.stderr, result.stderr


def test_defaults_are_applied_by_the_api_server(kubectl: Kubectl, crd: str, namespace: str) -> None:
    kubectl.apply(visualizer("defaults", benchmark={"runId": "r1"}), namespace)
    spec = kubectl.get("mviz", "defaults", namespace)["spec"]
    assert spec["replicas"] == 1
    assert spec["service"] == {"type": "ClusterIP", "port": 80}
    assert spec["benchmark"]["requests"] == 5000 and spec["benchmark"]["concurrency"] == 50
    assert spec["benchmark"]["path"] == "/"


def test_explain_describes_the_fields(kubectl: Kubectl, crd: str) -> None:
    text = kubectl("explain", "mviz.spec.service").stdout
    assert "ClusterIP, NodePort or LoadBalancer" in text
    assert "nodePort" in text


def test_load_balancer_url_pending_then_external(kubectl: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    lb = {"type": "LoadBalancer", "port": 80, "annotations": {"cloud.google.com/load-balancer-type": "Internal"}}
    kubectl.apply(visualizer("public", service=lb), namespace)
    obj = wait_ready(kubectl, namespace, "public", operator)
    assert "waiting for the load balancer's external address" in condition(obj, "Ready")["message"]
    assert obj["status"]["url"] == f"http://public.{namespace}.svc.cluster.local/"
    service = kubectl.get("service", "public", namespace)
    assert service["metadata"]["annotations"]["cloud.google.com/load-balancer-type"] == "Internal"
    # No cloud controller runs here; write the Service status the way one does once it has an address.
    patch = '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.10"}]}}}'
    kubectl("patch", "service", "public", "-n", namespace, "--subresource=status", "--type=merge", "-p", patch)
    obj = wait_for(
        lambda: (o := kubectl.get("mviz", "public", namespace)) and o["status"].get("externalUrl") and o,
        timeout=60,
        what="the external URL in status",
        explain=explain(kubectl, namespace, operator),
    )
    assert obj["status"]["url"] == obj["status"]["externalUrl"] == "http://203.0.113.10/"
    assert obj["status"]["internalUrl"] == f"http://public.{namespace}.svc.cluster.local/"
    assert "203.0.113.10" in kubectl("get", "mviz", "public", "-n", namespace).stdout
