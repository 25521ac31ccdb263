"""Find or build the control-plane binaries (etcd, Kubernetes, kwok) without downloading release archives.

Search order: ``KUBEBUILDER_ASSETS`` (envtest's convention), ``PATH`` (only binaries of the pinned version), the
version-keyed cache, and finally a build from Go modules through the Go module proxy.

``go install k8s.io/kubernetes/cmd/...@vX`` is refused because k8s.io/kubernetes replaces its staging modules with
local paths, so each build happens inside a small generated wrapper module that requires the release and replaces
every staging module with its published ``v0.X.Y`` twin (the list is read from the release's own go.mod).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .versions import ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION, cache_key

__all__ = [
    "BINARIES",
    "BinaryError",
    "BuildReport",
    "build_binaries",
    "cache_dir",
    "ensure_binaries",
    "find_binaries",
    "staging_modules_from",
]

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
_K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
_ETCD_MODULES = ("api/v3", "client/pkg/v3", "client/v3", "pkg/v3", "server/v3")


class BinaryError(RuntimeError):
    """A binary is missing and cannot be built here; the message says how to provide it."""


@dataclass(frozen=True)
class BuildReport:
    seconds: float
    disk_bytes: int
    built: tuple[str, ...]


def cache_root() -> Path:
    base = os.environ.get("MODELVIZ_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "modelviz"
    )
    return Path(base)


def cache_dir() -> Path:
    return cache_root() / cache_key()


def _version_of(path: Path, name: str) -> str | None:
    """The version a binary reports, or None when it cannot say."""
    args = {
        "etcd": ["--version"],
        "kubectl": ["version", "--client"],
        "kwok": ["--version"],
    }.get(name, ["--version"])
    try:
        out = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout + out.stderr
    match = re.search(r"v?(\d+\.\d+\.\d+)", text)
    return f"v{match.group(1)}" if match else None


def _expected(name: str) -> str:
    if name == "etcd":
        return ETCD_VERSION
    if name == "kwok":
        return KWOK_VERSION
    return KUBERNETES_VERSION


def _candidates(name: str) -> Iterable[Path]:
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        yield Path(assets) / name
    on_path = shutil.which(name)
    if on_path:
        yield Path(on_path)
    yield cache_dir() / "bin" / name


def find_binaries(names: Iterable[str] = BINARIES) -> tuple[dict[str, Path], list[str]]:
    """Binaries of the pinned versions already on this machine, and the names still missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in names:
        for candidate in _candidates(name):
            usable = candidate.is_file() and os.access(candidate, os.X_OK)
            if usable and _version_of(candidate, name) == _expected(name):
                found[name] = candidate
                break
        else:
            missing.append(name)
    return found, missing


def _go() -> str:
    go = shutil.which("go")
    if not go:
        raise BinaryError(
            "Go is not installed, so the control-plane binaries cannot be built. Either install Go "
            f"(1.26+) or provide etcd {ETCD_VERSION}, kube-apiserver/kube-controller-manager/kube-scheduler/"
            f"kubectl {KUBERNETES_VERSION} and kwok {KWOK_VERSION} in $KUBEBUILDER_ASSETS, on PATH, or in "
            f"{cache_dir() / 'bin'}."
        )
    return go


def _staging_modules(version: str) -> list[str]:
    """The staging modules k8s.io/kubernetes@version replaces with local paths, read from its go.mod."""
    proxy = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0]
    if proxy in ("direct", "off", ""):
        proxy = "https://proxy.golang.org"
    url = f"{proxy.rstrip('/')}/k8s.io/kubernetes/@v/{version}.mod"
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - the Go module proxy
        return staging_modules_from(response.read().decode())


def staging_modules_from(gomod: str) -> list[str]:
    """Modules a k8s.io/kubernetes go.mod replaces with ./staging/ paths."""
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", gomod, re.MULTILINE)))


def _write_module(workdir: Path, name: str, requires: dict[str, str], replaces: dict[str, str]) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [f"module modelviz.local/{name}", "", "go 1.26", "", "require ("]
    lines += [f"\t{mod} {ver}" for mod, ver in requires.items()]
    lines.append(")")
    if replaces:
        lines += ["", "replace ("]
        lines += [f"\t{mod} => {mod} {ver}" for mod, ver in replaces.items()]
        lines.append(")")
    (workdir / "go.mod").write_text("\n".join(lines) + "\n")


def _run(cmd: list[str], cwd: Path, log: Path, env: dict[str, str]) -> None:
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise BinaryError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")


def _k8s_ldflags() -> str:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={KUBERNETES_VERSION}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate={date}",
        ]
    return " ".join(flags)


def build_binaries(names: Iterable[str], log: Path | None = None) -> BuildReport:
    """Build the named binaries into the cache (a cold build of all takes tens of minutes on 2 cores)."""
    wanted = [n for n in names if n in BINARIES]
    go = _go()
    dest = cache_dir()
    bindir = dest / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    log = log or dest / "build.log"
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod -trimpath -buildvcs=false")
    start = time.monotonic()
    work = dest / "src"
    k8s = [n for n in wanted if n in _K8S_COMMANDS]
    if k8s:
        minor_version = "v0." + KUBERNETES_VERSION.lstrip("v").split(".", 1)[1]
        staging = _staging_modules(KUBERNETES_VERSION)
        mod = work / "kubernetes"
        _write_module(
            mod,
            "kubernetes",
            {"k8s.io/kubernetes": KUBERNETES_VERSION},
            {m: minor_version for m in staging},
        )
        pkgs = [f"k8s.io/kubernetes/cmd/{n}" for n in k8s]
        _run([go, "mod", "download", "k8s.io/kubernetes"], mod, log, env)
        _run([go, "build", "-ldflags", _k8s_ldflags(), "-o", str(bindir) + "/", *pkgs], mod, log, env)
    if "etcd" in wanted:
        mod = work / "etcd"
        _write_module(mod, "etcd", {f"go.etcd.io/etcd/{m}": ETCD_VERSION for m in _ETCD_MODULES}, {})
        _run([go, "build", "-ldflags", "-s -w", "-o", str(bindir / "etcd"), "go.etcd.io/etcd/server/v3"], mod, log, env)
    if "kwok" in wanted:
        mod = work / "kwok"
        _write_module(mod, "kwok", {"sigs.k8s.io/kwok": KWOK_VERSION}, {})
        _run([go, "build", "-ldflags", "-s -w", "-o", str(bindir / "kwok"), "sigs.k8s.io/kwok/cmd/kwok"], mod, log, env)
    seconds = time.monotonic() - start
    disk = sum(p.stat().st_size for p in bindir.iterdir() if p.is_file())
    return BuildReport(seconds=seconds, disk_bytes=disk, built=tuple(wanted))


def ensure_binaries(names: Iterable[str] = BINARIES, log: Path | None = None) -> dict[str, Path]:
    """Every named binary, building what is missing (the build is cached by version)."""
    wanted = list(names)
    found, missing = find_binaries(wanted)
    if missing:
        if os.environ.get("MODELVIZ_NO_BUILD"):
            raise BinaryError(f"missing binaries {missing} and MODELVIZ_NO_BUILD is set")
        build_binaries(missing, log)
        found, missing = find_binaries(wanted)
        if missing:
            raise BinaryError(f"built, but still missing or of the wrong version: {missing}")
    return found
