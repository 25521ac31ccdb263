"""The operator's service account and environment as the deploy/ manifests define them."""

from __future__ import annotations

from typing import Any

from tests.deploy_helpers import find
from tests.sandbox import container_env

SA = "modelviz-operator"


def operator_env(docs: list[dict[str, Any]], namespace: str) -> dict[str, str]:
    """The operator container's env as a kubelet resolves it for a pod in ``namespace``."""
    (container,) = find(docs, "Deployment", SA)["spec"]["template"]["spec"]["containers"]
    return container_env(container, {"metadata.name": "modelviz-operator-0", "metadata.namespace": namespace})
