"""The operator's view of the Kubernetes API: what :mod:`modelviz_operator.reconcile` and
:mod:`modelviz_operator.benchmark` may call, and nothing else.

:class:`modelviz_operator.kube.Client` is the real one (the API server, reads served from the watch caches by
:class:`modelviz_operator.cache.CachedApi`); the unit tests pass an in-memory fake.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["KubeApi"]


class KubeApi(Protocol):
    """Reads, server-side applies, owned deletes and status patches of ModelVisualizers and their children."""

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        ...

    def list_objects(self, api_version: str, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        """Objects matching an equality label selector (``k=v,k2=v2``)."""
        ...

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply with the operator's field manager, conflicts forced; the object as stored."""
        ...

    def delete_owned(self, api_version: str, kind: str, namespace: str, name: str, owner_uid: str) -> bool:
        """Delete the object if ``owner_uid`` owns it; True when something was deleted."""
        ...

    def get_visualizer(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ModelVisualizer as stored now (not a cached copy)."""
        ...

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch the status subresource (None deletes a field); a vanished resource is not an error."""
        ...

    def pvc_exists(self, namespace: str, name: str) -> bool:
        """Whether the PersistentVolumeClaim exists."""
        ...
