"""The prediction API against a real server on 127.0.0.1 (``modelviz app serve``): good and bad inputs, batching."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.app.api_helpers import Served, _metric, call, models_with_a_broken_one, png, serve

from .browser import stop
from .conftest import CLASSES, TinyEnv

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
# Small enough that a refused body still fits the loopback socket buffers (the client then reads the answer).
LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def served(tiny: TinyEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    models = models_with_a_broken_one(tiny)
    tmp = tmp_path_factory.mktemp("api")
    # A generous wait so that a burst is surely gathered on a busy machine; the size bound is what the test checks.
    proc, server = serve(tmp, tiny.config("api", models), {"MODELVIZ_BATCH_MAX_WAIT_MS": "50",
                                                           "MODELVIZ_BATCH_MAX_SIZE": "8",
                                                           "MODELVIZ_PREDICT_MAX_BYTES": str(LIMIT)})  # fmt: skip
    try:
        yield server
    finally:
        stop(proc)


def multipart(name: str, filename: str, data: bytes, kind: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {kind}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_models_lists_each_model_with_state_and_runtime(served: Served) -> None:
    status, _, body = call(f"{served.url}/api/v1/models")
    assert status == 200
    models = {m["name"]: m for m in body["models"]}
    assert set(models) == {"colour-mean", "tiny-conv", "broken"}
    mean = models["colour-mean"]
    assert mean["state"] == "ready" and mean["labels"] == 3 and mean["channels"] == 3
    assert mean["inputSize"] == {"height": 16, "width": 16} and mean["runtime"] in ("tflite", "keras")
    assert models["tiny-conv"]["inputSize"] == {"height": 12, "width": 12}
    assert models["broken"]["state"] == "failed" and "does not exist" in models["broken"]["error"]
    assert body["batching"] == {"enabled": True, "maxBatchSize": 8, "maxWaitMs": 50.0}


def test_predict_raw_body_gives_top_k_per_model(served: Served) -> None:
    status, _, body = call(f"{served.url}/api/v1/predict?model=colour-mean,tiny-conv&k=2", png((200, 10, 10)),
                           "image/png")  # fmt: skip
    assert status == 200, body
    assert body["image"] == {"width": 24, "height": 20}
    by_model = {p["model"]: p for p in body["predictions"]}
    assert set(by_model) == {"colour-mean", "tiny-conv"}
    mean = by_model["colour-mean"]
    assert mean["top"][0]["label"] == "red" and len(mean["top"]) == 2
    assert mean["top"][0]["probability"] > 0.9 and mean["inferenceMs"] > 0 and mean["batchSize"] >= 1


def test_predict_multipart_and_default_k(served: Served) -> None:
    body, kind = multipart("image", "blue.png", png((5, 5, 220)), "image/png")
    status, _, answer = call(f"{served.url}/api/v1/predict?model=colour-mean", body, kind)
    assert status == 200, answer
    (prediction,) = answer["predictions"]
    assert prediction["top"][0]["label"] == "blue" and len(prediction["top"]) == 3  # k=5, 3 labels


@pytest.mark.parametrize(
    ("query", "body", "kind", "status", "code", "field"),
    [
        ("model=nope", b"x", "image/png", 404, "UnknownModel", "model"),
        ("model=broken", b"x", "image/png", 503, "ModelUnavailable", "model"),
        ("model=colour-mean&k=0", b"x", "image/png", 400, "InvalidParameter", "k"),
        ("model=colour-mean&k=ten", b"x", "image/png", 400, "InvalidParameter", "k"),
        ("model=colour-mean", b"{}", "application/json", 415, "UnsupportedMediaType", None),
        ("model=colour-mean", b"hello", "text/plain", 415, "UnsupportedMediaType", None),
        ("model=colour-mean", b"", "image/png", 400, "EmptyBody", None),
        ("model=colour-mean", b"not an image at all", "image/jpeg", 422, "InvalidImage", None),
        ("model=colour-mean", png((1, 2, 3))[:40], "image/png", 422, "InvalidImage", None),
        ("model=colour-mean", b"--x\r\n\r\n", "multipart/form-data; boundary=x", 400, None, None),
    ],
)
def test_bad_requests_get_json_4xx(served: Served, query, body, kind, status, code, field) -> None:
    got, _, answer = call(f"{served.url}/api/v1/predict?{query}", body, kind)
    assert got == status, answer
    assert isinstance(answer, dict) and answer["error"]["message"], answer
    if code:
        assert answer["error"]["code"] == code
    if field:
        assert answer["error"]["field"] == field


def test_oversized_body_and_decompression_bomb_are_refused(served: Served) -> None:
    status, _, answer = call(f"{served.url}/api/v1/predict?model=colour-mean", b"\0" * (LIMIT + 1),
                             "image/png")  # fmt: skip
    assert status == 413 and answer["error"]["code"] == "PayloadTooLarge"
    # 50 megapixels of one colour: a few kilobytes of PNG that would decode to 150 MB.
    bomb = io.BytesIO()
    Image.new("L", (10_000, 5_000), 0).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < LIMIT
    status, _, answer = call(f"{served.url}/api/v1/predict?model=colour-mean", bomb.getvalue(), "image/png")
    assert status == 413 and answer["error"]["code"] == "ImageTooLarge", answer
    # Multipart without a file part.
    body = b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--b--\r\n'
    status, _, answer = call(f"{served.url}/api/v1/predict?model=tiny-conv", body, "multipart/form-data; boundary=b")
    assert status == 400 and answer["error"]["code"] == "MissingImage"
    status, headers, answer = call(f"{served.url}/api/v1/predict")
    assert status == 405 and headers["Allow"] == "POST" and answer["error"]["code"] == "MethodNotAllowed"


def test_openapi_document_describes_the_api(served: Served) -> None:
    status, _, doc = call(f"{served.url}/api/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/api/v1/models", "/api/v1/predict"}
    responses = doc["paths"]["/api/v1/predict"]["post"]["responses"]
    assert {"200", "400", "404", "413", "415", "422", "503"} <= set(responses)
    import jsonschema

    # Every answer above fits the document's own schemas.
    schemas = doc["components"]["schemas"]
    resolver = {"$defs": schemas}

    def check(instance, name):
        schema = json.loads(json.dumps(schemas[name]).replace("#/components/schemas/", "#/$defs/"))
        jsonschema.validate(instance, {**schema, **resolver})

    check(call(f"{served.url}/api/v1/models")[2], "Models")
    check(call(f"{served.url}/api/v1/predict?model=tiny-conv", png((9, 9, 9)), "image/png")[2], "Prediction")
    check(call(f"{served.url}/api/v1/predict?model=nope", png((9, 9, 9)), "image/png")[2], "Error")


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(served: Served, tiny: TinyEnv) -> None:
    """N concurrent requests make fewer than N model calls; each answer is the one for its own image."""
    n = 24
    rng = np.random.default_rng(3)
    colours = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(n)]
    images = [png(c) for c in colours]  # type: ignore[arg-type]

    import keras

    # What the model says for each image alone (Keras, in this process): the reference answers.
    reference = keras.models.load_model(tiny.models["colour-mean"], compile=False)
    batch = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB").resize((16, 16))) for b in images])
    expected = np.asarray(reference.predict_on_batch(batch.astype(np.float32)))

    before = call(f"{served.url}/api/v1/models")[2]
    calls_before = next(m for m in before["models"] if m["name"] == "colour-mean")["batchedCalls"]
    metrics_before = call(f"{served.url}/metrics")[2].decode()

    def one(i: int):
        return call(f"{served.url}/api/v1/predict?model=colour-mean&k=3", images[i], "image/png")

    with ThreadPoolExecutor(max_workers=n) as pool:
        answers = list(pool.map(one, range(n)))
    after = call(f"{served.url}/api/v1/models")[2]
    calls = next(m for m in after["models"] if m["name"] == "colour-mean")["batchedCalls"] - calls_before
    assert 1 <= calls < n, f"{n} requests made {calls} model calls"
    sizes = []
    for i, (status, _, body) in enumerate(answers):
        assert status == 200, body
        (prediction,) = body["predictions"]
        got = {t["index"]: t["probability"] for t in prediction["top"]}
        assert np.allclose([got[j] for j in range(3)], expected[i], atol=1e-4), (i, got, expected[i])
        assert prediction["top"][0]["label"] == CLASSES[int(np.argmax(expected[i]))]
        sizes.append(prediction["batchSize"])
    assert max(sizes) > 1 and max(sizes) <= 8
    metrics = call(f"{served.url}/metrics")[2].decode()
    label = 'model="colour-mean"'
    batches = _metric(metrics, "modelviz_app_predict_batch_size_count", label)
    batches -= _metric(metrics_before, "modelviz_app_predict_batch_size_count", label)
    assert batches == calls
    images_done = _metric(metrics, "modelviz_app_predicted_images_total", label)
    images_done -= _metric(metrics_before, "modelviz_app_predicted_images_total", label)
    assert images_done == n


def test_metrics_count_routes_and_models(served: Served) -> None:
    call(f"{served.url}/_stcore/health")
    call(f"{served.url}/")
    call(f"{served.url}/api/v1/predict?model=tiny-conv", png((9, 9, 9)), "image/png")
    status, headers, body = call(f"{served.url}/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    assert _metric(text, "modelviz_app_http_requests_total", 'code="200",method="GET",route="stcore:health"') >= 1
    assert _metric(text, "modelviz_app_http_requests_total", 'code="200",method="GET",route="page"') >= 1
    assert "modelviz_app_http_request_duration_seconds_bucket" in text
    assert "modelviz_app_inference_seconds_count" in text
    assert _metric(text, "modelviz_app_model_loaded", 'model="colour-mean"') == 1
    assert _metric(text, "modelviz_app_model_loaded", 'model="broken"') == 0
    assert _metric(text, "modelviz_app_models_in_memory", "") == 2  # the two that load, once each


def test_without_configuration_the_api_says_so(tmp_path: Path) -> None:
    proc, server = serve(tmp_path, None)
    try:
        status, _, body = call(f"{server.url}/api/v1/models")
        assert status == 200 and body["models"] == [] and "no configuration" in body["error"]
        status, _, body = call(f"{server.url}/api/v1/predict", png((1, 1, 1)), "image/png")
        assert status == 503 and body["error"]["code"] == "NotConfigured"
    finally:
        stop(proc)
