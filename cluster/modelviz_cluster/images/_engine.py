"""The container engines the images build with, and the flags each needs to work without a daemon or registry.

podman and buildah (Debian packages) build as root with no daemon; docker needs its daemon. The flags added here are
about this kind of host, never about the Dockerfiles: runc rather than crun (crun refuses cgroup v1 hybrid mode),
cgroupfs when systemd is not running, host networking for builds, the host's CA bundle mounted into RUN steps (package
downloads may go through a TLS proxy only the host trusts), explicit ulimits for runs (podman's defaults may exceed
the host's hard limits) and the docker image format (the OCI format drops HEALTHCHECK).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEBIAN_PACKAGES", "ENGINES", "Engine", "EngineError", "env_engine", "find_engine"]

ENGINES = ("podman", "buildah", "docker")
# What a Debian/Ubuntu host needs to build and run the images without a daemon.
DEBIAN_PACKAGES = ("podman", "buildah", "runc", "mmdebstrap", "fuse-overlayfs", "uidmap")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class EngineError(RuntimeError):
    """No usable engine, or an engine command failed; the message says what to install or what went wrong."""


def _missing_engine_message(wanted: str | None) -> str:
    what = f"container engine {wanted!r} is not usable" if wanted else "no container engine found"
    return (
        f"{what}: install the Debian packages {' '.join(DEBIAN_PACKAGES)} "
        f"(apt-get install {' '.join(DEBIAN_PACKAGES)}), or run a Docker daemon and pass --engine docker"
    )


@dataclass(frozen=True)
class Engine:
    name: str
    path: str

    # --- flags ------------------------------------------------------------------------------------------------

    def global_args(self) -> list[str]:
        if self.name != "podman":
            return []
        args: list[str] = []
        runc = shutil.which("runc")
        if runc:
            args += ["--runtime", runc]
        if not Path("/run/systemd/system").is_dir():
            args += ["--cgroup-manager", "cgroupfs"]
        return args

    def command(self, *args: str) -> list[str]:
        return [self.path, *self.global_args(), *args]

    def build_command(
        self, dockerfile: Path, context: Path, tag: str, build_args: dict[str, str], labels: dict[str, str]
    ) -> list[str]:
        sub = ["bud"] if self.name == "buildah" else ["build"]
        args = [*sub, "-f", str(dockerfile), "-t", tag, "--network", "host"]
        if self.name in ("podman", "buildah"):
            args += ["--format", "docker", "--layers"]
            if self.name == "buildah":
                runc = shutil.which("runc")
                if runc:
                    args += ["--runtime", runc]
            if HOST_CA_BUNDLE.is_file():
                args += ["-v", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"]
        for key, value in build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        for key, value in labels.items():
            args += ["--label", f"{key}={value}"]
        return self.command(*args, str(context))

    def run_args(self) -> list[str]:
        """``run`` flags every container of the tests gets: ulimits within the host's hard limits."""
        if self.name != "podman":
            return []
        args: list[str] = []
        # Bounded well below the host's hard limits: runc could not set nproc even at exactly the hard limit here.
        for name, limit, cap in (("nofile", resource.RLIMIT_NOFILE, 16384), ("nproc", resource.RLIMIT_NPROC, 8192)):
            _, hard = resource.getrlimit(limit)
            value = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
            args += ["--ulimit", f"{name}={value}:{value}"]
        return args

    # --- images -----------------------------------------------------------------------------------------------

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(self.command(*args), capture_output=True, text=True, timeout=timeout, check=False)
        if check and out.returncode != 0:
            raise EngineError(f"{self.name} {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
        return out

    def inspect(self, ref: str) -> dict[str, Any] | None:
        """The image's inspect record (docker's layout: Id, Size, Config), or None when it is not there."""
        if self.name == "buildah":
            out = self.run("inspect", "--type", "image", ref, check=False)
            if out.returncode != 0:
                return None
            raw = json.loads(out.stdout)
            config = (raw.get("Docker") or {}).get("config") or (raw.get("OCIv1") or {}).get("config") or {}
            size = self._buildah_size(ref)
            return {"Id": raw.get("FromImageID", ""), "Size": size, "Config": config}
        out = self.run("image", "inspect", ref, check=False)
        if out.returncode != 0:
            return None
        records = json.loads(out.stdout)
        return records[0] if records else None

    def _buildah_size(self, ref: str) -> int:
        """buildah reports sizes only for humans ("495 MB", decimal units)."""
        out = self.run("images", "--json", ref, check=False)
        try:
            text = str(json.loads(out.stdout)[0].get("size", "0 B"))
        except (ValueError, IndexError, KeyError, TypeError):
            return 0
        match = re.fullmatch(r"([\d.]+)\s*([kMGT]?B)", text.strip())
        if not match:
            return 0
        scale = {"B": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}[match.group(2)]
        return int(float(match.group(1)) * scale)

    def image_id(self, ref: str) -> str | None:
        record = self.inspect(ref)
        return str(record["Id"]).removeprefix("sha256:") if record else None

    def import_rootfs(self, tarball: Path, ref: str) -> None:
        """A root filesystem tarball as a one-layer image."""
        if self.name == "buildah":
            container = self.run("from", "scratch").stdout.strip()
            try:
                self.run("add", container, str(tarball), "/", timeout=900)  # local tar archives are extracted
                self.run("commit", "--format", "docker", container, ref, timeout=900)
            finally:
                self.run("rm", container, check=False)
            return
        self.run("import", str(tarball), ref, timeout=900)

    def load(self, archive: Path) -> None:
        """A docker-archive back into the engine's storage, with its tag and image id."""
        if self.name == "buildah":
            self.run("pull", f"docker-archive:{archive}", timeout=1800)
        else:
            self.run("load", "-i", str(archive), timeout=1800)

    def save(self, ref: str, target: Path) -> None:
        """A docker-archive (``docker load``, ``ctr images import``, ``skopeo copy docker-archive:``) of one image."""
        if self.name == "buildah":
            self.run("push", ref, f"docker-archive:{target}:{ref}", timeout=1800)
        elif self.name == "podman":
            self.run("save", "--format", "docker-archive", "-o", str(target), ref, timeout=1800)
        else:
            self.run("save", "-o", str(target), ref, timeout=1800)


def _usable(name: str) -> Engine | None:
    path = shutil.which(name)
    if not path:
        return None
    engine = Engine(name, path)
    if name == "docker":  # the client alone is no engine: its daemon must answer
        try:
            ok = subprocess.run([path, "info"], capture_output=True, timeout=20, check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        return engine if ok else None
    return engine


def find_engine(wanted: str | None = None) -> Engine:
    """``wanted`` if usable, else the first of podman, buildah, docker (with a running daemon)."""
    if wanted is not None and wanted not in ENGINES:
        raise EngineError(f"unknown engine {wanted!r}; one of {', '.join(ENGINES)}")
    for name in [wanted] if wanted else ENGINES:
        engine = _usable(name)
        if engine is not None:
            return engine
    raise EngineError(_missing_engine_message(wanted))


def env_engine() -> str | None:
    return os.environ.get("MODELVIZ_IMAGE_ENGINE") or None
