"""Prometheus metrics of the app (``GET /metrics``): requests and latency per route, batch sizes, inference time.

Routes are a fixed set of names (never raw paths) and methods a fixed set, so a scan of random URLs, methods or
``?model=`` values cannot grow the series without bound.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REGISTRY", "Metrics", "TelemetryMiddleware", "method_of", "metrics_endpoint", "route_of"]

REGISTRY = CollectorRegistry(auto_describe=True)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    requests = Counter(
        "modelviz_app_http_requests", "HTTP requests answered, by route, method and status code",
        ["route", "method", "code"], registry=REGISTRY,
    )  # fmt: skip
    latency = Histogram(
        "modelviz_app_http_request_duration_seconds", "Time to the end of the response, by route",
        ["route"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
    )  # fmt: skip
    batch_size = Histogram(
        "modelviz_app_predict_batch_size", "Images per batched model call", ["model"],
        buckets=_BATCH_BUCKETS, registry=REGISTRY,
    )  # fmt: skip
    inference = Histogram(
        "modelviz_app_inference_seconds", "Duration of one batched model call", ["model"],
        buckets=_LATENCY_BUCKETS, registry=REGISTRY,
    )  # fmt: skip
    images = Counter("modelviz_app_predicted_images", "Images classified", ["model"], registry=REGISTRY)
    model_up = Gauge("modelviz_app_model_loaded", "1 when the model is loaded and serving", ["model"],
                     registry=REGISTRY)  # fmt: skip

    @classmethod
    def batch(cls, model: str, size: int, seconds: float) -> None:
        cls.batch_size.labels(model).observe(size)
        cls.inference.labels(model).observe(seconds)
        cls.images.labels(model).inc(size)


# A client may send any token as the method: others are counted as OTHER, so methods cannot grow the series either.
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))


def method_of(method: str) -> str:
    return method if method in _METHODS else "OTHER"


def route_of(path: str, base: str) -> str:
    """A bounded route name for a request path (``base`` is Streamlit's server.baseUrlPath, as ``/x`` or empty)."""
    rel = path[len(base) :] if base and path.startswith(base) else path
    if rel.startswith("/api/v1/"):
        name = rel[len("/api/v1/") :]
        return f"api:{name}" if name in ("predict", "models", "openapi.json") else "api:other"
    if rel in ("", "/", "/index.html"):
        return "page"
    if rel.startswith("/static/") or rel in ("/favicon.png", "/manifest.json"):
        return "static"
    if rel == "/metrics":
        return "metrics"
    if rel.startswith("/_stcore/"):
        name = rel[len("/_stcore/") :]
        return f"stcore:{name}" if name in ("health", "stream", "host-config", "upload_file") else "stcore:other"
    if rel.startswith("/media/"):
        return "media"
    return "other"


class TelemetryMiddleware:
    """Counts and times every HTTP request (outermost, so the fast page shell is counted too)."""

    def __init__(self, app: ASGIApp, base: str = "") -> None:
        self.app = app
        self.base = base

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_of(scope["path"], self.base)
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            Metrics.requests.labels(route, method_of(scope["method"]), str(status)).inc()
            Metrics.latency.labels(route).observe(time.perf_counter() - start)


async def metrics_endpoint(_request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
