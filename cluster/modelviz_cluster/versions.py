"""Pinned versions of the cluster's binaries: a version bump is one constant here."""

from __future__ import annotations

__all__ = [
    "CONTAINERD_VERSION",
    "COREDNS_VERSION",
    "ETCD_VERSION",
    "KUBERNETES_VERSION",
    "KWOK_VERSION",
    "RUNC_VERSION",
    "cache_key",
]

# Stay at Kubernetes <= 1.37 while the machines run cgroup v1 (kubelet drops it after that).
KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
# The real node: container runtime, OCI runtime and cluster DNS, each built from its Go module.
CONTAINERD_VERSION = "v2.4.2"
RUNC_VERSION = "v1.3.3"
COREDNS_VERSION = "v1.15.0"


def cache_key() -> str:
    """Name of the cache directory holding one consistent set of control-plane binaries (kubelet included)."""
    return f"k8s-{KUBERNETES_VERSION}-etcd-{ETCD_VERSION}-kwok-{KWOK_VERSION}"
