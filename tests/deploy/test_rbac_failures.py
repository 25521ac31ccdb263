"""An operator whose Role lacks one resource it needs: the refusal lands in status (Stalled, reason Forbidden, the
API server's message naming the resource and the user), once, and the children it may write are still written.

Runs before the session-wide operator starts (tests/deploy/conftest.py), which would otherwise write the missing
child with its own rights.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.rbac_helpers import SA, operator_env
from tests.deploy_helpers import NAMESPACED, Render, find, service_account_kubeconfig
from tests.kube_helpers import Kubectl, condition, visualizer, wait_for
from tests.operator_helpers import start_operator, stop_operator

pytestmark = pytest.mark.cluster


def without(role: dict[str, Any], resource: str) -> dict[str, Any]:
    trimmed = copy.deepcopy(role)
    rules = []
    for rule in trimmed["rules"]:
        rule["resources"] = [r for r in rule.get("resources", []) if r != resource]
        if rule["resources"] or rule.get("nonResourceURLs"):
            rules.append(rule)
    trimmed["rules"] = rules
    return trimmed


def test_a_permission_the_operator_lacks_is_stalled_with_the_servers_message(
    cluster: Any, crd: str, kubectl: Kubectl, render: Render, namespace: str, tmp_path: Path
) -> None:
    docs = render(NAMESPACED, namespace)
    role = without(find(docs, "Role"), "poddisruptionbudgets")
    wanted = [find(docs, "ServiceAccount", SA), role, find(docs, "RoleBinding")]
    kubectl("apply", "--server-side", "-f", "-", input_text=yaml.safe_dump_all(wanted))
    config = service_account_kubeconfig(kubectl, namespace, SA, tmp_path / "sa.kubeconfig")
    env = {**operator_env(docs, namespace), "KUBECONFIG": str(config), "MODELVIZ_NAMESPACES": namespace}
    env.pop("MODELVIZ_METRICS_PORT", None)  # the manifest's fixed port may be taken here: start_operator picks one
    operator = start_operator(cluster, tmp_path / "operator.log", env)
    try:
        kubectl.apply(visualizer("nopdb", replicas=2), namespace)  # two replicas want a PodDisruptionBudget

        def stalled() -> dict[str, Any] | None:
            obj = kubectl.get("mviz", "nopdb", namespace)
            cond = condition(obj, "Stalled")
            return obj if cond and cond["status"] == "True" else None

        obj = wait_for(stalled, timeout=90, what="Stalled", explain=lambda: operator.logs(100))
        cond = condition(obj, "Stalled")
        assert cond["reason"] == "Forbidden", cond
        assert "PodDisruptionBudget nopdb" in cond["message"] and "poddisruptionbudgets" in cond["message"]
        assert f"system:serviceaccount:{namespace}:{SA}" in cond["message"]
        assert kubectl.get("deployment", "nopdb", namespace) is not None
        assert kubectl.get("service", "nopdb", namespace) is not None
        time.sleep(22)  # past one resync (20 s in tests): still one log line
        lines = [line for line in operator.logs(2000).splitlines() if "Forbidden" in line and "nopdb" in line]
        assert len(lines) == 1, "\n".join(lines)
    finally:
        stop_operator(operator)
