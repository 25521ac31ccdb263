"""``GET /api/v1/models``, ``POST /api/v1/predict`` and ``GET /api/v1/openapi.json``.

Every error is JSON ``{"error": {"code", "message", "field"?}}`` with a 4xx status for what the client sent (bad
image, unknown model, oversized or late body, wrong content type, bad parameter, wrong method, unknown API path) and
503 while a model is not loaded. Answers are never cached (``Cache-Control: no-store``): they describe one image or
the models' state right now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response
from starlette.types import Receive, Scope, Send

from modelviz_app._uploads import ImageRejected, decode_upload
from modelviz_app.serving._batching import BatchResult
from modelviz_app.serving._openapi import openapi_document
from modelviz_app.serving._service import ModelEntry, Service

__all__ = ["ACCEPTED_TYPES", "MAX_BODY_ENV", "READ_TIMEOUT_ENV", "ApiError", "api_routes"]

MAX_BODY_ENV = "MODELVIZ_PREDICT_MAX_BYTES"
# A client that trickles its body (or stalls) holds a connection and, announced to the batchers, makes every batch
# wait its full MODELVIZ_BATCH_MAX_WAIT_MS: the whole body must arrive within this many seconds.
READ_TIMEOUT_ENV = "MODELVIZ_PREDICT_READ_TIMEOUT_S"
# Any image/* type is taken (the bytes decide what the image is: clients send image/jpg, image/x-png, ...).
ACCEPTED_TYPES = ("image/*", "application/octet-stream")
_NO_STORE = {"Cache-Control": "no-store"}
_MAX_K = 100
_SHOWN = 64  # characters of a client's value echoed in a message
_LOG = logging.getLogger("modelviz_app.serving")
# Decoding is CPU work in C (PIL releases the GIL): off the event loop, on threads of its own.
_DECODE = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return JSONResponse({"error": error}, status_code=self.status, headers={**_NO_STORE, **(headers or {})})


def _max_body() -> int:
    try:
        return max(1, int(os.environ.get(MAX_BODY_ENV, 10 * 1024 * 1024)))
    except ValueError:
        return 10 * 1024 * 1024


def _read_timeout() -> float:
    try:
        seconds = float(os.environ.get(READ_TIMEOUT_ENV, 30))
    except ValueError:
        return 30.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 30.0


def _shown(value: str) -> str:
    """A client's value for a message: quoted, control characters escaped, long ones cut."""
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


def _describe(entry: ModelEntry, service: Service) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": entry.spec.name, "state": entry.state}
    if entry.spec.catalog:
        doc["catalog"] = entry.spec.catalog
    if entry.model is not None and entry.predictor is not None:
        doc.update(
            source=entry.model.source,
            inputSize={"height": entry.model.input_size[0], "width": entry.model.input_size[1]},
            channels=entry.model.channels,
            labels=len(entry.model.labels),
            runtime=entry.predictor.backend,
            loadSeconds=entry.load_seconds,
        )
    if entry.batcher is not None:
        doc["batchedCalls"] = entry.batcher.calls
    if entry.error:
        doc["error"] = entry.error
    return doc


def _models_body(service: Service) -> dict[str, Any]:
    body: dict[str, Any] = {
        "models": [_describe(e, service) for e in service.entries.values()],
        "batching": {
            "enabled": service.settings.enabled,
            "maxBatchSize": service.settings.max_batch,
            "maxWaitMs": service.settings.max_wait_s * 1000,
        },
    }
    if service.problem:
        body["error"] = service.problem
    return body


def _k(request: Request) -> int:
    given = request.query_params.getlist("k")
    if len(given) > 1:  # which one was meant? Starlette would silently take the last
        raise ApiError(400, "InvalidParameter", f"k is given {len(given)} times; give it once", "k")
    raw = given[0] if given else "5"
    try:
        k = int(raw)
    except ValueError:
        k = 0
    if not 1 <= k <= _MAX_K:
        raise ApiError(400, "InvalidParameter", f"k must be an integer from 1 to {_MAX_K}, got {_shown(raw)}", "k")
    return k


