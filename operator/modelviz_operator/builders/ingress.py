"""The optional Ingress: host and path to the visualizer's Service, with cookie session affinity.

Ingress controllers send traffic straight to pod endpoints, so the Service's ``sessionAffinity: ClientIP`` does not
apply behind one; a Streamlit session (its websocket and the uploads it refers to) must stay on one replica, so the
controller pins it with a cookie. The defaults below are ingress-nginx's; README lists the settings of other
controllers, which go into ``spec.ingress.annotations`` (or ``spec.service.annotations`` for Traefik).
"""

from __future__ import annotations

from typing import Any

from ..api import ModelVisualizerSpec
from ._common import Owner, metadata
from .service import service_name

__all__ = ["NGINX_AFFINITY", "build_ingress", "ingress_name", "ingress_url"]

# ingress-nginx: cookie affinity kept for the Service's ClientIP timeout (3 hours), websockets not cut after the
# default 60 s of silence, and uploads up to Streamlit's default limit (200 MB) instead of ingress-nginx's 1 MB.
NGINX_AFFINITY: dict[str, str] = {
    "nginx.ingress.kubernetes.io/affinity": "cookie",
    "nginx.ingress.kubernetes.io/affinity-mode": "persistent",
    "nginx.ingress.kubernetes.io/session-cookie-name": "modelviz-session",
    "nginx.ingress.kubernetes.io/session-cookie-max-age": "10800",
    "nginx.ingress.kubernetes.io/session-cookie-samesite": "Lax",
    "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
    "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
    "nginx.ingress.kubernetes.io/proxy-body-size": "200m",
}


def ingress_name(owner: Owner) -> str:
    return owner.name


def build_ingress(owner: Owner, spec: ModelVisualizerSpec) -> dict[str, Any] | None:
    ingress = spec.ingress
    if ingress is None:
        return None
    annotations = {**(NGINX_AFFINITY if ingress.cookie_affinity else {}), **ingress.annotations}
    body: dict[str, Any] = {
        "rules": [
            {
                "host": ingress.host,
                "http": {
                    "paths": [
                        {
                            "path": ingress.path,
                            "pathType": ingress.path_type,
                            "backend": {"service": {"name": service_name(owner), "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        ]
    }
    if ingress.class_name:
        body["ingressClassName"] = ingress.class_name
    if ingress.tls:
        body["tls"] = [{"hosts": [ingress.host], "secretName": ingress.tls_secret_name}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata(owner, ingress_name(owner), annotations=annotations or None),
        "spec": body,
    }


def ingress_url(spec: ModelVisualizerSpec, ingress: dict[str, Any] | None) -> str | None:
    """The Ingress's URL once its controller has given it an address (status.loadBalancer.ingress), else None."""
    if spec.ingress is None or not ingress:
        return None
    addresses = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if not any(a.get("ip") or a.get("hostname") for a in addresses):
        return None
    scheme = "https" if spec.ingress.tls else "http"
    path = spec.ingress.path if spec.ingress.path.endswith("/") else f"{spec.ingress.path}/"
    return f"{scheme}://{spec.ingress.host}{path}"
