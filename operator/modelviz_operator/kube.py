"""The few Kubernetes API calls the operator makes (server-side apply, reads, status patches).

Kept in one module so the RBAC rules in ``deploy/`` can be checked against what is really called here. Every call
is counted in ``modelviz_api_requests_total`` (verb, kind), which is how API calls per reconcile are measured.
:class:`Client` offers these calls as the :class:`modelviz_operator.ports.KubeApi` the reconcile takes.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from . import metrics
from .api import GROUP, KIND, PLURAL, VERSION
from .constants import DEFAULT_FIELD_MANAGER

__all__ = [
    "ApiException",
    "Client",
    "apply",
    "configure",
    "delete_owned",
    "get",
    "get_visualizer",
    "list_objects",
    "patch_status",
    "pvc_exists",
    "served",
]

log = logging.getLogger(__name__)
_lock = threading.Lock()
_dynamic: DynamicClient | None = None
_api_client: client.ApiClient | None = None
_POOL_SIZE = 64


def configure(kubeconfig: str | None = None) -> None:
    """Load credentials: in-cluster service account first, then the kubeconfig (Config.kubeconfig)."""
    global _dynamic, _api_client
    with _lock:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config(config_file=kubeconfig)
        settings = client.Configuration.get_default_copy()
        # The client's default pool is one connection per CPU: with reconciles and their applies in parallel, the
        # rest were opened (TLS handshake included) and thrown away on every request.
        settings.connection_pool_maxsize = _POOL_SIZE
        client.Configuration.set_default(settings)
        _api_client = client.ApiClient(settings)
        _dynamic = None


def _api() -> client.ApiClient:
    """The one ApiClient (its connection pool) every call shares; a typed API built without one opens a new pool."""
    global _api_client
    with _lock:
        if _api_client is None:
            _api_client = client.ApiClient()
        return _api_client


def _dyn() -> DynamicClient:
    global _dynamic, _api_client
    with _lock:
        if _api_client is None:
            _api_client = client.ApiClient()
        if _dynamic is None:
            _dynamic = DynamicClient(_api_client)
        return _dynamic


def _resource(api_version: str, kind: str) -> Any:
    return _dyn().resources.get(api_version=api_version, kind=kind)


def _count(verb: str, kind: str) -> None:
    metrics.API_REQUESTS.labels(verb, kind).inc()


def get(api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    _count("get", kind)
    try:
        obj = _resource(api_version, kind).get(name=name, namespace=namespace)
    except NotFoundError:
        return None
    result: dict[str, Any] = obj.to_dict()
    return result


def list_objects(api_version: str, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
    _count("list", kind)
    items = _resource(api_version, kind).get(namespace=namespace, label_selector=selector)
    return [item.to_dict() for item in items.items]


def apply(manifest: dict[str, Any], field_manager: str = DEFAULT_FIELD_MANAGER) -> dict[str, Any]:
    """Server-side apply with the operator's field manager; an unchanged manifest persists nothing."""
    _count("apply", manifest["kind"])
    meta = manifest["metadata"]
    obj = _resource(manifest["apiVersion"], manifest["kind"]).server_side_apply(
        body=manifest,
        name=meta["name"],
        namespace=meta.get("namespace"),
        field_manager=field_manager,
        # The operator is the only writer of what it declares: hand edits of those fields are reverted.
        force_conflicts=True,
    )
    result: dict[str, Any] = obj.to_dict()
    return result


_BACKGROUND = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}


def delete_owned(api_version: str, kind: str, namespace: str, name: str, owner_uid: str) -> bool:
    """Delete an object only if this owner controls it; True when something was deleted.

    Its dependents go too, in the background: the API's default for a Job deleted through it is to orphan its pods,
    which would keep running (a pruned benchmark's or a stopped evaluation's).
    """
    current = get(api_version, kind, namespace, name)
    if current is None:
        return False
    refs = current.get("metadata", {}).get("ownerReferences") or []
    if not any(ref.get("uid") == owner_uid for ref in refs):
        return False
    _count("delete", kind)
    try:
        _resource(api_version, kind).delete(name=name, namespace=namespace, body=_BACKGROUND)
    except NotFoundError:
        return False
    return True


def get_visualizer(namespace: str, name: str) -> dict[str, Any] | None:
    _count("get", KIND)
    try:
        obj = client.CustomObjectsApi(_api()).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return cast(dict[str, Any], obj)


def patch_status(namespace: str, name: str, status: dict[str, Any]) -> None:
    """Merge-patch the status subresource (None values delete fields)."""
    _count("patch-status", KIND)
    try:
        client.CustomObjectsApi(_api()).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, {"status": status}
        )
    except ApiException as exc:
        if exc.status != 404:  # deleted meanwhile: nothing to report on
            raise


def pvc_exists(namespace: str, name: str) -> bool:
    _count("get", "PersistentVolumeClaim")
    try:
        client.CoreV1Api(_api()).read_namespaced_persistent_volume_claim(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def served(group: str, version: str, plural: str) -> bool:
    """Whether API discovery lists the resource: false until its CRD is established. Discovery needs no RBAC."""
    try:
        found = client.CustomObjectsApi(_api()).get_api_resources(group, version)
    except ApiException as exc:
        if exc.status == 404:  # the group/version is not served (yet)
            return False
        raise
    return any(resource.name == plural for resource in (found.resources or []))


class Client:
    """The API server as a :class:`modelviz_operator.ports.KubeApi`, applying with one field manager."""

    def __init__(self, field_manager: str = DEFAULT_FIELD_MANAGER) -> None:
        self.field_manager = field_manager

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return get(api_version, kind, namespace, name)

    def list_objects(self, api_version: str, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        return list_objects(api_version, kind, namespace, selector)

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return apply(manifest, self.field_manager)

    def delete_owned(self, api_version: str, kind: str, namespace: str, name: str, owner_uid: str) -> bool:
        return delete_owned(api_version, kind, namespace, name, owner_uid)

    def get_visualizer(self, namespace: str, name: str) -> dict[str, Any] | None:
        return get_visualizer(namespace, name)

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        patch_status(namespace, name, status)

    def pvc_exists(self, namespace: str, name: str) -> bool:
        return pvc_exists(namespace, name)
