"""The visualizer Service: type and port from the spec, client-IP affinity for Streamlit's websocket sessions."""

from __future__ import annotations

from typing import Any

from ..api import ModelVisualizerSpec
from ..constants import service_host
from ._common import Owner, metadata, selector_labels

__all__ = ["build_service", "internal_url", "service_name"]


def service_name(owner: Owner) -> str:
    return owner.name


def internal_url(owner: Owner, spec: ModelVisualizerSpec) -> str:
    port = "" if spec.service.port == 80 else f":{spec.service.port}"
    return f"http://{service_host(service_name(owner), owner.namespace)}{port}/"


def build_service(owner: Owner, spec: ModelVisualizerSpec) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "http", "port": spec.service.port, "targetPort": "http", "protocol": "TCP"}
    if spec.service.node_port is not None:
        port["nodePort"] = spec.service.node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(owner, service_name(owner), annotations=spec.service.annotations or None),
        "spec": {
            "type": spec.service.type,
            "selector": selector_labels(owner),
            "ports": [port],
            # An upload and the websocket carrying its session must reach the same replica.
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
        },
    }
