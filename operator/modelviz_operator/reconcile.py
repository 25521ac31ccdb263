"""One reconcile of a ModelVisualizer: apply its children, then write the status derived from them.

Whatever the API server refuses ends in the status (see :mod:`modelviz_operator.failures`): a condition with the
server's message, one Warning Event and one log line per distinct failure, a retry with backoff when waiting may
help, and none in a loop when it cannot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from . import kube, metrics
from .api import CATALOG_DATASETS, CATALOG_MODELS, ModelVisualizerSpec, spec_from
from .builders import Owner, build_children, ingress_url
from .failures import Backoff, Failure, classify, is_api_failure
from .status import (
    Problem,
    condition,
    derive_status,
    failure_conditions,
    gitops_conditions,
    merge_conditions,
    now_iso,
    selector_string,
)

__all__ = ["EventSink", "find_problems", "reconcile", "status_patch"]

log = logging.getLogger(__name__)

# (body, type, reason, message): posts a Kubernetes Event on the resource (kopf.event in the operator).
EventSink = Callable[[dict[str, Any], str, str, str], None]

_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()
_backoff = Backoff()
# The failures last logged per resource: one log line per change, not per retry (also while the API is away and
# the status cannot be written).
_logged: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}


def _lock_for(namespace: str, name: str) -> threading.Lock:
    # Child events, timers and spec changes may reconcile one resource from several threads at once.
    with _locks_guard:
        return _locks.setdefault((namespace, name), threading.Lock())


def find_problems(spec: ModelVisualizerSpec, namespace: str, claim_exists: Callable[[str, str], bool]) -> list[Problem]:
    """What the schema cannot reject: unknown catalog names, claims that do not exist."""
    problems: list[Problem] = []
    for model in spec.models:
        if model.catalog and model.catalog not in CATALOG_MODELS:
            problems.append(
                Problem(
                    "UnknownCatalogModel",
                    f"spec.models[{model.name}].catalog: unknown model {model.catalog!r} "
                    f"(known: {', '.join(CATALOG_MODELS)})",
                )
            )
    if spec.dataset.catalog and spec.dataset.catalog not in CATALOG_DATASETS:
        problems.append(
            Problem(
                "UnknownCatalogDataset",
                f"spec.dataset.catalog: unknown dataset {spec.dataset.catalog!r} "
                f"(known: {', '.join(CATALOG_DATASETS)})",
            )
        )
    claims = [(f"spec.models[{m.name}].claimName", m.claim_name) for m in spec.models if m.claim_name]
    if spec.dataset.claim_name:
        claims.append(("spec.dataset.claimName", spec.dataset.claim_name))
    if spec.evaluation is not None and spec.evaluation.predictions_claim:
        claims.append(("spec.evaluation.predictionsClaim", spec.evaluation.predictions_claim))
    for field, claim in claims:
        if not claim_exists(namespace, claim):
            problems.append(
                Problem("MissingVolumeClaim", f"{field}: PersistentVolumeClaim {claim!r} not found in {namespace}")
            )
    return problems


def status_patch(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The merge patch turning ``current`` into ``wanted`` for the keys wanted names; empty when nothing changes.

    An object value replaces the current one whole (its keys that are gone become null), so a new benchmark run
    never shows a figure of the previous one.
    """
    patch: dict[str, Any] = {}
    for key, value in wanted.items():
        before = current.get(key)
        if before == value:
            continue
        if isinstance(value, dict) and isinstance(before, dict):
            patch[key] = {**{k: None for k in before if k not in value}, **value}
        else:
            patch[key] = value
    return patch


