"""``kubectl mviz`` run by the real kubectl as a plugin (kubectl-mviz on PATH) against the local cluster: benchmark
runs started and followed to their exit codes, status tables, krew's flags (--kubeconfig, --context, -n, -A), and
``open``'s port-forward to 127.0.0.1 (kwok's server stands in for the kubelet and dials a local app)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.bench.servers import serve
from tests.kube_helpers import REPO, Kubectl, condition, forward_pod, map_service, visualizer, wait_for
from tests.operator_helpers import OperatorProcess

pytestmark = pytest.mark.cluster

PLUGIN = "kubectl-mviz"


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding kubectl-mviz: the one the package installed next to this Python, or, in a checkout not
    installed since the entry point was added, the same launcher pip writes for [project.scripts]."""
    installed = Path(sys.executable).parent / PLUGIN
    if installed.is_file():
        return installed.parent
    text = (REPO / "pyproject.toml").read_text()
    assert f'{PLUGIN} = "modelviz_cli.kubectl_mviz:main"' in text, "pyproject.toml must declare the plugin"
    folder = tmp_path_factory.mktemp("plugin")
    launcher = folder / PLUGIN
    launcher.write_text(
        f"#!{sys.executable}\nimport sys\nfrom modelviz_cli.kubectl_mviz import main\nsys.exit(main())\n"
    )
    launcher.chmod(0o755)
    return folder