def _down(entries: list[ModelEntry]) -> str:
    return "; ".join(f"{e.spec.name}: {e.error or e.state}" for e in entries)


def _targets(request: Request, service: Service) -> tuple[list[ModelEntry], list[ModelEntry]]:
    """(models to run, models left out): no ``model`` means every loaded one; a named one must be loaded."""
    if service.problem:
        raise ApiError(503, "NotConfigured", service.problem)
    names: list[str] = []
    for value in request.query_params.getlist("model"):
        names += [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        everything = list(service.entries.values())
        ready = [e for e in everything if e.batcher is not None]
        if not ready:
            raise ApiError(503, "ModelUnavailable", f"no model is loaded: {_down(everything) or 'none configured'}",
                           "model")  # fmt: skip
        # One broken model must not fail every default request; the answer names the ones left out.
        return ready, [e for e in everything if e.batcher is None]
    unknown = list(dict.fromkeys(n for n in names if n not in service.entries))
    if unknown:
        known = ", ".join(service.entries)
        shown = ", ".join(_shown(n) for n in unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        raise ApiError(404, "UnknownModel", f"no model named {shown}; configured: {known}", "model")
    chosen = [service.entries[n] for n in dict.fromkeys(names)]
    down = [e for e in chosen if e.batcher is None]
    if down:
        raise ApiError(503, "ModelUnavailable", f"not loaded: {_down(down)}", "model")
    return chosen, []


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ApiError(413, "PayloadTooLarge", f"the body is {int(length)} bytes; the limit is {limit}", "body")
    chunks: list[bytes] = []
    size = 0
    timeout = _read_timeout()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "PayloadTooLarge", f"the body is more than {limit} bytes, the limit", "body")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, "RequestTimeout", f"the body did not arrive within {timeout:g} s ({size} bytes came)",
                       "body") from None  # fmt: skip
    except ClientDisconnect:
        raise ApiError(400, "ClientDisconnected", "the client went away before sending the whole body") from None
    body = b"".join(chunks)
    request._body = body  # Starlette's own cache: request.form() then parses what was already read
    return body


async def _image_bytes(request: Request) -> bytes:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    limit = _max_body()
    if kind == "multipart/form-data":
        await _read_body(request, limit)
        try:
            form = await request.form(max_files=1, max_fields=16, max_part_size=limit)
        except Exception as exc:  # python-multipart's and Starlette's parse errors
            why = str(getattr(exc, "detail", exc))  # Starlette's HTTPException: its detail, without "400: "
            if "too many files" in why.lower():
                raise ApiError(400, "InvalidMultipart", "the multipart body has more than one file part; send one "
                               "image, in a part named image", "image") from None  # fmt: skip
            raise ApiError(400, "InvalidMultipart", f"the multipart body cannot be parsed: {why}") from None
        upload = next((v for k, v in form.multi_items() if isinstance(v, UploadFile) and k in ("image", "file")), None)
        if upload is None:
            upload = next((v for _, v in form.multi_items() if isinstance(v, UploadFile)), None)
        if upload is None:
            raise ApiError(400, "MissingImage", "the multipart body has no file part (name it image)", "image")
        data = await upload.read()
        await form.close()
    elif kind.startswith("image/") or kind == "application/octet-stream":
        data = await _read_body(request, limit)
    else:
        hint = ""
        if kind == "application/x-www-form-urlencoded":  # curl --data-binary without -H sends this
            hint = " (curl --data-binary sends application/x-www-form-urlencoded unless given -H 'Content-Type: ...')"
        raise ApiError(415, "UnsupportedMediaType", f"Content-Type {_shown(kind) if kind else '(none)'} is not an "
                       f"image; send image/* (e.g. image/jpeg), application/octet-stream or multipart/form-data{hint}",
                       "Content-Type")  # fmt: skip
    if not data:
        raise ApiError(400, "EmptyBody", "the request carries no image", "image")
    return data


