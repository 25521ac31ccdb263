"""Fixtures for the deploy/ manifests.

test_rbac.py and test_helm.py run an operator with nothing but the manifests' (or the chart's) RBAC, alone: their
tests are moved to the front of the session, before anything starts the session-wide operator (which watches every
namespace and would otherwise also reconcile the objects whose writes are meant to prove the RBAC sufficient).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy_helpers import Render, render_with
from tests.kube_helpers import Kubectl

# In this order: the RBAC tests' cluster-wide operators must not meet what test_helm.py leaves in terminating
# namespaces.
RUN_FIRST = ("test_rbac.py", "test_rbac_failures.py", "test_helm.py")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    first = [i for name in RUN_FIRST for i in items if i.path.parent == here and i.path.name == name]
    if first:
        rest = [i for i in items if i not in first]
        items[:] = first + rest


@pytest.fixture(scope="session")
def render(kubectl: Kubectl) -> Render:
    def _render(path: Path, namespace: str | None = None) -> list[dict[str, Any]]:
        return render_with(kubectl.binary, path, namespace)

    return _render
