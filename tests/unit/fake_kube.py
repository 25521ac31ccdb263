"""An in-memory Kubernetes API for the operator logic (:class:`modelviz_operator.ports.KubeApi`).

Not a simulation of the API server, only what the logic relies on: server-side apply that persists nothing (and
keeps the resourceVersion) when the manifest changes nothing, resourceVersions and uids, a generation per spec
change, owner-checked deletes (dependents collected, as with propagationPolicy Background), merge patches of the
status, equality label selectors, and refusals injected per (verb, kind) as the ApiException the real client raises.
Every call is recorded, so tests count requests and writes. The real-cluster tests in tests/cluster cover the API
server itself.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from modelviz_operator.api import API_VERSION, KIND

__all__ = ["CHILD_KINDS", "FakeKube", "refusal"]

WRITES = ("apply", "delete", "patch-status")
# kind -> apiVersion of what the operator watches (handlers.CHILD_RESOURCES)
CHILD_KINDS = {
    "ConfigMap": "v1",
    "Service": "v1",
    "Pod": "v1",
    "Deployment": "apps/v1",
    "Job": "batch/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
    "Ingress": "networking.k8s.io/v1",
}
Key = tuple[str, str, str]  # kind, namespace, name


def refusal(code: int, message: str, reason: str = "") -> ApiException:
    """The exception the kubernetes client raises for an API server's refusal."""
    error = ApiException(status=code, reason=reason or "Refused")
    error.body = json.dumps({"kind": "Status", "code": code, "message": message, "reason": reason})
    return error


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386 merge patch: objects merge, null deletes, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _matches(obj: dict[str, Any], selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for part in filter(None, selector.split(",")):
        key, _, value = part.partition("=")
        if labels.get(key) != value:
            return False
    return True


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str]] = []  # (verb, kind, name)
        self.refuse: dict[tuple[str, str], BaseException] = {}  # (verb, kind) -> raised on that call
        self.on_call: Callable[[str, str, str], object] | None = None  # runs before each call (e.g. to block)
        # Watch events (type, object) of every change, as kopf hands them to the operator's event handlers.
        self.watchers: list[Callable[[str | None, dict[str, Any]], None]] = []
        self._versions = itertools.count(100)
        self._uids = itertools.count(1)
        self._lock = threading.Lock()

    # -- test helpers ----------------------------------------------------------------------------------------

    def _call(self, verb: str, kind: str, name: str) -> None:
        with self._lock:
            self.calls.append((verb, kind, name))
        if self.on_call is not None:
            self.on_call(verb, kind, name)
        refused = self.refuse.get((verb, kind))
        if refused is not None:
            raise refused

    def _stamp(self, obj: dict[str, Any], event: str = "MODIFIED") -> None:
        obj["metadata"]["resourceVersion"] = str(next(self._versions))
        self._emit(event, obj)

    def _emit(self, event: str, obj: dict[str, Any]) -> None:
        for watcher in self.watchers:
            watcher(event, copy.deepcopy(obj))

    def writes(self) -> list[tuple[str, str, str]]:
        return [c for c in self.calls if c[0] in WRITES]

    def reset_calls(self) -> None:
        self.calls.clear()

    def add_visualizer(self, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        obj = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name, "namespace": namespace, "generation": 1, "uid": f"uid-{next(self._uids)}"},
            "spec": copy.deepcopy(spec),
        }
        self._stamp(obj)
        self.objects[(KIND, namespace, name)] = obj
        return obj

    def set_spec(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        obj = self.objects[(KIND, namespace, name)]
        obj["spec"] = copy.deepcopy(spec)
        obj["metadata"]["generation"] += 1
        self._stamp(obj)

    def status_of(self, namespace: str, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.objects[(KIND, namespace, name)].get("status") or {})

    def edit(self, kind: str, namespace: str, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        """A change by someone else (a hand edit, a controller's status write): a new resourceVersion, and a new
        generation when the spec changed (as the API server counts them)."""
        obj = self.objects[(kind, namespace, name)]
        spec = copy.deepcopy(obj.get("spec"))
        change(obj)
        if obj.get("spec") != spec and "generation" in obj["metadata"]:
            obj["metadata"]["generation"] += 1
        self._stamp(obj)

    def remove(self, kind: str, namespace: str, name: str) -> None:
        gone = self.objects.pop((kind, namespace, name), None)
        if gone is not None:
            self._emit("DELETED", gone)

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        """An object created by someone else (a pod of a Deployment or a Job, a claim)."""
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {}).setdefault("uid", f"uid-{next(self._uids)}")
        meta = obj["metadata"]
        self.objects[(obj["kind"], meta["namespace"], meta["name"])] = obj
        self._stamp(obj, "ADDED")
        return obj

    def settle_deployment(self, namespace: str, name: str) -> None:
        """What the Deployment controller reports once every replica of the current template is available."""

        def done(obj: dict[str, Any]) -> None:
            replicas = int(obj["spec"].get("replicas", 1))
            obj["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
            obj["status"] = {
                "observedGeneration": obj["metadata"]["generation"],
                "replicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
                "updatedReplicas": replicas,
                "conditions": [{"type": "Available", "status": "True"}],
            }

        self.edit("Deployment", namespace, name, done)

    # -- the KubeApi ------------------------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("get", kind, name)
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def list_objects(self, api_version: str, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        self._call("list", kind, selector)
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in sorted(self.objects.items())
            if k == kind and ns == namespace and _matches(obj, selector)
        ]

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = manifest["metadata"]
        self._call("apply", manifest["kind"], meta["name"])
        key = (manifest["kind"], meta["namespace"], meta["name"])
        current = self.objects.get(key)
        if current is None:
            obj = copy.deepcopy(manifest)
            obj["metadata"]["uid"] = f"uid-{next(self._uids)}"
            obj["metadata"]["generation"] = 1
            obj["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
            self.objects[key] = obj
            self._stamp(obj, "ADDED")
            return copy.deepcopy(obj)
        before = copy.deepcopy(current)
        for field in ("spec", "data"):
            if field in manifest:
                if field == "spec" and current.get("spec") != manifest["spec"]:
                    current["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
                current[field] = copy.deepcopy(manifest[field])
        for field in ("labels", "annotations", "ownerReferences"):
            if field in meta:
                current["metadata"][field] = copy.deepcopy(meta[field])
        if current != before:
            self._stamp(current)  # an apply that changes nothing persists nothing
        return copy.deepcopy(current)

    def delete_owned(self, api_version: str, kind: str, namespace: str, name: str, owner_uid: str) -> bool:
        self._call("get", kind, name)
        current = self.objects.get((kind, namespace, name))
        if current is None:
            return False
        if not any(r.get("uid") == owner_uid for r in current["metadata"].get("ownerReferences") or []):
            return False
        self._call("delete", kind, name)
        self.remove(kind, namespace, name)
        self._collect(namespace, str(current["metadata"].get("uid")))
        return True

    def _collect(self, namespace: str, uid: str) -> None:
        """The garbage collector after a delete with propagationPolicy Background (what kube.delete_owned sends):
        the dependents (a Job's pods) go too."""
        dependents = [
            key
            for key, obj in self.objects.items()
            if key[1] == namespace and any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])
        ]
        for kind, _, name in dependents:
            dependent_uid = str(self.objects[(kind, namespace, name)]["metadata"].get("uid"))
            self.remove(kind, namespace, name)
            self._collect(namespace, dependent_uid)

    def get_visualizer(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("get", KIND, name)
        found = self.objects.get((KIND, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self._call("patch-status", KIND, name)
        current = self.objects.get((KIND, namespace, name))
        if current is None:
            return
        before = copy.deepcopy(current)
        _merge(current.setdefault("status", {}), status)
        if current != before:
            self._stamp(current)

    def pvc_exists(self, namespace: str, name: str) -> bool:
        self._call("get", "PersistentVolumeClaim", name)
        return ("PersistentVolumeClaim", namespace, name) in self.objects
