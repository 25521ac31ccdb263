"""HorizontalPodAutoscaler (when autoscaling is set) and PodDisruptionBudget (when two or more replicas run)."""

from __future__ import annotations

from typing import Any

from ..api import ModelVisualizerSpec
from ._common import Owner, metadata, selector_labels
from .deployment import deployment_name

__all__ = ["build_hpa", "build_pdb"]


def build_hpa(owner: Owner, spec: ModelVisualizerSpec) -> dict[str, Any] | None:
    scaling = spec.autoscaling
    if scaling is None or spec.suspend or spec.replicas == 0:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(owner, owner.name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name(owner)},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scaling.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }


def build_pdb(owner: Owner, spec: ModelVisualizerSpec) -> dict[str, Any] | None:
    if spec.suspend:
        return None
    fewest = spec.autoscaling.min_replicas if spec.autoscaling is not None and spec.replicas > 0 else spec.replicas
    if fewest < 2:
        # With one pod a budget would block node drains forever.
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(owner, owner.name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(owner)}},
    }
