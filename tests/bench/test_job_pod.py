"""The benchmark Job's container run as its pod would (tests/sandbox.py), with the real runner and the real ab.

What the Job builder asks of the runner is enforced: a read-only root with no writable volume at all, uid 10001,
no capabilities, no_new_privs, the operator image's ENV, and the termination message written to the file a kubelet
mounts at ``terminationMessagePath``. Only the Service URL differs: a local server stands in for the visualizer.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from modelviz_operator.api import BenchmarkSpec, ModelVisualizerSpec
from modelviz_operator.builders._common import Owner
from modelviz_operator.builders.job import build_benchmark_job
from tests.sandbox import ROOT, Sandbox, container_env, dockerfile_env, require_sandbox, venv_path

from .conftest import requires_ab
from .servers import serve


@requires_ab
def test_the_job_pod_benchmarks_on_a_read_only_root(tmp_path: Path) -> None:
    require_sandbox()
    owner = Owner(name="imagenet", namespace="default", uid="0000")
    spec = ModelVisualizerSpec.model_validate(
        {"models": [{"name": "a", "catalog": "efficientnet-lite0"}], "dataset": {"catalog": "imagenet-sample"}}
    )
    bench = BenchmarkSpec.model_validate({"runId": "r1", "requests": 200, "concurrency": 4})
    job = build_benchmark_job(owner, spec, bench, "r1")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] and "volumeMounts" not in container
    termination = tmp_path / "termination-log"
    termination.touch()
    termination.chmod(0o666)  # the kubelet's file, writable by whatever uid the container runs as
    (tmp_path / "rootfs").mkdir()
    sandbox = Sandbox(tmp_path / "rootfs", pod["securityContext"])
    sandbox.mount(termination, container["terminationMessagePath"], writable=True)
    env = {**dockerfile_env(ROOT / "Dockerfile.operator"), **container_env(container, {}), "PATH": venv_path()}
    with serve("ok") as url:
        command = list(container["command"])
        in_cluster = command[command.index("--url") + 1]
        assert in_cluster.startswith("http://imagenet.default.svc.cluster.local")
        command[command.index("--url") + 1] = url  # the local stand-in for the Service
        script = sandbox.script(command, env)
        result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120)
        served = url.requests
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    message = json.loads(termination.read_text())
    assert message["ok"] is True, message
    assert message["complete"] == 200 and message["failed"] == 0 and message["rps"] > 0, message
    assert served >= 200
    assert "Read-only file system" not in result.stderr, result.stderr
