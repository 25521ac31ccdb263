"""Images for the real node: the sandbox ("pause") image made from Debian's catatonit, and image archives imported
into containerd (``ctr images import``), since the node cannot pull from any registry.

The pause image is a single-layer docker archive written here (``/pause``, the static catatonit binary, run as
``/pause -P``), named after the binary's hash. Imported archives are recorded beside containerd's root with the
image id they held, so a warm start imports nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["archive_refs", "engine_archives", "ensure_pause_image", "load_images", "node_images", "pause_ref"]

Ctr = Callable[..., subprocess.CompletedProcess[str]]


def node_images() -> tuple[str, ...]:
    """What the operator's pods run by default: the bench Job's image and the CRD's default visualizer image."""
    from .images import image_ref

    return (image_ref("operator"), image_ref("visualizer"))


_RECORD = "modelviz-imported.json"


def _catatonit() -> Path:
    found = shutil.which("catatonit")
    if not found:
        raise RuntimeError("catatonit is not installed (apt-get install catatonit): the pause image is made from it")
    return Path(found)


def pause_ref() -> str:
    digest = hashlib.sha256(_catatonit().read_bytes()).hexdigest()[:12]
    return f"localhost/modelviz/pause:catatonit-{digest}"


def _pause_archive(target: Path, ref: str) -> None:
    binary = _catatonit().read_bytes()
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("pause")
        info.size, info.mode, info.mtime = len(binary), 0o755, 0
        tar.addfile(info, io.BytesIO(binary))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/pause", "-P"], "User": "65535:65535"},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "catatonit from Debian, as /pause -P"}],
        },
        sort_keys=True,
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": ["layer.tar"]}]).encode()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w") as archive:
        for name, data in (("layer.tar", layer_bytes), (config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))


def _has(ctr: Ctr, ref: str) -> bool:
    return ref in ctr("images", "ls", "-q", check=False).stdout.split()


def ensure_pause_image(ctr: Ctr, cache: Path, say: Callable[[str], None] = print) -> str:
    ref = pause_ref()
    if _has(ctr, ref):
        return ref
    archive = cache / f"{ref.rsplit(':', 1)[1]}.tar"
    if not archive.exists():
        _pause_archive(archive, ref)
    ctr("images", "import", str(archive))
    say(f"[node] sandbox image {ref} imported (catatonit)")
    return ref


def archive_refs(archive: Path) -> list[str]:
    """The image references a docker archive is tagged with."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            return []
        return [ref for entry in json.loads(member.read()) for ref in entry.get("RepoTags") or []]


def _archive_id(archive: Path) -> str:
    stat = archive.stat()
    return f"{stat.st_size}-{int(stat.st_mtime)}"


def load_images(ctr: Ctr, root: Path, archives: list[Path], say: Callable[[str], None] = print) -> list[str]:
    """Import each docker archive unless containerd already holds the same one; returns every reference loaded."""
    record_path = root / _RECORD
    record: dict[str, str] = json.loads(record_path.read_text()) if record_path.exists() else {}
    refs: list[str] = []
    for archive in archives:
        tags = archive_refs(archive)
        refs += tags
        key = str(archive.resolve())
        if tags and record.get(key) == _archive_id(archive) and all(_has(ctr, t) for t in tags):
            continue
        started = time.monotonic()
        size = archive.stat().st_size / 2**20
        say(f"[node] importing {', '.join(tags) or archive.name} ({size:.0f} MiB) into containerd")
        ctr("images", "import", str(archive))
        record[key] = _archive_id(archive)
        record_path.write_text(json.dumps(record, indent=2))
        say(f"[node] imported {archive.name} in {time.monotonic() - started:.0f}s")
    return refs


def engine_archives(refs: list[str], target: Path, say: Callable[[str], None] = print) -> tuple[list[Path], list[str]]:
    """Docker archives of the given images from the build engine's storage (``modelviz images build`` puts them
    there), written once per image id; and the refs the engine lacks."""
    from .images import EngineError, find_engine

    try:
        engine = find_engine()
    except EngineError:
        return [], list(refs)
    target.mkdir(parents=True, exist_ok=True)
    archives: list[Path] = []
    missing: list[str] = []
    for ref in refs:
        image_id = (engine.image_id(ref) or "").removeprefix("sha256:")[:12]
        if not image_id:
            missing.append(ref)
            continue
        stem = ref.rsplit("/", 1)[-1].replace(":", "-")
        archive = target / f"{stem}-{image_id}.tar"
        if not archive.exists():
            for old in target.glob(f"{stem}-*.tar"):
                old.unlink()
            started = time.monotonic()
            say(f"[node] exporting {ref} ({image_id}) from {engine.name}")
            # One partial file per process: `podman save` refuses an existing file, and a run cut short (or another
            # process exporting the same image at once) must not leave one in the way.
            partial = archive.with_name(f".{archive.stem}.{os.getpid()}.partial")
            partial.unlink(missing_ok=True)
            try:
                engine.save(ref, partial)
                partial.replace(archive)
            finally:
                partial.unlink(missing_ok=True)
            size = archive.stat().st_size / 2**20
            say(f"[node] exported {ref} in {time.monotonic() - started:.0f}s ({size:.0f} MiB)")
        archives.append(archive)
    return archives, missing
