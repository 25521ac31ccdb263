"""The ConfigMap holding the visualizer's configuration (models, dataset), mounted into its pods."""

from __future__ import annotations

import posixpath
from typing import Any

import yaml

from ..api import ModelVisualizerSpec
from ..constants import config_map_name
from ._common import Owner, metadata

__all__ = ["CACHE_DIR", "DATASET_MOUNT", "MODELS_MOUNT", "app_config", "build_configmap", "configmap_name"]

MODELS_MOUNT = "/mnt/modelviz/models"
DATASET_MOUNT = "/mnt/modelviz/dataset"
CACHE_DIR = "/var/cache/modelviz"


def configmap_name(owner: Owner) -> str:
    return config_map_name(owner.name)


def _in_volume(mount: str, path: str) -> str:
    # A relative path is taken inside the claim's mount; an absolute one is kept (it may point into the image).
    return path if path.startswith("/") else posixpath.join(mount, path)


def app_config(spec: ModelVisualizerSpec) -> dict[str, Any]:
    """The app's configuration file: the spec's models and dataset with volume paths resolved to mount points."""
    models: list[dict[str, Any]] = []
    for model in spec.models:
        mount = f"{MODELS_MOUNT}/{model.name}"
        entry: dict[str, Any] = {"name": model.name}
        if model.catalog:
            entry["catalog"] = model.catalog
        for key in ("path", "labels", "weights"):
            value = getattr(model, key)
            if value:
                entry[key] = _in_volume(mount, value) if model.claim_name else value
        models.append(entry)
    dataset: dict[str, Any] = {}
    if spec.dataset.catalog:
        dataset["catalog"] = spec.dataset.catalog
    if spec.dataset.path:
        dataset["path"] = _in_volume(DATASET_MOUNT, spec.dataset.path) if spec.dataset.claim_name else spec.dataset.path
    if spec.dataset.max_images:
        dataset["maxImages"] = spec.dataset.max_images
    config: dict[str, Any] = {"models": models, "dataset": dataset, "cacheDir": CACHE_DIR}
    if spec.title:
        config["title"] = spec.title
    return config


def build_configmap(owner: Owner, spec: ModelVisualizerSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(owner, configmap_name(owner)),
        "data": {"config.yaml": yaml.safe_dump(app_config(spec), sort_keys=False)},
    }
