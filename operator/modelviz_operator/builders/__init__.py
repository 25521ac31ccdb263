"""Pure functions from a ModelVisualizer spec to the manifests of its children (no cluster access)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api import ModelVisualizerSpec
from ..constants import MANAGED_BY
from ._common import Owner, labels, selector_labels
from .configmap import app_config, build_configmap
from .deployment import build_deployment, desired_replicas
from .ingress import build_ingress, ingress_url
from .scaling import build_hpa, build_pdb
from .service import build_service, internal_url

__all__ = [
    "MANAGED_BY",
    "Children",
    "Owner",
    "app_config",
    "build_children",
    "build_configmap",
    "build_deployment",
    "build_hpa",
    "build_ingress",
    "build_pdb",
    "build_service",
    "desired_replicas",
    "ingress_url",
    "internal_url",
    "labels",
    "selector_labels",
]

# (apiVersion, kind) of every child kind the operator may create, in apply order.
CHILD_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"),
)


@dataclass(frozen=True)
class Children:
    """What should exist (``apply``) and which optional kinds should not (``absent``: (apiVersion, kind, name))."""

    apply: tuple[dict[str, Any], ...]
    absent: tuple[tuple[str, str, str], ...]


def build_children(owner: Owner, spec: ModelVisualizerSpec) -> Children:
    configmap = build_configmap(owner, spec)
    # The Deployment hashes this ConfigMap instead of rendering the configuration a second time.
    apply = [configmap, build_deployment(owner, spec, configmap), build_service(owner, spec)]
    absent: list[tuple[str, str, str]] = []
    optional = ((build_hpa, CHILD_KINDS[3]), (build_pdb, CHILD_KINDS[4]), (build_ingress, CHILD_KINDS[5]))
    for builder, (api_version, kind) in optional:
        manifest = builder(owner, spec)
        if manifest is None:
            absent.append((api_version, kind, owner.name))
        else:
            apply.append(manifest)
    return Children(apply=tuple(apply), absent=tuple(absent))
