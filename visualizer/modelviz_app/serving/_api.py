"""``GET /api/v1/models``, ``POST /api/v1/predict`` and ``GET /api/v1/openapi.json``.

Every error is JSON ``{"error": {"code", "message", "field"?}}`` with a 4xx status for what the client sent (bad
image, unknown model, oversized body, wrong content type, bad parameter) and 503 while a model is not loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelviz_app.datasets import MAX_PIXELS, decode_image
from modelviz_app.serving._batching import BatchResult
from modelviz_app.serving._openapi import openapi_document
from modelviz_app.serving._service import ModelEntry, Service

__all__ = ["ACCEPTED_TYPES", "MAX_BODY_ENV", "ApiError", "api_routes"]

MAX_BODY_ENV = "MODELVIZ_PREDICT_MAX_BYTES"
ACCEPTED_TYPES = (
    "image/jpeg", "image/png", "image/webp", "image/bmp", "image/gif", "image/tiff", "application/octet-stream",
)  # fmt: skip
_MAX_K = 100
_LOG = logging.getLogger("modelviz_app.serving")
# Decoding is CPU work in C (PIL releases the GIL): off the event loop, on threads of its own.
_DECODE = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def response(self) -> JSONResponse:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return JSONResponse({"error": error}, status_code=self.status)


def _max_body() -> int:
    try:
        return max(1, int(os.environ.get(MAX_BODY_ENV, 10 * 1024 * 1024)))
    except ValueError:
        return 10 * 1024 * 1024


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
    raw = request.query_params.get("k", "5")
    try:
        k = int(raw)
    except ValueError:
        k = 0
    if not 1 <= k <= _MAX_K:
        raise ApiError(400, "InvalidParameter", f"k must be an integer from 1 to {_MAX_K}, got {raw!r}", "k")
    return k


def _targets(request: Request, service: Service) -> list[ModelEntry]:
    if service.problem:
        raise ApiError(503, "NotConfigured", service.problem)
    names: list[str] = []
    for value in request.query_params.getlist("model"):
        names += [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        return list(service.entries.values())
    unknown = [n for n in names if n not in service.entries]
    if unknown:
        known = ", ".join(service.entries)
        raise ApiError(404, "UnknownModel", f"no model named {', '.join(unknown)}; configured: {known}", "model")
    return [service.entries[n] for n in dict.fromkeys(names)]


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ApiError(413, "PayloadTooLarge", f"the body is {int(length)} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "PayloadTooLarge", f"the body is more than {limit} bytes, the limit")
            chunks.append(chunk)
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
            raise ApiError(400, "InvalidMultipart", f"the multipart body cannot be parsed: {exc}") from None
        upload = next((v for k, v in form.multi_items() if isinstance(v, UploadFile) and k in ("image", "file")), None)
        if upload is None:
            upload = next((v for _, v in form.multi_items() if isinstance(v, UploadFile)), None)
        if upload is None:
            raise ApiError(400, "MissingImage", "the multipart body has no file part (name it image)", "image")
        data = await upload.read()
        await form.close()
    elif kind in ACCEPTED_TYPES:
        data = await _read_body(request, limit)
    else:
        accepted = ", ".join((*ACCEPTED_TYPES, "multipart/form-data"))
        raise ApiError(415, "UnsupportedMediaType", f"Content-Type {kind or '(none)'!r}; send one of {accepted}")
    if not data:
        raise ApiError(400, "EmptyBody", "the request carries no image")
    return data


def _decode(data: bytes) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return decode_image(data)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ApiError(413, "ImageTooLarge", f"{exc}; the limit is {MAX_PIXELS} pixels") from None
    except ValueError as exc:  # decode_image's own pixel check
        raise ApiError(413, "ImageTooLarge", str(exc)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError) as exc:
        raise ApiError(422, "InvalidImage", f"the body is not an image this server can decode: {exc}") from None


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


def api_routes(service: Service, base: str = "") -> list[Route]:
    async def models(_request: Request) -> Response:
        return JSONResponse(_models_body(service))

    async def predict(request: Request) -> Response:
        if request.method != "POST":
            response = ApiError(405, "MethodNotAllowed", "POST an image to this URL").response()
            response.headers["Allow"] = "POST"
            return response
        try:
            k = _k(request)
            targets = _targets(request, service)
            down = [e for e in targets if e.batcher is None]
            if down:
                why = "; ".join(f"{e.spec.name}: {e.error or e.state}" for e in down)
                raise ApiError(503, "ModelUnavailable", f"not loaded: {why}", "model")
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
        return JSONResponse(
            {
                "image": {"width": int(width), "height": int(height)},
                "predictions": [_top(e, r, k) for e, r in zip(targets, results, strict=True)],
            }
        )

    async def openapi(_request: Request) -> Response:
        return JSONResponse(openapi_document(base))

    prefix = f"{base}/api/v1"
    return [
        Route(f"{prefix}/models", models, methods=["GET"]),
        Route(f"{prefix}/predict", predict, methods=["GET", "POST"]),
        Route(f"{prefix}/openapi.json", openapi, methods=["GET"]),
    ]
