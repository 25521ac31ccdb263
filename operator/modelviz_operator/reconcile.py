"""One reconcile of a ModelVisualizer: apply its children, then write the status derived from them.

Whatever the API server refuses ends in the status (see :mod:`modelviz_operator.failures`): a condition with the
server's message, one Warning Event and one log line per distinct failure, a retry with backoff when waiting may
help, and none in a loop when it cannot.

Requests for one resource go through a :class:`~modelviz_operator.workqueue.WorkQueue` (one pass in flight, the
rest coalesced into one more). The API is what the caller passes (:class:`~modelviz_operator.ports.KubeApi`): the
operator's reads of children and pods come from its watch caches, so a pass in steady state sends one request (the
resource itself) and writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

from pydantic import ValidationError

from . import metrics
from .api import CATALOG_DATASETS, CATALOG_MODELS, ModelVisualizerSpec, spec_from
from .builders import Owner, build_children, ingress_url
from .builders._common import content_hash
from .failures import Backoff, Failure, classify, is_api_failure
from .ports import KubeApi
from .status import (
    Problem,
    condition,
    derive_status,
    failure_conditions,
    gitops_conditions,
    merge_conditions,
    now_iso,
    selector_string,
    typed_status,
)
from .workqueue import WorkQueue

__all__ = ["EventSink", "find_problems", "forget", "reconcile", "status_patch"]

log = logging.getLogger(__name__)

# (body, type, reason, message): posts a Kubernetes Event on the resource (kopf.event in the operator).
EventSink = Callable[[dict[str, Any], str, str, str], None]

Key = tuple[str, str]

# Child events, timers, retries and spec changes may ask for a reconcile of one resource from several threads at once.
_queue = WorkQueue()
_backoff = Backoff()
# The failures last logged per resource: one log line per change, not per retry (also while the API is away and
# the status cannot be written).
_logged: dict[Key, frozenset[tuple[str, str]]] = {}


class _Applied(NamedTuple):
    """A child as this process last applied it: the manifest's hash and the object's identity and version."""

    digest: str
    uid: str
    resource_version: str


# Per resource, per child kind. An apply is skipped while the child's cached version is still the one the last apply
# returned and the manifest is unchanged: then the apply could not change anything. A hand edit, a deletion or a
# controller's write moves the version, and the next pass applies again (reverting drift). Entries go with their
# resource (forget), and a restarted operator starts empty, so it applies everything once.
_applied: dict[Key, dict[str, _Applied]] = {}

# Kinds with a status subresource that their controller writes often (a Deployment's on every pod change): for
# them the "version" is metadata.generation (moved by any spec write, a hand edit or a scale included) plus the
# metadata the operator sets, so status writes alone skip the apply while hand edits are still reverted.
_STATUS_KINDS = frozenset({"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress"})
# Applies of one pass run side by side (each waits on the API server, not on the CPU); ConfigMaps first, since the
# Deployment's pods read them from the moment they start.
_FIRST = frozenset({"ConfigMap"})
_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="apply")


def forget(namespace: str, name: str) -> None:
    """Drop everything held for a resource that is gone (its metrics' gauges too)."""
    key = (namespace, name)
    _applied.pop(key, None)
    _logged.pop(key, None)
    _backoff.reset(key)
    metrics.forget(namespace, name)


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


def _invalid(api: KubeApi, body: dict[str, Any], error: ValidationError, emit: EventSink) -> None:
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
    wanted = typed_status({"observedGeneration": generation, "conditions": conditions})
    if _status_changed(body.get("status") or {}, {"conditions": wanted["conditions"]}):
        emit(body, "Warning", "InvalidSpec", fields)
        api.patch_status(meta["namespace"], meta["name"], wanted)
    metrics.observe_status(meta["namespace"], meta["name"], {"conditions": conditions})


def reconcile(
    namespace: str,
    name: str,
    emit: EventSink,
    extra_status: Callable[..., dict[str, Any]] | None = None,
    *,
    api: KubeApi,
) -> bool:
    """Bring the children in line with the spec and write the status; safe to call any number of times.

    Never waits for another reconcile of the same resource: if one is running, this request marks it dirty and
    returns False at once, and the running one makes exactly one more pass when it ends (see WorkQueue).
    """
    try:
        ran = _queue.run((namespace, name), lambda: _pass(api, namespace, name, emit, extra_status))
    except Exception:
        # The requests folded into the pass that raised would be lost with it (kopf retries neither event handlers
        # nor what they queued), so the resource is tried again with backoff whoever asked.
        _backoff.schedule((namespace, name), lambda: reconcile(namespace, name, emit, extra_status, api=api))
        raise
    if not ran:
        metrics.COALESCED.labels(namespace, name).inc()
    metrics.IN_FLIGHT.set(len(_queue))
    return ran


def _pass(
    api: KubeApi, namespace: str, name: str, emit: EventSink, extra_status: Callable[..., dict[str, Any]] | None
) -> None:
    """One reconcile with its metrics, failure log lines and retry."""
    started = time.monotonic()
    result = "ok"
    key = (namespace, name)
    failures: list[Failure] = []
    metrics.IN_FLIGHT.set(len(_queue))
    try:
        failures = _reconcile_once(api, namespace, name, emit, extra_status)
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
        delay = _backoff.schedule(key, lambda: reconcile(namespace, name, emit, extra_status, api=api))
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


def _reconcile_once(
    api: KubeApi, namespace: str, name: str, emit: EventSink, extra_status: Callable[..., dict[str, Any]] | None
) -> list[Failure]:
    """One pass; returns what the API server refused (already written to status)."""
    # The one read that stays a GET, not a cached copy: the status is diffed against it and condition changes are
    # announced from it, so a copy that has not seen the previous pass's status write yet would repeat Events.
    body = api.get_visualizer(namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        forget(namespace, name)
        return []
    owner = Owner.from_body(body)
    try:
        spec = spec_from(body)
    except ValidationError as error:
        _invalid(api, body, error, emit)
        return []
    generation = int(body["metadata"].get("generation", 0))
    current_status = body.get("status") or {}
    failures: list[Failure] = []

    children = build_children(owner, spec)
    live: dict[str, dict[str, Any] | None] = {}  # kind -> the object as stored (status included)
    applied = _applied.setdefault((namespace, name), {})
    first = [m for m in children.apply if m["kind"] in _FIRST]
    rest = [m for m in children.apply if m["kind"] not in _FIRST]
    done = _apply_all(api, first, applied) + _apply_all(api, rest, applied)
    for manifest, outcome in zip(first + rest, done, strict=True):
        meta = manifest["metadata"]
        kind = manifest["kind"]
        what = f"{kind} {meta['name']}"
        digest = content_hash(manifest)
        record = applied.get(kind)
        try:
            if isinstance(outcome, BaseException):
                raise outcome
            before, after, skipped = outcome
            live[kind] = after
            if skipped:
                continue  # unchanged since this process applied it: applying again changes nothing
        except Exception as exc:
            if not is_api_failure(exc):
                raise
            applied.pop(kind, None)
            failures.append(classify(exc, what))
            # The children accepted earlier may still serve: the status describes them.
            live[kind] = _get_quietly(api, manifest)
            continue
        applied[kind] = _Applied(digest, *_identity(after, manifest))
        # Known versions: the cached copy's and the last apply's (the cache may not have seen that one yet).
        known = [_identity(before, manifest)] if before is not None else []
        if record is not None:
            known.append((record.uid, record.resource_version))
        if _identity(after, manifest)[0] not in {uid for uid, _ in known}:
            emit(body, "Normal", "Created", f"Created {what}")
        elif _identity(after, manifest) not in known:
            emit(body, "Normal", "Updated", f"Updated {what}")
    for api_version, kind, child in children.absent:
        applied.pop(kind, None)
        try:
            if api.delete_owned(api_version, kind, owner.namespace, child, owner.uid):
                emit(body, "Normal", "Deleted", f"Deleted {kind} {child} (no longer needed)")
        except Exception as exc:
            if not is_api_failure(exc):
                raise
            failures.append(classify(exc, f"{kind} {child} (deleting)"))

    if failures and all(f.reason == "NamespaceTerminating" for f in failures):
        return failures  # the namespace is being deleted: the status would be gone with it
    problems = find_problems(spec, owner.namespace, api.pvc_exists)
    pods = api.list_objects("v1", "Pod", owner.namespace, selector_string(owner))
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
                    owner=owner,
                    spec=spec,
                    body=body,
                    status=status,
                    deployment=live.get("Deployment"),
                    emit=emit,
                    api=api,
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
    # Through the typed model: a misspelt key or a wrong type fails here (and in the unit tests), instead of being
    # pruned silently by the API server's structural schema.
    status = typed_status(status)
    announced = _announce_failures(body, previous_conditions, failures, emit)
    _announce_transitions(body, previous_conditions, status["conditions"], emit, announced)
    patch = status_patch(current_status, status)
    if patch:
        api.patch_status(owner.namespace, owner.name, patch)
    metrics.observe_status(owner.namespace, owner.name, {**current_status, **status})
    return failures


def _identity(obj: dict[str, Any], manifest: dict[str, Any]) -> tuple[str, str]:
    """(uid, version): the resourceVersion, or for _STATUS_KINDS what a write other than the status changes."""
    meta = obj.get("metadata") or {}
    uid = str(meta.get("uid") or "")
    if manifest["kind"] not in _STATUS_KINDS or "generation" not in meta:
        return uid, str(meta.get("resourceVersion") or "")
    wanted = manifest["metadata"]
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    ours = (
        [(k, labels.get(k)) for k in sorted(wanted.get("labels") or {})],
        [(k, annotations.get(k)) for k in sorted(wanted.get("annotations") or {})],
        [(r.get("uid"), r.get("controller")) for r in meta.get("ownerReferences") or []],
    )
    return uid, f"g{meta['generation']}:{ours!r}"


_Outcome = tuple[dict[str, Any] | None, dict[str, Any], bool]


def _apply_child(api: KubeApi, manifest: dict[str, Any], record: _Applied | None) -> _Outcome:
    """(the cached copy, the object as stored, whether the apply was skipped); API failures raise."""
    meta = manifest["metadata"]
    before = api.get(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])  # the watch cache
    if before is not None and record == _Applied(content_hash(manifest), *_identity(before, manifest)):
        return before, before, True
    return before, api.apply(manifest), False


def _apply_all(
    api: KubeApi, manifests: list[dict[str, Any]], applied: dict[str, _Applied]
) -> list[_Outcome | BaseException]:
    """Each manifest's outcome (or what it raised), in order; the applies run side by side."""
    futures: list[Future[_Outcome] | None] = []
    for manifest in manifests:
        try:
            futures.append(_pool.submit(_apply_child, api, manifest, applied.get(manifest["kind"])))
        except RuntimeError:  # the interpreter is exiting and the pool takes no more work: this thread applies it
            futures.append(None)
    outcomes: list[_Outcome | BaseException] = []
    for manifest, future in zip(manifests, futures, strict=True):
        if future is None:
            try:
                outcomes.append(_apply_child(api, manifest, applied.get(manifest["kind"])))
            except Exception as exc:
                outcomes.append(exc)
            continue
        error = future.exception()
        outcomes.append(error if error is not None else future.result())
    return outcomes


def _get_quietly(api: KubeApi, manifest: dict[str, Any]) -> dict[str, Any] | None:
    meta = manifest["metadata"]
    try:
        return api.get(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
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
