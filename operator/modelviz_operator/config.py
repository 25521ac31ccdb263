"""The operator's settings, read once at start-up (from the environment) and passed to whatever needs them.

Nothing else in the package reads the environment: importing a module never depends on (or freezes) a variable,
and tests build a :class:`Config` directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .constants import DEFAULT_BENCH_IMAGE, DEFAULT_FIELD_MANAGER

__all__ = ["Config"]

_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Config:
    """Everything an operator process may be told (the environment variables are in README.md)."""

    # Namespaces to watch; empty: all of them (MODELVIZ_NAMESPACES, comma-separated).
    namespaces: tuple[str, ...] = ()
    # The periodic safety-net reconcile; child events normally trigger one within a second.
    resync_seconds: float = 60.0
    # kopf lists and watches Namespaces and CRDs cluster-wide to follow them at runtime. An operator confined to one
    # namespace by a Role turns that off (deploy/overlays/namespaced) and then needs no cluster-scoped rights at all.
    cluster_scanning: bool = True
    crd_wait_seconds: float = 120.0
    metrics_port: int = 9090  # 0 disables the endpoint
    metrics_address: str = "0.0.0.0"  # noqa: S104 - scraped from the pod IP
    # Overridable so that two operator processes against one cluster (e.g. an RBAC proof) are told apart.
    field_manager: str = DEFAULT_FIELD_MANAGER
    bench_image: str = DEFAULT_BENCH_IMAGE
    max_workers: int = 8
    kubeconfig: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        """Read the MODELVIZ_* variables (and KUBECONFIG); unset ones keep their defaults."""
        defaults = cls()

        def number(key: str, default: float) -> float:
            raw = environ.get(key, "").strip()
            return float(raw) if raw else default

        return cls(
            namespaces=tuple(n.strip() for n in environ.get("MODELVIZ_NAMESPACES", "").split(",") if n.strip()),
            resync_seconds=number("MODELVIZ_RESYNC_SECONDS", defaults.resync_seconds),
            cluster_scanning=environ.get("MODELVIZ_CLUSTER_SCANNING", "true").strip().lower() not in _FALSE,
            crd_wait_seconds=number("MODELVIZ_CRD_WAIT_SECONDS", defaults.crd_wait_seconds),
            metrics_port=int(number("MODELVIZ_METRICS_PORT", defaults.metrics_port)),
            metrics_address=environ.get("MODELVIZ_METRICS_ADDRESS") or defaults.metrics_address,
            field_manager=environ.get("MODELVIZ_FIELD_MANAGER") or defaults.field_manager,
            bench_image=environ.get("MODELVIZ_BENCH_IMAGE") or defaults.bench_image,
            kubeconfig=environ.get("KUBECONFIG") or None,
        )
