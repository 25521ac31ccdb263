"""The visualizer run the way its pod runs it: the operator's Deployment, enforced by a mount namespace.

No container engine runs here, so the image itself is never started. What the Deployment builder asks of the app is
still checked for real: a root filesystem mounted read-only (``readOnlyRootFilesystem``), writable only where the
pod has emptyDirs (/tmp, the cache volume), the ConfigMap's files at the config mount, the image's baked model cache
read-only at /opt/modelviz/cache and copied by the ``seed-cache`` init container's own command, the env of the
container and of Dockerfile.app, the pod's non-root uid/gid/fsGroup, no capabilities and no_new_privs. Only the
listen address and port are changed, to a free port on 127.0.0.1. Then Chromium renders the page.

The sandbox is built from the host's own directories (bind mounts of /usr, /etc, the Python installation and the
checkout) under a fresh root; it ends with the namespace's last process, leaving no mount behind.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelviz_app.paths import cache_root
from modelviz_operator.api import ModelVisualizerSpec
from modelviz_operator.builders import build_configmap, build_deployment
from modelviz_operator.builders._common import Owner
from tests.deploy.test_dockerfiles import final  # the Dockerfile parser those checks use

from .browser import free_port, settle, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
IMAGE_CACHE = "/opt/modelviz/cache"
# What `modelviz app prepare` bakes into the image (Dockerfile.app); predictions are computed at run time.
BAKED = ("models", "tflite", "fashion", "meta")

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _unshare_works() -> str | None:
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        return "unshare/setpriv (util-linux) are missing"
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True, check=False)
    return None if probe.returncode == 0 else f"unshare -m fails: {probe.stderr.strip()}"


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in final(ROOT / "Dockerfile.app").all("ENV"):
        for word in shlex.split(instruction.args):
            key, _, value = word.partition("=")
            env[key] = value
    return env


def _pod(example: str) -> tuple[dict[str, Any], dict[str, str]]:
    docs = [d for d in yaml.safe_load_all((ROOT / "examples" / example).read_text()) if d]
    body = docs[0]
    owner = Owner(name=body["metadata"]["name"], namespace="default", uid="0000")
    spec = ModelVisualizerSpec.model_validate(body["spec"])
    pod: dict[str, Any] = build_deployment(owner, spec)["spec"]["template"]["spec"]
    return pod, build_configmap(owner, spec)["data"]


def _script(pod: dict[str, Any], rootfs: Path, volumes: dict[str, Path], port: int) -> str:
    """A shell script for ``unshare -m``: build the pod's filesystem view, then run its init and main containers."""
    (init,) = pod["initContainers"]
    (main,) = pod["containers"]
    security = pod["securityContext"]
    r = shlex.quote(str(rootfs))
    lines = ["set -eu", "mount --make-rprivate /", f"mount --bind {r} {r}"]

    def bind(source: str | Path, target: str, writable: bool = False) -> None:
        lines.append(f"mkdir -p {r}{shlex.quote(target)}")
        lines.append(f"mount --rbind {shlex.quote(str(source))} {r}{shlex.quote(target)}")
        if not writable:
            lines.append(f"mount -o remount,bind,ro {r}{shlex.quote(target)}")

    # The "image": the host's system, Python and checkout, all read-only.
    for top in ("bin", "lib", "lib64", "sbin"):
        if Path(f"/{top}").is_symlink():
            lines.append(f"ln -s {shlex.quote(os.readlink(f'/{top}'))} {r}/{top}")
    for system in ("/usr", sys.base_prefix, str(ROOT)):
        bind(system, system)
    # /etc as a read-only overlay of the host's, plus the mount points the pod's volumes need under it
    # (a plain bind would make them on the host).
    extra = rootfs.parent / "etc-mountpoints"
    for mount in main["volumeMounts"]:
        if mount["name"] in volumes and mount["mountPath"].startswith("/etc/"):
            (extra / mount["mountPath"].removeprefix("/etc/")).mkdir(parents=True, exist_ok=True)
    extra.mkdir(exist_ok=True)
    lines.append(f"mkdir -p {r}/etc")
    lines.append(f"mount -t overlay overlay -o lowerdir={shlex.quote(str(extra))}:/etc {r}/etc")
    lines.append(f"chmod 755 {r}/root 2>/dev/null || true")  # /root is 0700 on the host; its pyenv is bound inside
    for name in ("proc", "sys", "dev"):
        bind(f"/{name}", f"/{name}", writable=name == "dev")
    cache = cache_root()
    for part in BAKED:
        if (cache / part).is_dir():
            bind(cache / part, f"{IMAGE_CACHE}/{part}")
    # The pod's volumes at the Deployment's mount paths (emptyDirs writable, the ConfigMap read-only).
    for mount in main["volumeMounts"]:
        if mount["name"] in volumes:
            bind(volumes[mount["name"]], mount["mountPath"], writable=not mount.get("readOnly", False))
    lines.append(f"mount -o remount,bind,ro {r}")  # readOnlyRootFilesystem

    assert security["runAsNonRoot"] and main["securityContext"]["readOnlyRootFilesystem"]
    assert main["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    user = (
        f"setpriv --reuid={security['runAsUser']} --regid={security['runAsGroup']} "
        f"--groups={security['fsGroup']} --inh-caps=-all --bounding-set=-all --no-new-privs"
    )
    env = {**_image_env(), **{e["name"]: e["value"] for e in main["env"]}}
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin"  # the image's /opt/venv is this checkout's venv here
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    environment = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    args = list(main["args"])
    args[args.index("--address") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    init_command = " ".join(shlex.quote(a) for a in init["command"])
    lines.append(f"chroot {r} {user} env -i {environment} {init_command}")
    lines.append(f"cd {r} && exec chroot {r} {user} env -i HOSTNAME=pod {environment} {shlex.join(args)}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def pod_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Path], Path]]:
    reason = _unshare_works()
    if reason is not None:
        pytest.fail(f"the pod sandbox needs mount namespaces: {reason}")
    pod, config = _pod("demo.yaml")
    base = tmp_path_factory.mktemp("pod")
    rootfs = base / "rootfs"
    rootfs.mkdir()
    volumes = {name: base / name for name in ("tmp", "cache", "config")}
    uid, gid = pod["securityContext"]["runAsUser"], pod["securityContext"]["fsGroup"]
    for name, path in volumes.items():
        path.mkdir()
        os.chown(path, 0 if name == "config" else uid, gid)  # emptyDirs belong to the fsGroup
    for key, value in config.items():
        (volumes["config"] / key).write_text(value)
    port = free_port()
    log = base / "pod.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", _script(pod, rootfs, volumes, port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log, timeout=240)
        yield url, volumes, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_the_pod_serves_the_app_on_a_read_only_root(pod_served, browser) -> None:
    url, volumes, log = pod_served
    page = browser.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("heading", name="Overview").first.wait_for(timeout=240_000)
    settle(page)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    body = page.locator("body").inner_text()
    page.close()
    assert "effnet-lite0" in body and "effnet-lite1" in body, body[:2000]
    assert "Error" not in body, body[:2000]
    # The init container seeded the cache volume from the image's read-only copy; the app wrote its predictions
    # there, as the pod's user. Nothing else could be written (the root is read-only).
    cache = volumes["cache"]
    assert {p.name for p in cache.iterdir()} >= {"models", "tflite"}, sorted(p.name for p in cache.iterdir())
    predictions = list((cache / "predictions").rglob("*.npz")) + list((cache / "predictions").rglob("*.npy"))
    assert predictions, sorted(str(p) for p in cache.rglob("*"))[:40]
    uid = os.stat(cache).st_uid
    assert {p.stat().st_uid for p in predictions} == {uid}
    text = log.read_text(errors="replace")
    assert "Read-only file system" not in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


def test_the_root_really_is_read_only(tmp_path: Path) -> None:
    """Guards the sandbox itself: a write outside the volumes fails there, so the test above proves something."""
    reason = _unshare_works()
    if reason is not None:
        pytest.fail(f"the pod sandbox needs mount namespaces: {reason}")
    pod, _config = _pod("demo.yaml")
    rootfs, tmp = tmp_path / "rootfs", tmp_path / "tmp"
    rootfs.mkdir()
    tmp.mkdir()
    os.chown(tmp, pod["securityContext"]["runAsUser"], pod["securityContext"]["fsGroup"])
    script = _script(pod, rootfs, {"tmp": tmp}, free_port()).splitlines()
    # Keep the filesystem set-up; replace the two container runs with write attempts as the pod's user.
    setup = [line for line in script if not line.startswith(("chroot ", "cd "))]
    user = script[-1].split(" env -i ")[0].split(f"chroot {rootfs} ", 1)[1]
    probe = (
        f"chroot {rootfs} {user} sh -c "
        "'touch /tmp/ok && echo tmp-ok; touch /usr/x 2>&1; touch /x 2>&1; touch /etc/x 2>&1; id -u'"
    )
    started = time.monotonic()
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", "\n".join([*setup, probe])], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "tmp-ok" in out and (tmp / "ok").exists(), out
    assert out.count("Read-only file system") == 3, out
    assert out.strip().splitlines()[-1] == str(pod["securityContext"]["runAsUser"]), out
    assert time.monotonic() - started < 60
