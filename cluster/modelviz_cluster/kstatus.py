"""kstatus, the status library Flux and kpt use (``sigs.k8s.io/cli-utils/pkg/kstatus/status``), as a small binary.

``gosrc/kstatus/main.go`` reads objects as JSON (``kubectl get -o json``) and prints what ``status.Compute`` says
about each. It is built once from the Go module proxy and cached under ``~/.cache/modelviz/`` keyed by the library
version and the program's content hash. ``python -m modelviz_cluster.kstatus build`` builds it (``scripts/setup``
calls that); ``python -m modelviz_cluster.kstatus < obj.json`` runs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .binaries import BinaryError, cache_root

__all__ = ["CLI_UTILS_VERSION", "compute", "ensure_kstatus", "kstatus_path"]

CLI_UTILS_VERSION = "v0.37.2"
_SOURCE = Path(__file__).resolve().parent / "gosrc" / "kstatus" / "main.go"


def _key() -> str:
    digest = hashlib.sha256(_SOURCE.read_bytes()).hexdigest()[:12]
    return f"kstatus-cli-utils-{CLI_UTILS_VERSION}-{digest}"


def kstatus_path() -> Path:
    return cache_root() / _key() / "bin" / "kstatus"


def ensure_kstatus(progress: bool = True) -> Path:
    """The cached binary, built first if missing (about 1.5 min cold on 2 cores, seconds with a warm module cache)."""
    binary = kstatus_path()
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    go = shutil.which("go")
    if not go:
        raise BinaryError(f"Go is not installed: cannot build kstatus; provide it at {binary}")
    work = binary.parent.parent / "src"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_SOURCE, work / "main.go")
    (work / "go.mod").write_text(
        f"module modelviz.local/kstatus\n\ngo 1.26\n\nrequire sigs.k8s.io/cli-utils {CLI_UTILS_VERSION}\n"
    )
    log = binary.parent.parent / "build.log"
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod -trimpath -buildvcs=false")
    started = time.monotonic()
    if progress:
        print(f"kstatus: building sigs.k8s.io/cli-utils {CLI_UTILS_VERSION} status into {binary}", file=sys.stderr)
    partial = binary.with_name("kstatus.partial")
    binary.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        proc = subprocess.run(
            [go, "build", "-ldflags", "-s -w", "-o", str(partial), "."],
            cwd=work,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise BinaryError(f"building kstatus failed ({proc.returncode}), see {log}:\n{tail}")
    partial.replace(binary)  # atomic: a concurrent reader never runs half a binary
    if progress:
        print(f"kstatus: built in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return binary


def compute(objects: dict[str, Any], binary: Path | None = None) -> list[dict[str, str]]:
    """kstatus of an object or a List: one {kind, namespace, name, status, message} per object."""
    proc = subprocess.run(
        [str(binary or ensure_kstatus())],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kstatus failed ({proc.returncode}): {proc.stderr.strip()}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["build"]:
        print(ensure_kstatus())
        return 0
    for line in compute(json.load(sys.stdin)):
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
