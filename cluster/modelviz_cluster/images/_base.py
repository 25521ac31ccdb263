"""A Python base image made from Debian packages (mmdebstrap), for hosts that cannot pull ``python:3.11-slim``.

It stands in for the Dockerfiles' default base: Debian bookworm with its Python 3.11, venv and CA certificates, and
apt sources, so the Dockerfiles' ``apt-get install`` steps work unchanged. The rootfs tarball is cached under
``~/.cache/modelviz/images/`` and the image tagged by a hash of the package list, suite and mirrors.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ._engine import Engine, EngineError

__all__ = ["BASE_PACKAGES", "DEBIAN_BASE_PREFIX", "PUBLIC_BASE", "SUITE", "base_ref", "ensure_base", "mirrors"]

PUBLIC_BASE = "python:3.11-slim-bookworm"  # the Dockerfiles' default PYTHON_IMAGE
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
_DEFAULT_MIRROR = "http://deb.debian.org/debian"
_DEFAULT_SECURITY = "http://deb.debian.org/debian-security"


def mirrors() -> list[str]:
    """The three apt sources of a bookworm system (``MODELVIZ_DEBIAN_MIRROR`` replaces deb.debian.org)."""
    mirror = os.environ.get("MODELVIZ_DEBIAN_MIRROR", _DEFAULT_MIRROR)
    security = os.environ.get("MODELVIZ_DEBIAN_SECURITY_MIRROR", _DEFAULT_SECURITY)
    return [
        f"deb {mirror} {SUITE} main",
        f"deb {mirror} {SUITE}-updates main",
        f"deb {security} {SUITE}-security main",
    ]


def _key() -> str:
    text = "\n".join([SUITE, "minbase", *BASE_PACKAGES, *mirrors()])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


DEBIAN_BASE_PREFIX = "localhost/modelviz-base:"


def base_ref() -> str:
    return f"{DEBIAN_BASE_PREFIX}{SUITE}-{_key()}"


def ensure_base(engine: Engine, cache: Path, say: Callable[[str], None] = print) -> str:
    """The base image reference, imported from the cached rootfs or made with mmdebstrap first."""
    ref = base_ref()
    if engine.image_id(ref):
        return ref
    tarball = cache / f"base-{SUITE}-{_key()}.tar"
    if not tarball.exists():
        mmdebstrap = shutil.which("mmdebstrap")
        if not mmdebstrap:
            raise EngineError(
                f"no base image: {PUBLIC_BASE} is not in {engine.name}'s storage (no registry is used) and "
                "mmdebstrap is missing to make one from Debian packages (apt-get install mmdebstrap), "
                "or pass --base IMAGE"
            )
        cache.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial.tar")
        say(f"base: mmdebstrap {SUITE} minbase + {', '.join(BASE_PACKAGES)} (about a minute)")
        started = time.monotonic()
        argv = [
            mmdebstrap,
            "--variant=minbase",
            "--include=" + ",".join(BASE_PACKAGES),
            "--quiet",
            SUITE,
            str(partial),
            *mirrors(),
        ]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
        if out.returncode != 0:
            partial.unlink(missing_ok=True)
            raise EngineError(f"mmdebstrap failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
        partial.replace(tarball)
        say(f"base: rootfs {tarball.stat().st_size / 2**20:.0f} MiB in {time.monotonic() - started:.0f}s")
    started = time.monotonic()
    engine.import_rootfs(tarball, ref)
    say(f"base: imported as {ref} in {time.monotonic() - started:.0f}s")
    return ref
