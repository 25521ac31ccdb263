"""Shared fixtures: one local control plane per test session, the operator as a subprocess, a namespace per test.

The cluster is real (etcd, kube-apiserver, controller-manager, scheduler, kwok, the local Job executor). A missing
binary fails the tests with the reason; ``MODELVIZ_SKIP_CLUSTER=1`` is the explicit opt-out and skips them saying so.
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kube_helpers import REPO, Kubectl, wait_for
from tests.operator_helpers import OperatorProcess, start_operator, stop_operator

__all__ = ["OperatorProcess", "start_operator", "stop_operator"]  # still importable from here


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if os.environ.get("MODELVIZ_SKIP_CLUSTER") == "1":
        pytest.skip("MODELVIZ_SKIP_CLUSTER=1: tests needing the local control plane are switched off on request")
    from modelviz_cluster.cluster import Cluster

    state = tmp_path_factory.mktemp("cluster")
    local = Cluster(state_dir=state, nodes=2)
    local.start()
    try:
        yield local
    finally:
        stopped = local.stop()
        sys.stderr.write(f"\nlocal cluster stopped: {', '.join(stopped)}\n")


@pytest.fixture(scope="session")
def kubectl(cluster: object) -> Kubectl:
    info = cluster.info()  # type: ignore[attr-defined]
    return Kubectl(info["binaries"]["kubectl"], cluster.kubeconfig)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def kstatus() -> Path:
    """The kstatus binary over sigs.k8s.io/cli-utils (built once by scripts/setup, or here; cached by version)."""
    from modelviz_cluster.kstatus import ensure_kstatus

    return ensure_kstatus()


@pytest.fixture(scope="session")
def crd(kubectl: Kubectl) -> str:
    path = REPO / "crds" / "modelvisualizers.modelviz.io.yaml"
    kubectl("apply", "--server-side", "-f", str(path))
    kubectl("wait", "--for=condition=Established", "crd/modelvisualizers.modelviz.io", "--timeout=60s")
    return "modelvisualizers.modelviz.io"


@pytest.fixture(scope="session")
def operator(cluster: object, crd: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    running = start_operator(cluster, log)
    try:
        yield running
    finally:
        stop_operator(running)
        if running.proc.returncode not in (0, -signal.SIGTERM, None):
            sys.stderr.write(f"operator exited with {running.proc.returncode}:\n{running.logs()}\n")


@pytest.fixture
def namespace(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    wait_for(
        lambda: kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
        timeout=30,
        what=f"the default ServiceAccount in {name}",
    )
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


# Parallel runs (`pytest -n N`, what scripts/test does): each group runs in one worker, in collection order, so a
# session fixture (the local cluster, the operator, the real node, the app's models) starts once per group and tests
# that share one cluster never meet another group's operator. The deploy and cluster tiers share theirs (the RBAC tests
# run first, before the session operator exists); modules that bring up a cluster of their own are groups of their
# own. The CPU-bound app tier overlaps with the cluster tiers, which mostly wait. A scheduler of our own rather than
# `--dist loadgroup`: with pytest 9 and pytest-xdist 3.8 its groups were not kept together (measured here).
OWN_CLUSTER_MODULES = ("test_faults.py", "test_evaluation.py")


def group_of(nodeid: str) -> str:
    parts = nodeid.split("::", 1)[0].split("/")
    area = parts[1] if len(parts) > 2 and parts[0] == "tests" else "top"
    if area == "cluster" and parts[-1] in OWN_CLUSTER_MODULES:
        return f"cluster-{parts[-1].removesuffix('.py')}"
    if area in ("deploy", "cluster"):
        return "kube"
    if area in ("unit", "bench", "images", "node", "top"):
        return "rest"
    return area


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return ByGroup(config, log)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that used the local cluster gets the control plane's log tails in its report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and "cluster" in getattr(item, "fixturenames", ()):
        local = item.funcargs.get("cluster")  # type: ignore[attr-defined]
        if local is not None and hasattr(local, "log_tails"):
            report.sections.append(("local cluster logs", local.log_tails(25)))