def _status_changed(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return bool(status_patch(current, wanted))


def _invalid(body: dict[str, Any], error: ValidationError, emit: EventSink) -> None:
    meta = body["metadata"]
    fields = "; ".join(
        f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
    )
    previous = (body.get("status") or {}).get("conditions") or []
    generation = int(meta.get("generation", 0))
    now = now_iso()
    conditions = merge_conditions(
        previous,
        [
            condition("Ready", False, "InvalidSpec", fields, generation),
            condition("Degraded", True, "InvalidSpec", fields, generation),
        ],
        now,
    )
    conditions = gitops_conditions(conditions, spec=None, benchmark=None, failures=[], generation=generation, now=now)
    if _status_changed(body.get("status") or {}, {"conditions": conditions}):
        emit(body, "Warning", "InvalidSpec", fields)
        kube.patch_status(meta["namespace"], meta["name"], {"observedGeneration": generation, "conditions": conditions})
    metrics.observe_status(meta["namespace"], meta["name"], {"conditions": conditions})


def reconcile(
    namespace: str, name: str, emit: EventSink, extra_status: Callable[..., dict[str, Any]] | None = None
) -> None:
    """Bring the children in line with the spec and write the status; safe to call any number of times."""
    started = time.monotonic()
    result = "ok"
    key = (namespace, name)
    failures: list[Failure] = []
    with _lock_for(namespace, name):
        try:
            failures = _reconcile_locked(namespace, name, emit, extra_status)
        except Exception as exc:
            if not is_api_failure(exc):
                result = "error"
                metrics.RECONCILE_ERRORS.labels(namespace, name, type(exc).__name__).inc()
                raise
            # Not even the resource or its status could be read or written (the API server is away).
            failures = [classify(exc, f"ModelVisualizer {namespace}/{name}")]
        finally:
            metrics.RECONCILES.labels(namespace, name, result).inc()
            metrics.RECONCILE_SECONDS.labels(namespace, name).observe(time.monotonic() - started)
    if failures and all(f.reason == "NamespaceTerminating" for f in failures):
        return  # the namespace and the resource are going away: no status, Event or log line for that
    for failure in failures:
        metrics.RECONCILE_ERRORS.labels(namespace, name, failure.reason).inc()
    _log_change(key, failures)
    if any(f.transient for f in failures):
        delay = _backoff.schedule(key, lambda: reconcile(namespace, name, emit, extra_status))
        if delay is not None:
            log.debug("%s/%s: retrying in %.0fs", namespace, name, delay)
    elif not failures:
        _backoff.reset(key)


def _log_change(key: tuple[str, str], failures: list[Failure]) -> None:
    """One line when the set of failures changes (and one when it clears), none per retry."""
    now = frozenset(f.key() for f in failures)
    before = _logged.get(key, frozenset())
    if now == before:
        return
    for failure in failures:
        if failure.key() not in before:
            kind = (
                "transient, retrying with backoff"
                if failure.transient
                else "permanent, retried only on a spec change or resync"
            )
            log.warning("%s/%s: %s (%s): %s", *key, failure.reason, kind, failure.message)
    if not now:
        log.info("%s/%s: recovered, the API server accepts every child", *key)
        _logged.pop(key, None)
    else:
        _logged[key] = now


def _reconcile_locked(
    namespace: str, name: str, emit: EventSink, extra_status: Callable[..., dict[str, Any]] | None
) -> list[Failure]:
    """One pass; returns what the API server refused (already written to status)."""
    # Read here, under the lock: a handler's body may be older than what other threads already wrote.
    body = kube.get_visualizer(namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        metrics.forget(namespace, name)
        return []
    owner = Owner.from_body(body)
    try:
        spec = spec_from(body)
    except ValidationError as error:
        _invalid(body, error, emit)
        return []
    generation = int(body["metadata"].get("generation", 0))
    current_status = body.get("status") or {}
    failures: list[Failure] = []

    children = build_children(owner, spec)
    live: dict[str, dict[str, Any] | None] = {}  # kind -> the object as the apply returned it (status included)
    for manifest in children.apply:
        meta = manifest["metadata"]
        what = f"{manifest['kind']} {meta['name']}"
        try:
            before = kube.get(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
            after = live[manifest["kind"]] = kube.apply(manifest)
        except Exception as exc:
            if not is_api_failure(exc):
                raise
            failures.append(classify(exc, what))
            # The children accepted earlier may still serve: the status describes them.
            live[manifest["kind"]] = _get_quietly(manifest)
            continue
        if before is None:
            emit(body, "Normal", "Created", f"Created {what}")
        elif before["metadata"].get("resourceVersion") != after["metadata"].get("resourceVersion"):
            emit(body, "Normal", "Updated", f"Updated {what}")
    for api_version, kind, child in children.absent:
        try:
            if kube.delete_owned(api_version, kind, owner.namespace, child, owner.uid):
                emit(body, "Normal", "Deleted", f"Deleted {kind} {child} (no longer needed)")
        except Exception as exc:
            if not is_api_failure(exc):
                raise
            failures.append(classify(exc, f"{kind} {child} (deleting)"))

    if failures and all(f.reason == "NamespaceTerminating" for f in failures):
        return failures  # the namespace is being deleted: the status would be gone with it
    problems = find_problems(spec, owner.namespace, kube.pvc_exists)
    pods = kube.list_objects("v1", "Pod", owner.namespace, selector_string(owner))
    previous_conditions = current_status.get("conditions") or []
    now = now_iso()
    status = derive_status(
        owner=owner,
        spec=spec,
        generation=generation,
        deployment=live.get("Deployment"),
        service=live.get("Service"),
        pods=pods,
        problems=problems,
        previous_conditions=previous_conditions,
        now=now,
    )
    status["conditions"] = failure_conditions(status["conditions"], failures, generation, now)
    # Behind an Ingress, the visualizer's URL is the Ingress's once its controller has given it an address.
    status["ingressUrl"] = ingress_url(spec, live.get("Ingress"))
    if status["ingressUrl"]:
        status["url"] = status["ingressUrl"]
    if extra_status is not None:
        try:
            status.update(
                extra_status(
                    owner=owner, spec=spec, body=body, status=status, deployment=live.get("Deployment"), emit=emit
                )
            )
        except Exception as exc:
            if not is_api_failure(exc):
                raise
            failures.append(classify(exc, "benchmark"))
    status["conditions"] = gitops_conditions(
        status["conditions"],
        spec=spec,
        benchmark=status.get("benchmark", current_status.get("benchmark")),
        failures=failures,
        generation=generation,
        now=now,
        evaluation=status.get("evaluation", current_status.get("evaluation")),
    )
    announced = _announce_failures(body, previous_conditions, failures, emit)
    _announce_transitions(body, previous_conditions, status["conditions"], emit, announced)
    patch = status_patch(current_status, status)
    if patch:
        kube.patch_status(owner.namespace, owner.name, patch)
    metrics.observe_status(owner.namespace, owner.name, {**current_status, **status})
    return failures


def _get_quietly(manifest: dict[str, Any]) -> dict[str, Any] | None:
    meta = manifest["metadata"]
    try:
        return kube.get(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
    except Exception as exc:
        if not is_api_failure(exc):
            raise
        return None


def _announce_failures(
    body: dict[str, Any], previous: list[dict[str, Any]], failures: list[Failure], emit: EventSink
) -> set[str]:
    """One Warning Event per distinct failure: those whose message the previous status did not carry yet."""
    shown = " ".join(str(c.get("message", "")) for c in previous)
    announced: set[str] = set()
    for failure in failures:
        if failure.message not in shown:
            emit(body, "Warning", failure.reason, failure.message)
        announced.add(failure.reason)
    return announced


def _announce_transitions(
    body: dict[str, Any],
    previous: list[dict[str, Any]],
    current: list[dict[str, Any]],
    emit: EventSink,
    announced: set[str] | None = None,
) -> None:
    """One Event per condition change (not per reconcile), so `kubectl describe` tells the story."""
    before = {(c.get("type"), c.get("status"), c.get("reason")) for c in previous}
    for cond in current:
        if (cond["type"], cond["status"], cond["reason"]) in before:
            continue
        if cond["type"] == "Degraded" and cond["status"] == "True" and cond["reason"] not in (announced or set()):
            emit(body, "Warning", cond["reason"], cond["message"])
        elif cond["type"] == "Ready" and cond["status"] == "True" and previous:
            emit(body, "Normal", "Ready", cond["message"])
