"""What the benchmark and the evaluation share about their Jobs: when one has ended, its pod's termination message,
and pruning the finished ones beyond ``keepJobs``."""

from __future__ import annotations

import json
from typing import Any

from .builders import Owner
from .constants import COMPONENT_LABEL, INSTANCE_LABEL, JOB_NAME_LABEL
from .ports import KubeApi

__all__ = [
    "finished_condition",
    "job_failure",
    "job_pod",
    "job_pods",
    "prune_finished",
    "succeeded",
    "termination_document",
    "termination_message",
]


def finished_condition(job: dict[str, Any]) -> dict[str, Any] | None:
    """The condition saying the Job ended (Complete, SuccessCriteriaMet, Failed, FailureTarget), or None."""
    conditions = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []}
    return next(
        (
            c
            for t in ("Complete", "SuccessCriteriaMet", "Failed", "FailureTarget")
            if (c := conditions.get(t)) and c.get("status") == "True"
        ),
        None,
    )


def succeeded(finished: dict[str, Any]) -> bool:
    return finished.get("type") in ("Complete", "SuccessCriteriaMet")


def termination_message(pod: dict[str, Any] | None) -> str:
    for status in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated.get("message"):
            return str(terminated["message"])
    return ""


def termination_document(message: str) -> dict[str, Any] | None:
    """The JSON object a runner wrote as its termination message, or None."""
    if not message:
        return None
    try:
        parsed = json.loads(message)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def job_failure(
    what: str, finished: dict[str, Any], doc: dict[str, Any] | None, message: str, pod: dict[str, Any] | None
) -> tuple[str, str]:
    """Reason and message of a failed run whose runner said nothing more specific (``what``: "benchmark", ...)."""
    if finished.get("reason") == "DeadlineExceeded":
        return "DeadlineExceeded", finished.get("message") or "the Job ran past its deadline"
    if doc is None and message:
        return "UnparsableResult", f"the {what}'s output is not a result: {message[-300:]}"
    if pod is None:
        return "PodDeleted", finished.get("message") or f"the {what} pod disappeared mid-run"
    return finished.get("reason") or "JobFailed", finished.get("message") or f"the {what} Job failed"


def job_pods(api: KubeApi, owner: Owner, job_name: str) -> list[dict[str, Any]]:
    """The Job's pods, oldest first."""
    pods = api.list_objects("v1", "Pod", owner.namespace, f"{JOB_NAME_LABEL}={job_name}")
    pods.sort(key=lambda p: p.get("metadata", {}).get("creationTimestamp") or "")
    return pods


def job_pod(api: KubeApi, owner: Owner, job_name: str) -> dict[str, Any] | None:
    """The Job's newest pod."""
    pods = job_pods(api, owner, job_name)
    return pods[-1] if pods else None


def prune_finished(api: KubeApi, owner: Owner, component: str, keep_jobs: int, keep_names: set[str]) -> None:
    """Delete this owner's finished Jobs of one component beyond the newest ``keep_jobs`` (``keep_names`` stay); their
    pods go with them (the API's deletes propagate in the background)."""
    selector = f"{INSTANCE_LABEL}={owner.name},{COMPONENT_LABEL}={component}"
    jobs = api.list_objects("batch/v1", "Job", owner.namespace, selector)
    finished = [
        j
        for j in jobs
        if j["metadata"]["name"] not in keep_names
        and any(
            c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            for c in (j.get("status") or {}).get("conditions") or []
        )
    ]
    finished.sort(key=lambda j: j["metadata"].get("creationTimestamp") or "", reverse=True)
    for job in finished[max(0, keep_jobs - len(keep_names)) :]:
        api.delete_owned("batch/v1", "Job", owner.namespace, job["metadata"]["name"], owner.uid)
