"""The visualizer image: as declared, run as the operator's Deployment runs it, and run with no arguments at all.

Each container has no network but its loopback (``--network none``); Chromium renders the Overview from inside that
network namespace, so nothing the page needs can have been downloaded at run time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelviz_operator.api import DEFAULT_IMAGE, ModelVisualizerSpec
from modelviz_operator.builders import build_configmap, build_deployment
from modelviz_operator.builders._common import Owner
from modelviz_operator.builders.deployment import IMAGE_CACHE
from tests.deploy.dockerfiles import APP, final, parse_key_values
from tests.kube_helpers import REPO

from .browser import overview_text
from .containers import Runner, pod_args

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PORT = 8501


def _declared_labels(version: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for instruction in final(APP).all("LABEL"):
        labels.update(parse_key_values(instruction.args))
    return {k: v.replace("${VERSION}", version).replace("${REVISION}", "unknown") for k, v in labels.items()}


def test_the_image_is_tagged_as_the_operator_expects(visualizer_image: str) -> None:
    assert visualizer_image == DEFAULT_IMAGE


def test_user_ports_healthcheck_labels_and_command_as_declared(runner: Runner, visualizer_image: str) -> None:
    info = runner.inspect_image(visualizer_image)
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert set(config["ExposedPorts"]) == {"8501/tcp"}
    assert config["Cmd"] == ["modelviz", "app", "serve", "--address", "0.0.0.0", "--port", "8501"]
    assert not config.get("Entrypoint")
    version = visualizer_image.rsplit(":", 1)[1]
    labels = config["Labels"]
    assert {k: labels.get(k) for k in _declared_labels(version)} == _declared_labels(version)
    # The docker format keeps HEALTHCHECK (the OCI format has no field for it; podman's image inspect shows only
    # OCI fields, a container made from the image has it).
    created = runner.run("create", visualizer_image).stdout.strip()
    try:
        health = runner.run("inspect", "--format", "{{json .Config.Healthcheck}}", created).stdout
    finally:
        runner.run("rm", created, check=False)
    test = json.loads(health.strip().splitlines()[0])["Test"]
    assert test[0] == "CMD" and test[1] == "python" and "http://127.0.0.1:8501/_stcore/health" in test[-1], test
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["MODELVIZ_CACHE"] == IMAGE_CACHE and env["MODELVIZ_CONFIG"] == "/etc/modelviz/config.yaml"


def test_tensorflow_stays_out_of_the_image(runner: Runner, visualizer_image: str) -> None:
    probe = (
        "import importlib.util as u; "
        "print(*(m for m in ('tensorflow', 'keras', 'ai_edge_litert', 'streamlit') if u.find_spec(m)), sep=',')"
    )
    out = runner.once(visualizer_image, "python", "-c", probe)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ai_edge_litert,streamlit", out.stdout


def _pod(example: str, index: int) -> tuple[dict[str, Any], dict[str, str]]:
    docs = [d for d in yaml.safe_load_all((REPO / "examples" / example).read_text()) if d]
    body = docs[index]
    owner = Owner(name=body["metadata"]["name"], namespace="default", uid="0000")
    spec = ModelVisualizerSpec.model_validate(body["spec"])
    return build_deployment(owner, spec)["spec"]["template"]["spec"], build_configmap(owner, spec)["data"]


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def test_the_deployment_pod_serves_on_a_read_only_root(runner: Runner, visualizer_image: str, tmp_path: Path) -> None:
    pod, config = _pod("demo.yaml", 1)  # the Fashion-MNIST visualizer: models trained at build time
    security = pod["securityContext"]
    (init,) = pod["initContainers"]
    (main,) = pod["containers"]
    assert main["image"] == visualizer_image and init["image"] == visualizer_image
    uid, gid = security["runAsUser"], security["fsGroup"]
    volumes = {name: tmp_path / name for name in ("tmp", "cache", "config")}
    for name, path in volumes.items():
        path.mkdir()
        # A kubelet's emptyDir: mode 0777, group-owned by the fsGroup with setgid; the ConfigMap's files are 0644.
        os.chown(path, 0, gid)
        path.chmod(0o755 if name == "config" else 0o2777)
    for key, value in config.items():
        (volumes["config"] / key).write_text(value)
    image = visualizer_image
    # The init container: its own command (replacing the image's, as `command` does), its own mounts.
    seeded = runner.once(
        image, *init["command"][1:], flags=["--entrypoint", init["command"][0], *pod_args(security, init, volumes)]
    )
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    with runner.detached(image, *main["args"], flags=pod_args(security, main, volumes)) as container:
        startup = container.wait_healthy(PORT)
        body, render = overview_text(container, tmp_path / "profile")
        status = _status(container.pid)
        writes = container.exec("sh", "-c", "touch /x /opt/modelviz/cache/x /etc/x 2>&1; touch /tmp/ok && echo ok")
        health = (
            runner.run("healthcheck", "run", container.name, check=False) if runner.engine.name == "podman" else None
        )
        links = Path(f"/proc/{container.pid}/net/dev").read_text()
        logs = container.logs()
    print(f"\nvisualizer pod: healthy {startup:.1f}s after start, Overview drawn in {render:.1f}s")
    assert "small-cnn" in body and "mobilenet-v2" in body, body[:2000]
    assert "Error" not in body, body[:2000]
    # The process runs as the pod's user with no capabilities and no_new_privs, under the default seccomp profile.
    assert status["Uid"].split()[0] == str(uid) and status["Gid"].split()[0] == str(security["runAsGroup"])
    assert str(gid) in status["Groups"].split()
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0 and int(status["CapBnd"], 16) == 0
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2", status
    # Writable only where the pod has volumes.
    assert writes.stdout.count("Read-only file system") == 3 and writes.stdout.strip().endswith("ok"), writes.stdout
    # Only the loopback device: no network to download anything from.
    devices = [line.split(":")[0].strip() for line in links.splitlines()[2:]]
    assert devices == ["lo"], devices
    if health is not None:
        assert health.returncode == 0, health.stdout + health.stderr
    # seed-cache linked the image's prepared models into the cache volume; the app wrote its predictions beside them.
    cache = volumes["cache"]
    linked = [p for p in (cache / "tflite").iterdir() if p.name.endswith(".tflite")]
    assert linked and all(p.is_symlink() and str(p.readlink()).startswith(IMAGE_CACHE) for p in linked), linked
    predictions = [p for p in (cache / "predictions").rglob("*") if p.is_file()]
    assert predictions and {p.stat().st_uid for p in predictions} == {uid}, sorted(cache.rglob("*"))[:40]
    assert "Read-only file system" not in logs and "Traceback" not in logs, logs[-3000:]


def test_no_arguments_serve_the_baked_demo(runner: Runner, visualizer_image: str, tmp_path: Path) -> None:
    """`docker run -p 8501:8501 IMAGE`: the image's own user, CMD and configuration, nothing mounted."""
    with runner.detached(visualizer_image) as container:
        startup = container.wait_healthy(PORT)
        body, render = overview_text(container, tmp_path / "profile")
        logs = container.logs()
    print(f"\nvisualizer, no arguments: healthy {startup:.1f}s after start, Overview drawn in {render:.1f}s")
    assert "effnet-lite0" in body and "effnet-lite1" in body, body[:2000]
    assert "No configuration" not in body and "Error" not in body, body[:2000]
    assert "Traceback" not in logs, logs[-3000:]


def test_a_mounted_configuration_replaces_the_baked_one(runner: Runner, visualizer_image: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text((REPO / "examples" / "app-config" / "fashion.yaml").read_text())
    config.chmod(0o644)
    flags = ["-v", f"{config}:/etc/modelviz/config.yaml:ro"]
    with runner.detached(visualizer_image, flags=flags) as container:
        container.wait_healthy(PORT)
        body, _ = overview_text(container, tmp_path / "profile")
    assert "fashion-cnn" in body and "effnet-lite0" not in body, body[:2000]
