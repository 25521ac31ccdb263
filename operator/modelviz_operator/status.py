"""Status derived from the children's real state (pure: objects in, status dict out).

Conditions follow the Kubernetes API conventions: Ready, Progressing and Degraded, each with observedGeneration and
a lastTransitionTime that moves only when the condition's status changes. Beside them, :func:`gitops_conditions`
adds kstatus' two abnormal-true conditions (what Flux, kpt and the Argo CD check read): ``Reconciling`` (still
converging: a rollout, pods starting, a gating benchmark, a retry) and ``Stalled`` (waiting will not help).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .api import ModelVisualizerSpec, ModelVisualizerStatus
from .builders import Owner, desired_replicas, internal_url, selector_labels
from .failures import Failure

__all__ = [
    "CONDITION_ORDER",
    "Problem",
    "condition",
    "derive_status",
    "failure_conditions",
    "gitops_conditions",
    "merge_conditions",
    "now_iso",
    "selector_string",
    "typed_status",
]

CONDITION_ORDER = ("Ready", "Progressing", "Degraded", "Stalled", "Reconciling", "BenchmarkPassed")

# Waiting reasons that mean a pod will not become ready by itself.
_BROKEN_WAITING = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "InvalidImageName",
    "RunContainerError",
}


@dataclass(frozen=True)
class Problem:
    """Something the schema cannot catch (unknown catalog model, missing claim): Degraded, with this reason."""

    reason: str
    message: str


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def selector_string(owner: Owner) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector_labels(owner).items()))


def condition(kind: str, status: bool | None, reason: str, message: str, generation: int | None) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "Unknown" if status is None else ("True" if status else "False"),
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
    }


def merge_conditions(
    previous: Sequence[dict[str, Any]], fresh: Iterable[dict[str, Any]], now: str
) -> list[dict[str, Any]]:
    """Fresh conditions, each keeping its lastTransitionTime while its status holds; other types kept as they are."""
    old = {c.get("type"): c for c in previous}
    merged: dict[str, dict[str, Any]] = {c["type"]: c for c in previous if c.get("type")}
    for cond in fresh:
        before = old.get(cond["type"])
        stamp = before.get("lastTransitionTime") if before and before.get("status") == cond["status"] else None
        merged[cond["type"]] = {**cond, "lastTransitionTime": stamp or now}
    order = CONDITION_ORDER
    return sorted(merged.values(), key=lambda c: (order.index(c["type"]) if c["type"] in order else 99, c["type"]))


def _pod_trouble(pods: Sequence[dict[str, Any]]) -> tuple[str, str] | None:
    """The first pod condition that will not heal by waiting: (reason, message)."""
    for pod in pods:
        name = pod.get("metadata", {}).get("name", "?")
        if pod.get("metadata", {}).get("deletionTimestamp"):
            continue
        status = pod.get("status") or {}
        for cs in status.get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in _BROKEN_WAITING:
                detail = waiting.get("message") or ""
                restarts = cs.get("restartCount", 0)
                text = f"pod {name} container {cs.get('name')}: {waiting['reason']} after {restarts} restarts"
                return waiting["reason"], f"{text}: {detail}".rstrip(": ")
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and cond.get("reason"):
                return "Unschedulable", f"pod {name} cannot be scheduled: {cond.get('message', '')}".rstrip(": ")
    return None


def _external_url(service: dict[str, Any] | None, port: int) -> str | None:
    if not service:
        return None
    for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        host = ingress.get("hostname") or ingress.get("ip")
        if host:
            return f"http://{host}/" if port == 80 else f"http://{host}:{port}/"
    return None


def derive_status(
    *,
    owner: Owner,
    spec: ModelVisualizerSpec,
    generation: int,
    deployment: dict[str, Any] | None,
    service: dict[str, Any] | None,
    pods: Sequence[dict[str, Any]],
    problems: Sequence[Problem],
    previous_conditions: Sequence[dict[str, Any]],
    now: str | None = None,
) -> dict[str, Any]:
    """The status subresource's content (without the benchmark fields)."""
    now = now or now_iso()
    want = desired_replicas(spec)
    dep_status = (deployment or {}).get("status") or {}
    dep_spec = (deployment or {}).get("spec") or {}
    target = want if want is not None else int(dep_spec.get("replicas", 1))
    replicas = int(dep_status.get("replicas", 0))
    ready = int(dep_status.get("readyReplicas", 0))
    available = int(dep_status.get("availableReplicas", 0))
    updated = int(dep_status.get("updatedReplicas", 0))
    dep_generation_seen = deployment is not None and int(dep_status.get("observedGeneration", 0)) >= int(
        (deployment.get("metadata") or {}).get("generation", 0)
    )
    dep_conditions = {c.get("type"): c for c in dep_status.get("conditions") or []}
    deadline = dep_conditions.get("Progressing", {})
    deadline_exceeded = deadline.get("status") == "False" and deadline.get("reason") == "ProgressDeadlineExceeded"

    rolling = deployment is None or not dep_generation_seen or updated < target or replicas > target
    trouble = _pod_trouble(pods)

    external = _external_url(service, spec.service.port)
    internal = internal_url(owner, spec)
    svc_type = spec.service.type
    lb_note = ""
    if svc_type == "LoadBalancer" and external is None:
        lb_note = "; waiting for the load balancer's external address"

    degraded: tuple[str, str] | None = None
    if problems:
        degraded = (problems[0].reason, "; ".join(p.message for p in problems))
    elif trouble and trouble[0] != "Unschedulable":
        degraded = trouble
    elif deadline_exceeded:
        degraded = ("ProgressDeadlineExceeded", deadline.get("message", "rollout did not finish in time"))

    if spec.suspend:
        ready_cond = condition("Ready", False, "Suspended", "suspended: scaled to zero on request", generation)
        progressing = condition("Progressing", False, "Suspended", "suspended", generation)
    elif target == 0:
        ready_cond = condition("Ready", True, "ScaledToZero", "scaled to zero replicas", generation)
        shrinking = replicas > 0
        progressing = condition(
            "Progressing", shrinking, "ScalingDown" if shrinking else "Idle", f"{replicas} replicas left", generation
        )
    else:
        where = f"{external or internal}{lb_note}"
        if available >= target:
            text = f"{ready}/{target} replicas ready at {where}" + (", rolling out" if rolling else "")
            ready_cond = condition("Ready", True, "Available", text, generation)
        else:
            why = trouble[1] if trouble else "waiting for pods to become ready"
            reason = trouble[0] if trouble else ("Creating" if deployment is None else "Unavailable")
            ready_cond = condition("Ready", False, reason, f"{ready}/{target} replicas ready: {why}", generation)
        if degraded and not problems:
            # Stalled: waiting will not help, so the rollout is not progressing.
            progressing = condition("Progressing", False, degraded[0], degraded[1], generation)
        elif rolling or available < target:
            text = f"{updated}/{target} replicas updated, {available} available"
            progressing = condition("Progressing", True, "RollingOut", text, generation)
        else:
            progressing = condition("Progressing", False, "Complete", "rollout complete", generation)
    if degraded:
        degraded_cond = condition("Degraded", True, degraded[0], degraded[1], generation)
        if ready_cond["status"] == "True" and problems:
            ready_cond = {**ready_cond, "message": f"{ready_cond['message']}; but {degraded[1]}"}
    else:
        degraded_cond = condition("Degraded", False, "AsExpected", "", generation)

    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": merge_conditions(previous_conditions, [ready_cond, progressing, degraded_cond], now),
        "replicas": replicas,
        "readyReplicas": ready,
        "updatedReplicas": updated,
        "selector": selector_string(owner),
        "models": ",".join(m.name for m in spec.models),
        "url": external or internal,
        "internalUrl": internal,
        "externalUrl": external,
    }
    return status


