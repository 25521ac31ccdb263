"""Benchmark runs: one Job per ``spec.benchmark.runId``, followed to a result in ``status.benchmark``.

What was started lives in the status (runId, jobName, phase), never only in memory, so a restarted operator picks
up where it was. The decisions are pure functions (:func:`next_step`, :func:`outcome`, :func:`judge`); the glue at
the bottom reads the Job and its pod and writes through the API it is given (:class:`modelviz_operator.ports.KubeApi`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from . import metrics
from ._jobs import (
    finished_condition,
    job_failure,
    job_pod,
    prune_finished,
    succeeded,
    termination_document,
    termination_message,
)
from .api import BenchmarkSpec, BenchmarkStatus, BenchmarkTargets, ModelVisualizerSpec
from .builders import Owner
from .builders.job import build_benchmark_job
from .constants import BENCHMARK_COMPONENT, DEFAULT_BENCH_IMAGE
from .failures import classify, is_api_failure
from .ports import KubeApi
from .status import condition, merge_conditions, now_iso

__all__ = ["HISTORY_LIMIT", "Step", "benchmark_status", "judge", "next_step", "outcome"]

log = logging.getLogger(__name__)
HISTORY_LIMIT = 10
_FIGURES = {
    "rps": "rps",
    "meanMs": "meanMs",
    "p50Ms": "p50Ms",
    "p90Ms": "p90Ms",
    "p99Ms": "p99Ms",
    "maxMs": "maxMs",
    "complete": "completeRequests",
    "failed": "failedRequests",
    "non2xx": "non2xxResponses",
    "scenario": "scenario",
}


@dataclass(frozen=True)
class Step:
    """What to do now: ``start`` a run, ``wait`` for the visualizer, ``follow`` the Job, or nothing."""

    action: Literal["none", "start", "wait", "follow"]
    run_id: str | None = None


def _run_id(spec: ModelVisualizerSpec, revision: str | None) -> str | None:
    bench = spec.benchmark
    if bench is None:
        return None
    if bench.on_rollout and revision:
        # Each completed rollout gets its own run, derived from the user's runId.
        return f"{bench.run_id}.rev{revision}"
    return bench.run_id


def next_step(
    spec: ModelVisualizerSpec,
    current: dict[str, Any] | None,
    history: list[dict[str, Any]],
    ready: bool,
    revision: str | None = None,
) -> Step:
    """Decide from the spec and the recorded runs; each runId runs at most once."""
    if spec.benchmark is None or spec.suspend:
        return Step("none")
    run_id = _run_id(spec, revision)
    if current and current.get("phase") in ("Pending", "Running"):
        if current.get("jobName"):
            return Step("follow", current["runId"])
        if current.get("runId") == run_id:
            return Step("start" if ready else "wait", run_id)
    if spec.benchmark.on_rollout and not revision:
        return Step("none")  # the next run waits for the rollout under way to complete
    seen = {r.get("runId") for r in [current or {}, *history]}
    if run_id in seen:
        return Step("none")
    return Step("start" if ready else "wait", run_id)


def judge(targets: BenchmarkTargets | None, result: dict[str, Any]) -> tuple[bool | None, str, str]:
    """(passed, reason, message) of a finished run against the targets."""
    if result.get("phase") != "Succeeded":
        return False, "RunFailed", f"run {result.get('runId')} failed: {result.get('message') or result.get('reason')}"
    if targets is None or (targets.min_rps is None and targets.max_p99_ms is None):
        return None, "NoTargets", "no targets set"
    missed = []
    rps, p99 = result.get("rps"), result.get("p99Ms")
    if targets.min_rps is not None and (rps is None or rps < targets.min_rps):
        missed.append(f"requests/s {rps} below minRps {targets.min_rps:g}")
    if targets.max_p99_ms is not None and (p99 is None or p99 > targets.max_p99_ms):
        missed.append(f"p99 {p99} ms above maxP99Ms {targets.max_p99_ms:g}")
    if missed:
        return False, "TargetMissed", "; ".join(missed)
    met = []
    if targets.min_rps is not None:
        met.append(f"{rps} requests/s >= {targets.min_rps:g}")
    if targets.max_p99_ms is not None:
        met.append(f"p99 {p99} ms <= {targets.max_p99_ms:g}")
    return True, "TargetsMet", ", ".join(met)


def outcome(job: dict[str, Any] | None, pod: dict[str, Any] | None, was_running: bool) -> dict[str, Any] | None:
    """The run's result once its Job has finished (or vanished); None while it still runs."""
    if job is None:
        if was_running:
            return {"phase": "Failed", "reason": "JobDeleted", "message": "the benchmark Job was deleted mid-run"}
        return None
    finished = finished_condition(job)
    if finished is None:
        return None
    message = termination_message(pod)
    doc = termination_document(message)
    result: dict[str, Any] = _figures(doc) if doc is not None else {}
    if succeeded(finished) and doc is not None and doc.get("ok"):
        result.update(phase="Succeeded", reason="Completed", message=_summary(result))
        return result
    if doc is not None and doc.get("reason"):
        reason, text = str(doc["reason"]), str(doc.get("message") or "")
    else:
        reason, text = job_failure("benchmark", finished, doc, message, pod)
    result.update(phase="Failed", reason=reason, message=text[:1024])
    return result


