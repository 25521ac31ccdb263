"""Model quality: one evaluation Job per evaluation hash (models, dataset, runId), its figures in
``status.evaluation`` and a ``QualityPassed`` condition against ``spec.evaluation.targets``.

As with the benchmark, what was started lives in the status (hash, jobName, phase), and the Job's name derives from
the hash, so a restarted operator follows the Job it started and never starts a second one. The verdict is computed
again from the stored figures on every reconcile, so changing only the targets takes effect without a new Job.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from ._jobs import (
    finished_condition,
    job_failure,
    job_pods,
    prune_finished,
    succeeded,
    termination_document,
    termination_message,
)
from .api import ModelQuality, ModelVisualizerSpec, QualityTargets
from .benchmark import benchmark_status
from .builders import Owner
from .builders.evaluation import build_evaluation_job, evaluation_hash, evaluation_job_name
from .constants import COMPONENT_LABEL, DEFAULT_BENCH_IMAGE, EVALUATION_COMPONENT, INSTANCE_LABEL
from .failures import classify, is_api_failure
from .ports import KubeApi
from .status import condition, merge_conditions, now_iso

__all__ = ["evaluation_status", "extra_status", "judge_quality", "quality_outcome"]

log = logging.getLogger(__name__)
_CONDITION = "QualityPassed"
# (spec name, figure, higher is better)
_CHECKS = (
    ("minTop1", "top1", True),
    ("minTop5", "top5", True),
    ("maxECE", "ece", False),
    ("minClassRecall", "worstClassRecall", True),
)
_MODEL_FIELDS = {field.alias or name for name, field in ModelQuality.model_fields.items()}
_LABELS = {"top1": "top-1", "top5": "top-5", "ece": "ECE", "worstClassRecall": "worst-class recall"}


def _missed(figures: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    missed = []
    for target, figure, higher in _CHECKS:
        if target not in thresholds:
            continue
        value, bound = figures.get(figure), thresholds[target]
        if value is None or (value < bound if higher else value > bound):
            where = "below" if higher else "above"
            shown = f"{value:.4g}" if isinstance(value, int | float) else "missing"
            extra = f" ({figures['worstClass']})" if figure == "worstClassRecall" and figures.get("worstClass") else ""
            missed.append(f"{_LABELS[figure]} {shown}{extra} {where} {target} {bound:g}")
    return missed


def judge_quality(
    targets: QualityTargets | None, evaluation: dict[str, Any]
) -> tuple[bool | None, str, str, dict[str, bool]]:
    """(passed, reason, message, passed per model) of an ended evaluation against the targets."""
    if evaluation.get("phase") != "Succeeded":
        why = evaluation.get("message") or evaluation.get("reason") or "no reason given"
        return False, "EvaluationFailed", f"evaluation failed: {why}", {}
    if targets is None:
        return None, "NoTargets", "no targets set", {}
    per_model: dict[str, bool] = {}
    problems: list[str] = []
    for figures in evaluation.get("models") or []:
        thresholds = targets.for_model(str(figures.get("name")))
        if not thresholds:
            continue
        missed = _missed(figures, thresholds)
        per_model[str(figures.get("name"))] = not missed
        problems += [f"model {figures.get('name')}: {m}" for m in missed]
    if problems:
        return False, "TargetMissed", "; ".join(problems), per_model
    best = _best(evaluation.get("models") or [])
    note = f" (best top-1 {best[1]:.4g}: {best[0]})" if best else ""
    return True, "TargetsMet", f"every model met its targets{note}", per_model


def _best(models: list[dict[str, Any]]) -> tuple[str, float] | None:
    scored = [(str(m["name"]), float(m["top1"])) for m in models if isinstance(m.get("top1"), int | float)]
    return max(scored, key=lambda s: s[1]) if scored else None


def _reporting_pod(pods: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str, dict[str, Any] | None]:
    """(pod, message, document) of the pod that reports: with an Indexed Job, the index that joined the slices (its
    document is complete), else one that names a failure, else the newest."""
    found = [(pod, message, termination_document(message)) for pod in pods for message in [termination_message(pod)]]

    def rank(item: tuple[dict[str, Any], str, dict[str, Any] | None]) -> int:
        doc = item[2]
        if doc is None:
            return 0
        if doc.get("complete", True) and doc.get("models"):
            return 3
        return 2 if not doc.get("ok") else 1

    if not found:
        return None, "", None
    return max(reversed(found), key=rank)


def _figures(reported: dict[str, Any]) -> dict[str, Any]:
    """A model's entry of the pod's document, reduced to what status.evaluation.models holds (ModelQuality): the
    document is the pod's output, and an unknown key or a wrong type must not stop the status from being written."""
    kept: dict[str, Any] = {"name": reported["name"][:253]}
    for key, value in reported.items():
        if key in _MODEL_FIELDS and key not in ("name", "passed"):
            try:
                ModelQuality.model_validate({"name": "x", key: value})
            except ValidationError:
                continue
            kept[key] = value
    return kept


