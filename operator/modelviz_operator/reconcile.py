"""One reconcile of a ModelVisualizer: apply its children, then write the status derived from them."""

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
from .status import Problem, condition, derive_status, merge_conditions, now_iso, selector_string

__all__ = ["EventSink", "find_problems", "reconcile"]

log = logging.getLogger(__name__)

# (body, type, reason, message): posts a Kubernetes Event on the resource (kopf.event in the operator).
EventSink = Callable[[dict[str, Any], str, str, str], None]

_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


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
    for field, claim in claims:
        if not claim_exists(namespace, claim):
            problems.append(
                Problem("MissingVolumeClaim", f"{field}: PersistentVolumeClaim {claim!r} not found in {namespace}")
            )
    return problems


def _status_changed(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return any(current.get(key) != value for key, value in wanted.items())


def _invalid(body: dict[str, Any], error: ValidationError, emit: EventSink) -> None:
    meta = body["metadata"]
    fields = "; ".join(
        f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
    )
    previous = (body.get("status") or {}).get("conditions") or []
    generation = int(meta.get("generation", 0))
    conditions = merge_conditions(
        previous,
        [
            condition("Ready", False, "InvalidSpec", fields, generation),
            condition("Degraded", True, "InvalidSpec", fields, generation),
        ],
        now_iso(),
    )
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
    with _lock_for(namespace, name):
        try:
            _reconcile_locked(namespace, name, emit, extra_status)
        except Exception as exc:
            result = "error"
            metrics.RECONCILE_ERRORS.labels(namespace, name, type(exc).__name__).inc()
            raise
        finally:
            metrics.RECONCILES.labels(namespace, name, result).inc()
            metrics.RECONCILE_SECONDS.labels(namespace, name).observe(time.monotonic() - started)


def _reconcile_locked(
    namespace: str, name: str, emit: EventSink, extra_status: Callable[..., dict[str, Any]] | None
) -> None:
    # Read here, under the lock: a handler's body may be older than what other threads already wrote.
    body = kube.get_visualizer(namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        metrics.forget(namespace, name)
        return
    owner = Owner.from_body(body)
    try:
        spec = spec_from(body)
    except ValidationError as error:
        _invalid(body, error, emit)
        return
    generation = int(body["metadata"].get("generation", 0))
    current_status = body.get("status") or {}

    children = build_children(owner, spec)
    live: dict[str, dict[str, Any]] = {}  # kind -> the object as the apply returned it (status included)
    for manifest in children.apply:
        meta = manifest["metadata"]
        before = kube.get(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
        after = live[manifest["kind"]] = kube.apply(manifest)
        if before is None:
            emit(body, "Normal", "Created", f"Created {manifest['kind']} {meta['name']}")
        elif before["metadata"].get("resourceVersion") != after["metadata"].get("resourceVersion"):
            emit(body, "Normal", "Updated", f"Updated {manifest['kind']} {meta['name']}")
    for api_version, kind, name in children.absent:
        if kube.delete_owned(api_version, kind, owner.namespace, name, owner.uid):
            emit(body, "Normal", "Deleted", f"Deleted {kind} {name} (no longer needed)")

    problems = find_problems(spec, owner.namespace, kube.pvc_exists)
    pods = kube.list_objects("v1", "Pod", owner.namespace, selector_string(owner))
    previous_conditions = current_status.get("conditions") or []
    status = derive_status(
        owner=owner,
        spec=spec,
        generation=generation,
        deployment=live.get("Deployment"),
        service=live.get("Service"),
        pods=pods,
        problems=problems,
        previous_conditions=previous_conditions,
    )
    # Behind an Ingress, the visualizer's URL is the Ingress's once its controller has given it an address.
    status["ingressUrl"] = ingress_url(spec, live.get("Ingress"))
    if status["ingressUrl"]:
        status["url"] = status["ingressUrl"]
    if extra_status is not None:
        status.update(
            extra_status(owner=owner, spec=spec, body=body, status=status, deployment=live.get("Deployment"), emit=emit)
        )
    _announce_transitions(body, previous_conditions, status["conditions"], emit)
    if _status_changed(current_status, status):
        kube.patch_status(owner.namespace, owner.name, status)
    metrics.observe_status(owner.namespace, owner.name, {**current_status, **status})


def _announce_transitions(
    body: dict[str, Any], previous: list[dict[str, Any]], current: list[dict[str, Any]], emit: EventSink
) -> None:
    """One Event per condition change (not per reconcile), so `kubectl describe` tells the story."""
    before = {(c.get("type"), c.get("status"), c.get("reason")) for c in previous}
    for cond in current:
        if (cond["type"], cond["status"], cond["reason"]) in before:
            continue
        if cond["type"] == "Degraded" and cond["status"] == "True":
            emit(body, "Warning", cond["reason"], cond["message"])
        elif cond["type"] == "Ready" and cond["status"] == "True" and previous:
            emit(body, "Normal", "Ready", cond["message"])
