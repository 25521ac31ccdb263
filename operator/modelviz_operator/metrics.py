"""Prometheus metrics of the operator, served on their own port (``MODELVIZ_METRICS_PORT``, default 9090)."""

from __future__ import annotations

import logging
import os

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "BENCHMARK_P99",
    "BENCHMARK_RPS",
    "RECONCILES",
    "RECONCILE_ERRORS",
    "RECONCILE_SECONDS",
    "serve",
]

log = logging.getLogger(__name__)

RECONCILES = Counter(
    "modelviz_reconciles_total", "Reconciles of a ModelVisualizer, by outcome.", ["namespace", "name", "result"]
)
RECONCILE_ERRORS = Counter(
    "modelviz_reconcile_errors_total", "Reconciles that failed with an error.", ["namespace", "name", "reason"]
)
RECONCILE_SECONDS = Histogram(
    "modelviz_reconcile_duration_seconds",
    "Time one reconcile took.",
    ["namespace", "name"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BENCHMARK_RPS = Gauge("modelviz_benchmark_rps", "Requests/s of the latest benchmark.", ["namespace", "name"])
BENCHMARK_P99 = Gauge("modelviz_benchmark_p99_ms", "p99 latency (ms) of the latest benchmark.", ["namespace", "name"])


def serve() -> int | None:
    """Start the metrics endpoint; returns its port (0 in the environment disables it)."""
    port = int(os.environ.get("MODELVIZ_METRICS_PORT", "9090"))
    if port <= 0:
        return None
    address = os.environ.get("MODELVIZ_METRICS_ADDRESS", "0.0.0.0")  # noqa: S104 - scraped from the pod IP
    start_http_server(port, addr=address)
    log.info("metrics served on %s:%d/metrics", address, port)
    return port
