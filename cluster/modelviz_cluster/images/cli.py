"""``modelviz images build [NAME...] [--engine podman|buildah|docker] [--base IMAGE] [--export DIR]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ._build import IMAGES, REPO, build_images, export_images
from ._engine import ENGINES, EngineError, env_engine, find_engine

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelviz images", description="build the operator and visualizer images")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build (or reuse, when unchanged) the images; optionally export archives")
    build.add_argument("names", nargs="*", metavar="NAME", help=f"default: all of {', '.join(s.name for s in IMAGES)}")
    build.add_argument("--engine", choices=ENGINES, default=env_engine(), help="default: podman, buildah, docker")
    build.add_argument(
        "--base",
        help="Python base image already in the engine's storage (default: python:3.11-slim-"
        "bookworm when present, else one made from Debian packages with mmdebstrap)",
    )
    build.add_argument("--export", type=Path, metavar="DIR", help="write DIR/<name>.tar (docker-archive) per image")
    build.add_argument("--context", type=Path, default=REPO, help="the repository (build context)")
    build.add_argument("--force", action="store_true", help="rebuild even when the inputs are unchanged")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        engine = find_engine(args.engine)
        images = build_images(engine, args.names, args.base, args.context.resolve(), args.force)
        archives = export_images(engine, images, args.export) if args.export else {}
    except EngineError as exc:
        print(f"modelviz images: {exc}", file=sys.stderr)
        return 1
    print(f"{'image':<40} {'id':<12} {'size':>9} {'build':>9}  archive")
    for image in images:
        took = "cached" if image.cached else f"{image.seconds:.0f}s"
        archive = str(archives.get(image.name, ""))
        print(f"{image.ref:<40} {image.image_id[:12]:<12} {image.size / 2**20:>6.0f} MiB {took:>9}  {archive}")
    print(f"images: done in {time.monotonic() - started:.0f}s with {engine.name}")
    return 0
