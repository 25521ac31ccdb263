"""Kopf handlers: thin wiring from watch events to :func:`modelviz_operator.reconcile.reconcile`."""

from __future__ import annotations

import logging
import os
from typing import Any, cast

import kopf

from . import kube, metrics
from .api import GROUP, PLURAL, VERSION
from .benchmark import benchmark_status
from .builders import MANAGED_BY
from .reconcile import reconcile

__all__: list[str] = []

log = logging.getLogger(__name__)
MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}
RESYNC_SECONDS = float(os.environ.get("MODELVIZ_RESYNC_SECONDS", "60"))


def _emit(body: dict[str, Any], kind: str, reason: str, message: str) -> None:
    kopf.event(cast(kopf.Body, body), type=kind, reason=reason, message=message[:1024])


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # A structural schema prunes unknown status fields, so kopf keeps its own state in annotations.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.execution.max_workers = 8
    kube.configure()
    metrics.serve()


@kopf.on.probe(id="apiserver")
def probe(**_: Any) -> bool:
    return True


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def on_change(namespace: str | None, name: str, **_: Any) -> None:
    if namespace:  # the resource is namespaced; kopf types the argument for cluster-scoped ones too
        reconcile(namespace, name, _emit, benchmark_status)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
def resync(namespace: str | None, name: str, **_: Any) -> None:
    # A safety net: child events normally trigger reconciles within a second.
    if namespace:
        reconcile(namespace, name, _emit, benchmark_status)


def _owner_changed(body: kopf.Body, **_: Any) -> None:
    """A child (or a pod) changed or vanished: reconcile its owner, which repairs drift and refreshes status."""
    name = body.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/instance")
    namespace = body.get("metadata", {}).get("namespace")
    if not name or not namespace:
        return
    reconcile(namespace, name, _emit, benchmark_status)


for _group, _version, _plural in (
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("", "v1", "pods"),
    ("apps", "v1", "deployments"),
    ("batch", "v1", "jobs"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
    ("policy", "v1", "poddisruptionbudgets"),
):
    kopf.on.event(_group, _version, _plural, labels=MANAGED, id=f"child-{_plural}")(_owner_changed)
