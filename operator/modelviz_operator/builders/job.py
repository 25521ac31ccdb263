"""The benchmark Job: Apache Bench against the visualizer's Service, result as the termination message."""

from __future__ import annotations

import hashlib
from typing import Any

from ..api import BenchmarkSpec, ModelVisualizerSpec
from ..constants import (
    BENCHMARK_COMPONENT,
    DEFAULT_BENCH_IMAGE,
    RUN_ID_LABEL,
    container_security_context,
    pod_security_context,
    service_host,
)
from ._common import Owner, metadata, run_once_job
from .service import service_name

__all__ = ["RUN_ID_LABEL", "benchmark_job_name", "benchmark_url", "build_benchmark_job"]

TERMINATION_LOG = "/dev/termination-log"


def benchmark_job_name(owner: Owner, run_id: str) -> str:
    """Deterministic per run: a restarted operator finds (and never duplicates) the Job of a run it started."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
    return f"{owner.name[:40]}-bench-{digest}"


def benchmark_url(owner: Owner, spec: ModelVisualizerSpec, bench: BenchmarkSpec) -> str:
    """The page's URL for scenario page; the app's root otherwise (the runner adds the scenario's endpoint)."""
    path = bench.path if bench.scenario == "page" else "/"
    return f"http://{service_host(service_name(owner), owner.namespace)}:{spec.service.port}{path}"


def build_benchmark_job(
    owner: Owner, spec: ModelVisualizerSpec, bench: BenchmarkSpec, run_id: str, image: str = DEFAULT_BENCH_IMAGE
) -> dict[str, Any]:
    meta = metadata(owner, benchmark_job_name(owner, run_id), component=BENCHMARK_COMPONENT)
    meta["labels"][RUN_ID_LABEL] = run_id
    meta["annotations"] = {RUN_ID_LABEL: run_id}
    command = [
        "python",
        "-m",
        "modelviz_bench",
        "--url",
        benchmark_url(owner, spec, bench),
        # predict POSTs the sample photo shipped in the runner's package (the operator image).
        "--scenario",
        bench.scenario,
        "--requests",
        str(bench.requests),
        "--concurrency",
        str(bench.concurrency),
        "--timeout",
        str(bench.request_timeout_seconds),
        # Wait for the Service at most half the deadline, leaving the rest for the load itself.
        "--wait",
        str(max(10, bench.timeout_seconds // 2)),
        "--output",
        TERMINATION_LOG,
    ]
    if bench.keep_alive:
        command.append("--keep-alive")
    # A failed load test is a result, not something to retry (run_once_job: backoffLimit 0).
    pod = {
        "securityContext": pod_security_context(fs_group=False),
        "containers": [
            {
                "name": "ab",
                "image": image,
                "command": command,
                "terminationMessagePath": TERMINATION_LOG,
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                "securityContext": container_security_context(),
            }
        ],
    }
    return run_once_job(meta, bench.timeout_seconds, pod)
