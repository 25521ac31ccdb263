"""Status derivation from children's state, without a cluster."""

from __future__ import annotations

from typing import Any

from modelviz_operator.api import ModelVisualizerSpec
from modelviz_operator.builders import Owner
from modelviz_operator.status import Problem, derive_status, merge_conditions

OWNER = Owner(name="viz", namespace="team", uid="1")
NOW = "2026-01-01T00:00:00Z"


def spec(**extra: Any) -> ModelVisualizerSpec:
    body: dict[str, Any] = {"models": [{"name": "a", "catalog": "mobilenet_v2"}], "dataset": {"catalog": "x"}}
    body.update(extra)
    return ModelVisualizerSpec.model_validate(body)


def deployment(replicas: int, ready: int, updated: int | None = None, generation: int = 1, seen: int = 1) -> dict:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": seen,
            "replicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updatedReplicas": replicas if updated is None else updated,
        },
    }


def crashing_pod() -> dict:
    return {
        "metadata": {"name": "viz-1"},
        "status": {
            "containerStatuses": [
                {
                    "name": "visualizer",
                    "restartCount": 5,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                }
            ]
        },
    }


def derive(s: ModelVisualizerSpec, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "owner": OWNER,
        "spec": s,
        "generation": 1,
        "deployment": None,
        "service": None,
        "pods": [],
        "problems": [],
        "previous_conditions": [],
        "now": NOW,
    }
    args.update(kw)
    return derive_status(**args)


def conds(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_ready_when_all_replicas_available() -> None:
    status = derive(spec(replicas=3), deployment=deployment(3, 3))
    c = conds(status)
    assert c["Ready"]["status"] == "True" and c["Ready"]["reason"] == "Available"
    assert c["Progressing"]["status"] == "False"
    assert c["Degraded"]["status"] == "False"
    assert status["readyReplicas"] == 3 and status["observedGeneration"] == 1
    assert all(x["observedGeneration"] == 1 and x["lastTransitionTime"] == NOW for x in status["conditions"])
    assert status["url"] == "http://viz.team.svc.cluster.local/"


def test_not_ready_while_unavailable_and_progressing() -> None:
    c = conds(derive(spec(replicas=3), deployment=deployment(3, 1)))
    assert c["Ready"]["status"] == "False" and c["Ready"]["reason"] == "Unavailable"
    assert c["Progressing"]["status"] == "True" and c["Progressing"]["reason"] == "RollingOut"


def test_no_deployment_yet_is_creating() -> None:
    c = conds(derive(spec()))
    assert c["Ready"]["reason"] == "Creating" and c["Progressing"]["status"] == "True"


def test_rollout_of_a_new_generation_is_progressing() -> None:
    c = conds(derive(spec(replicas=2), deployment=deployment(2, 2, updated=1, generation=3, seen=2)))
    assert c["Progressing"]["status"] == "True"


def test_crash_loop_makes_ready_false_and_degraded() -> None:
    c = conds(derive(spec(replicas=1), deployment=deployment(1, 0), pods=[crashing_pod()]))
    assert c["Ready"]["status"] == "False" and c["Ready"]["reason"] == "CrashLoopBackOff"
    assert c["Degraded"]["status"] == "True" and "viz-1" in c["Degraded"]["message"]
    assert c["Progressing"]["status"] == "False"


def test_problems_are_degraded_even_when_serving() -> None:
    problem = Problem("UnknownCatalogModel", "spec.models[a].catalog: unknown model 'zz'")
    c = conds(derive(spec(), deployment=deployment(1, 1), problems=[problem]))
    assert c["Degraded"]["status"] == "True" and c["Degraded"]["reason"] == "UnknownCatalogModel"
    assert c["Ready"]["status"] == "True" and "unknown model" in c["Ready"]["message"]


def test_progress_deadline_exceeded_is_degraded() -> None:
    dep = deployment(2, 1)
    dep["status"]["conditions"] = [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}
    ]
    c = conds(derive(spec(replicas=2), deployment=dep))
    assert c["Degraded"]["reason"] == "ProgressDeadlineExceeded"


def test_suspended_and_scaled_to_zero() -> None:
    c = conds(derive(spec(suspend=True), deployment=deployment(0, 0)))
    assert c["Ready"]["reason"] == "Suspended" and c["Ready"]["status"] == "False"
    c = conds(derive(spec(replicas=0), deployment=deployment(0, 0)))
    assert c["Ready"]["reason"] == "ScaledToZero" and c["Ready"]["status"] == "True"


def test_load_balancer_pending_then_external_url() -> None:
    s = spec(service={"type": "LoadBalancer"})
    pending = derive(s, deployment=deployment(1, 1), service={"status": {"loadBalancer": {}}})
    assert "waiting for the load balancer" in conds(pending)["Ready"]["message"]
    assert pending["externalUrl"] is None
    assigned = derive(
        s, deployment=deployment(1, 1), service={"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}
    )
    assert assigned["url"] == "http://203.0.113.7/" and assigned["externalUrl"] == "http://203.0.113.7/"
    assert assigned["internalUrl"] == "http://viz.team.svc.cluster.local/"


def test_transition_time_moves_only_on_status_change() -> None:
    before = [{"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": "old"}]
    same = merge_conditions(before, [{"type": "Ready", "status": "True", "reason": "Available"}], NOW)
    assert same[0]["lastTransitionTime"] == "old"
    flipped = merge_conditions(before, [{"type": "Ready", "status": "False", "reason": "Unavailable"}], NOW)
    assert flipped[0]["lastTransitionTime"] == NOW
    kept = merge_conditions([{"type": "BenchmarkPassed", "status": "True", "reason": "TargetsMet"}], [], NOW)
    assert kept[0]["type"] == "BenchmarkPassed"
