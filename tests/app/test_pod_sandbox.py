"""The visualizer run the way its pod runs it: the operator's Deployment, enforced by a mount namespace.

No container engine runs here, so the image itself is never started. What the Deployment builder asks of the app is
still checked for real: a root filesystem mounted read-only (``readOnlyRootFilesystem``), writable only where the
pod has emptyDirs (/tmp, the cache volume), the ConfigMap's files at the config mount, the image's baked model cache
read-only at /opt/modelviz/cache and linked into the cache volume by the ``seed-cache`` init container's own command,
the env of the container and of Dockerfile.app, the pod's non-root uid/gid/fsGroup, no capabilities and no_new_privs.
Only the listen address and port are changed, to a free port on 127.0.0.1. Then Chromium renders the page.

The sandbox (tests/sandbox.py) is built from the host's own directories under a fresh root.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelviz_app.paths import cache_root
from modelviz_operator.api import ModelVisualizerSpec
from modelviz_operator.builders import build_configmap, build_deployment
from modelviz_operator.builders._common import Owner
from modelviz_operator.builders.deployment import IMAGE_CACHE
from tests.sandbox import ROOT, Sandbox, container_env, dockerfile_env, require_sandbox, venv_path

from .browser import CHART, free_port, settle, stop, wait_healthy

# What `modelviz app prepare` bakes into the image (Dockerfile.app); predictions are computed at run time.
BAKED = ("models", "tflite", "fashion", "meta")

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _pod(example: str) -> tuple[dict[str, Any], dict[str, str]]:
    docs = [d for d in yaml.safe_load_all((ROOT / "examples" / example).read_text()) if d]
    body = docs[0]
    owner = Owner(name=body["metadata"]["name"], namespace="default", uid="0000")
    spec = ModelVisualizerSpec.model_validate(body["spec"])
    pod: dict[str, Any] = build_deployment(owner, spec)["spec"]["template"]["spec"]
    return pod, build_configmap(owner, spec)["data"]


def _sandbox(pod: dict[str, Any], rootfs: Path, volumes: dict[str, Path]) -> Sandbox:
    (main,) = pod["containers"]
    assert main["securityContext"]["readOnlyRootFilesystem"]
    assert main["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    sandbox = Sandbox(rootfs, pod["securityContext"])
    cache = cache_root()
    for part in BAKED:  # the image's baked cache, read-only
        if (cache / part).is_dir():
            sandbox.mount(cache / part, f"{IMAGE_CACHE}/{part}")
    sandbox.volumes(main["volumeMounts"], volumes)
    return sandbox


def _env(main: dict[str, Any]) -> dict[str, str]:
    env = {**dockerfile_env(ROOT / "Dockerfile.app"), **container_env(main, {})}
    return {**env, "PATH": venv_path(), "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def pod_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Path], Path]]:
    require_sandbox()
    pod, config = _pod("demo.yaml")
    base = tmp_path_factory.mktemp("pod")
    volumes = {name: base / name for name in ("tmp", "cache", "config")}
    uid, gid = pod["securityContext"]["runAsUser"], pod["securityContext"]["fsGroup"]
    for name, path in volumes.items():
        path.mkdir()
        os.chown(path, 0 if name == "config" else uid, gid)  # emptyDirs belong to the fsGroup
    for key, value in config.items():
        (volumes["config"] / key).write_text(value)
    (base / "rootfs").mkdir()
    sandbox = _sandbox(pod, base / "rootfs", volumes)
    (init,) = pod["initContainers"]
    (main,) = pod["containers"]
    port = free_port()
    args = list(main["args"])  # only the listen address and port differ from the pod's
    args[args.index("--address") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    log = base / "pod.log"
    proc = sandbox.popen(sandbox.script(args, _env(main), init=[init["command"]]), log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log, timeout=240)
        yield url, volumes, log
    finally:
        stop(proc)


def test_the_pod_serves_the_app_on_a_read_only_root(pod_served, browser) -> None:
    url, volumes, log = pod_served
    page = browser.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("heading", name="Overview").first.wait_for(timeout=240_000)
    settle(page)
    page.locator(CHART).first.wait_for(timeout=60_000)
    body = page.locator("body").inner_text()
    page.close()
    assert "effnet-lite0" in body and "effnet-lite1" in body, body[:2000]
    assert "Error" not in body, body[:2000]
    # The init container seeded the cache volume from the image's read-only copy; the app wrote its predictions
    # there, as the pod's user. Nothing else could be written (the root is read-only).
    cache = volumes["cache"]
    assert {p.name for p in cache.iterdir()} >= {"models", "tflite"}, sorted(p.name for p in cache.iterdir())
    # Weights are linked from the image, not copied: only links and what the app wrote take space in the volume.
    linked = [p for p in (cache / "tflite").iterdir() if p.name.endswith(".tflite")]
    assert linked and all(p.is_symlink() and str(p.readlink()).startswith(IMAGE_CACHE) for p in linked), linked
    predictions = list((cache / "predictions").rglob("*.npz")) + list((cache / "predictions").rglob("*.npy"))
    assert predictions, sorted(str(p) for p in cache.rglob("*"))[:40]
    uid = os.stat(cache).st_uid
    assert {p.stat().st_uid for p in predictions} == {uid}
    text = log.read_text(errors="replace")
    assert "Read-only file system" not in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


def test_the_root_really_is_read_only(tmp_path: Path) -> None:
    """Guards the sandbox itself: a write outside the volumes fails there, so the test above proves something."""
    require_sandbox()
    pod, _config = _pod("demo.yaml")
    (tmp_path / "rootfs").mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    os.chown(tmp, pod["securityContext"]["runAsUser"], pod["securityContext"]["fsGroup"])
    sandbox = _sandbox(pod, tmp_path / "rootfs", {"tmp": tmp})
    probe = "touch /tmp/ok && echo tmp-ok; touch /usr/x 2>&1; touch /x 2>&1; touch /etc/x 2>&1; id -u; id -G"
    script = sandbox.script(["sh", "-c", probe], {"PATH": "/usr/bin:/bin"})
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "tmp-ok" in out and (tmp / "ok").exists(), out
    assert out.count("Read-only file system") == 3, out
    security = pod["securityContext"]
    assert out.strip().splitlines()[-2:] == [str(security["runAsUser"]), f"{security['runAsGroup']}"], out
