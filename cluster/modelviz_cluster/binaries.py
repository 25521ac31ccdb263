"""Find or build the cluster's binaries (etcd, Kubernetes, kwok, and the real node's) without downloading releases.

Search order: ``KUBEBUILDER_ASSETS`` (envtest's convention), ``PATH`` (only binaries of the pinned version), the
version-keyed cache, and finally a build from Go modules through the Go module proxy.

``go install k8s.io/kubernetes/cmd/...@vX`` is refused because k8s.io/kubernetes replaces its staging modules with
local paths, so each build happens inside a small generated wrapper module that requires the release and replaces
every staging module with its published ``v0.X.Y`` twin (the list is read from the release's own go.mod).

The real node's binaries (kubelet, kube-proxy, containerd, runc, CoreDNS) are built the same way, each cached under
a directory named after its version; kubelet and kube-proxy share the control plane's wrapper module and build cache.
Go builds print progress (packages compiled out of the total, elapsed time) since a cold one takes minutes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .versions import (
    CONTAINERD_VERSION,
    COREDNS_VERSION,
    ETCD_VERSION,
    KUBERNETES_VERSION,
    KWOK_VERSION,
    RUNC_VERSION,
    cache_key,
)

__all__ = [
    "BINARIES",
    "NODE_BINARIES",
    "BinaryError",
    "BuildReport",
    "build_binaries",
    "build_lock",
    "cache_dir",
    "ensure_binaries",
    "find_binaries",
    "staging_modules_from",
]

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
NODE_BINARIES = ("kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "runc", "coredns")
_K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet", "kube-proxy")
_CONTAINERD_COMMANDS = ("containerd", "containerd-shim-runc-v2", "ctr")
_ETCD_MODULES = ("api/v3", "client/pkg/v3", "client/v3", "pkg/v3", "server/v3")
_CONTAINERD_MODULE = "github.com/containerd/containerd/v2"
PROGRESS_SECONDS = float(os.environ.get("MODELVIZ_PROGRESS_SECONDS", "20"))


class BinaryError(RuntimeError):
    """A binary is missing and cannot be built here; the message says how to provide it."""


@dataclass(frozen=True)
class BuildReport:
    seconds: float
    disk_bytes: int
    built: tuple[str, ...]
    # (what, seconds) for each Go build, for the set-up summary.
    steps: tuple[tuple[str, float], ...] = field(default=())


def cache_root() -> Path:
    base = os.environ.get("MODELVIZ_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "modelviz"
    )
    return Path(base)


def cache_dir() -> Path:
    return cache_root() / cache_key()


def _bin_dir(name: str) -> Path:
    """Where the cache keeps ``name``: one directory per version of what it is built from."""
    if name in _CONTAINERD_COMMANDS:
        return cache_root() / f"containerd-{CONTAINERD_VERSION}" / "bin"
    if name == "runc":
        return cache_root() / f"runc-{RUNC_VERSION}" / "bin"
    if name == "coredns":
        return cache_root() / f"coredns-{COREDNS_VERSION}" / "bin"
    return cache_dir() / "bin"


def _version_of(path: Path, name: str) -> str | None:
    """The version a binary reports, or None when it cannot say."""
    args = {
        "kubectl": ["version", "--client"],
        "containerd-shim-runc-v2": ["-v"],
        "coredns": ["-version"],
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
    if name in _CONTAINERD_COMMANDS:
        return CONTAINERD_VERSION
    if name == "runc":
        return RUNC_VERSION
    if name == "coredns":
        return COREDNS_VERSION
    return KUBERNETES_VERSION


def _candidates(name: str) -> Iterable[Path]:
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        yield Path(assets) / name
    on_path = shutil.which(name)
    if on_path:
        yield Path(on_path)
    yield _bin_dir(name) / name


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
            "Go is not installed, so the cluster's binaries cannot be built. Either install Go "
            f"(1.26+) or provide etcd {ETCD_VERSION}, kube-apiserver/kube-controller-manager/kube-scheduler/"
            f"kubectl/kubelet/kube-proxy {KUBERNETES_VERSION}, kwok {KWOK_VERSION}, containerd {CONTAINERD_VERSION}, "
            f"runc {RUNC_VERSION} and coredns {COREDNS_VERSION} in $KUBEBUILDER_ASSETS, on PATH, or in "
            f"{cache_dir() / 'bin'} (node binaries: {cache_root()}/<name>-<version>/bin)."
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


def _say(text: str) -> None:
    print(text, flush=True)


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class _Ticker:
    """Prints ``what`` with a progress text every few seconds while a long command runs."""

    def __init__(self, what: str, progress: Callable[[], str]) -> None:
        self.what = what
        self.progress = progress
        self.start = time.monotonic()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _Ticker:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()

    def _loop(self) -> None:
        while not self.done.wait(PROGRESS_SECONDS):
            detail = self.progress()
            _say(f"  {self.what}: {detail + ', ' if detail else ''}{_elapsed(time.monotonic() - self.start)}")


def _run(
    cmd: list[str], cwd: Path, log: Path, env: dict[str, str], on_line: Callable[[str], None] | None = None
) -> None:
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True, errors="replace"
        )
        stream: IO[str] = proc.stdout  # type: ignore[assignment]
        for line in stream:
            fh.write(line)
            if on_line:
                on_line(line.rstrip("\n"))
        code = proc.wait()
    if code != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise BinaryError(f"command failed ({code}): {' '.join(cmd)}\n{tail}")


def _go_list_count(go: str, mod: Path, pkgs: list[str], env: dict[str, str]) -> int:
    """How many packages (the standard library included) the build of ``pkgs`` involves, 0 if unknown."""
    out = subprocess.run(
        [go, "list", "-deps", "-f", "{{.ImportPath}}", *pkgs],
        cwd=mod,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return len(out.stdout.split()) if out.returncode == 0 else 0


def _go_build(
    go: str,
    mod: Path,
    log: Path,
    env: dict[str, str],
    what: str,
    pkgs: list[str],
    output: Path,
    ldflags: str,
    tags: str = "",
) -> float:
    """``go build`` with progress: packages compiled out of the total, the last one, elapsed time.

    ``output`` is a file, or a directory (which go fills with one binary per package) when several are built.
    """
    start = time.monotonic()
    (output if len(pkgs) > 1 else output.parent).mkdir(parents=True, exist_ok=True)
    with _Ticker(f"{what}: resolving modules", lambda: ""):
        _run([go, "mod", "download"], mod, log, env)
        total = _go_list_count(go, mod, pkgs, env)
    compiled: list[str] = []

    def progress() -> str:
        last = f" (now {compiled[-1]})" if compiled else ""
        return f"{len(compiled)}/{total or '?'} packages compiled{last}"

    def on_line(line: str) -> None:
        if line and " " not in line and not line.startswith("#"):
            compiled.append(line)

    cmd = [go, "build", "-v", "-ldflags", ldflags, *(["-tags", tags] if tags else []), "-o", str(output), *pkgs]
    _say(f"  {what}: compiling {total or 'an unknown number of'} packages (cached ones are skipped)")
    with _Ticker(what, progress):
        _run(cmd, mod, log, env, on_line)
    seconds = time.monotonic() - start
    _say(
        f"  {what}: done in {_elapsed(seconds)} ({len(compiled)} packages compiled, "
        f"{max(total - len(compiled), 0)} from Go's build cache)"
    )
    return seconds


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


def _seccomp_available() -> bool:
    if not shutil.which("pkg-config"):
        return False
    return subprocess.run(["pkg-config", "--exists", "libseccomp"], check=False).returncode == 0


def build_binaries(names: Iterable[str], log: Path | None = None) -> BuildReport:
    """Build the named binaries into the cache (a cold build of all takes tens of minutes on 2 cores)."""
    wanted = [n for n in names if n in BINARIES or n in NODE_BINARIES]
    go = _go()
    dest = cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    log = log or dest / "build.log"
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod -trimpath -buildvcs=false")
    start = time.monotonic()
    steps: list[tuple[str, float]] = []
    work = dest / "src"
    _say(f"building {', '.join(wanted)} (log: {log})")
    k8s = [n for n in wanted if n in _K8S_COMMANDS]
    if k8s:
        minor_version = "v0." + KUBERNETES_VERSION.lstrip("v").split(".", 1)[1]
        staging = _staging_modules(KUBERNETES_VERSION)
        mod = work / "kubernetes"
        _write_module(mod, "kubernetes", {"k8s.io/kubernetes": KUBERNETES_VERSION}, {m: minor_version for m in staging})
        bindir = _bin_dir("kubectl")
        bindir.mkdir(parents=True, exist_ok=True)
        what = f"Kubernetes {KUBERNETES_VERSION} ({', '.join(k8s)})"
        pkgs = [f"k8s.io/kubernetes/cmd/{n}" for n in k8s]
        steps.append((what, _go_build(go, mod, log, env, what, pkgs, bindir, _k8s_ldflags())))
    if "etcd" in wanted:
        mod = work / "etcd"
        _write_module(mod, "etcd", {f"go.etcd.io/etcd/{m}": ETCD_VERSION for m in _ETCD_MODULES}, {})
        what = f"etcd {ETCD_VERSION}"
        out = _bin_dir("etcd") / "etcd"
        steps.append((what, _go_build(go, mod, log, env, what, ["go.etcd.io/etcd/server/v3"], out, "-s -w")))
    if "kwok" in wanted:
        mod = work / "kwok"
        _write_module(mod, "kwok", {"sigs.k8s.io/kwok": KWOK_VERSION}, {})
        what = f"kwok {KWOK_VERSION}"
        out = _bin_dir("kwok") / "kwok"
        steps.append((what, _go_build(go, mod, log, env, what, ["sigs.k8s.io/kwok/cmd/kwok"], out, "-s -w")))
    containerd = [n for n in wanted if n in _CONTAINERD_COMMANDS]
    if containerd:
        mod = _bin_dir("containerd").parent / "src"
        _write_module(mod, "containerd", {_CONTAINERD_MODULE: CONTAINERD_VERSION}, {})
        bindir = _bin_dir("containerd")
        bindir.mkdir(parents=True, exist_ok=True)
        what = f"containerd {CONTAINERD_VERSION} ({', '.join(containerd)})"
        flags = f"-s -w -X {_CONTAINERD_MODULE}/version.Version={CONTAINERD_VERSION}"
        pkgs = [f"{_CONTAINERD_MODULE}/cmd/{n}" for n in containerd]
        steps.append((what, _go_build(go, mod, log, env, what, pkgs, bindir, flags)))
    if "runc" in wanted:
        if not _seccomp_available():
            raise BinaryError(
                "runc is built with seccomp support, which needs libseccomp: apt-get install libseccomp-dev"
            )
        mod = _bin_dir("runc").parent / "src"
        _write_module(mod, "runc", {"github.com/opencontainers/runc": RUNC_VERSION}, {})
        what = f"runc {RUNC_VERSION}"
        out = _bin_dir("runc") / "runc"
        flags = f"-s -w -X main.version={RUNC_VERSION.lstrip('v')}"
        # runc's nsenter and seccomp parts are C: the one build here that needs cgo.
        cgo = dict(env, CGO_ENABLED="1")
        steps.append(
            (what, _go_build(go, mod, log, cgo, what, ["github.com/opencontainers/runc"], out, flags, "seccomp"))
        )
    if "coredns" in wanted:
        mod = _bin_dir("coredns").parent / "src"
        _write_module(mod, "coredns", {"github.com/coredns/coredns": COREDNS_VERSION}, {})
        what = f"CoreDNS {COREDNS_VERSION}"
        out = _bin_dir("coredns") / "coredns"
        steps.append((what, _go_build(go, mod, log, env, what, ["github.com/coredns/coredns"], out, "-s -w")))
    seconds = time.monotonic() - start
    disk = sum((_bin_dir(n) / n).stat().st_size for n in wanted if (_bin_dir(n) / n).is_file())
    return BuildReport(seconds=seconds, disk_bytes=disk, built=tuple(wanted), steps=tuple(steps))


def ensure_binaries(names: Iterable[str] = BINARIES, log: Path | None = None) -> dict[str, Path]:
    """Every named binary, building what is missing (the build is cached by version)."""
    wanted = list(names)
    found, missing = find_binaries(wanted)
    if not missing:
        return found
    if os.environ.get("MODELVIZ_NO_BUILD"):
        raise BinaryError(f"missing binaries {missing} and MODELVIZ_NO_BUILD is set")
    return _build_locked(wanted, log)


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """Held while building: sessions that find the same binaries missing at once would otherwise each run the same
    multi-minute Go build into the same directory; the later ones wait, then find the binaries built."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with (cache_root() / "go-build.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(f"waiting for another build of the cluster's binaries ({cache_root() / 'go-build.lock'})")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build_locked(wanted: list[str], log: Path | None) -> dict[str, Path]:
    with build_lock():
        found, missing = find_binaries(wanted)
        if missing:
            build_binaries(missing, log)
            found, missing = find_binaries(wanted)
            if missing:
                raise BinaryError(f"built, but still missing or of the wrong version: {missing}")
    return found