def _figures(doc: dict[str, Any]) -> dict[str, Any]:
    """The runner's figures that fit status.benchmark: the document is the pod's output, and a wrong type, NaN or an
    out-of-range number must not stop the status from being written (that figure is left out and logged)."""
    kept: dict[str, Any] = {}
    for source, target in _FIGURES.items():
        value = doc.get(source)
        if value is None:
            continue
        try:
            BenchmarkStatus.model_validate({"runId": "x", "phase": "Running", target: value})
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError("not a finite number")
            if isinstance(value, int | float) and value < 0:
                raise ValueError("negative")
        except (ValidationError, ValueError) as exc:
            log.warning("benchmark result: %s=%r left out (%s)", source, value, str(exc).splitlines()[0])
            continue
        kept[target] = value[:64] if isinstance(value, str) else value
    return kept


def _summary(result: dict[str, Any]) -> str:
    scenario = f"{result['scenario']}: " if result.get("scenario") else ""
    return (
        f"{scenario}{result.get('rps')} requests/s, p50 {result.get('p50Ms')} ms, p90 {result.get('p90Ms')} ms, "
        f"p99 {result.get('p99Ms')} ms, {result.get('failedRequests', 0)} failed"
    )


# -- glue: reads and writes through the API ---------------------------------------------------------------------


def _revision(deployment: dict[str, Any] | None, status: dict[str, Any]) -> str | None:
    """The Deployment's revision once its rollout has completed (for onRollout), else None."""
    progressing = next((c for c in status.get("conditions", []) if c["type"] == "Progressing"), None)
    if progressing is None or progressing.get("reason") != "Complete":
        return None
    revision = ((deployment or {}).get("metadata", {}).get("annotations") or {}).get(
        "deployment.kubernetes.io/revision"
    )
    return str(revision) if revision else None


def _prune(api: KubeApi, owner: Owner, bench: BenchmarkSpec, keep_names: set[str]) -> None:
    prune_finished(api, owner, BENCHMARK_COMPONENT, bench.keep_jobs, keep_names)


