"""Container images of the operator and the visualizer, built here without a daemon or a registry."""

from __future__ import annotations

from ._build import IMAGES, REGISTRY, BuiltImage, ImageSpec, build_images, export_images, image_ref, version
from ._engine import DEBIAN_PACKAGES, ENGINES, Engine, EngineError, find_engine

__all__ = [
    "DEBIAN_PACKAGES",
    "ENGINES",
    "IMAGES",
    "REGISTRY",
    "BuiltImage",
    "Engine",
    "EngineError",
    "ImageSpec",
    "build_images",
    "export_images",
    "find_engine",
    "image_ref",
    "version",
]