class Mviz:
    def __init__(self, kubectl: Kubectl, plugin_dir: Path) -> None:
        self.kubectl = kubectl
        path = f"{plugin_dir}{os.pathsep}{Path(kubectl.binary).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        self.env = {**os.environ, "PATH": path}
        self.env.pop("KUBECONFIG", None)

    def __call__(self, *args: str, kubeconfig: bool = True, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        extra = [f"--kubeconfig={self.kubectl.kubeconfig}"] if kubeconfig else []
        # Through kubectl itself: it finds kubectl-mviz on PATH and hands it every argument after "mviz".
        return subprocess.run(
            [self.kubectl.binary, "mviz", *args, *extra],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def mviz(kubectl: Kubectl, plugin_path: Path) -> Mviz:
    return Mviz(kubectl, plugin_path)


def test_kubectl_finds_the_plugin(mviz: Mviz) -> None:
    listed = subprocess.run(
        [mviz.kubectl.binary, "plugin", "list"], capture_output=True, text=True, env=mviz.env, check=False
    )
    assert PLUGIN in listed.stdout, listed.stdout + listed.stderr
    help_text = mviz("--help", kubeconfig=False)
    assert help_text.returncode == 0 and "bench" in help_text.stdout and "--all-namespaces" in help_text.stdout


def finished(kubectl: Kubectl, namespace: str, run_id: str) -> bool:
    run = (kubectl.get("mviz", "cli", namespace) or {}).get("status", {}).get("benchmark") or {}
    return run.get("runId") == run_id and run.get("phase") in ("Succeeded", "Failed")


def scenario_in_crd(kubectl: Kubectl) -> bool:
    crd = kubectl.json("get", "crd", "modelvisualizers.modelviz.io")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    benchmark = schema["properties"]["spec"]["properties"]["benchmark"]["properties"]
    return "scenario" in benchmark


def test_bench_and_status(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str, mviz: Mviz, tmp_path: Path
) -> None:
    bench = {"runId": "first", "requests": 20, "concurrency": 2, "keepJobs": 1, "targets": {"minRps": 0.001}}
    with serve("ok") as url:
        map_service(cluster, "cli", namespace, url.split("//", 1)[1].rstrip("/"))
        kubectl.apply(visualizer("cli", benchmark=bench), namespace)
        wait_for(lambda: finished(kubectl, namespace, "first"), timeout=120, what="run first", explain=operator.logs)

        # A run that meets its targets: exit 0, the result and the history (this run, then "first").
        passed = mviz("bench", "cli", "-n", namespace, "--wait")
        assert passed.returncode == 0, passed.stdout + passed.stderr + operator.logs()
        out = passed.stdout
        run_id = out.split("benchmark ", 1)[1].split(" ", 1)[0]
        assert run_id != "first" and f"{run_id}: Succeeded" in out, out
        assert "passed" in out and "history (newest first):" in out, out
        history = out.split("history (newest first):", 1)[1].splitlines()
        assert [line.split()[0] for line in history if line.strip()][1:] == [run_id, "first"], out
        obj = kubectl.get("mviz", "cli", namespace)
        assert obj["spec"]["benchmark"]["runId"] == run_id and obj["spec"]["benchmark"]["requests"] == 20

        # Targets out of reach: the same command exits 1, as a pipeline step would fail.
        patch = '{"spec":{"benchmark":{"targets":{"minRps":1e9}}}}'
        kubectl("patch", "mviz", "cli", "-n", namespace, "--type=merge", "-p", patch)
        missed = mviz("bench", "cli", "--namespace", namespace, "--wait")
        assert missed.returncode == 1, missed.stdout + missed.stderr
        assert "missed" in missed.stdout and "rps >= 1e+09" in missed.stdout, missed.stdout

        # Without --wait: started, not followed.
        started = mviz("bench", "cli", "-n", namespace, "--run-id", "manual-1")
        assert started.returncode == 0 and "benchmark manual-1" in started.stdout, started.stderr
        assert kubectl.get("mviz", "cli", namespace)["spec"]["benchmark"]["runId"] == "manual-1"
        wait_for(lambda: finished(kubectl, namespace, "manual-1"), timeout=120, what="run manual-1")

    # status NAME: conditions, URL, models, the latest run and the history.
    detail = mviz("status", "cli", "-n", namespace)
    assert detail.returncode == 0, detail.stderr
    text = detail.stdout
    for expected in (
        f"cli (namespace {namespace}",
        f"URL:       http://cli.{namespace}.svc.cluster.local/",
        "Models:    effnet-lite0",
        "History (newest first):",
        "manual-1",
        run_id,
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"
    conditions = {
        line.split()[0]: line.split()[1:3] for line in text.split("Conditions:")[1].split("\n\n")[0].splitlines()[2:]
    }
    assert conditions["Ready"] == ["True", "Available"] and conditions["Degraded"] == ["False", "AsExpected"], text
    assert conditions["BenchmarkPassed"][:2] == ["False", "TargetMissed"], text

    # status: one row per resource; -A adds the namespace column.
    listing = mviz("status", "-n", namespace).stdout
    assert listing.splitlines()[0].split()[:3] == ["NAME", "READY", "STATUS"]
    assert listing.splitlines()[1].split()[:3] == ["cli", "1/1", "Available"], listing
    everywhere = mviz("status", "-A").stdout
    assert everywhere.splitlines()[0].startswith("NAMESPACE")
    assert any(line.split()[:2] == [namespace, "cli"] for line in everywhere.splitlines()), everywhere

    # --context: a kubeconfig whose context points at the namespace; no -n needed.
    config = yaml.safe_load(Path(kubectl.kubeconfig).read_text())
    context = dict(config["contexts"][0])
    context = {"name": "team", "context": {**context["context"], "namespace": namespace}}
    config["contexts"].append(context)
    other = tmp_path / "kubeconfig"
    other.write_text(yaml.safe_dump(config))
    via_context = mviz("status", "cli", f"--kubeconfig={other}", "--context=team", kubeconfig=False)
    assert via_context.returncode == 0 and f"namespace {namespace}" in via_context.stdout, via_context.stderr

    # Errors name what is wrong and exit 2.
    missing = mviz("bench", "nothing", "-n", namespace)
    assert missing.returncode == 2 and "not found" in missing.stderr, missing.stderr

    # --scenario sets spec.benchmark.scenario; one the CRD does not know is refused before anything changes.
    before = kubectl.get("mviz", "cli", namespace)["spec"]["benchmark"]["runId"]
    unknown = mviz("bench", "cli", "-n", namespace, "--scenario", "upload")
    assert unknown.returncode == 2 and "scenario" in unknown.stderr, unknown.stderr
    assert kubectl.get("mviz", "cli", namespace)["spec"]["benchmark"]["runId"] == before
    assert scenario_in_crd(kubectl)
    scenario = mviz("bench", "cli", "-n", namespace, "--scenario", "health")
    assert scenario.returncode == 0, scenario.stderr
    assert kubectl.get("mviz", "cli", namespace)["spec"]["benchmark"]["scenario"] == "health"


def test_open_port_forwards_the_service_to_loopback(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, mviz: Mviz
) -> None:
    kubectl.apply(visualizer("opened", service={"port": 8080}), namespace)
    wait_for(
        lambda: (condition(kubectl.get("mviz", "opened", namespace), "Ready") or {}).get("status") == "True",
        timeout=60,
        what="opened Ready",
        explain=operator.logs,
    )
    selector = "app.kubernetes.io/instance=opened,app.kubernetes.io/component=visualizer"
    pods = [p["metadata"]["name"] for p in kubectl.json("get", "pods", "-n", namespace, "-l", selector)["items"]]
    assert pods
    with serve("ok") as url:
        # No kubelet runs the pod: kwok's server answers the API server's port-forward and dials the local app.
        for pod in pods:
            forward_pod(kubectl, namespace, pod, 8501, url.split("//", 1)[1].rstrip("/"))
        proc = subprocess.Popen(
            [kubectl.binary, "mviz", "open", "opened", "-n", namespace, f"--kubeconfig={kubectl.kubeconfig}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=mviz.env,
            start_new_session=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.search(r"is at (http://127\.0\.0\.1:\d+/)", line)
            assert match, f"{line!r}; stderr: {proc.stderr.read() if proc.stderr and proc.poll() is not None else ''}"
            opened = match.group(1)

            def answered() -> str | None:
                try:
                    with urllib.request.urlopen(opened, timeout=5) as response:
                        return str(response.read().decode())
                except OSError:
                    return None

            body = wait_for(answered, timeout=30, what=f"{opened} to answer through the port-forward")
            assert "hello" in body
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
