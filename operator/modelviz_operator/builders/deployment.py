"""The visualizer Deployment: probes on Streamlit's health endpoint, non-root, config hash in the pod template."""

from __future__ import annotations

from typing import Any

from ..api import ModelVisualizerSpec
from ..constants import (
    APP_PORT,
    CONFIG_HASH_ANNOTATION,
    HEALTH_PATH,
    container_security_context,
    pod_security_context,
)
from ._common import CONFIG_DIR, CONFIG_PATH, Owner, content_hash, metadata, selector_labels
from .configmap import CACHE_DIR, DATASET_MOUNT, MODELS_MOUNT, build_configmap, configmap_name

__all__ = ["DEFAULT_RESOURCES", "HEALTH_PATH", "build_deployment", "config_hash", "deployment_name", "desired_replicas"]

IMAGE_CACHE = "/opt/modelviz/cache"  # MODELVIZ_CACHE of Dockerfile.app
DEFAULT_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "500m", "memory": "1Gi"},
    "limits": {"memory": "3Gi"},
}


def deployment_name(owner: Owner) -> str:
    return owner.name


def desired_replicas(spec: ModelVisualizerSpec) -> int | None:
    """Replicas the Deployment is given; None while an autoscaler owns the count."""
    if spec.suspend:
        return 0
    if spec.autoscaling is not None and spec.replicas > 0:
        return None
    return spec.replicas


def _volumes(owner: Owner, spec: ModelVisualizerSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": configmap_name(owner)}},
        # The root filesystem is read-only: Streamlit and TensorFlow write only here.
        {"name": "tmp", "emptyDir": {}},
        {"name": "cache", "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "cache", "mountPath": CACHE_DIR},
    ]
    for model in spec.models:
        if model.claim_name:
            volume = f"model-{model.name}"[:63]
            volumes.append({"name": volume, "persistentVolumeClaim": {"claimName": model.claim_name, "readOnly": True}})
            mounts.append({"name": volume, "mountPath": f"{MODELS_MOUNT}/{model.name}", "readOnly": True})
    if spec.dataset.claim_name:
        volumes.append(
            {"name": "dataset", "persistentVolumeClaim": {"claimName": spec.dataset.claim_name, "readOnly": True}}
        )
        mounts.append({"name": "dataset", "mountPath": DATASET_MOUNT, "readOnly": True})
    return volumes, mounts


def _probe(period: int, failures: int, timeout: int = 3) -> dict[str, Any]:
    return {
        "httpGet": {"path": HEALTH_PATH, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def config_hash(configmap: dict[str, Any]) -> str:
    """The pod template's hash of the ConfigMap's data: a configuration change rolls the pods."""
    return content_hash(configmap["data"])


def build_deployment(
    owner: Owner, spec: ModelVisualizerSpec, configmap: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The Deployment; ``configmap`` is the one built for the same spec (built here only when not given, so that a
    reconcile renders the configuration once)."""
    volumes, mounts = _volumes(owner, spec)
    rendered_hash = config_hash(configmap if configmap is not None else build_configmap(owner, spec))
    resources = (
        spec.resources.model_dump(exclude_defaults=True) if spec.resources is not None else None
    ) or DEFAULT_RESOURCES
    container: dict[str, Any] = {
        "name": "visualizer",
        "image": spec.image,
        "args": ["modelviz", "app", "serve", "--address", "0.0.0.0", "--port", str(APP_PORT)],  # noqa: S104
        "ports": [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}],
        "env": [
            {"name": "MODELVIZ_CONFIG", "value": CONFIG_PATH},
            {"name": "HOME", "value": "/tmp"},
        ],
        "resources": resources,
        "volumeMounts": mounts,
        # Loading models and computing a dataset's predictions may take minutes on first start.
        "startupProbe": _probe(period=5, failures=120),
        "readinessProbe": _probe(period=5, failures=3),
        "livenessProbe": _probe(period=10, failures=3, timeout=5),
        "securityContext": container_security_context(),
    }
    if spec.image_pull_policy:
        container["imagePullPolicy"] = spec.image_pull_policy
    # The image bakes converted weights and trained models into IMAGE_CACHE (read-only at run time); the app also
    # writes prediction caches, so it works in the cache volume: the image's directory tree recreated there, its files
    # as symbolic links (`cp -s`: nothing copied, ~150 MB of weights stay in the image), new files written beside them.
    seed_cache: dict[str, Any] = {
        "name": "seed-cache",
        "image": spec.image,
        "command": ["sh", "-c", f"cp -Rs {IMAGE_CACHE}/. {CACHE_DIR}/ 2>/dev/null || true"],
        "volumeMounts": [{"name": "cache", "mountPath": CACHE_DIR}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": container["securityContext"],
    }
    if spec.image_pull_policy:
        seed_cache["imagePullPolicy"] = spec.image_pull_policy
    pod_spec: dict[str, Any] = {
        "initContainers": [seed_cache],
        "containers": [container],
        "volumes": volumes,
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector_labels(owner)},
            }
        ],
    }
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in spec.tolerations]
    template_meta = metadata(owner, "", annotations={**spec.pod_annotations, CONFIG_HASH_ANNOTATION: rendered_hash})
    for key in ("name", "namespace", "ownerReferences"):
        template_meta.pop(key)
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(owner)},
        "revisionHistoryLimit": 5,
        "progressDeadlineSeconds": 900,
        # Keep every ready pod until its replacement is ready: a visualizer session is a websocket.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": {"metadata": template_meta, "spec": pod_spec},
    }
    replicas = desired_replicas(spec)
    if replicas is not None:
        deployment_spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(owner, deployment_name(owner)),
        "spec": deployment_spec,
    }
