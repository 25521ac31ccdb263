"""Kopf handlers: thin wiring from watch events to :func:`modelviz_operator.reconcile.reconcile`.

Nothing is registered on import: :func:`register` puts the handlers into the registry the entry point passes to
kopf (``__main__``), with the :class:`~modelviz_operator.config.Config` read once at start-up.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, cast

import kopf

from . import kube, metrics
from .api import GROUP, PLURAL, VERSION
from .cache import CachedApi
from .config import Config
from .constants import INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from .evaluation import extra_status as benchmark_and_evaluation_status
from .reconcile import forget, reconcile
from .workqueue import Dispatcher

__all__ = ["CHILD_RESOURCES", "register", "wait_until_served"]

log = logging.getLogger(__name__)
MANAGED = {MANAGED_BY_LABEL: MANAGED_BY}
_GONE = 4096  # deleted resources remembered, so that their children's deletion events cost nothing
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


def register(registry: kopf.OperatorRegistry, config: Config) -> CachedApi:
    """Register every handler into ``registry``; returns the API the reconciles use (its cache fed by the watches)."""
    kinds = {kind: f"{group}/{version}" if group else version for group, version, _plural, kind in CHILD_RESOURCES}
    cached = CachedApi(kube.Client(config.field_manager), kinds)
    extra_status = functools.partial(benchmark_and_evaluation_status, image=config.bench_image)

    def serve(key: Hashable) -> None:
        namespace, name = cast(tuple[str, str], key)
        reconcile(namespace, name, _emit, extra_status, api=cached)

    def failed(key: Hashable) -> None:
        # reconcile() already scheduled a retry with backoff; the traceback is for whoever reads the log.
        log.exception("%s/%s: reconcile failed", *cast(tuple[str, str], key))

    # Handlers only queue a pass (see Dispatcher): none holds one of kopf's threads while the API server answers.
    passes = Dispatcher(serve, config.max_workers, failed)
    # Recently deleted resources: the deletion events of their children ask for no pass (each would be a 404 GET).
    gone: OrderedDict[tuple[str, str], None] = OrderedDict()

    def run(namespace: str | None, name: str) -> None:
        if namespace:  # the resource is namespaced; kopf types the argument for cluster-scoped ones too
            passes.add((namespace, name))

    # kopf adds its own login to its default registry only; this registry gets it explicitly.
    kopf.on.login(id="login", registry=registry)(kopf.login_via_client)

    # Explicit ids: kopf names handlers after their function (here nested in register) and keeps per-handler state
    # under those names in annotations, which must stay what they were.
    @kopf.on.startup(id="configure", registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # A structural schema prunes unknown status fields, so kopf keeps its own state in annotations.
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        # kopf posts its own log lines at this level and above as Events (a request each); the operator's Events
        # (Created, Updated, Ready, failures) are posted explicitly whatever this says.
        settings.posting.level = logging.WARNING
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

    @kopf.on.resume(GROUP, VERSION, PLURAL, id="on_change", registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, id="on_change", registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, id="on_change", registry=registry)
    async def on_change(namespace: str | None, name: str, **_: Any) -> None:
        gone.pop((namespace or "", name), None)  # created again under the same name
        run(namespace, name)

    @kopf.timer(GROUP, VERSION, PLURAL, id="resync", interval=config.resync_seconds,
                initial_delay=config.resync_seconds, registry=registry)  # fmt: skip
    async def resync(namespace: str | None, name: str, **_: Any) -> None:
        # A safety net: child events normally trigger reconciles within a second.
        run(namespace, name)

    @kopf.on.event(GROUP, VERSION, PLURAL, id="on_gone", registry=registry)
    async def on_gone(type: str, namespace: str | None, name: str, **_: Any) -> None:
        # What is held per resource (applied versions, logged failures, retries, gauges) goes with it.
        if type == "DELETED" and namespace:
            forget(namespace, name)
            gone[(namespace, name)] = None
            while len(gone) > _GONE:
                gone.popitem(last=False)

    async def owner_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
        """A child (or a pod) changed or vanished: cache it, then queue a pass of its owner (drift, status).

        In that order, so the pass reads this copy or a newer one. Async: it only takes two short locks, and kopf
        runs it on its event loop instead of queueing it behind other handlers for a thread.
        """
        cached.observe(type, body)
        name = body.get("metadata", {}).get("labels", {}).get(INSTANCE_LABEL)
        namespace = body.get("metadata", {}).get("namespace")
        if name and namespace and (namespace, name) not in gone:
            run(namespace, name)

    for group, version, plural, _kind in CHILD_RESOURCES:
        kopf.on.event(group, version, plural, labels=MANAGED, id=f"child-{plural}", registry=registry)(owner_changed)
    return cached
