"""The operator image: as declared, its benchmark Job's runner and ab, and the operator itself reconciling against the
local control plane with a kubeconfig mounted, then stopping cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelviz_operator.api import BenchmarkSpec, ModelVisualizerSpec
from modelviz_operator.builders._common import Owner
from modelviz_operator.builders.job import build_benchmark_job
from tests.app.browser import free_port
from tests.bench.servers import serve
from tests.deploy.dockerfiles import OPERATOR, final, parse_key_values
from tests.kube_helpers import REPO, Kubectl, wait_for
from tests.sandbox import container_env

from .containers import Runner, pod_args

DEPLOYMENT = REPO / "deploy" / "base" / "deployment.yaml"


def _operator_pod() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(DEPLOYMENT.read_text()) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    return dict(deployment["spec"]["template"]["spec"])


def test_user_ports_entrypoint_and_labels_as_declared(runner: Runner, operator_image: str) -> None:
    config = runner.inspect_image(operator_image)["Config"]
    assert config["User"] == "10001:10001"
    assert set(config["ExposedPorts"]) == {"8080/tcp", "9090/tcp"}
    assert config["Entrypoint"] == ["modelviz", "operator"]
    version = operator_image.rsplit(":", 1)[1]
    declared: dict[str, str] = {}
    for instruction in final(OPERATOR).all("LABEL"):
        declared.update(parse_key_values(instruction.args))
    declared = {k: v.replace("${VERSION}", version).replace("${REVISION}", "unknown") for k, v in declared.items()}
    assert {k: config["Labels"].get(k) for k in declared} == declared
    (container,) = _operator_pod()["containers"]
    assert container["image"] == operator_image


def test_read_only_root_uid_10001_and_ab(runner: Runner, operator_image: str) -> None:
    script = "id -u; id -g; ab -V | head -1; touch /x /home/modelviz/x 2>&1; python -m modelviz_bench --help | head -1"
    flags = ["--read-only", "--read-only-tmpfs=false", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    out = runner.once(operator_image, "-c", script, flags=["--entrypoint", "sh", *flags])
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[:2] == ["10001", "10001"], out.stdout
    assert lines[2].startswith("This is ApacheBench"), out.stdout
    assert out.stdout.count("Read-only file system") == 2, out.stdout
    assert lines[-1].startswith("usage:"), out.stdout


def test_the_benchmark_job_runs_from_the_image(runner: Runner, operator_image: str, tmp_path: Path) -> None:
    owner = Owner(name="imagenet", namespace="default", uid="0000")
    spec = ModelVisualizerSpec.model_validate(
        {"models": [{"name": "a", "catalog": "efficientnet-lite0"}], "dataset": {"catalog": "imagenet-sample"}}
    )
    bench = BenchmarkSpec.model_validate({"runId": "r1", "requests": 300, "concurrency": 4})
    job = build_benchmark_job(owner, spec, bench, "r1", image=operator_image)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    termination = tmp_path / "termination-log"
    termination.touch()
    termination.chmod(0o666)  # the kubelet's file, writable by whatever uid the container runs as
    flags = [
        *pod_args(pod["securityContext"], container, {}),
        "-v",
        f"{termination}:{container['terminationMessagePath']}",
    ]
    command = list(container["command"])
    with serve("ok") as url:
        command[command.index("--url") + 1] = url  # a server on 127.0.0.1 stands in for the Service
        # The host's network, to reach that server on 127.0.0.1; `command` replaces the image's ENTRYPOINT.
        out = runner.once(operator_image, *command[1:], flags=["--entrypoint", command[0], *flags], network="host")
        served = url.requests
    assert out.returncode == 0, out.stdout + out.stderr
    message = json.loads(termination.read_text())
    assert message["ok"] is True and message["complete"] == 300 and message["failed"] == 0, message
    assert served >= 300 and message["rps"] > 0
    assert "Read-only file system" not in out.stderr, out.stderr


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.cluster
def test_the_operator_reconciles_and_stops_on_sigterm(
    runner: Runner, operator_image: str, kubectl: Kubectl, crd: str, namespace: str, tmp_path: Path
) -> None:
    pod = _operator_pod()
    (container,) = pod["containers"]
    security = pod["securityContext"]
    # An admin kubeconfig with its certificates inline, readable by the pod's group only.
    kube = tmp_path / "kube"
    kube.mkdir()
    (kube / "config").write_text(kubectl("config", "view", "--raw", "--flatten", "--minify").stdout)
    for path in (kube, kube / "config"):
        os.chown(path, 0, security["fsGroup"])
    kube.chmod(0o750)
    (kube / "config").chmod(0o640)
    volumes = {"tmp": tmp_path / "tmp"}
    volumes["tmp"].mkdir()
    os.chown(volumes["tmp"], 0, security["fsGroup"])
    volumes["tmp"].chmod(0o2777)
    health, metrics = free_port(), free_port()
    env = {
        **container_env(container, {"metadata.name": "modelviz-operator-0"}),
        "KUBECONFIG": "/etc/kube/config",
        "MODELVIZ_NAMESPACES": namespace,
        "MODELVIZ_FIELD_MANAGER": "modelviz-operator-image",
        "MODELVIZ_METRICS_ADDRESS": "127.0.0.1",
        "MODELVIZ_METRICS_PORT": str(metrics),
    }
    flags = [*pod_args(security, {**container, "env": []}, volumes, env), "-v", f"{kube}:/etc/kube:ro"]
    # The host's network: the control plane listens on 127.0.0.1; so the probe and metrics ports are free ones.
    args = [re.sub(r"^--liveness=.*", f"--liveness=http://127.0.0.1:{health}/healthz", a) for a in container["args"]]
    with runner.detached(operator_image, *args, flags=flags, network="host") as operator:
        wait_for(lambda: _healthy(health) or not operator.running(), timeout=90, what="the operator's /healthz",
                 explain=operator.logs)  # fmt: skip
        assert operator.running(), operator.logs()[-4000:]
        manifest = yaml.safe_load((REPO / "examples" / "minimal.yaml").read_text())
        kubectl.apply(manifest, namespace)

        def reconciled() -> dict[str, Any] | None:
            mv = kubectl.get("modelvisualizer", "minimal", namespace)
            status = (mv or {}).get("status") or {}
            deployment = kubectl.get("deployment", "minimal", namespace)
            return mv if deployment and status.get("observedGeneration") == 1 else None

        mv = wait_for(reconciled, timeout=90, what="the ModelVisualizer's first reconcile", explain=operator.logs)
        assert mv is not None
        deployment = kubectl.get("deployment", "minimal", namespace)
        assert deployment is not None
        (child,) = deployment["spec"]["template"]["spec"]["containers"]
        assert child["image"] == mv["spec"]["image"]
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as response:
            assert b"modelviz" in response.read()
        code, took = operator.stop(timeout=30)
        logs = operator.logs()
    print(f"\noperator image: stopped {took:.1f}s after SIGTERM, exit code {code}")
    assert code == 0 and took < 25, f"exit {code} after {took:.1f}s:\n{logs[-4000:]}"
    assert "Traceback" not in logs, logs[-4000:]
