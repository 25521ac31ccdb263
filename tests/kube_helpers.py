"""Helpers for tests against the local control plane: waits that explain themselves when they time out."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]


class Kubectl:
    """kubectl of the pinned release against the test cluster."""

    def __init__(self, binary: str, kubeconfig: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def __call__(
        self, *args: str, check: bool = True, input_text: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            input=input_text,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)

    def get(self, kind: str, name: str, namespace: str) -> Any:
        """The object as JSON, or None when it does not exist (typed Any as ``json`` is: tests index it freely, and
        a missing object fails the test where it is used)."""
        result = self("get", kind, name, "-n", namespace, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return json.loads(result.stdout)

    def apply(self, manifest: dict[str, Any] | str, namespace: str, *extra: str) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        return self("apply", "--server-side", "-n", namespace, "-f", "-", *extra, input_text=text)


def wait_for(
    predicate: Callable[[], T | None],
    *,
    timeout: float = 60,
    interval: float = 0.5,
    what: str,
    explain: Callable[[], str] | None = None,
) -> T:
    """Poll until ``predicate`` returns something truthy; on timeout fail with ``explain()`` (objects, logs)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except AssertionError as exc:  # e.g. kubectl racing a deletion
            last_error = exc
        time.sleep(interval)
    detail = explain() if explain else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{last_error or ''}\n{detail}")


def condition(obj: dict[str, Any] | None, kind: str) -> Any:
    """The condition of that type as a dict, or None (Any, like the objects it is read from)."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"(no {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def visualizer(name: str, **spec: Any) -> dict[str, Any]:
    """A ModelVisualizer with one catalog model on the photo sample, plus any spec fields given."""
    body: dict[str, Any] = {
        "models": [{"name": "effnet-lite0", "catalog": "efficientnet-lite0"}],
        "dataset": {"catalog": "imagenet-sample"},
    }
    body.update(spec)
    return {"apiVersion": "modelviz.io/v1alpha1", "kind": "ModelVisualizer", "metadata": {"name": name}, "spec": body}


def map_service(cluster: Any, name: str, namespace: str, address: str) -> None:
    """Tell the local executor where this Service's pods really answer (a port-forward, in effect)."""
    path: Path = cluster.state_dir / "local-services.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    current[f"{name}.{namespace}"] = address
    path.write_text(json.dumps(current))


def forward_pod(kubectl: Kubectl, namespace: str, pod: str, port: int, address: str) -> None:
    """Route ``kubectl port-forward`` to a fake node's pod port to ``address`` (host:port): a kwok PortForward."""
    host, _, target = address.rpartition(":")
    forward = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "PortForward",
        "metadata": {"name": pod, "namespace": namespace},
        "spec": {"forwards": [{"ports": [port], "target": {"address": host, "port": int(target)}}]},
    }
    kubectl.apply(forward, namespace)


def metric(port: int, sample: str, **labels: str) -> float:
    """The sum of a Prometheus sample (e.g. ``modelviz_reconciles_total``) over the series carrying ``labels``."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def reconciles(operator: Any, namespace: str, name: str) -> float:
    """Reconcile passes the operator finished for one resource (its modelviz_reconciles_total)."""
    return metric(operator.metrics_port, "modelviz_reconciles_total", namespace=namespace, name=name)


def wait_reconciled(
    operator: Any, namespace: str, name: str, after: float, passes: int = 1, timeout: float = 60
) -> float:
    """Wait until ``passes`` more reconciles of the resource than ``after`` have finished and none is running.

    What a test asserts "did not happen" is then checked after the operator has looked, not after a guessed sleep.
    """

    def done() -> float | None:
        count = reconciles(operator, namespace, name)
        idle = metric(operator.metrics_port, "modelviz_reconciles_in_flight") == 0
        return count if count >= after + passes and idle else None

    return wait_for(
        done,
        timeout=timeout,
        what=f"{passes} more reconcile(s) of {namespace}/{name}",
        explain=lambda: f"{reconciles(operator, namespace, name)} passes\n{operator.logs()}",
    )
