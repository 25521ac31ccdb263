"""Waits and dumps shared by the tests against the local cluster (the operator's resources, their Jobs)."""

from __future__ import annotations

import base64
from typing import Any

from tests.kube_helpers import Kubectl, condition, wait_for
from tests.operator_helpers import OperatorProcess

__all__ = ["explain", "finished", "jobs", "wait_degraded", "wait_ready"]


def explain(kubectl: Kubectl, namespace: str, operator: OperatorProcess) -> Any:
    def dump() -> str:
        objects = kubectl("get", "mviz,deploy,svc,cm,hpa,pdb,pods", "-n", namespace, "-o", "wide", check=False)
        status = kubectl("get", "mviz", "-n", namespace, "-o", "yaml", check=False)
        return f"{objects.stdout}{objects.stderr}\n{status.stdout}\n--- operator log ---\n{operator.logs()}"

    return dump


def wait_ready(kubectl: Kubectl, namespace: str, name: str, operator: OperatorProcess) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        obj = kubectl.get("mviz", name, namespace)
        cond = condition(obj, "Ready")
        generation = (obj or {}).get("metadata", {}).get("generation")
        fresh = (obj or {}).get("status", {}).get("observedGeneration") == generation
        return obj if cond and cond["status"] == "True" and fresh else None

    return wait_for(ready, timeout=60, what=f"{name} Ready", explain=explain(kubectl, namespace, operator))


def wait_degraded(kubectl: Kubectl, namespace: str, name: str, operator: OperatorProcess) -> dict[str, Any]:
    def degraded() -> dict[str, Any] | None:
        obj = kubectl.get("mviz", name, namespace)
        cond = condition(obj, "Degraded")
        return obj if cond and cond["status"] == "True" else None

    return wait_for(degraded, timeout=60, what=f"{name} Degraded", explain=explain(kubectl, namespace, operator))


def finished(kubectl: Kubectl, namespace: str, name: str, run_id: str, operator: OperatorProcess) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        obj = kubectl.get("mviz", name, namespace)
        bench = (obj or {}).get("status", {}).get("benchmark") or {}
        return obj if bench.get("runId") == run_id and bench.get("phase") in ("Succeeded", "Failed") else None

    def explain() -> str:
        dump = kubectl("get", "mviz,jobs,pods", "-n", namespace, "-o", "yaml", check=False).stdout
        return f"{dump[-6000:]}\n--- operator ---\n{operator.logs()}"

    return wait_for(done, timeout=180, interval=1, what=f"benchmark {run_id} to finish", explain=explain)


def jobs(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    return list(kubectl.json("get", "jobs", "-n", namespace)["items"])


def validating_webhook(
    name: str,
    namespace: str,
    url: str,
    rule: tuple[str, str],
    timeout_seconds: int,
    ca_bundle: bytes | None = None,
) -> dict[str, Any]:
    """A ValidatingWebhookConfiguration (failurePolicy Fail) for CREATE/UPDATE of ``rule`` = (API group, resource)
    in one namespace, calling ``url``."""
    client: dict[str, Any] = {"url": url}
    if ca_bundle is not None:
        client["caBundle"] = base64.b64encode(ca_bundle).decode()
    group, resource = rule
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": name,
                "clientConfig": client,
                "rules": [
                    {
                        "apiGroups": [group],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [resource],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": timeout_seconds,
            }
        ],
    }
