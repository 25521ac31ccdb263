"""Names, labels and owner references shared by every generated object."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from ..api import API_VERSION, KIND

__all__ = [
    "APP_PORT",
    "CONFIG_HASH_ANNOTATION",
    "CONFIG_PATH",
    "FIELD_MANAGER",
    "MANAGED_BY",
    "RUN_AS_USER",
    "Owner",
    "container_security",
    "content_hash",
    "labels",
    "metadata",
    "pod_security",
    "selector_labels",
]

# Overridable so that two operator processes against one cluster (e.g. an RBAC proof) are told apart.
FIELD_MANAGER = os.environ.get("MODELVIZ_FIELD_MANAGER", "modelviz-operator")
MANAGED_BY = "modelviz-operator"
APP_PORT = 8501
CONFIG_DIR = "/etc/modelviz"
CONFIG_PATH = f"{CONFIG_DIR}/config.yaml"
CONFIG_HASH_ANNOTATION = "modelviz.io/config-hash"
RUN_AS_USER = 10001


def pod_security() -> dict[str, Any]:
    """The pod securityContext every generated pod runs with (restricted Pod Security Standard)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    """Every generated container's securityContext: no privilege, read-only root, no capabilities."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


@dataclass(frozen=True)
class Owner:
    """The ModelVisualizer that owns the generated objects."""

    name: str
    namespace: str
    uid: str

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Owner:
        meta = body["metadata"]
        return cls(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def selector_labels(owner: Owner, component: str = "visualizer") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "modelviz",
        "app.kubernetes.io/instance": owner.name,
        "app.kubernetes.io/component": component,
    }


def labels(owner: Owner, component: str = "visualizer") -> dict[str, str]:
    return {
        **selector_labels(owner, component),
        "app.kubernetes.io/part-of": "modelviz",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def metadata(
    owner: Owner, name: str, component: str = "visualizer", annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels(owner, component),
        "ownerReferences": [owner.reference()],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def content_hash(data: Any) -> str:
    """Stable short hash of JSON-able data (pod template annotation: a change rolls the pods)."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:16]
