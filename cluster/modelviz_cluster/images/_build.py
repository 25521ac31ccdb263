"""Build both images (skipped when their inputs are unchanged), report size and time, export docker-archives."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..binaries import cache_root
from ._base import DEBIAN_BASE_PREFIX, PUBLIC_BASE, ensure_base
from ._context import content_hash
from ._engine import Engine, EngineError

__all__ = ["IMAGES", "REGISTRY", "BuiltImage", "ImageSpec", "build_images", "export_images", "image_ref", "version"]

REPO = Path(__file__).resolve().parents[3]
# The names deploy/base, the operator's bench-Job default and the CRD's default visualizer image use, so a local node
# runs the built images with imagePullPolicy IfNotPresent or Never.
REGISTRY = "ghcr.io/modelviz"
_STEP = re.compile(r"^(\[\d+/\d+\] )?STEP \d+/\d+|^Step \d+/\d+|^#\d+ \[")
_HEARTBEAT = 60.0


def progress(message: str) -> None:
    """Progress, flushed: the output is often a pipe or a log file that someone is watching."""
    print(message, flush=True)


@dataclass(frozen=True)
class ImageSpec:
    name: str  # short name: operator, visualizer
    dockerfile: str


IMAGES = (ImageSpec("operator", "Dockerfile.operator"), ImageSpec("visualizer", "Dockerfile.app"))


@dataclass(frozen=True)
class BuiltImage:
    name: str
    ref: str
    image_id: str
    size: int  # bytes, uncompressed, as the engine reports it
    seconds: float  # build time; 0 when cached
    cached: bool
    archive: Path | None = None  # docker-archive in the cache


def version(context: Path = REPO) -> str:
    data = tomllib.loads((context / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def image_ref(name: str, context: Path = REPO) -> str:
    return f"{REGISTRY}/{name}:{version(context)}"


def images_cache() -> Path:
    return cache_root() / "images"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One build at a time per cache: parallel runs (setup and a test session) wait instead of racing the tags."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stream(argv: list[str], log: Path, label: str, say: Callable[[str], None]) -> int:
    """Run a build, its whole output to ``log``; print each step (and a heartbeat on long ones) with elapsed time."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    lines: queue.Queue[str | None] = queue.Queue()
    with log.open("w", encoding="utf-8") as out:
        out.write("$ " + " ".join(argv) + "\n")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        assert proc.stdout is not None
        stdout = proc.stdout

        def pump() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        step, last = "starting", time.monotonic()
        while True:
            try:
                line = lines.get(timeout=5)
            except queue.Empty:
                line = ""
            if line is None:
                break
            if line:
                out.write(line)
                out.flush()
            now = time.monotonic()
            if line and _STEP.match(line):
                step, last = line.strip()[:110], now
                say(f"[{label} {now - started:5.0f}s] {step}")
            elif now - last >= _HEARTBEAT:
                last = now
                say(f"[{label} {now - started:5.0f}s] still at: {step}")
        return proc.wait()


def _record_path(engine: Engine, name: str) -> Path:
    return images_cache() / f"{engine.name}-{name}.json"


def _base_for(engine: Engine, base: str | None, say: Callable[[str], None]) -> str:
    if base:
        if not engine.image_id(base):
            raise EngineError(f"--base {base}: no such image in {engine.name}'s storage")
        return base
    if engine.image_id(PUBLIC_BASE):
        return PUBLIC_BASE
    return ensure_base(engine, images_cache(), say)


def build_images(
    engine: Engine,
    names: list[str] | None = None,
    base: str | None = None,
    context: Path = REPO,
    force: bool = False,
    say: Callable[[str], None] = progress,
) -> list[BuiltImage]:
    specs = [s for s in IMAGES if not names or s.name in names]
    unknown = set(names or ()) - {s.name for s in IMAGES}
    if unknown:
        raise EngineError(f"unknown image {', '.join(sorted(unknown))}; known: {', '.join(s.name for s in IMAGES)}")
    built: list[BuiltImage] = []
    with _locked(images_cache() / "base.lock"):
        base_image = _base_for(engine, base, say)
        base_id = engine.image_id(base_image) or ""
    for spec in specs:
        with _locked(images_cache() / f"{spec.name}.lock"):
            built.append(_build_one(engine, spec, base_image, base_id, context, force, say))
    return built


def _base_identity(engine: Engine, base_image: str, base_id: str) -> str:
    # The Debian base is re-imported from its cached rootfs on a new machine, which gives it a new id (the import
    # time is in its config): its tag, keyed by the package list, identifies it. Any other base by its id.
    return base_image if base_image.startswith(DEBIAN_BASE_PREFIX) else base_id


