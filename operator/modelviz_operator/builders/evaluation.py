"""The evaluation Job: ``modelviz app evaluate`` in the visualizer's image, with the Deployment's config and volumes.

Its name and labels derive from :func:`evaluation_hash` (the models, the dataset and ``spec.evaluation.runId``), so
one hash has one Job: a replica change never re-runs it and a restarted operator finds the Job it started.
"""

from __future__ import annotations

from typing import Any

from ..api import ModelVisualizerSpec
from ..constants import (
    EVALUATION_COMPONENT,
    EVALUATION_HASH_LABEL,
    container_security_context,
    pod_security_context,
)
from ._common import CONFIG_PATH, Owner, content_hash, metadata, run_once_job
from .configmap import app_config
from .deployment import (
    app_env,
    pod_placement,
    pod_volumes,
    seed_cache_container,
    visualizer_resources,
)
from .job import TERMINATION_LOG

__all__ = ["COMPONENT", "EVALUATION_HASH_LABEL", "build_evaluation_job", "evaluation_hash", "evaluation_job_name"]

COMPONENT = EVALUATION_COMPONENT


def evaluation_hash(spec: ModelVisualizerSpec) -> str:
    """What the figures depend on: the app's models and dataset entries (paths as mounted) and the runId."""
    config = app_config(spec)
    run_id = spec.evaluation.run_id if spec.evaluation is not None else None
    return content_hash({"models": config["models"], "dataset": config["dataset"], "runId": run_id})


def evaluation_job_name(owner: Owner, digest: str) -> str:
    return f"{owner.name[:40]}-eval-{digest[:10]}"


def build_evaluation_job(owner: Owner, spec: ModelVisualizerSpec, digest: str) -> dict[str, Any]:
    """The Job for one evaluation hash (``spec.evaluation`` must be set)."""
    assert spec.evaluation is not None
    meta = metadata(owner, evaluation_job_name(owner, digest), component=COMPONENT)
    meta["labels"][EVALUATION_HASH_LABEL] = digest
    volumes, mounts = pod_volumes(owner, spec)
    evaluation = spec.evaluation
    for entry in (*volumes, *mounts):
        if entry["name"] == "predictions":  # the one volume the Job writes, the visualizer only reads
            if "persistentVolumeClaim" in entry:
                entry["persistentVolumeClaim"] = {**entry["persistentVolumeClaim"], "readOnly": False}
            else:
                entry["readOnly"] = False
    shards = ["--shards", str(evaluation.parallelism)] if evaluation.predictions_claim else []
    container: dict[str, Any] = {
        "name": "evaluate",
        "image": spec.image,
        # python -m rather than the entry point: the same command runs wherever the package is importable.
        "command": [
            "python",
            "-m",
            "modelviz_cli",
            "app",
            "evaluate",
            "--config",
            CONFIG_PATH,
            "--output",
            TERMINATION_LOG,
            *shards,
        ],
        "env": app_env(),
        "resources": visualizer_resources(spec),
        "volumeMounts": mounts,
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": container_security_context(),
    }
    if spec.image_pull_policy:
        container["imagePullPolicy"] = spec.image_pull_policy
    job_spec: dict[str, Any] = {}
    if shards:
        # Kubernetes shards it: index i (JOB_COMPLETION_INDEX) predicts slice i of the images into the claim.
        job_spec = {
            "completionMode": "Indexed",
            "completions": evaluation.parallelism,
            "parallelism": evaluation.parallelism,
        }
    # A model that misses its targets, or cannot be loaded, is a result: never retried (run_once_job).
    pod = {
        "securityContext": pod_security_context(),
        "initContainers": [seed_cache_container(spec)],
        "containers": [container],
        "volumes": volumes,
        **pod_placement(spec),
    }
    return run_once_job(meta, evaluation.timeout_seconds, pod, **job_spec)
