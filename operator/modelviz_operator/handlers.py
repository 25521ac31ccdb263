"""Kopf handlers: thin wiring from watch events to :func:`modelviz_operator.reconcile.reconcile`.

Nothing is registered on import: :func:`register` puts the handlers into the registry the entry point passes to
kopf (``__main__``), with the :class:`~modelviz_operator.config.Config` read once at start-up.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, cast

import kopf

from . import kube, metrics
from .api import GROUP, PLURAL, VERSION
from .benchmark import benchmark_status
from .cache import CachedApi, index_keys
from .config import Config
from .constants import INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from .reconcile import forget, reconcile

__all__ = ["CHILD_RESOURCES", "register", "wait_until_served"]

log = logging.getLogger(__name__)
MANAGED = {MANAGED_BY_LABEL: MANAGED_BY}
# (group, version, plural, kind) of everything the operator watches besides ModelVisualizers.
CHILD_RESOURCES: tuple[tuple[str, str, str, str], ...] = (
    ("", "v1", "configmaps", "ConfigMap"),
    ("", "v1", "services", "Service"),
    ("", "v1", "pods", "Pod"),
    ("apps", "v1", "deployments", "Deployment"),
    ("batch", "v1", "jobs", "Job"),
    ("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    ("networking.k8s.io", "v1", "ingresses", "Ingress"),  # also brings the controller's address into status.url
)


def _emit(body: dict[str, Any], kind: str, reason: str, message: str) -> None:
    kopf.event(cast(kopf.Body, body), type=kind, reason=reason, message=message[:1024])


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


def _index_id(plural: str) -> str:
    return f"cached_{plural}"


def register(registry: kopf.OperatorRegistry, config: Config) -> CachedApi:
    """Register every handler and index into ``registry``; returns the API the reconciles use."""
    cached = CachedApi(kube.Client(config.field_manager))
    extra_status = functools.partial(benchmark_status, image=config.bench_image)

    def run(namespace: str | None, name: str, handler_kwargs: dict[str, Any]) -> None:
        for _group, _version, plural, kind in CHILD_RESOURCES:
            if not cached.bound(kind) and _index_id(plural) in handler_kwargs:
                cached.bind(kind, handler_kwargs[_index_id(plural)])
        if namespace:  # the resource is namespaced; kopf types the argument for cluster-scoped ones too
            reconcile(namespace, name, _emit, extra_status, api=cached)

    # kopf adds its own login to its default registry only; this registry gets it explicitly.
    kopf.on.login(id="login", registry=registry)(kopf.login_via_client)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # A structural schema prunes unknown status fields, so kopf keeps its own state in annotations.
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        settings.posting.level = logging.INFO
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        # Reconciles never wait for each other (reconcile.py's work queue), so workers are only busy with API calls.
        settings.execution.max_workers = config.max_workers
        settings.scanning.disabled = not config.cluster_scanning
        kube.configure(config.kubeconfig)
        if not config.cluster_scanning:
            # Without scanning, kopf serves only the resources discovery lists once it starts; a CRD applied in the
            # same `kubectl apply -k` may not be established yet.
            wait_until_served(GROUP, VERSION, PLURAL, config.crd_wait_seconds)
        metrics.serve(config.metrics_port, config.metrics_address)

    @kopf.on.probe(id="apiserver", registry=registry)
    def probe(**_: Any) -> bool:
        return True

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry)
    def on_change(namespace: str | None, name: str, **kwargs: Any) -> None:
        run(namespace, name, kwargs)

    @kopf.timer(GROUP, VERSION, PLURAL, interval=config.resync_seconds, initial_delay=config.resync_seconds,
                registry=registry)  # fmt: skip
    def resync(namespace: str | None, name: str, **kwargs: Any) -> None:
        # A safety net: child events normally trigger reconciles within a second.
        run(namespace, name, kwargs)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    def on_gone(type: str, namespace: str | None, name: str, **_: Any) -> None:
        # What is held per resource (applied versions, logged failures, retries, gauges) goes with it.
        if type == "DELETED" and namespace:
            forget(namespace, name)

    def owner_changed(body: kopf.Body, **kwargs: Any) -> None:
        """A child (or a pod) changed or vanished: reconcile its owner, which repairs drift and refreshes status."""
        name = body.get("metadata", {}).get("labels", {}).get(INSTANCE_LABEL)
        namespace = body.get("metadata", {}).get("namespace")
        if name and namespace:
            run(namespace, name, kwargs)

    def index(body: kopf.Body, **_: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
        return index_keys(body)

    for group, version, plural, _kind in CHILD_RESOURCES:
        kopf.on.event(group, version, plural, labels=MANAGED, id=f"child-{plural}", registry=registry)(owner_changed)
        kopf.index(group, version, plural, labels=MANAGED, id=_index_id(plural), registry=registry)(index)
    return cached