def _build_one(
    engine: Engine,
    spec: ImageSpec,
    base_image: str,
    base_id: str,
    context: Path,
    force: bool,
    say: Callable[[str], None],
) -> BuiltImage:
    ref = image_ref(spec.name, context)
    dockerfile = context / spec.dockerfile
    build_args = {"PYTHON_IMAGE": base_image, "VERSION": version(context)}
    identity = _base_identity(engine, base_image, base_id)
    digest = content_hash(
        context, dockerfile, [engine.name, identity, *(f"{k}={v}" for k, v in sorted(build_args.items()))]
    )
    archives = images_cache() / "archives"
    archive = archives / f"{engine.name}-{spec.name}-{digest[:16]}.tar"
    record_path = _record_path(engine, spec.name)
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    current = engine.image_id(ref)
    if not force and current and record.get("hash") == digest and record.get("id") == current and archive.exists():
        return _result(engine, spec.name, ref, current, 0.0, True, archive)
    if not force and archive.exists():
        # Built before from the same inputs (on this machine or one sharing its cache): loading takes seconds.
        started = time.monotonic()
        engine.load(archive)
        loaded = engine.image_id(ref)
        if loaded:
            record_path.write_text(json.dumps({"hash": digest, "id": loaded, "ref": ref}))
            say(f"{spec.name}: loaded {ref} from {archive} in {time.monotonic() - started:.0f}s")
            return _result(engine, spec.name, ref, loaded, 0.0, True, archive)
    log = images_cache() / "logs" / f"{engine.name}-{spec.name}.log"
    say(f"{spec.name}: building {ref} from {spec.dockerfile} on {base_image} with {engine.name} (log {log})")
    started = time.monotonic()
    argv = engine.build_command(dockerfile, context, ref, build_args, {})
    rc = _stream(argv, log, spec.name, say)
    seconds = time.monotonic() - started
    if rc != 0:
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[-40:])
        raise EngineError(f"{spec.name}: {engine.name} build failed ({rc}) after {seconds:.0f}s; log {log}:\n{tail}")
    image_id = engine.image_id(ref)
    if not image_id:
        raise EngineError(f"{spec.name}: the build finished but {ref} is not in {engine.name}'s storage")
    _save_archive(engine, ref, archive, f"{engine.name}-{spec.name}", say)
    record_path.write_text(json.dumps({"hash": digest, "id": image_id, "ref": ref, "seconds": round(seconds, 1)}))
    return _result(engine, spec.name, ref, image_id, seconds, False, archive)


def _result(
    engine: Engine, name: str, ref: str, image_id: str, seconds: float, cached: bool, archive: Path
) -> BuiltImage:
    info = engine.inspect(ref) or {}
    return BuiltImage(name, ref, image_id, int(info.get("Size", 0)), seconds, cached, archive)


def _save_archive(engine: Engine, ref: str, archive: Path, stem: str, say: Callable[[str], None]) -> None:
    """The build's docker-archive in the cache, keyed by its inputs' hash; older archives of ``stem`` go."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    partial = archive.with_name(f".{archive.name}.partial")
    partial.unlink(missing_ok=True)
    engine.save(ref, partial)
    partial.replace(archive)
    size = archive.stat().st_size / 2**20
    say(f"{ref}: cached as {archive} ({size:.0f} MiB) in {time.monotonic() - started:.0f}s")
    for old in archive.parent.glob(f"{stem}-*.tar"):
        if old != archive:
            old.unlink(missing_ok=True)


def export_images(
    engine: Engine, images: list[BuiltImage], target: Path, say: Callable[[str], None] = progress
) -> dict[str, Path]:
    """``target/<name>.tar`` (docker-archive, tagged with the image's reference) per image, linked or copied from the
    cache; ``target/images.json`` lists reference, id and archive. An archive of the same image id is kept."""
    target.mkdir(parents=True, exist_ok=True)
    index_path = target / "images.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    archives: dict[str, Path] = {}
    for image in images:
        archive = target / f"{image.name}.tar"
        entry = index.get(image.name, {})
        if not (archive.exists() and entry.get("id") == image.image_id):
            started = time.monotonic()
            partial = target / f".{image.name}.tar.partial"
            partial.unlink(missing_ok=True)
            if image.archive is not None and image.archive.exists():
                try:
                    os.link(image.archive, partial)
                except OSError:  # another filesystem
                    shutil.copyfile(image.archive, partial)
            else:
                engine.save(image.ref, partial)
            partial.replace(archive)
            index[image.name] = {"ref": image.ref, "id": image.image_id, "archive": archive.name}
            index_path.write_text(json.dumps(index, indent=2) + "\n")
            say(
                f"{image.name}: {archive} {archive.stat().st_size / 2**20:.0f} MiB in {time.monotonic() - started:.0f}s"
            )
        archives[image.name] = archive
    return archives
