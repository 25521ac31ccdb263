"""Build both images (skipped when their inputs are unchanged), report size and time, export docker-archives."""

from __future__ import annotations

import contextlib
import fcntl
import json
import queue
import re
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..binaries import cache_root
from ._base import PUBLIC_BASE, ensure_base
from ._context import content_hash
from ._engine import Engine, EngineError

__all__ = ["IMAGES", "REGISTRY", "BuiltImage", "ImageSpec", "build_images", "export_images", "image_ref", "version"]

REPO = Path(__file__).resolve().parents[3]
# The names deploy/base, the operator's bench-Job default and the CRD's default visualizer image use, so a local node
# runs the built images with imagePullPolicy IfNotPresent or Never.
REGISTRY = "ghcr.io/modelviz"
_STEP = re.compile(r"^(\[\d+/\d+\] )?STEP \d+/\d+|^Step \d+/\d+|^#\d+ \[")
_HEARTBEAT = 60.0


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
    log: Path | None = None


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
    say: Callable[[str], None] = print,
) -> list[BuiltImage]:
    specs = [s for s in IMAGES if not names or s.name in names]
    unknown = set(names or ()) - {s.name for s in IMAGES}
    if unknown:
        raise EngineError(f"unknown image {', '.join(sorted(unknown))}; known: {', '.join(s.name for s in IMAGES)}")
    built: list[BuiltImage] = []
    with _locked(images_cache() / "build.lock"):
        base_image = _base_for(engine, base, say)
        base_id = engine.image_id(base_image) or ""
        for spec in specs:
            built.append(_build_one(engine, spec, base_image, base_id, context, force, say))
    return built


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
    digest = content_hash(
        context, dockerfile, [engine.name, base_id, *(f"{k}={v}" for k, v in sorted(build_args.items()))]
    )
    record_path = _record_path(engine, spec.name)
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    current = engine.image_id(ref)
    if not force and current and record.get("hash") == digest and record.get("id") == current:
        info = engine.inspect(ref) or {}
        return BuiltImage(spec.name, ref, current, int(info.get("Size", 0)), 0.0, True)
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
    info = engine.inspect(ref) or {}
    size = int(info.get("Size", 0))
    record_path.write_text(json.dumps({"hash": digest, "id": image_id, "ref": ref, "seconds": round(seconds, 1)}))
    return BuiltImage(spec.name, ref, image_id, size, seconds, False, log)


def export_images(
    engine: Engine, images: list[BuiltImage], target: Path, say: Callable[[str], None] = print
) -> dict[str, Path]:
    """``target/<name>.tar`` (docker-archive, tagged with the image's reference) per image; ``target/images.json``
    lists reference, id and archive. An archive of the same image id is kept."""
    target.mkdir(parents=True, exist_ok=True)
    index_path = target / "images.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    archives: dict[str, Path] = {}
    for image in images:
        archive = target / f"{image.name}.tar"
        entry = index.get(image.name, {})
        if archive.exists() and entry.get("id") == image.image_id:
            archives[image.name] = archive
            continue
        started = time.monotonic()
        partial = target / f".{image.name}.tar.partial"
        partial.unlink(missing_ok=True)
        say(f"{image.name}: exporting {image.ref} to {archive}")
        engine.save(image.ref, partial)
        partial.replace(archive)
        index[image.name] = {"ref": image.ref, "id": image.image_id, "archive": archive.name}
        index_path.write_text(json.dumps(index, indent=2) + "\n")
        size = archive.stat().st_size
        say(f"{image.name}: {archive} {size / 2**20:.0f} MiB in {time.monotonic() - started:.0f}s")
        archives[image.name] = archive
    return archives
