"""Names, labels, ports and security settings shared by the operator, the local harness and the demo.

Defined once so that the selector the status reports, the labels the builders write, the watches' filters and the
harness's executor label cannot drift apart. Pure data: importing this module reads no environment and registers
nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APP_NAME",
    "APP_PORT",
    "BENCHMARK_COMPONENT",
    "COMPONENT_LABEL",
    "CONFIG_HASH_ANNOTATION",
    "DEFAULT_BENCH_IMAGE",
    "DEFAULT_FIELD_MANAGER",
    "HEALTH_PATH",
    "INSTANCE_LABEL",
    "JOB_NAME_LABEL",
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "NAME_LABEL",
    "PART_OF_LABEL",
    "RUN_AS_USER",
    "RUN_ID_LABEL",
    "VISUALIZER_COMPONENT",
    "config_map_name",
    "container_security_context",
    "pod_security_context",
    "service_host",
]

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"  # the owning ModelVisualizer's name, on every child and pod
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
JOB_NAME_LABEL = "job-name"  # set by the Job controller on a Job's pods
RUN_ID_LABEL = "modelviz.io/run-id"
CONFIG_HASH_ANNOTATION = "modelviz.io/config-hash"

APP_NAME = "modelviz"
MANAGED_BY = "modelviz-operator"
VISUALIZER_COMPONENT = "visualizer"
BENCHMARK_COMPONENT = "benchmark"
DEFAULT_FIELD_MANAGER = "modelviz-operator"
# The operator image carries ab and the runner; a deployment may point benchmark Jobs elsewhere (Config).
DEFAULT_BENCH_IMAGE = "ghcr.io/modelviz/operator:0.1.0"

APP_PORT = 8501  # Streamlit's port in the visualizer container
HEALTH_PATH = "/_stcore/health"
RUN_AS_USER = 10001  # the images' user (Dockerfile.app, Dockerfile.operator)


def container_security_context() -> dict[str, Any]:
    """Every container the operator starts: nothing to escalate to, nothing written outside its volumes."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def pod_security_context(fs_group: bool = True) -> dict[str, Any]:
    """The pods' securityContext (restricted Pod Security Standard); fsGroup where volumes are written."""
    context: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if fs_group:
        context["fsGroup"] = RUN_AS_USER
    return context


def service_host(name: str, namespace: str) -> str:
    """The in-cluster DNS name of a Service."""
    return f"{name}.{namespace}.svc.cluster.local"


def config_map_name(visualizer: str) -> str:
    """The ConfigMap holding a visualizer's configuration file (config.yaml)."""
    return f"{visualizer}-config"
