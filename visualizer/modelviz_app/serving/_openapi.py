"""The OpenAPI 3.1 document of the prediction API (served at ``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "CamelCase reason, e.g. UnknownModel"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "the parameter or part at fault"},
            },
        }
    },
}
# Any image/* Content-Type is taken; the bytes decide the format (these decode).
_IMAGE_TYPES = ("image/*", "image/jpeg", "image/png", "image/webp", "image/bmp", "image/gif", "image/tiff")


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document(base: str = "") -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "modelviz prediction API",
            "version": "1",
            "description": (
                "Image classification with the visualizer's configured models. Concurrent requests are gathered "
                "into batched model calls (MODELVIZ_BATCH_MAX_SIZE, MODELVIZ_BATCH_MAX_WAIT_MS)."
            ),
        },
        "servers": [{"url": base or "/"}],
        "paths": {
            "/api/v1/models": {
                "get": {
                    "summary": "Configured models, their input size, labels, load state and runtime",
                    "operationId": "listModels",
                    "responses": {
                        "200": {
                            "description": "the models",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Models"}}},
                        }
                    },
                }
            },
            "/api/v1/predict": {
                "post": {
                    "summary": "Top-k labels of one image from each selected model",
                    "operationId": "predict",
                    "parameters": [
                        {
                            "name": "model",
                            "in": "query",
                            "description": "model name (repeat or comma-separate for several); default: all models",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "k",
                            "in": "query",
                            "description": "labels per model",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 5},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "description": (
                            "the image as the raw body, or a multipart form with one file part (named image). It is "
                            "classified upright as its EXIF orientation says, transparency over white, the first "
                            "frame of an animation; the whole body must arrive within MODELVIZ_PREDICT_READ_TIMEOUT_S"
                        ),
                        "content": {
                            **{t: binary for t in (*_IMAGE_TYPES, "application/octet-stream")},
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"image": {"type": "string", "format": "binary"}},
                                    "required": ["image"],
                                }
                            },
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "predictions, one entry per model",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Prediction"}}},
                        },
                        "400": _error("bad parameter, empty body or unparsable multipart"),
                        "404": _error("unknown model"),
                        "405": _error("a method other than POST"),
                        "408": _error("the body did not arrive in time"),
                        "413": _error("body over MODELVIZ_PREDICT_MAX_BYTES, or an image over the pixel limit"),
                        "415": _error("unsupported Content-Type"),
                        "422": _error("the body is not a decodable image"),
                        "503": _error("not configured, a named model is not loaded, or none is"),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": _ERROR,
                "Models": {
                    "type": "object",
                    "properties": {
                        "models": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "state"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "state": {"enum": ["loading", "ready", "failed"]},
                                    "catalog": {"type": "string"},
                                    "source": {"type": "string"},
                                    "inputSize": {
                                        "type": "object",
                                        "properties": {"height": {"type": "integer"}, "width": {"type": "integer"}},
                                    },
                                    "channels": {"type": "integer"},
                                    "labels": {"type": "integer", "description": "number of labels"},
                                    "runtime": {"enum": ["tflite", "keras"]},
                                    "loadSeconds": {"type": "number"},
                                    "batchedCalls": {"type": "integer"},
                                    "error": {"type": "string"},
                                },
                            },
                        },
                        "batching": {
                            "type": "object",
                            "properties": {
                                "enabled": {"type": "boolean"},
                                "maxBatchSize": {"type": "integer"},
                                "maxWaitMs": {"type": "number"},
                            },
                        },
                        "error": {"type": "string"},
                    },
                },
                "Prediction": {
                    "type": "object",
                    "required": ["image", "predictions"],
                    "properties": {
                        "image": {
                            "type": "object",
                            "properties": {"width": {"type": "integer"}, "height": {"type": "integer"}},
                        },
                        "predictions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["model", "top", "inferenceMs", "batchSize"],
                                "properties": {
                                    "model": {"type": "string"},
                                    "top": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "index": {"type": "integer"},
                                                "label": {"type": "string"},
                                                "probability": {"type": "number"},
                                            },
                                        },
                                    },
                                    "inferenceMs": {"type": "number", "description": "the batched call's time"},
                                    "batchSize": {"type": "integer", "description": "images in that call"},
                                },
                            },
                        },
                        "unavailable": {
                            "type": "array",
                            "description": "without ?model=: the configured models left out as not loaded, and why",
                            "items": {
                                "type": "object",
                                "required": ["model", "error"],
                                "properties": {"model": {"type": "string"}, "error": {"type": "string"}},
                            },
                        },
                    },
                },
            }
        },
    }
