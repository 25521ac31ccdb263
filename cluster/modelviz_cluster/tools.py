"""Developer tools the tests run for real, built once from Go modules and cached by version (like the cluster
binaries): ``helm`` for the chart in ``deploy/helm``.

helm's go.mod replaces nothing, so ``go install helm.sh/helm/v3/cmd/helm@<version>`` builds it directly; the
version is stamped in with ldflags because a module build carries no git tag.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .binaries import BinaryError, cache_root

__all__ = ["HELM_VERSION", "ensure_helm", "find_helm", "helm_cache_dir"]

HELM_VERSION = "v3.22.0"
_HELM_MODULE = "helm.sh/helm/v3"


def helm_cache_dir() -> Path:
    return cache_root() / f"helm-{HELM_VERSION}"


def _helm_version(path: Path) -> str | None:
    try:
        out = subprocess.run([str(path), "version", "--short"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"v\d+\.\d+\.\d+", out.stdout)
    return match.group(0) if match else None


def find_helm() -> Path | None:
    """helm of the pinned version: ``$MODELVIZ_HELM``, ``PATH``, then the cache."""
    candidates = [os.environ.get("MODELVIZ_HELM"), shutil.which("helm"), str(helm_cache_dir() / "bin" / "helm")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and _helm_version(Path(candidate)) == HELM_VERSION:
            return Path(candidate)
    return None


def ensure_helm(log: Path | None = None) -> Path:
    """The pinned helm, built into the cache when missing (about 3-6 minutes cold on 2 cores)."""
    found = find_helm()
    if found:
        return found
    if os.environ.get("MODELVIZ_NO_BUILD"):
        raise BinaryError(f"helm {HELM_VERSION} is missing and MODELVIZ_NO_BUILD is set")
    go = shutil.which("go")
    if not go:
        raise BinaryError(
            f"Go is not installed, so helm cannot be built: install Go (1.26+) or put helm {HELM_VERSION} on PATH "
            f"or in {helm_cache_dir() / 'bin'}."
        )
    bindir = helm_cache_dir() / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    log = log or helm_cache_dir() / "build.log"
    flags = f"-s -w -X {_HELM_MODULE}/internal/version.version={HELM_VERSION} "
    flags += f"-X {_HELM_MODULE}/internal/version.gitTreeState=clean"
    cmd = [go, "install", "-ldflags", flags, f"{_HELM_MODULE}/cmd/helm@{HELM_VERSION}"]
    env = dict(os.environ, GOBIN=str(bindir), CGO_ENABLED="0", GOFLAGS="-trimpath -buildvcs=false")
    print(f"building helm {HELM_VERSION} into {bindir} (log: {log})", file=sys.stderr, flush=True)
    started = time.monotonic()
    with log.open("a") as handle:
        proc = subprocess.run(cmd, cwd=helm_cache_dir(), stdout=handle, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise BinaryError(f"building helm failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    print(f"built helm in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    found = find_helm()
    if not found:
        raise BinaryError(f"built helm, but {bindir / 'helm'} does not report {HELM_VERSION}")
    return found
