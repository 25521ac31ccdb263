"""Names, labels and owner references shared by every generated object."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..api import API_VERSION, KIND
from ..constants import (
    APP_NAME,
    APP_PORT,
    COMPONENT_LABEL,
    CONFIG_HASH_ANNOTATION,
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NAME_LABEL,
    PART_OF_LABEL,
    VISUALIZER_COMPONENT,
)

__all__ = [
    "APP_PORT",
    "CONFIG_HASH_ANNOTATION",
    "CONFIG_PATH",
    "MANAGED_BY",
    "Owner",
    "content_hash",
    "labels",
    "metadata",
    "run_once_job",
    "selector_labels",
]

CONFIG_DIR = "/etc/modelviz"
CONFIG_PATH = f"{CONFIG_DIR}/config.yaml"


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


def selector_labels(owner: Owner, component: str = VISUALIZER_COMPONENT) -> dict[str, str]:
    return {NAME_LABEL: APP_NAME, INSTANCE_LABEL: owner.name, COMPONENT_LABEL: component}


def labels(owner: Owner, component: str = VISUALIZER_COMPONENT) -> dict[str, str]:
    return {**selector_labels(owner, component), PART_OF_LABEL: APP_NAME, MANAGED_BY_LABEL: MANAGED_BY}


def metadata(
    owner: Owner, name: str, component: str = VISUALIZER_COMPONENT, annotations: dict[str, str] | None = None
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


def run_once_job(meta: dict[str, Any], deadline: int, pod: dict[str, Any], **job: Any) -> dict[str, Any]:
    """A Job that runs its pod once (a failure is a result to report, never retried) within ``deadline`` seconds,
    without the service account's token; the pod carries the Job's labels. ``job``: further Job spec fields."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            **job,
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline,
            "template": {
                "metadata": {"labels": dict(meta["labels"])},
                "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False, **pod},
            },
        },
    }
