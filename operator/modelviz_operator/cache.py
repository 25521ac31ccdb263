"""Reads of children, Jobs and pods served from the operator's watch caches (kopf indexes) instead of the API.

kopf already watches every child kind (to reconcile the owner on drift); an index over those same watch streams
keeps the latest copy of each object, keyed by name, by owner (``app.kubernetes.io/instance``) and, for pods, by
``job-name``. A reconcile then needs no GET before each apply and no pod LIST: in steady state it sends one request
(the ModelVisualizer itself, see reconcile.py). kopf fills every index from a full LIST before it calls any handler,
so the cache is complete from the first reconcile on.

A cache may lag the API by an event. Where a lag could mislead, it is confirmed with the API: an object missing
from the cache is looked up with a GET (it may have been created a moment ago; a benchmark Job that seems gone
must really be gone before its run is failed). A cached copy that is older than the API's only delays a decision:
the event that brings the newer copy also triggers the next reconcile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from .constants import INSTANCE_LABEL, JOB_NAME_LABEL
from .ports import KubeApi

__all__ = ["CachedApi", "cached_copy", "index_keys"]

_BY_SELECTOR = (INSTANCE_LABEL, JOB_NAME_LABEL)


class Index(Protocol):
    """What is read of a kopf index: the values stored under a key (a kopf Store), or None."""

    def get(self, key: Any, /) -> Any: ...


def cached_copy(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the cache keeps of an object: no managedFields; of a pod only metadata and status (the rest is big)."""
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    kept = ("apiVersion", "kind", "status") if body.get("kind") == "Pod" else ("apiVersion", "kind", "spec", "status")
    copy: dict[str, Any] = {k: body[k] for k in kept if k in body}
    copy["metadata"] = meta
    if "data" in body:
        copy["data"] = body["data"]
    return copy


def index_keys(body: Mapping[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Index entries of one object: by name, and by the owner and Job labels it carries."""
    meta = body.get("metadata") or {}
    namespace, labels = str(meta.get("namespace") or ""), meta.get("labels") or {}
    copy = cached_copy(body)
    keys = {("name", namespace, str(meta.get("name"))): copy}
    for label in _BY_SELECTOR:
        if labels.get(label):
            keys[(label, namespace, str(labels[label]))] = copy
    return keys


def _values(store: Iterable[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if store is None:
        return []
    for _ in range(5):
        try:
            return list(store)
        except RuntimeError:  # kopf's event loop changed the store while this thread read it: read again
            continue
    return list(store)


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
    """A :class:`KubeApi` reading indexed kinds from kopf indexes, everything else (and all writes) from ``api``."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self._indexes: dict[str, Index] = {}  # kind -> kopf.Index

    def bind(self, kind: str, index: Index) -> None:
        """Serve ``kind`` from ``index`` (kopf hands its indexes to every handler; they stay the same objects)."""
        self._indexes[kind] = index

    def bound(self, kind: str) -> bool:
        return kind in self._indexes

    def _cached(self, kind: str, key: tuple[str, str, str]) -> list[dict[str, Any]]:
        return _values(self._indexes[kind].get(key))

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if kind in self._indexes:
            found = self._cached(kind, ("name", namespace, name))
            if found:
                return found[0]
        return self.api.get(api_version, kind, namespace, name)

    def list_objects(self, api_version: str, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        wanted = _parse(selector)
        by = next((label for label in _BY_SELECTOR if wanted and label in wanted), None)
        if kind not in self._indexes or wanted is None or by is None:
            return self.api.list_objects(api_version, kind, namespace, selector)
        candidates = self._cached(kind, (by, namespace, wanted[by]))
        return [
            obj
            for obj in candidates
            if all(((obj.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return self.api.apply(manifest)

    def delete_owned(self, api_version: str, kind: str, namespace: str, name: str, owner_uid: str) -> bool:
        # Not in the cache: nothing to delete (the optional children a spec does not ask for, every pass). One that
        # was created a moment ago and is not cached yet is deleted on the reconcile its own event triggers.
        if kind in self._indexes and not self._cached(kind, ("name", namespace, name)):
            return False
        return self.api.delete_owned(api_version, kind, namespace, name, owner_uid)

    def get_visualizer(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.api.get_visualizer(namespace, name)

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.api.patch_status(namespace, name, status)

    def pvc_exists(self, namespace: str, name: str) -> bool:
        return self.api.pvc_exists(namespace, name)