def _by_type(conditions: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in conditions if c.get("type")}


def failure_conditions(
    conditions: Sequence[dict[str, Any]], failures: Sequence[Failure], generation: int | None, now: str
) -> list[dict[str, Any]]:
    """Conditions with the API server's refusals folded in: a permanent one makes the resource Degraded (reason and
    the server's message), a transient one leaves Degraded alone (gitops_conditions makes it Reconciling)."""
    permanent = [f for f in failures if not f.transient]
    if not permanent:
        return list(conditions)
    text = "; ".join(f.message for f in permanent)
    fresh = [condition("Degraded", True, permanent[0].reason, text, generation)]
    ready = _by_type(conditions).get("Ready")
    if ready is not None and ready.get("status") == "True":
        # The last accepted children still serve; say that the current spec is not what they run.
        note = f"{ready.get('message', '')}; but {text}"
        fresh.append(condition("Ready", True, str(ready.get("reason")), note, generation))
    return merge_conditions(conditions, fresh, now)


def gitops_conditions(
    conditions: Sequence[dict[str, Any]],
    *,
    spec: ModelVisualizerSpec | None,
    benchmark: dict[str, Any] | None,
    failures: Sequence[Failure],
    generation: int | None,
    now: str,
) -> list[dict[str, Any]]:
    """``Stalled`` and ``Reconciling`` derived from the other conditions, the latest run and the failures.

    Stalled wins: kstatus reads the first of the two that is True, so they are never True together.
    """
    by_type = _by_type(conditions)
    degraded, ready, progressing = by_type.get("Degraded"), by_type.get("Ready"), by_type.get("Progressing")
    passed = by_type.get("BenchmarkPassed")
    gate = spec is not None and spec.benchmark is not None and spec.benchmark.gating and not spec.suspend
    run = benchmark or {}
    run_name = f"benchmark {run.get('runId')}" if run.get("runId") else "benchmark"

    stalled: tuple[str, str] | None = None
    if degraded is not None and degraded.get("status") == "True":
        stalled = (str(degraded.get("reason")), str(degraded.get("message", "")))
    elif gate and run.get("phase") in ("Succeeded", "Failed") and passed and passed.get("status") == "False":
        why = "BenchmarkTargetMissed" if passed.get("reason") == "TargetMissed" else "BenchmarkFailed"
        stalled = (why, f"{run_name} gates this resource and did not pass: {passed.get('message', '')}")

    reconciling: tuple[str, str] | None = None
    transient = [f for f in failures if f.transient]
    if stalled is None:
        if transient:
            reconciling = (transient[0].reason, "retrying: " + "; ".join(f.message for f in transient))
        elif progressing is not None and progressing.get("status") == "True":
            reconciling = (str(progressing.get("reason")), str(progressing.get("message", "")))
        elif ready is not None and ready.get("status") != "True" and ready.get("reason") != "Suspended":
            reconciling = (str(ready.get("reason")), str(ready.get("message", "")))
        elif gate and run.get("phase") in ("Pending", "Running"):
            why = "BenchmarkPending" if run["phase"] == "Pending" else "BenchmarkRunning"
            reconciling = (why, f"{run_name} gates this resource and is {run['phase'].lower()}")

    fresh = [
        condition("Stalled", True, *stalled, generation)
        if stalled
        else condition("Stalled", False, "AsExpected", "", generation),
        condition("Reconciling", True, *reconciling, generation)
        if reconciling
        else condition("Reconciling", False, "Reconciled", "", generation),
    ]
    return merge_conditions(conditions, fresh, now)


def typed_status(status: dict[str, Any]) -> dict[str, Any]:
    """``status`` checked against :class:`ModelVisualizerStatus` and written back as it serializes it.

    Unknown keys and wrong types raise (pydantic's ValidationError), where the API server would prune them without a
    word. Keys given as None stay (a merge patch deletes them), keys not given stay absent.
    """
    return ModelVisualizerStatus.model_validate(status).model_dump(by_alias=True, exclude_unset=True)