def benchmark_status(
    *,
    owner: Owner,
    spec: ModelVisualizerSpec,
    body: dict[str, Any],
    status: dict[str, Any],
    deployment: dict[str, Any] | None,
    emit: Any,
    api: KubeApi,
    image: str = DEFAULT_BENCH_IMAGE,
) -> dict[str, Any]:
    """Status fields for the benchmark (merged into the status the reconcile writes); ``image`` runs the Jobs."""
    previous = body.get("status") or {}
    current: dict[str, Any] | None = previous.get("benchmark")
    history: list[dict[str, Any]] = list(previous.get("benchmarkHistory") or [])
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status["conditions"])
    revision = _revision(deployment, status) if spec.benchmark and spec.benchmark.on_rollout else None
    step = next_step(spec, current, history, ready, revision)
    bench = spec.benchmark
    updates: dict[str, Any] = {}
    generation = status["observedGeneration"]
    if step.action == "wait" and bench is not None and step.run_id:
        if not current or current.get("runId") != step.run_id:
            updates["benchmark"] = {
                "runId": step.run_id,
                "phase": "Pending",
                "message": "waiting for the visualizer to become ready",
            }
    elif step.action == "start" and bench is not None and step.run_id:
        manifest = build_benchmark_job(owner, spec, bench, step.run_id, image)
        name = manifest["metadata"]["name"]
        try:
            # Once per run: the Job's name is the run's, so a restarted operator finds the Job it had started.
            if api.get("batch/v1", "Job", owner.namespace, name) is None:
                api.apply(manifest)
                emit(body, "Normal", "BenchmarkStarted", f"Started benchmark {step.run_id} as Job {name}")
        except Exception as exc:
            failure = classify(exc, f"Job {name}") if is_api_failure(exc) else None
            if failure is None or failure.transient:
                raise  # a transient refusal is retried with backoff by the reconcile
            # Refused for good (quota, admission, RBAC): this run cannot happen; it fails with the server's words.
            return _finish(
                api=api,
                owner=owner,
                bench=bench,
                body=body,
                status=status,
                history=history,
                emit=emit,
                finished={
                    "runId": step.run_id,
                    "scenario": bench.scenario,
                    "phase": "Failed",
                    "reason": failure.reason,
                    "message": failure.message[:1024],
                    "completedAt": now_iso(),
                },
                keep=set(),
            )
        # A new run replaces the object whole: no figure of the previous run stays beside the new runId.
        updates["benchmark"] = {
            "runId": step.run_id,
            "scenario": bench.scenario,
            "phase": "Running",
            "jobName": name,
            "startedAt": now_iso(),
        }
        updates["conditions"] = merge_conditions(
            status["conditions"],
            [condition("BenchmarkPassed", None, "Running", f"benchmark {step.run_id} running", generation)],
            now_iso(),
        )
    elif step.action == "follow" and current is not None:
        name = current["jobName"]
        found = api.get("batch/v1", "Job", owner.namespace, name)
        # The pod (its termination message holds the result) is read only once the Job has finished.
        pod = job_pod(api, owner, name) if found and finished_condition(found) else None
        result = outcome(found, pod, was_running=True)
        if result is not None:
            finished = {
                "runId": current["runId"],
                **({"scenario": current["scenario"]} if current.get("scenario") else {}),
                "jobName": name,
                "startedAt": current.get("startedAt"),
                "completedAt": now_iso(),
                **result,
            }
            return _finish(
                api=api,
                owner=owner,
                bench=bench,
                body=body,
                status=status,
                history=history,
                emit=emit,
                finished=finished,
                keep={name},
            )
    return updates


def _finish(
    *,
    api: KubeApi,
    owner: Owner,
    bench: BenchmarkSpec | None,
    body: dict[str, Any],
    status: dict[str, Any],
    history: list[dict[str, Any]],
    emit: Any,
    finished: dict[str, Any],
    keep: set[str],
) -> dict[str, Any]:
    """Status updates for a run that ended: its figures, its verdict, history, an Event, metrics, pruning."""
    generation = status["observedGeneration"]
    passed, reason, message = judge(bench.targets if bench else None, finished)
    finished = {k: v for k, v in finished.items() if v is not None}
    finished["passed"] = passed
    if passed is None:
        finished.pop("passed")
    updates: dict[str, Any] = {
        "benchmark": finished,
        "benchmarkHistory": [finished, *history][:HISTORY_LIMIT],
        "conditions": merge_conditions(
            status["conditions"],
            [condition("BenchmarkPassed", passed, reason, message, generation)],
            now_iso(),
        ),
    }
    kind = "Normal" if finished["phase"] == "Succeeded" and passed is not False else "Warning"
    emit(body, kind, f"Benchmark{finished['phase']}", f"{finished['runId']}: {finished['message']}; {message}")
    if finished.get("rps") is not None:
        metrics.BENCHMARK_RPS.labels(owner.namespace, owner.name).set(finished["rps"])
    if finished.get("p99Ms") is not None:
        metrics.BENCHMARK_P99.labels(owner.namespace, owner.name).set(finished["p99Ms"])
    if bench is not None:
        _prune(api, owner, bench, keep)
    return updates
