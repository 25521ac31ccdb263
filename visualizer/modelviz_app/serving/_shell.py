"""The page shell from memory: Streamlit's ``index.html`` and its static assets, with ETag and Cache-Control.

They are the same bytes for every visitor, yet Streamlit's static route stats, opens and reads each file through
worker threads on every request (about 20 thread hops per ``/``). This middleware answers GET/HEAD for exactly the
files in Streamlit's static directory, read once, with the cache headers Streamlit itself sends (``no-cache`` for
HTML and the manifest, long-lived ``immutable`` for the hashed bundles) plus a content ETag for 304 revalidation.
Anything else (pages' URLs, ``/_stcore/*`` websocket and uploads, media) passes through to Streamlit untouched.

It wraps the whole ``st.App`` (outside Starlette's error handling and every middleware), so a shell request costs
one dictionary lookup and two sends; it counts its own responses in the app's request metrics.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from modelviz_app.serving._telemetry import Metrics, route_of

__all__ = ["LANDING_CHUNKS", "PageShellMiddleware", "ShellFile", "StaticShell", "with_preloads"]

# A bound on the memory the shell may hold; files beyond it are read per request instead.
_MAX_CACHED_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ShellFile:
    body: bytes
    headers: list[tuple[bytes, bytes]]
    etag: bytes


# Bundles Streamlit loads lazily, only once the first script run asks for a metric, radio, Vega-Lite chart or
# dataframe (the Overview's elements). Hinted in index.html, the browser fetches and compiles them while the main
# bundle starts instead of one round of imports after another once the page's content arrives: in a fresh browser
# session the first chart no longer waits for them. Names without the content hash, so a new Streamlit keeps working.
LANDING_CHUNKS = (
    "Radio", "useFormValidation", "useField", "useFormReset", "useSlot", "WidgetLabel", "WidgetLabelHelpIconInline",
    "useBasicWidgetState", "Metric", "formatNumber", "printWidthCap", "sprintfjs", "CustomTheme", "numbro",
    "loadVegaEmbed", "ArrowVegaLiteChart", "Quiver", "withFullScreenWrapper", "vega-interpreter", "recordbatch",
    "serialization", "embed", "DataFrame", "arrowFormatUtils", "moment", "reactJsonViewCompat", "FileDownload.esm",
    "TableChart.esm", "downloadDataUrl", "dist", "unzip", "string", "linear", "defaultLocale", "value", "range",
    "ordinal", "threshold", "colors", "cubic", "time", "treemap", "isString", "isEmpty", "toConsumableArray",
    "Delete.esm", "_baseAssignValue", "_hasUnicode", "_baseIndexOf", "resolveDefaultExport", "init",
)  # fmt: skip


def with_preloads(index: bytes, names: set[str], stems: tuple[str, ...] = LANDING_CHUNKS) -> bytes:
    """``index.html`` with ``modulepreload`` links for the static ``js`` files named ``<stem>.<hash>.js``.

    Relative links, like Streamlit's own, so a base URL path keeps working; files index.html already names are left.
    """
    wanted = set(stems)
    links = [
        f'<link rel="modulepreload" crossorigin href="./{name}">'
        for name in sorted(names)
        if name.startswith("static/js/") and name.endswith(".js") and name.encode() not in index
        and name[len("static/js/") : -len(".js")].rsplit(".", 1)[0] in wanted
    ]  # fmt: skip
    if not links or b"</head>" not in index:
        return index
    return index.replace(b"</head>", ("  " + "\n    ".join(links) + "\n  </head>").encode(), 1)


class StaticShell:
    """Streamlit's static directory, listed at start and each file read once on first request."""

    def __init__(self, directory: Path, immutable_max_age: int, preload: bool = True) -> None:
        self.directory = directory
        self._max_age = immutable_max_age
        self._preload = preload
        self._names = {
            str(Path(root, f).relative_to(directory)).replace(os.sep, "/")
            for root, _dirs, files in os.walk(directory)
            for f in files
        }
        self._files: dict[str, ShellFile] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def __contains__(self, name: str) -> bool:
        return name in self._names

    def _cache_control(self, name: str) -> str:
        if name.endswith(".html") or name == "manifest.json":
            return "no-cache"
        return f"public, immutable, max-age={self._max_age}"

    def get(self, name: str) -> ShellFile | None:
        found = self._files.get(name)
        if found is not None or name not in self._names:
            return found
        body = (self.directory / name).read_bytes()
        if name == "index.html" and self._preload:
            body = with_preloads(body, self._names)
        kind, encoding = mimetypes.guess_type(name)
        kind = kind or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
            kind += "; charset=utf-8"
        etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
        headers = [
            (b"content-type", kind.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"etag", etag),
            (b"cache-control", self._cache_control(name).encode()),
        ]
        if encoding:
            headers.append((b"content-encoding", encoding.encode()))
        found = ShellFile(body, headers, etag)
        with self._lock:
            if self._bytes + len(body) <= _MAX_CACHED_BYTES:
                self._files[name] = found
                self._bytes += len(body)
        return found


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    tags = [t.strip().removeprefix(b"W/") for t in if_none_match.split(b",")]
    return b"*" in tags or etag in tags


class PageShellMiddleware:
    """Serves ``{base}/`` and ``{base}/<static file>`` from a :class:`StaticShell`; everything else goes on."""

    def __init__(self, app: ASGIApp, shell: StaticShell, base: str = "") -> None:
        self.app = app
        self.shell = shell
        self.prefix = base.rstrip("/")
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _name(self, path: str) -> str | None:
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return None
            path = path[len(self.prefix) :]
        if path == "/":
            return "index.html"
        name = path[1:]
        # Only exact names from the listing: no path arithmetic, so nothing outside the directory can be named.
        return name if name in self.shell else None

    def _count(self, path: str, method: str, status: int, start: float) -> None:
        key = (path, method, status)
        counters = self._series.get(key)
        if counters is None:  # bounded: shell names x (GET, HEAD) x (200, 304)
            route = route_of(path, self.prefix)
            counters = self._series[key] = (
                Metrics.requests.labels(route, method, str(status)),
                Metrics.latency.labels(route),
            )
        counters[0].inc()
        counters[1].observe(time.perf_counter() - start)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        name = self._name(scope["path"])
        found = self.shell.get(name) if name is not None else None
        if found is None:
            await self.app(scope, receive, send)
            return
        if_none_match = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        if if_none_match is not None and _matches(if_none_match, found.etag):
            headers = [h for h in found.headers if h[0] in (b"etag", b"cache-control")]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            self._count(scope["path"], scope["method"], 304, start)
            return
        await send({"type": "http.response.start", "status": 200, "headers": found.headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else found.body})
        self._count(scope["path"], scope["method"], 200, start)
