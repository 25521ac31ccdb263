"""Pinned versions of the control-plane binaries: a version bump is one constant here."""

from __future__ import annotations

__all__ = ["ETCD_VERSION", "KUBERNETES_VERSION", "KWOK_VERSION", "cache_key"]

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"


def cache_key() -> str:
    """Name of the cache directory holding one consistent set of binaries."""
    return f"k8s-{KUBERNETES_VERSION}-etcd-{ETCD_VERSION}-kwok-{KWOK_VERSION}"
