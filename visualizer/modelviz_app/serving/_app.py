"""The visualizer as one ASGI app: Streamlit's UI, the prediction API, ``/metrics`` and the in-memory page shell."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import streamlit as st
from prometheus_client import Gauge
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp

from modelviz_app.serving._api import api_routes
from modelviz_app.serving._registry import SHARED_MODELS
from modelviz_app.serving._service import Service
from modelviz_app.serving._shell import PageShellMiddleware, StaticShell
from modelviz_app.serving._telemetry import REGISTRY, TelemetryMiddleware, metrics_endpoint

__all__ = ["PRELOAD_ENV", "UI_SCRIPT", "app_parts", "build_app", "url_base", "with_page_shell"]

# ``0``: index.html exactly as Streamlit ships it, without the landing page's preload hints.
PRELOAD_ENV = "MODELVIZ_PAGE_PRELOAD"
UI_SCRIPT = Path(__file__).resolve().parent.parent / "app.py"
_IN_MEMORY = Gauge("modelviz_app_models_in_memory", "Model copies held by the process", registry=REGISTRY)
_IN_MEMORY.set_function(SHARED_MODELS.loaded)


def url_base() -> str:
    """Streamlit's ``server.baseUrlPath`` as ``/path`` (or empty): the API lives under it like the UI."""
    from streamlit import config

    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def _shell() -> StaticShell:
    from streamlit import file_util
    from streamlit.web.server.starlette.starlette_server_config import STATIC_ASSET_CACHE_MAX_AGE_SECONDS

    preload = os.environ.get(PRELOAD_ENV, "1") != "0"
    return StaticShell(Path(file_util.get_static_dir()), STATIC_ASSET_CACHE_MAX_AGE_SECONDS, preload)


def app_parts(argv: list[str] | None = None) -> dict[str, Any]:
    """``st.App`` keyword arguments (routes, middleware, lifespan) around the pages script.

    The models load in the lifespan, before the server accepts requests. ``argv`` are the script's arguments
    (``-- --config PATH``; default ``sys.argv[1:]`` when the app starts).
    """
    base = url_base()
    service_box: dict[str, Service] = {}

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[dict[str, Any]]:
        service = Service.from_argv(sys.argv[1:] if argv is None else argv)
        await service.start()
        service_box["service"] = service
        try:
            yield {"service": service}
        finally:
            await service.stop()

    class _Late:
        """Routes need the service the lifespan makes; they look it up on each call."""

        def __getattr__(self, name: str) -> Any:
            return getattr(service_box["service"], name)

    middleware = [Middleware(TelemetryMiddleware, base=base)]
    routes = [*api_routes(_Late(), base), Route(f"{base}/metrics", metrics_endpoint, methods=["GET"])]  # type: ignore[arg-type]
    return {"routes": routes, "middleware": middleware, "lifespan": lifespan}


def with_page_shell(app: ASGIApp, enabled: bool = True) -> ASGIApp:
    """The in-memory page shell as the outermost layer around the whole app (``enabled=False``: the app as is)."""
    return PageShellMiddleware(app, _shell(), url_base()) if enabled else app


def build_app(argv: list[str] | None = None, page_shell: bool = True) -> ASGIApp:
    return with_page_shell(st.App(str(UI_SCRIPT), **app_parts(argv)), page_shell)
