"""Kopf handlers: thin wiring from watch events to :func:`modelviz_operator.reconcile.reconcile`."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, cast

import kopf

from . import kube, metrics
from .api import GROUP, PLURAL, VERSION
from .builders import MANAGED_BY
from .evaluation import extra_status
from .reconcile import reconcile

__all__ = ["wait_until_served"]

log = logging.getLogger(__name__)
MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}
RESYNC_SECONDS = float(os.environ.get("MODELVIZ_RESYNC_SECONDS", "60"))
# kopf lists and watches Namespaces and CRDs cluster-wide to follow them at runtime. An operator confined to one
# namespace by a Role turns that off (deploy/overlays/namespaced) and then needs no cluster-scoped rights at all.
CLUSTER_SCANNING = os.environ.get("MODELVIZ_CLUSTER_SCANNING", "true").strip().lower() not in (
    "0",
    "false",
    "no",
    "off",
)
CRD_WAIT_SECONDS = float(os.environ.get("MODELVIZ_CRD_WAIT_SECONDS", "120"))


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
    settings.scanning.disabled = not CLUSTER_SCANNING
    kube.configure()
    if not CLUSTER_SCANNING:
        # Without scanning, kopf serves only the resources discovery lists once it starts; a CRD applied in the
        # same `kubectl apply -k` may not be established yet.
        wait_until_served(GROUP, VERSION, PLURAL, CRD_WAIT_SECONDS)
    metrics.serve()


def wait_until_served(group: str, version: str, plural: str, timeout: float, interval: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not kube.served(group, version, plural):
        if time.monotonic() >= deadline:
            raise kopf.PermanentError(
                f"{plural}.{group}/{version} is not served after {timeout:.0f}s: apply the CRD "
                f"(crds/{plural}.{group}.yaml) or set MODELVIZ_CRD_WAIT_SECONDS higher"
            )
        log.info("waiting for the API server to serve %s.%s/%s", plural, group, version)
        time.sleep(interval)


@kopf.on.probe(id="apiserver")
def probe(**_: Any) -> bool:
    return True


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def on_change(namespace: str | None, name: str, **_: Any) -> None:
    if namespace:  # the resource is namespaced; kopf types the argument for cluster-scoped ones too
        reconcile(namespace, name, _emit, extra_status)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
def resync(namespace: str | None, name: str, **_: Any) -> None:
    # A safety net: child events normally trigger reconciles within a second.
    if namespace:
        reconcile(namespace, name, _emit, extra_status)


def _owner_changed(body: kopf.Body, **_: Any) -> None:
    """A child (or a pod) changed or vanished: reconcile its owner, which repairs drift and refreshes status."""
    name = body.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/instance")
    namespace = body.get("metadata", {}).get("namespace")
    if not name or not namespace:
        return
    reconcile(namespace, name, _emit, extra_status)


for _group, _version, _plural in (
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("", "v1", "pods"),
    ("apps", "v1", "deployments"),
    ("batch", "v1", "jobs"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("networking.k8s.io", "v1", "ingresses"),  # also brings the controller's address into status.url
):
    kopf.on.event(_group, _version, _plural, labels=MANAGED, id=f"child-{_plural}")(_owner_changed)
