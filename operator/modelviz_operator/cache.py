"""Reads of children, Jobs and pods served from a cache the operator's watches keep, instead of the API.

kopf already watches every child kind (to reconcile the owner on drift); each of those events also updates this
cache (:meth:`CachedApi.observe`), which keeps the latest copy of each object by name and by owner
(``app.kubernetes.io/instance``) and, for pods, by ``job-name``. A reconcile then needs no GET before each apply and
no pod LIST: in steady state it sends one request (the ModelVisualizer itself, see reconcile.py).

Why not kopf's own indexes: kopf holds back every handler until every index has finished its first listing, so one
child kind the operator may not list (a Role without PodDisruptionBudgets) would stop it from reconciling anything,
where the refusal belongs in that resource's status.

When the cache can answer "there is none": a namespace's objects of a kind are listed from the API once, on the
first question about them (a refusal then reaches the reconcile and its status as it would without a cache); from
then on the watch events keep them current. A copy older than the API's only delays a decision: the event that
brings the newer copy also triggers the next reconcile. An object missing from the cache is still looked up with a
GET (it may have been created a moment ago; a benchmark Job that seems gone must really be gone before its run is
failed).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from .constants import INSTANCE_LABEL, JOB_NAME_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from .ports import KubeApi

__all__ = ["CachedApi", "cached_copy"]

_BY_SELECTOR = (INSTANCE_LABEL, JOB_NAME_LABEL)
_MANAGED = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
_TOMBSTONES = 4096  # uids of recently deleted objects, so that a listing older than their deletion cannot revive them


def cached_copy(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the cache keeps of an object: no managedFields; of a pod only metadata and status (the rest is big)."""
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    kept = ("apiVersion", "kind", "status") if body.get("kind") == "Pod" else ("apiVersion", "kind", "spec", "status")
    copy: dict[str, Any] = {k: body[k] for k in kept if k in body}
    copy["metadata"] = meta
    if "data" in body:
        copy["data"] = body["data"]
    return copy


def _version(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:  # opaque to clients in principle; etcd revisions in practice
        return 0


def _parse(selector: str) -> dict[str, str] | None:
    """An equality selector as a dict; None for anything else (set-based, !=), which goes to the API."""
    wanted: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in selector.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key.endswith("!") or value.startswith("="):
            return None
        wanted[key.strip()] = value.strip()
    return wanted


class CachedApi:
    """A :class:`KubeApi` reading the watched kinds from the cache, everything else (and all writes) from ``api``."""

    def __init__(self, api: KubeApi, kinds: Mapping[str, str]) -> None:
        """``kinds``: kind -> apiVersion of the kinds whose watch events reach :meth:`observe`."""
        self.api = api
        self.kinds = dict(kinds)
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, namespace, name) -> copy
        self._by_label: dict[tuple[str, str, str, str], set[str]] = {}  # (kind, label, namespace, value) -> names
        self._listed: set[tuple[str, str]] = set()  # (kind, namespace) complete in the cache
        self._deleted: dict[str, None] = {}  # recently deleted uids, oldest first

    # -- fed by the watches ------------------------------------------------------------------------------------

    def observe(self, event: str | None, body: Mapping[str, Any]) -> None:
        """One watch event of a watched kind (kopf's ``type``: None while listing, ADDED, MODIFIED, DELETED)."""
        kind = str(body.get("kind") or "")
        if kind not in self.kinds:
            return
        with self._lock:
            if event == "DELETED":
                self._drop(kind, body)
                uid = str((body.get("metadata") or {}).get("uid") or "")
                self._deleted[uid] = None
                while len(self._deleted) > _TOMBSTONES:
                    del self._deleted[next(iter(self._deleted))]
            else:
                self._put(kind, cached_copy(body))

    def _put(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        key = (kind, str(meta.get("namespace") or ""), str(meta.get("name")))
        current = self._objects.get(key)
        if current is not None and _version(current) > _version(obj):
            return  # an older copy (a listing that raced a watch event)
        if current is not None:
            self._unlabel(kind, current)
        self._objects[key] = obj
        labels = meta.get("labels") or {}
        for label in _BY_SELECTOR:
            if labels.get(label):
                self._by_label.setdefault((kind, label, key[1], str(labels[label])), set()).add(key[2])

    def _drop(self, kind: str, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        current = self._objects.pop((kind, str(meta.get("namespace") or ""), str(meta.get("name"))), None)
        if current is not None:
            self._unlabel(kind, current)

    def _unlabel(self, kind: str, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        for label in _BY_SELECTOR:
            if labels.get(label):
                key = (kind, label, str(meta.get("namespace") or ""), str(labels[label]))
                names = self._by_label.get(key)
                if names is not None:
                    names.discard(str(meta.get("name")))
                    if not names:
                        del self._by_label[key]

    def _ensure_listed(self, kind: str, namespace: str) -> None:
        """The first question about a namespace's objects of a kind: list them once (refusals reach the caller)."""
        with self._lock:
            if (kind, namespace) in self._listed:
                return
        items = self.api.list_objects(self.kinds[kind], kind, namespace, _MANAGED)
        with self._lock:
            for item in items:
                if str((item.get("metadata") or {}).get("uid") or "") not in self._deleted:
                    self._put(kind, cached_copy({"kind": kind, **item}))
            self._listed.add((kind, namespace))

    # -- the KubeApi -------------------------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if kind in self.kinds:
            with self._lock:
                found = self._objects.get((kind, namespace, name))
            if found is not None:
                return found
        return self.api.get(api_version, kind, namespace, name)

    def list_objects(self, api_version: str, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        wanted = _parse(selector)
        by = next((label for label in _BY_SELECTOR if wanted and label in wanted), None)
        if kind not in self.kinds or wanted is None or by is None:
            return self.api.list_objects(api_version, kind, namespace, selector)
        self._ensure_listed(kind, namespace)
        with self._lock:
            names = sorted(self._by_label.get((kind, by, namespace, wanted[by]), ()))
            candidates = [self._objects[(kind, namespace, n)] for n in names]
        return [
            obj
            for obj in candidates
            if all(((obj.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return self.api.apply(manifest)

    def delete_owned(self, api_version: str, kind: str, namespace: str, name: str, owner_uid: str) -> bool:
        # Not in a complete cache: nothing to delete (the optional children a spec does not ask for, every pass).
        if kind in self.kinds:
            self._ensure_listed(kind, namespace)
            with self._lock:
                if (kind, namespace, name) not in self._objects:
                    return False
        return self.api.delete_owned(api_version, kind, namespace, name, owner_uid)

    def get_visualizer(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.api.get_visualizer(namespace, name)

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.api.patch_status(namespace, name, status)

    def pvc_exists(self, namespace: str, name: str) -> bool:
        return self.api.pvc_exists(namespace, name)
