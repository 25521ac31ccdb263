"""Run a container spec the way a kubelet would enforce it, without a container engine: a mount namespace.

The "image" is the host's own system (/usr, /etc, the Python installation) and this checkout with its venv, all
mounted read-only under a fresh root, which is itself read-only (``readOnlyRootFilesystem``). The pod's volumes are
bind-mounted at their mount paths, writable unless ``readOnly``. Processes run as the pod's uid/gid with its fsGroup,
no capabilities and no_new_privs. The namespace ends with its last process, leaving no mount behind on the host.

This checks what a manifest asks of the code (paths it writes, env it reads, user it runs as), not the image's own
contents, which no test here can build.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "Sandbox", "container_env", "dockerfile_env", "require_sandbox", "venv_path"]

ROOT = Path(__file__).resolve().parents[1]


def require_sandbox() -> None:
    """Fail with the reason when mount namespaces do not work here; MODELVIZ_SKIP_SANDBOX=1 skips instead."""
    import pytest

    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        problem = "unshare/setpriv (util-linux) are missing"
    else:
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True, check=False)
        problem = "" if probe.returncode == 0 else f"`unshare -m true` fails: {probe.stderr.strip()}"
    if problem and os.environ.get("MODELVIZ_SKIP_SANDBOX") == "1":
        pytest.skip(f"MODELVIZ_SKIP_SANDBOX=1: {problem}")
    if problem:
        pytest.fail(f"the pod sandbox needs mount namespaces (root or CAP_SYS_ADMIN): {problem}")


def dockerfile_env(dockerfile: Path) -> dict[str, str]:
    """The ENV of a Dockerfile's final stage (what the image's processes start with)."""
    from tests.deploy.dockerfiles import final  # the parser the Dockerfile checks use

    env: dict[str, str] = {}
    for instruction in final(dockerfile).all("ENV"):
        for word in shlex.split(instruction.args):
            key, _, value = word.partition("=")
            env[key] = value
    return env


def container_env(container: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, str]:
    """A container's env as a kubelet resolves it: values, and fieldRefs from ``fields`` (e.g. metadata.name)."""
    env: dict[str, str] = {}
    for entry in container.get("env") or []:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif "fieldRef" in entry.get("valueFrom", {}):
            env[entry["name"]] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            raise AssertionError(f"env {entry['name']}: only values and fieldRefs are resolved here")
    return env


@dataclass
class Sandbox:
    """A pod's filesystem and user, built by a shell script that ``unshare -m`` runs."""

    rootfs: Path
    pod_security: Mapping[str, Any]  # the pod's securityContext (runAsUser, runAsGroup, fsGroup)
    mounts: list[tuple[Path, str, bool]] = field(default_factory=list)  # (source, mountPath, writable)

    def mount(self, source: Path, target: str, *, writable: bool = False) -> None:
        self.mounts.append((source, target, writable))

    def volumes(self, volume_mounts: Sequence[Mapping[str, Any]], sources: Mapping[str, Path]) -> None:
        """The container's volumeMounts whose volume has a source here."""
        for mount in volume_mounts:
            if mount["name"] in sources:
                self.mount(sources[mount["name"]], mount["mountPath"], writable=not mount.get("readOnly", False))

    def user(self) -> str:
        security = self.pod_security
        assert security.get("runAsNonRoot") and security["runAsUser"] != 0
        return (
            f"setpriv --reuid={security['runAsUser']} --regid={security['runAsGroup']} "
            f"--groups={security.get('fsGroup', security['runAsGroup'])} "
            "--inh-caps=-all --bounding-set=-all --no-new-privs"
        )

    def setup(self) -> list[str]:
        r = shlex.quote(str(self.rootfs))
        lines = ["set -eu", "mount --make-rprivate /", f"mount --bind {r} {r}"]

        def bind(source: str | Path, target: str, writable: bool = False) -> None:
            where = f"{r}{shlex.quote(target)}"
            if Path(source).is_dir():
                lines.append(f"mkdir -p {where}")
            else:  # a file (a termination-message file, a device node)
                lines.extend([f"mkdir -p $(dirname {where})", f"touch {where}"])
            lines.append(f"mount --rbind {shlex.quote(str(source))} {where}")
            if not writable:
                lines.append(f"mount -o remount,bind,ro {where}")

        for top in ("bin", "lib", "lib64", "sbin"):
            if Path(f"/{top}").is_symlink():
                lines.append(f"ln -s {shlex.quote(os.readlink(f'/{top}'))} {r}/{top}")
        for system in ("/usr", sys.base_prefix):
            bind(system, system)
        lines.append(f"chmod 755 {r}/root 2>/dev/null || true")  # /root is 0700 on hosts; a pyenv may be inside
        # /etc: a read-only overlay of the host's, plus the mount points wanted under it (a bind would make them on
        # the host).
        extra = self.rootfs.parent / f"{self.rootfs.name}-etc"
        extra.mkdir(exist_ok=True)
        for _source, target, _writable in self.mounts:
            if target.startswith("/etc/"):
                (extra / target.removeprefix("/etc/")).mkdir(parents=True, exist_ok=True)
        lines.append(f"mkdir -p {r}/etc")
        lines.append(f"mount -t overlay overlay -o lowerdir={shlex.quote(str(extra))}:/etc {r}/etc")
        for name in ("proc", "sys"):
            bind(f"/{name}", f"/{name}")
        # /dev as a container runtime makes it: a tmpfs with the usual device nodes and shm, nothing of the host's.
        lines += [f"mkdir -p {r}/dev", f"mount -t tmpfs -o mode=755 tmpfs {r}/dev"]
        for node in ("null", "zero", "full", "random", "urandom", "tty"):
            bind(f"/dev/{node}", f"/dev/{node}", writable=True)
        lines += [f"mkdir -p {r}/dev/shm", f"mount -t tmpfs -o mode=1777 tmpfs {r}/dev/shm"]
        for link, to in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):  # fmt: skip
            lines.append(f"ln -s {to} {r}/dev/{link}")
        for source, target, writable in self.mounts:
            bind(source, target, writable)
        bind(ROOT, str(ROOT))  # after the volumes: a checkout under /tmp would be hidden by the /tmp emptyDir
        lines.append(f"mount -o remount,bind,ro {r}")  # readOnlyRootFilesystem
        return lines

    def run_line(self, argv: Sequence[str], env: Mapping[str, str], *, exec_: bool = False) -> str:
        """A script line running argv in the sandbox as the pod's user with exactly env."""
        environment = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        r = shlex.quote(str(self.rootfs))
        return f"{'exec ' if exec_ else ''}chroot {r} {self.user()} env -i {environment} {shlex.join(argv)}"

    def script(self, main: Sequence[str], env: Mapping[str, str], init: Sequence[Sequence[str]] = ()) -> str:
        """Set up, run each init command to completion, then exec the main command (its pid is the sandbox's)."""
        lines = self.setup()
        lines += [self.run_line(command, env) for command in init]
        lines.append(self.run_line(main, env, exec_=True))
        return "\n".join(lines) + "\n"

    def popen(self, script: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                ["unshare", "-m", "sh", "-c", script], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )


def venv_path() -> str:
    """PATH inside the sandbox: the checkout's venv stands for the image's /opt/venv."""
    return f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin"
