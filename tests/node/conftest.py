"""The real-node tier: one local cluster with a real node (containerd, kubelet, kube-proxy, CNI, CoreDNS) running the
images built here. Fixtures named as the kwok tier's (``cluster``, ``kubectl``, ``crd``, ``operator``, ``namespace``)
are redefined here so that these tests never touch the kwok cluster.

A machine that cannot run the node (not root, a missing package, no images) fails these tests with the reason;
``MODELVIZ_SKIP_REAL_NODE=1`` is the explicit opt-out and skips them saying so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kube_helpers import REPO, Kubectl, wait_for
from tests.operator_helpers import OperatorProcess, start_operator, stop_operator

SKIP_ENV = "MODELVIZ_SKIP_REAL_NODE"


ARCHIVES_ENV = "MODELVIZ_NODE_IMAGE_ARCHIVES"


def node_image_archives(cache: Path) -> list[Path]:
    """The images' docker archives: from the build engine's storage, or the ones ``MODELVIZ_NODE_IMAGE_ARCHIVES``
    lists (colon-separated, e.g. from ``modelviz images build --export DIR``)."""
    from modelviz_cluster.images_node import engine_archives, node_images

    listed = [Path(p) for p in os.environ.get(ARCHIVES_ENV, "").split(":") if p]
    if listed:
        absent = [str(p) for p in listed if not p.is_file()]
        if absent:
            pytest.fail(f"{ARCHIVES_ENV} lists missing files: {', '.join(absent)}")
        return listed
    archives, missing = engine_archives(list(node_images()), cache)
    if missing:
        pytest.fail(
            f"images {', '.join(missing)} are not built: ./scripts/setup builds them "
            f"(modelviz images build); {SKIP_ENV}=1 skips the real-node tests"
        )
    return archives


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: the real-node tests are switched off on request")
    from modelviz_cluster.binaries import cache_root
    from modelviz_cluster.cluster import Cluster
    from modelviz_cluster.node import host_problems

    problems = host_problems()
    if problems:
        pytest.fail("a real node cannot run on this machine: " + "; ".join(problems) + f" ({SKIP_ENV}=1 skips)")
    archives = node_image_archives(cache_root() / "images" / "node")
    local = Cluster(state_dir=tmp_path_factory.mktemp("realnode"), node="real", images=archives)
    local.start()
    try:
        yield local
    finally:
        stopped = local.stop()
        sys.stderr.write(f"\nreal-node cluster stopped: {', '.join(stopped)}\n")


@pytest.fixture(scope="session")
def kubectl(cluster: object) -> Kubectl:
    info = cluster.info()  # type: ignore[attr-defined]
    return Kubectl(info["binaries"]["kubectl"], cluster.kubeconfig)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def crd(kubectl: Kubectl) -> str:
    kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "modelvisualizers.modelviz.io.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/modelvisualizers.modelviz.io", "--timeout=60s")
    return "modelvisualizers.modelviz.io"


@pytest.fixture(scope="session")
def operator(cluster: object, crd: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("operator-real") / "operator.log"
    running = start_operator(cluster, log)
    try:
        yield running
    finally:
        stop_operator(running)
        if running.proc.returncode not in (0, -signal.SIGTERM, None):
            sys.stderr.write(f"operator exited with {running.proc.returncode}:\n{running.logs()}\n")


def restricted_namespace(kubectl: Kubectl) -> str:
    """A namespace where the API server's PodSecurity admission enforces the ``restricted`` standard."""
    name = f"r-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    kubectl(
        "label", "namespace", name,
        "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=latest",
    )  # fmt: skip
    wait_for(
        lambda: kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
        timeout=30,
        what=f"the default ServiceAccount in {name}",
    )
    return name


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = restricted_namespace(kubectl)
    yield name
    kubectl("delete", "namespace", name, "--wait=true", "--timeout=120s", check=False, timeout=150)


class PortForward:
    """``kubectl port-forward`` to a Service on 127.0.0.1 (the API server streams it through the kubelet)."""

    def __init__(self, kubectl: Kubectl, target: str, namespace: str, remote: int, log: Path) -> None:
        from modelviz_cluster.cluster import free_port

        self.port = free_port()
        self.log = log
        self.proc = subprocess.Popen(
            [kubectl.binary, f"--kubeconfig={kubectl.kubeconfig}", "port-forward", "-n", namespace,
             "--address=127.0.0.1", target, f"{self.port}:{remote}"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_for(lambda: "Forwarding from" in log.read_text(), timeout=30, what=f"port-forward to {target}",
                 explain=lambda: log.read_text())  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from tests.app.browser import launch_browser

    yield from launch_browser(tmp_path_factory)