def quality_outcome(job: dict[str, Any] | None, pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The evaluation's result once its Job has ended (or vanished); None while it runs. ``pods``: the Job's, oldest
    first."""
    if job is None:
        return {"phase": "Failed", "reason": "JobDeleted", "message": "the evaluation Job was deleted mid-run"}
    finished = finished_condition(job)
    if finished is None:
        return None
    pod, message, doc = _reporting_pod(pods)
    result: dict[str, Any] = {}
    if doc is not None and isinstance(doc.get("models"), list):
        named = [m for m in doc["models"] if isinstance(m, dict) and isinstance(m.get("name"), str)]
        result["models"] = [_figures(m) for m in named[:8]]
        if isinstance(doc.get("eceBins"), int):
            result["eceBins"] = doc["eceBins"]
        best = _best(result["models"])
        if best is not None:
            result["bestModel"], result["bestTop1"] = best
    if succeeded(finished) and doc is not None and doc.get("ok"):
        shown = ", ".join(
            f"{m['name']} {m['top1']:.1%}" for m in result.get("models", []) if isinstance(m.get("top1"), int | float)
        )
        result.update(phase="Succeeded", reason="Completed", message=f"top-1: {shown}"[:1024])
        return result
    broken = [m for m in result.get("models", []) if m.get("error")]
    if doc is not None and doc.get("error"):
        reason, text = "DatasetNotLoaded", f"dataset: {doc['error']}"
    elif broken:
        reason, text = "ModelNotLoaded", "; ".join(f"model {m['name']}: {m['error']}" for m in broken)
    else:
        reason, text = job_failure("evaluation", finished, doc, message, pod)
    result.update(phase="Failed", reason=reason, message=text[:1024])
    return result


# -- glue: reads and writes through the API ---------------------------------------------------------------------


def evaluation_status(
    *,
    owner: Owner,
    spec: ModelVisualizerSpec,
    body: dict[str, Any],
    status: dict[str, Any],
    emit: Any,
    api: KubeApi,
    **_: Any,
) -> dict[str, Any]:
    """Status fields for the evaluation (merged into the status the reconcile writes); reads and writes go through
    ``api``."""
    wanted = spec.evaluation
    if wanted is None:
        # Evaluation switched off: its figures and verdict leave the status (a stale column would mislead).
        kept = [c for c in status["conditions"] if c.get("type") != _CONDITION]
        if (body.get("status") or {}).get("evaluation") or len(kept) != len(status["conditions"]):
            return {"evaluation": None, "conditions": kept}
        return {}
    if spec.suspend:
        return {}
    current: dict[str, Any] = dict((body.get("status") or {}).get("evaluation") or {})
    digest = evaluation_hash(spec)
    generation = status["observedGeneration"]
    if current.get("hash") == digest and current.get("phase") in ("Succeeded", "Failed"):
        return _verdict(spec, body, status, current, emit, announce=False)
    if current.get("hash") == digest and current.get("phase") == "Running" and current.get("jobName"):
        name = current["jobName"]
        found = api.get("batch/v1", "Job", owner.namespace, name)
        # The pods (their termination messages hold the figures) are read only once the Job has ended.
        result = quality_outcome(found, job_pods(api, owner, name) if found and finished_condition(found) else [])
        if result is None:
            return {}
        ended = {**current, "completedAt": now_iso(), **result}
        kind = "Normal" if ended["phase"] == "Succeeded" else "Warning"
        emit(body, kind, f"Evaluation{ended['phase']}", f"evaluation {digest[:8]}: {ended.get('message', '')}")
        prune_finished(api, owner, EVALUATION_COMPONENT, wanted.keep_jobs, {name})
        return _verdict(spec, body, status, ended, emit, announce=True)
    # A new hash (or a start that did not get through): start its Job, or adopt the one a previous process started.
    manifest = build_evaluation_job(owner, spec, digest)
    name = evaluation_job_name(owner, digest)
    started = {"hash": digest, "runId": wanted.run_id, "phase": "Running", "jobName": name, "startedAt": now_iso()}
    try:
        _stop_others(api, owner, name)
        existing = api.get("batch/v1", "Job", owner.namespace, name)
        if existing is None:
            api.apply(manifest)
            emit(body, "Normal", "EvaluationStarted", f"Started evaluation {digest[:8]} as Job {name}")
        elif existing.get("metadata", {}).get("creationTimestamp"):
            started["startedAt"] = existing["metadata"]["creationTimestamp"]
    except Exception as exc:
        failure = classify(exc, f"Job {name}") if is_api_failure(exc) else None
        if failure is None or failure.transient:
            raise  # retried with backoff by the reconcile
        # Refused for good (quota, admission, RBAC): this evaluation cannot happen; it fails with the server's words.
        failed = {**started, "phase": "Failed", "reason": failure.reason, "message": failure.message[:1024]}
        failed.pop("jobName")
        failed["completedAt"] = now_iso()
        emit(body, "Warning", "EvaluationFailed", f"evaluation {digest[:8]}: {failed['message']}")
        return _verdict(spec, body, status, failed, emit, announce=True)
    started = {k: v for k, v in started.items() if v is not None}
    running = condition(_CONDITION, None, "Running", f"evaluation {digest[:8]} running", generation)
    return {"evaluation": started, "conditions": merge_conditions(status["conditions"], [running], now_iso())}


def _stop_others(api: KubeApi, owner: Owner, keep: str) -> None:
    """Delete evaluation Jobs of other hashes still running: their figures would be of models no longer asked for.
    Their pods go with them (the API's deletes propagate in the background, where a Job's default orphans them)."""
    selector = f"{INSTANCE_LABEL}={owner.name},{COMPONENT_LABEL}={EVALUATION_COMPONENT}"
    for job in api.list_objects("batch/v1", "Job", owner.namespace, selector):
        name = job["metadata"]["name"]
        if name != keep and finished_condition(job) is None:
            api.delete_owned("batch/v1", "Job", owner.namespace, name, owner.uid)


def _verdict(
    spec: ModelVisualizerSpec,
    body: dict[str, Any],
    status: dict[str, Any],
    evaluation: dict[str, Any],
    emit: Any,
    announce: bool,
) -> dict[str, Any]:
    """The ended evaluation with its verdict against the current targets; a Warning Event when a target is missed
    (once per new verdict, not per reconcile)."""
    targets = spec.evaluation.targets if spec.evaluation is not None else None
    passed, reason, message, per_model = judge_quality(targets, evaluation)
    evaluation = {k: v for k, v in evaluation.items() if v is not None and k != "passed"}
    if passed is not None:
        evaluation["passed"] = passed
    models = []
    for entry in evaluation.get("models") or []:
        model = {k: v for k, v in entry.items() if k != "passed"}
        if model["name"] in per_model:
            model["passed"] = per_model[model["name"]]
        models.append(model)
    evaluation["models"] = models
    if not evaluation["models"]:
        evaluation.pop("models")
    previous = next((c for c in status["conditions"] if c.get("type") == _CONDITION), None)
    fresh = condition(_CONDITION, passed, reason, message, status["observedGeneration"])
    changed = previous is None or (previous.get("status"), previous.get("message")) != ("False", message)
    # One Warning per new miss (an ended Job's failure was announced as EvaluationFailed already).
    if passed is False and changed and (reason == "TargetMissed" or not announce):
        emit(body, "Warning", "QualityTargetMissed" if reason == "TargetMissed" else reason, message)
    return {"evaluation": evaluation, "conditions": merge_conditions(status["conditions"], [fresh], now_iso())}


def extra_status(*, image: str = DEFAULT_BENCH_IMAGE, **kwargs: Any) -> dict[str, Any]:
    """The benchmark's status fields (its Jobs run ``image``), then the evaluation's (each sees the conditions the
    other wrote)."""
    updates = benchmark_status(**kwargs, image=image)
    status = {**kwargs["status"], **({"conditions": updates["conditions"]} if "conditions" in updates else {})}
    evaluated = evaluation_status(**{**kwargs, "status": status})
    return {**updates, **evaluated}
