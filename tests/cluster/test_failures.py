"""Children the real API server refuses end in the status: a condition naming the field, one Warning Event, one
log line, kstatus Failed (permanent) or InProgress (transient, retried with backoff), and recovery once fixed.

Every refusal here comes from the real kube-apiserver: a ResourceQuota, a quantity only the Deployment's own
validation rejects, a ValidatingAdmissionPolicy, and a validating webhook whose server is away.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.helpers import explain, validating_webhook, wait_ready
from tests.kube_helpers import Kubectl, condition, reconciles, visualizer, wait_for, wait_reconciled
from tests.operator_helpers import OperatorProcess

pytestmark = pytest.mark.cluster


def kstatus_of(kstatus: Path, kubectl: Kubectl, namespace: str, name: str) -> dict[str, str]:
    from modelviz_cluster.kstatus import compute

    (result,) = compute(kubectl.json("get", "mviz", name, "-n", namespace), kstatus)
    return result


def wait_condition(
    kubectl: Kubectl, namespace: str, name: str, operator: OperatorProcess, kind: str, reason: str
) -> dict[str, Any]:
    def matches() -> dict[str, Any] | None:
        obj = kubectl.get("mviz", name, namespace)
        cond = condition(obj, kind)
        return obj if cond and cond["status"] == "True" and cond["reason"] == reason else None

    return wait_for(matches, timeout=90, what=f"{name} {kind}={reason}", explain=explain(kubectl, namespace, operator))


def warning_count(kubectl: Kubectl, namespace: str, reason: str) -> int:
    items = kubectl.json("get", "events", "-n", namespace, "--field-selector", f"reason={reason}")["items"]
    return sum(int(item.get("count") or 1) for item in items)


def log_lines(operator: OperatorProcess, namespace: str, reason: str) -> int:
    return sum(1 for line in operator.logs(5000).splitlines() if f"{namespace}/" in line and reason in line)


def test_quota_refusal_is_stalled_once_and_recovers(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, kstatus: Path
) -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-services"},
        "spec": {"hard": {"services": "0"}},
    }
    kubectl.apply(quota, namespace)
    kubectl.apply(visualizer("quota"), namespace)
    obj = wait_condition(kubectl, namespace, "quota", operator, "Stalled", "QuotaExceeded")
    degraded = condition(obj, "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "QuotaExceeded"
    assert "Service quota" in degraded["message"] and "exceeded quota: no-services" in degraded["message"]
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    assert degraded["observedGeneration"] == obj["metadata"]["generation"]
    assert condition(obj, "Reconciling")["status"] == "False"
    # The other children were applied all the same.
    assert kubectl.get("deployment", "quota", namespace) is not None
    assert kstatus_of(kstatus, kubectl, namespace, "quota")["status"] == "Failed"
    # Not retried in a loop: across further passes (pod events, the resync every 20 s here), one Event and one log
    # line.
    wait_reconciled(operator, namespace, "quota", after=reconciles(operator, namespace, "quota"), passes=2)
    assert warning_count(kubectl, namespace, "QuotaExceeded") == 1
    assert log_lines(operator, namespace, "QuotaExceeded") == 1, operator.logs(200)

    kubectl("delete", "resourcequota", "no-services", "-n", namespace)
    obj = wait_ready(kubectl, namespace, "quota", operator)
    wait_for(
        lambda: condition(kubectl.get("mviz", "quota", namespace), "Stalled")["status"] == "False",
        timeout=60,
        what="Stalled False after the quota is gone",
        explain=explain(kubectl, namespace, operator),
    )
    assert kstatus_of(kstatus, kubectl, namespace, "quota")["status"] == "Current"


def test_a_quantity_only_the_deployment_validation_refuses_names_the_field(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, kstatus: Path
) -> None:
    # An extended resource must be a whole number: valid as a quantity (the CRD's isQuantity passes it), refused by
    # the Deployment's own validation.
    gpu = {"requests": {"example.com/gpu": "500m"}, "limits": {"example.com/gpu": "500m"}}
    kubectl.apply(visualizer("fraction", resources=gpu), namespace)
    kubectl.apply(visualizer("healthy"), namespace)
    obj = wait_condition(kubectl, namespace, "fraction", operator, "Stalled", "ChildInvalid")
    message = condition(obj, "Degraded")["message"]
    assert "Deployment fraction" in message and "resources.requests[example.com/gpu]" in message, message
    assert kubectl.get("service", "fraction", namespace) is not None
    assert kstatus_of(kstatus, kubectl, namespace, "fraction") == {
        "kind": "ModelVisualizer",
        "namespace": namespace,
        "name": "fraction",
        "status": "Failed",
        "message": condition(obj, "Stalled")["message"],
    }
    wait_ready(kubectl, namespace, "healthy", operator)
    events = kubectl.json("get", "events", "-n", namespace, "--field-selector", "reason=ChildInvalid")["items"]
    assert len(events) == 1 and events[0]["type"] == "Warning"
    assert "example.com/gpu" in events[0]["message"]


@pytest.fixture
def deny_node_ports(kubectl: Kubectl, namespace: str) -> Iterator[str]:
    """A ValidatingAdmissionPolicy (CEL admission in the API server) refusing NodePort Services in this namespace."""
    name = f"deny-nodeports-{namespace}"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["services"],
                    }
                ]
            },
            "validations": [
                {"expression": "object.spec.type != 'NodePort'", "message": "spec.type: NodePort is not allowed here"}
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
        },
    }
    kubectl.apply(policy, namespace)
    kubectl.apply(binding, namespace)
    try:
        yield name
    finally:
        kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name, check=False)


def test_admission_policy_denial_is_stalled_with_its_message(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, deny_node_ports: str, kstatus: Path
) -> None:
    # The policy takes a moment to be loaded by the API server: wait until it refuses a probe Service.
    probe = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "probe"},
        "spec": {"type": "NodePort", "ports": [{"port": 80}]},
    }
    wait_for(
        lambda: (
            kubectl(
                "apply", "--dry-run=server", "-n", namespace, "-f", "-", input_text=json.dumps(probe), check=False
            ).stderr.find("not allowed here")
            >= 0
        ),
        timeout=30,
        what="the admission policy to be active",
    )
    kubectl.apply(visualizer("np", service={"type": "NodePort"}), namespace)
    obj = wait_condition(kubectl, namespace, "np", operator, "Stalled", "AdmissionDenied")
    message = condition(obj, "Degraded")["message"]
    assert "Service np" in message and deny_node_ports in message and "NodePort is not allowed here" in message
    assert kstatus_of(kstatus, kubectl, namespace, "np")["status"] == "Failed"
    # Changing the spec to what the policy allows clears it.
    kubectl.apply(visualizer("np", service={"type": "ClusterIP"}), namespace)
    wait_for(
        lambda: condition(kubectl.get("mviz", "np", namespace), "Stalled")["status"] == "False",
        timeout=60,
        what="Stalled False once the spec is allowed",
        explain=explain(kubectl, namespace, operator),
    )


@pytest.fixture
def webhook_away(kubectl: Kubectl, namespace: str) -> Iterator[str]:
    """A validating webhook for ConfigMaps in this namespace whose server does not listen (failurePolicy Fail)."""
    from modelviz_cluster.cluster import free_port

    name = f"away-{namespace}.modelviz.io"
    config = validating_webhook(name, namespace, f"https://127.0.0.1:{free_port()}/validate", ("", "configmaps"), 2)
    kubectl.apply(config, namespace)
    try:
        yield name
    finally:
        kubectl("delete", "validatingwebhookconfiguration", name, check=False)


def test_a_webhook_that_is_away_is_reconciling_and_retried_with_backoff(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, webhook_away: str, kstatus: Path
) -> None:
    kubectl.apply(visualizer("hooked"), namespace)
    obj = wait_condition(kubectl, namespace, "hooked", operator, "Reconciling", "AdmissionWebhookUnavailable")
    reconciling = condition(obj, "Reconciling")
    assert "ConfigMap hooked-config" in reconciling["message"] and webhook_away in reconciling["message"]
    assert condition(obj, "Stalled")["status"] == "False"
    assert kstatus_of(kstatus, kubectl, namespace, "hooked")["status"] == "InProgress"
    # Retried with backoff (1, 2, 4 s ...): after three more passes, still one log line and one Event.
    wait_reconciled(operator, namespace, "hooked", after=reconciles(operator, namespace, "hooked"), passes=3)
    assert log_lines(operator, namespace, "AdmissionWebhookUnavailable") == 1, operator.logs(200)
    assert warning_count(kubectl, namespace, "AdmissionWebhookUnavailable") == 1
    kubectl("delete", "validatingwebhookconfiguration", webhook_away)
    wait_ready(kubectl, namespace, "hooked", operator)
    wait_for(
        lambda: condition(kubectl.get("mviz", "hooked", namespace), "Reconciling")["status"] == "False",
        timeout=60,
        what="Reconciling False after the webhook is gone",
        explain=explain(kubectl, namespace, operator),
    )
    assert kubectl.get("configmap", "hooked-config", namespace) is not None
    assert kstatus_of(kstatus, kubectl, namespace, "hooked")["status"] == "Current"
