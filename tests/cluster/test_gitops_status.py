"""What GitOps tools read from live objects: kstatus (the real library, built from sigs.k8s.io/cli-utils) and the
Argo CD health check (health.lua in a Lua 5.1 without the libraries Argo CD leaves closed), on ModelVisualizers
in the local control plane. Also: status.benchmark describes one run, never mixing figures of two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bench.servers import serve
from tests.cluster.helpers import explain, finished, jobs, wait_degraded, wait_ready
from tests.deploy.argocd_health import run_health
from tests.kube_helpers import Kubectl, condition, map_service, visualizer, wait_for
from tests.operator_helpers import OperatorProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

FIGURES = ("rps", "meanMs", "p50Ms", "p90Ms", "p99Ms", "maxMs", "completeRequests", "failedRequests", "passed")


def verdicts(kstatus: Path, kubectl: Kubectl, namespace: str, name: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(kstatus, Argo CD health, the object) for one live object, read once."""
    from modelviz_cluster.kstatus import compute

    obj = kubectl.json("get", "mviz", name, "-n", namespace)
    (result,) = compute(obj, kstatus)
    return result["status"], run_health(obj), obj


def wait_verdict(
    kstatus: Path,
    kubectl: Kubectl,
    namespace: str,
    name: str,
    operator: OperatorProcess,
    want: tuple[str, str],
    run_id: str | None = None,
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Wait until kstatus and Argo CD read ``want`` (and, with ``run_id``, status.benchmark is that run)."""

    def matches() -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        seen = verdicts(kstatus, kubectl, namespace, name)
        if run_id is not None and (seen[2].get("status") or {}).get("benchmark", {}).get("runId") != run_id:
            return None  # a new generation reads InProgress before the operator has started its run
        return seen if (seen[0], seen[1]["status"]) == want else None

    return wait_for(
        matches,
        timeout=120,
        interval=0.5,
        what=f"{name}: kstatus/Argo CD {want}",
        explain=explain(kubectl, namespace, operator),
    )


def test_a_gating_run_is_in_progress_then_current_or_failed_and_holds_one_run(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str, kstatus: Path
) -> None:
    targets = {"minRps": 1, "maxP99Ms": 60000}
    with serve("ok") as ok, serve("hang") as hang:
        map_service(cluster, "gated", namespace, ok.split("//", 1)[1].rstrip("/"))
        bench = {"runId": "r1", "requests": 40, "concurrency": 2, "targets": targets}
        kubectl.apply(visualizer("gated", benchmark=bench), namespace)
        obj = finished(kubectl, namespace, "gated", "r1", operator)
        first = obj["status"]["benchmark"]
        assert first["phase"] == "Succeeded" and first["passed"] is True and first["rps"] > 0
        _state, health, obj = wait_verdict(kstatus, kubectl, namespace, "gated", operator, ("Current", "Healthy"))
        assert health["message"].endswith("; benchmark r1 (page) passed")

        # The next run hangs: while it runs, the resource is not done, and no figure of r1 is shown beside r2.
        map_service(cluster, "gated", namespace, hang.split("//", 1)[1].rstrip("/"))
        slow = {**bench, "runId": "r2", "requests": 2, "concurrency": 1, "requestTimeoutSeconds": 600}
        kubectl.apply(visualizer("gated", benchmark=slow), namespace)
        progressing = ("InProgress", "Progressing")
        _state, health, obj = wait_verdict(kstatus, kubectl, namespace, "gated", operator, progressing, run_id="r2")
        run = obj["status"]["benchmark"]
        assert run["runId"] == "r2" and run["phase"] == "Running", run
        assert set(run) == {"runId", "scenario", "phase", "jobName", "startedAt"}, run
        assert not set(FIGURES) & set(run)
        assert obj["status"]["benchmarkHistory"][0]["runId"] == "r1"
        assert obj["status"]["benchmarkHistory"][0]["rps"] == first["rps"]
        reconciling = condition(obj, "Reconciling")
        assert reconciling["status"] == "True" and reconciling["reason"] == "BenchmarkRunning"
        assert health["message"].startswith("BenchmarkRunning: benchmark r2 gates this resource and is running")
        row = kubectl("get", "mviz", "gated", "-n", namespace, "-o", "wide").stdout.splitlines()[1].split()
        assert str(first["rps"]) not in row and "r2" in row and "Running" in row, row
        (job,) = [j for j in jobs(kubectl, namespace) if j["metadata"]["labels"]["modelviz.io/run-id"] == "r2"]
        kubectl("delete", "job", job["metadata"]["name"], "-n", namespace, "--cascade=background")
        finished(kubectl, namespace, "gated", "r2", operator)

        # A run that misses a target fails the gate: Stalled, kstatus Failed, Argo CD Degraded naming the target.
        map_service(cluster, "gated", namespace, ok.split("//", 1)[1].rstrip("/"))
        strict = {**bench, "runId": "r3", "targets": {"minRps": 1000000}}
        kubectl.apply(visualizer("gated", benchmark=strict), namespace)
        finished(kubectl, namespace, "gated", "r3", operator)
        _state, health, obj = wait_verdict(kstatus, kubectl, namespace, "gated", operator, ("Failed", "Degraded"))
        stalled = condition(obj, "Stalled")
        assert stalled["reason"] == "BenchmarkTargetMissed" and "below minRps 1e+06" in stalled["message"]
        assert "below minRps 1e+06" in health["message"]
        assert condition(obj, "Ready")["status"] == "True"  # the visualizer itself still serves

        # With the gate off the same miss only informs.
        kubectl.apply(visualizer("gated", benchmark={**strict, "gate": False}), namespace)
        _state, health, obj = wait_verdict(kstatus, kubectl, namespace, "gated", operator, ("Current", "Healthy"))
        assert "did not pass" in health["message"]


def test_stalled_states_are_failed_and_a_rollout_is_in_progress(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, kstatus: Path
) -> None:
    kubectl.apply(visualizer("crashy", podAnnotations={"kwok.modelviz.io/simulate": "crashloop"}), namespace)
    kubectl.apply(visualizer("unknown", models=[{"name": "x", "catalog": "no-such-model"}]), namespace)
    kubectl.apply(visualizer("noclaim", dataset={"path": "images", "claimName": "photos"}), namespace)
    for name, reason in (
        ("crashy", "CrashLoopBackOff"),
        ("unknown", "UnknownCatalogModel"),
        ("noclaim", "MissingVolumeClaim"),
    ):
        wait_degraded(kubectl, namespace, name, operator)
        _state, health, obj = wait_verdict(kstatus, kubectl, namespace, name, operator, ("Failed", "Degraded"))
        assert condition(obj, "Stalled")["reason"] == reason
        assert health["message"].startswith(f"{reason}: ")

    # A ready visualizer is Current; a spec change is InProgress until the operator has observed it and the
    # rollout is done, then Current again.
    kubectl.apply(visualizer("roll", replicas=2), namespace)
    wait_ready(kubectl, namespace, "roll", operator)
    wait_verdict(kstatus, kubectl, namespace, "roll", operator, ("Current", "Healthy"))
    seen: set[tuple[str, str]] = set()
    kubectl.apply(visualizer("roll", replicas=2, title="new title"), namespace)

    def settled() -> bool:
        state, health, obj = verdicts(kstatus, kubectl, namespace, "roll")
        seen.add((state, health["status"]))
        fresh = obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
        return fresh and (state, health["status"]) == ("Current", "Healthy")

    wait_for(
        settled, timeout=90, interval=0.2, what="the rollout to finish", explain=explain(kubectl, namespace, operator)
    )
    assert ("InProgress", "Progressing") in seen, seen
    assert not {s for s in seen if s[0] == "Failed" or s[1] == "Degraded"}, seen