def _decode(data: bytes) -> np.ndarray:
    try:
        return decode_upload(data)
    except ImageRejected as exc:
        if exc.too_large:
            raise ApiError(413, "ImageTooLarge", exc.message, "image") from None
        raise ApiError(422, "InvalidImage", exc.message, "image") from None


def _top(entry: ModelEntry, result: BatchResult, k: int) -> dict[str, Any]:
    assert entry.model is not None
    probs = result.probs
    top = np.argsort(-probs, kind="stable")[: min(k, len(probs))]
    return {
        "model": entry.spec.name,
        "top": [{"index": int(i), "label": entry.model.labels[i], "probability": float(probs[i])} for i in top],
        "inferenceMs": round(result.inference_s * 1000, 3),
        "batchSize": result.batch_size,
    }


_Endpoint = Callable[[Request], Awaitable[Response]]


class _Only:
    """An ASGI app answering ``methods`` (None: any) with the endpoint and any other with a JSON 405 naming them.

    An app rather than a function: Starlette routes a function endpoint for GET only and answers the rest itself,
    in plain text.
    """

    def __init__(self, methods: tuple[str, ...] | None, endpoint: _Endpoint) -> None:
        self.allowed = None if methods is None else (*methods, "HEAD") if "GET" in methods else methods
        self.verbs = " or ".join(methods or ())
        self.endpoint = endpoint
        self.app = request_response(self._checked)

    async def _checked(self, request: Request) -> Response:
        if self.allowed is not None and request.method not in self.allowed:
            return ApiError(405, "MethodNotAllowed", f"{_shown(request.method)} is not allowed here; use {self.verbs}"
                            ).response({"Allow": ", ".join(self.allowed)})  # fmt: skip
        return await self.endpoint(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def api_routes(service: Service, base: str = "") -> list[Route]:
    prefix = f"{base}/api/v1"
    paths = ", ".join(f"{prefix}/{name}" for name in ("models", "predict", "openapi.json"))

    async def models(_request: Request) -> Response:
        return JSONResponse(_models_body(service), headers=_NO_STORE)

    async def predict(request: Request) -> Response:
        try:
            k = _k(request)
            targets, skipped = _targets(request, service)
            with contextlib.ExitStack() as stack:
                # Announced before the body is read, so a batch being gathered waits (briefly) for this request.
                submits = [stack.enter_context(e.batcher.announce()) for e in targets if e.batcher is not None]
                data = await _image_bytes(request)
                image = await asyncio.get_running_loop().run_in_executor(_DECODE, _decode, data)
                results = await asyncio.gather(*(submit(image) for submit in submits))
        except ApiError as err:
            return err.response()
        except Exception:
            _LOG.exception("prediction failed")
            return ApiError(500, "InternalError", "the prediction failed; the server log has the details").response()
        height, width = image.shape[:2]
        body: dict[str, Any] = {
            "image": {"width": int(width), "height": int(height)},
            "predictions": [_top(e, r, k) for e, r in zip(targets, results, strict=True)],
        }
        if skipped:
            body["unavailable"] = [{"model": e.spec.name, "error": e.error or e.state} for e in skipped]
        return JSONResponse(body, headers=_NO_STORE)

    async def openapi(_request: Request) -> Response:
        return JSONResponse(openapi_document(base))

    async def not_found(request: Request) -> Response:
        # Without this, Streamlit's page fallback answers a mistyped API URL with 200 and the app's HTML.
        return ApiError(404, "NotFound", f"no API at {_shown(request.url.path)}; the API has {paths}").response()

    # Every method routed here: the wrong one gets the JSON 405, not Starlette's plain-text one.
    return [
        Route(f"{prefix}/models", _Only(("GET",), models)),
        Route(f"{prefix}/predict", _Only(("POST",), predict)),
        Route(f"{prefix}/openapi.json", _Only(("GET",), openapi)),
        Route(prefix, _Only(None, not_found)),
        Route(f"{prefix}/{{rest:path}}", _Only(None, not_found)),
    ]
