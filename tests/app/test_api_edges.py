"""The prediction API against inputs and faults a careless or hostile client produces, on a real server (127.0.0.1).

Each answer is checked against what a viewer shows of the image (sent again as a plain 8-bit PNG), so a wrong
orientation, alpha or bit depth shows up as different probabilities.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

from tests.app import image_cases as cases
from tests.app.api_helpers import Served, call, models_with_a_broken_one, png, serve

from .browser import stop
from .conftest import TinyEnv

pytestmark = pytest.mark.slow
LIMIT = 256 * 1024
READ_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def served(tiny: TinyEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    models = models_with_a_broken_one(tiny)
    tmp = tmp_path_factory.mktemp("api-edges")
    proc, server = serve(tmp, tiny.config("api-edges", models), {"MODELVIZ_BATCH_MAX_WAIT_MS": "50",
                                                                 "MODELVIZ_PREDICT_MAX_BYTES": str(LIMIT),
                                                                 "MODELVIZ_PREDICT_READ_TIMEOUT_S":
                                                                     str(READ_TIMEOUT_S)})  # fmt: skip
    try:
        yield server
    finally:
        stop(proc)


def raw(url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    """(status, headers, JSON or bytes) with exactly these headers: urllib would add a Content-Type of its own."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        kind = response.getheader("Content-Type", "")
        return response.status, response, json.loads(data) if data and kind.startswith("application/json") else data
    finally:
        conn.close()


def predict(served: Served, data: bytes, query: str = "model=colour-mean,tiny-conv&k=3", kind: str = "image/png"):
    return call(f"{served.url}/api/v1/predict?{query}", data, kind)


def probs(answer: dict[str, Any]) -> dict[str, list[float]]:
    """Model -> probability per label index."""
    out = {}
    for p in answer["predictions"]:
        by_index = {t["index"]: t["probability"] for t in p["top"]}
        out[p["model"]] = [by_index[i] for i in sorted(by_index)]
    return out


def assert_shown_as(served: Served, data: bytes, shown: bytes, kind: str = "image/png") -> dict[str, Any]:
    status, _, answer = predict(served, data, kind=kind)
    assert status == 200, answer
    status, _, reference = predict(served, shown)
    assert status == 200, reference
    got, want = probs(answer), probs(reference)
    for model in want:
        assert np.allclose(got[model], want[model], atol=2e-3), (model, got[model], want[model])
    return answer


def assert_error(answer: Any, code: str, field: str | None = None) -> None:
    assert isinstance(answer, dict) and answer["error"]["code"] == code, answer
    if field:
        assert answer["error"].get("field") == field, answer
    text = json.dumps(answer)
    assert "Traceback" not in text and "site-packages" not in text and ".py" not in text, answer


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        body += b"Content-Type: image/png\r\n" if filename else b""
        body += b"\r\n" + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# Decoding: the picture a viewer shows, whatever the file's encoding.


def test_16_bit_grey_is_scaled_not_clipped_to_white(served: Served) -> None:
    assert_shown_as(served, *cases.sixteen_bit_grey())


def test_deep_grey_pixels_are_those_of_the_8_bit_picture() -> None:
    """The tiny models hardly tell one grey picture from another: the decoded pixels themselves, in process."""
    import io

    from PIL import Image

    from modelviz_app._uploads import decode_upload

    for deep, shown in (cases.sixteen_bit_grey(), cases.float_grey_tiff()):
        want = np.asarray(Image.open(io.BytesIO(shown)))
        got = decode_upload(deep)
        assert got.dtype == np.uint8 and got.shape == want.shape
        assert np.abs(got.astype(int) - want).max() <= 1 and got.max() < 255 and got.min() > 0


def test_float_grey_tiff_is_scaled(served: Served) -> None:
    assert_shown_as(served, *cases.float_grey_tiff(), kind="image/tiff")


def test_transparency_is_composited_over_white(served: Served) -> None:
    answer = assert_shown_as(served, *cases.transparent_over_blue())
    # Alpha dropped, the transparent pixels' blue would win; over white the red centre does.
    top = {p["model"]: p["top"][0]["label"] for p in answer["predictions"]}
    assert top["colour-mean"] == "red", answer
    assert_shown_as(served, *cases.palette_with_transparency())


def test_exif_orientation_is_honoured(served: Served) -> None:
    stored, upright, (width, height) = cases.exif_rotated_jpeg()
    answer = assert_shown_as(served, stored, upright, kind="image/jpeg")
    assert answer["image"] == {"width": width, "height": height} == {"width": cases.H, "height": cases.W}


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (cases.animated_gif(), "image/gif"),
        (cases.red("WEBP"), "image/webp"),
        (cases.red("TIFF"), "image/tiff"),
        (cases.red("BMP"), "image/bmp"),
        (cases.red("JPEG", "CMYK"), "image/jpeg"),
        (cases.red("PNG"), "image/jpg"),  # not a registered type, but what many clients send
        (cases.red("PNG"), "image/x-png"),
        (cases.red("PNG"), "IMAGE/PNG; charset=binary"),
        (cases.red("PNG"), "application/octet-stream"),
    ],
    ids=["gif-first-frame", "webp", "tiff", "bmp", "cmyk-jpeg", "image/jpg", "image/x-png", "upper-case", "octet"],
)
def test_formats_and_content_types_are_read(served: Served, data: bytes, kind: str) -> None:
    status, headers, answer = predict(served, data, "model=colour-mean", kind)
    assert status == 200, answer
    assert answer["predictions"][0]["top"][0]["label"] == "red", answer
    assert headers["Cache-Control"] == "no-store" and headers["Content-Type"] == "application/json"


def test_extreme_shapes_and_grey(served: Served) -> None:
    for size in ((1, 1), (10_000, 1), (1, 10_000)):
        status, _, answer = predict(served, png((200, 30, 30), size))
        assert status == 200, (size, answer)
        assert answer["image"] == {"width": size[0], "height": size[1]}
    grey = cases.encode(cases.Image.new("L", (30, 30), 128), "PNG")
    status, _, answer = predict(served, grey)
    assert status == 200 and len(answer["predictions"]) == 2, answer


@pytest.mark.parametrize(
    ("data", "code", "status"),
    [
        (cases.truncated_jpeg(), "InvalidImage", 422),
        (cases.truncated_png(), "InvalidImage", 422),
        (cases.NOT_IMAGES["svg"], "InvalidImage", 422),
        (cases.NOT_IMAGES["html"], "InvalidImage", 422),
        (cases.NOT_IMAGES["text"], "InvalidImage", 422),
        (cases.bomb(), "ImageTooLarge", 413),
        (cases.bomb(9_000, 5_000), "ImageTooLarge", 413),  # 45 MP: under Pillow's own error, over the limit
    ],
    ids=["truncated-jpeg", "truncated-png", "svg", "html", "text", "bomb-50mp", "bomb-45mp"],
)
def test_unusable_images_get_their_own_error(served: Served, data: bytes, code: str, status: int) -> None:
    got, headers, answer = predict(served, data)
    assert got == status, answer
    assert_error(answer, code, "image")
    assert headers["Cache-Control"] == "no-store"


def test_damaged_headers_never_give_a_500(served: Served) -> None:
    seen = set()
    for data in cases.mutants():
        status, _, answer = predict(served, data, "model=colour-mean")
        assert status in (200, 413, 422), answer
        if status != 200:
            assert_error(answer, "InvalidImage" if status == 422 else "ImageTooLarge", "image")
        seen.add(status)
    assert 422 in seen


# The body and its framing.


def test_body_at_the_limit_is_read_and_one_byte_more_is_refused(served: Served) -> None:
    image = png((200, 30, 30))
    exact = image + b"\0" * (LIMIT - len(image))  # PNG readers stop at IEND: the padding is ignored
    status, _, answer = predict(served, exact, "model=colour-mean")
    assert status == 200, answer
    status, _, answer = predict(served, exact + b"\0", "model=colour-mean")
    assert status == 413
    assert_error(answer, "PayloadTooLarge", "body")


def test_missing_or_form_content_type_names_the_header(served: Served) -> None:
    path = "/api/v1/predict?model=colour-mean"
    status, _, answer = raw(served.url, "POST", path, png((1, 2, 3)))
    assert status == 415
    assert_error(answer, "UnsupportedMediaType", "Content-Type")
    # What curl --data-binary sends without -H.
    status, _, answer = raw(served.url, "POST", path, png((1, 2, 3)),
                            {"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert status == 415 and "curl" in answer["error"]["message"], answer
    status, _, answer = raw(served.url, "POST", path, b"", {"Content-Type": "image/png"})
    assert status == 400
    assert_error(answer, "EmptyBody", "image")


def test_multipart_shapes(served: Served) -> None:
    url = f"{served.url}/api/v1/predict?model=colour-mean"
    image = png((10, 10, 220))
    body, kind = multipart([("file", "x.png", image)])  # any name will do for the only file part
    status, _, answer = call(url, body, kind)
    assert status == 200 and answer["predictions"][0]["top"][0]["label"] == "blue", answer
    body, kind = multipart([("note", None, b"hi"), ("image", "x.png", image)])
    assert call(url, body, kind)[0] == 200
    body, kind = multipart([("image", "a.png", image), ("image", "b.png", image)])
    status, _, answer = call(url, body, kind)
    assert status == 400 and "more than one file" in answer["error"]["message"], answer
    assert_error(answer, "InvalidMultipart", "image")
    body, kind = multipart([("image", None, b"not a file part")])
    status, _, answer = call(url, body, kind)
    assert status == 400
    assert_error(answer, "MissingImage", "image")
    status, _, answer = call(url, body, "multipart/form-data")  # no boundary
    assert status == 400
    assert_error(answer, "InvalidMultipart")
    body, kind = multipart([("image", "empty.png", b"")])
    status, _, answer = call(url, body, kind)
    assert status == 400
    assert_error(answer, "EmptyBody", "image")


# Parameters.


@pytest.mark.parametrize(
    ("query", "status", "code", "field"),
    [
        ("model=colour-mean&k=-1", 400, "InvalidParameter", "k"),
        ("model=colour-mean&k=abc", 400, "InvalidParameter", "k"),
        ("model=colour-mean&k=101", 400, "InvalidParameter", "k"),
        ("model=colour-mean&k=1&k=2", 400, "InvalidParameter", "k"),
        ("model=%E2%9C%93", 404, "UnknownModel", "model"),
        ("model=colour-mean%00", 404, "UnknownModel", "model"),
        ("model=" + "x" * 5000, 404, "UnknownModel", "model"),
        ("model=broken", 503, "ModelUnavailable", "model"),
    ],
    ids=["k-negative", "k-text", "k-too-big", "k-twice", "unicode", "nul", "long-name", "failed-model"],
)
def test_bad_parameters(served: Served, query: str, status: int, code: str, field: str) -> None:
    got, _, answer = predict(served, png((1, 2, 3)), query)
    assert got == status, answer
    assert_error(answer, code, field)
    assert len(answer["error"]["message"]) < 400, answer  # a long value is not echoed in full


def test_good_parameter_spellings(served: Served) -> None:
    status, _, answer = predict(served, png((200, 30, 30)), "model=colour%2Dmean&model=colour-mean&k=100")
    assert status == 200, answer
    (prediction,) = answer["predictions"]  # named twice, run once
    assert len(prediction["top"]) == 3  # k beyond the labels: all of them
    status, _, answer = predict(served, png((200, 30, 30)), "model=broken")
    assert "broken" in answer["error"]["message"] and "does not exist" in answer["error"]["message"], answer


def test_without_model_a_failed_model_is_left_out_and_named(served: Served) -> None:
    status, _, answer = predict(served, png((200, 30, 30)), "")
    assert status == 200, answer
    assert {p["model"] for p in answer["predictions"]} == {"colour-mean", "tiny-conv"}
    (left_out,) = answer["unavailable"]
    assert left_out["model"] == "broken" and "does not exist" in left_out["error"]
    import jsonschema

    schemas = call(f"{served.url}/api/v1/openapi.json")[2]["components"]["schemas"]
    jsonschema.validate(answer, schemas["Prediction"])  # the document describes the new field
    assert "unavailable" in schemas["Prediction"]["properties"]


# Methods and paths.


def test_methods_and_paths_answer_json(served: Served) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
        status, response, answer = raw(served.url, method, "/api/v1/predict", b"{}" if method == "PUT" else None)
        assert status == 405 and response.getheader("Allow") == "POST", (method, answer)
        assert_error(answer, "MethodNotAllowed")
    status, response, answer = raw(served.url, "PUT", "/api/v1/models", b"x")
    assert status == 405 and response.getheader("Allow") == "GET, HEAD"
    assert_error(answer, "MethodNotAllowed")
    status, response, answer = raw(served.url, "HEAD", "/api/v1/models")
    assert status == 200 and answer == b"" and response.getheader("Content-Type") == "application/json"
    assert response.getheader("Cache-Control") == "no-store"
    status, _, answer = raw(served.url, "GET", "/api/v1/models", b"ignored", {"Content-Type": "text/plain"})
    assert status == 200 and answer["models"], answer
    for path in ("/api/v1/modles", "/api/v1/predict/", "/api/v1", "/api/v1/", "/api/v1/models/x"):
        status, _, answer = raw(served.url, "GET", path)
        assert status == 404, (path, answer)  # not the app's HTML page with a 200
        assert_error(answer, "NotFound")


# Slow, vanishing and concurrent clients.


def _connect(served: Served) -> socket.socket:
    parts = urlsplit(served.url)
    return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)


def _head(length: int, query: str = "model=colour-mean") -> bytes:
    return (f"POST /api/v1/predict?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()  # fmt: skip


def test_a_stalled_body_times_out_and_does_not_hold_others(served: Served) -> None:
    image = png((200, 30, 30))
    slow = _connect(served)
    try:
        slow.sendall(_head(len(image)) + image[:10])
        started = time.monotonic()
        time.sleep(0.5)
        # Meanwhile a normal request is answered at once (not after the stalled one).
        status, _, answer = predict(served, png((10, 200, 10)), "model=colour-mean")
        assert status == 200 and answer["predictions"][0]["top"][0]["label"] == "green", answer
        assert time.monotonic() - started < READ_TIMEOUT_S
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = slow.recv(65536)
            if not chunk:
                break
            reply += chunk
        waited = time.monotonic() - started
    finally:
        slow.close()
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert READ_TIMEOUT_S - 0.5 <= waited <= READ_TIMEOUT_S + 10, waited
    answer = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert_error(answer, "RequestTimeout", "body")


def test_clients_that_vanish_leave_the_batches_working(served: Served) -> None:
    """Clients that hang up mid-upload or while their request waits in a batch; the rest get their own answers."""
    rng = np.random.default_rng(5)
    colours = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(12)]
    images = [png(c) for c in colours]  # type: ignore[arg-type]
    expected = [probs(predict(served, image, "model=colour-mean&k=3")[2])["colour-mean"] for image in images]

    def vanish(i: int) -> None:
        sock = _connect(served)
        try:
            image = images[i % len(images)]
            if i % 2:
                sock.sendall(_head(len(image)) + image[: len(image) // 2])  # mid-upload
            else:
                sock.sendall(_head(len(image)) + image)  # whole request, gone before the answer
        finally:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
            sock.close()

    def good(i: int):
        return predict(served, images[i], "model=colour-mean&k=3")

    with ThreadPoolExecutor(max_workers=24) as pool:
        gone = [pool.submit(vanish, i) for i in range(12)]
        answers = list(pool.map(good, range(len(images))))
        for f in gone:
            f.result()
    for i, (status, _, answer) in enumerate(answers):
        assert status == 200, answer
        assert np.allclose(probs(answer)["colour-mean"], expected[i], atol=1e-4), (i, answer)
    status, _, answer = predict(served, images[0], "model=colour-mean&k=3")
    assert status == 200 and np.allclose(probs(answer)["colour-mean"], expected[0], atol=1e-4)


def test_mixed_models_and_k_concurrently(served: Served) -> None:
    queries = ["model=colour-mean&k=1", "model=tiny-conv&k=2", "model=tiny-conv,colour-mean&k=3", "k=2"]
    images = [png((230, 10, 10)), png((10, 230, 10)), png((10, 10, 230))]
    alone = {(q, i): predict(served, images[i], q)[2] for q in queries for i in range(len(images))}
    jobs = [(q, i) for q in queries for i in range(len(images))] * 3

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        answers = list(pool.map(lambda job: predict(served, images[job[1]], job[0]), jobs))
    for job, (status, _, answer) in zip(jobs, answers, strict=True):
        assert status == 200, answer
        want = alone[job]
        assert [p["model"] for p in answer["predictions"]] == [p["model"] for p in want["predictions"]]
        for got_p, want_p in zip(answer["predictions"], want["predictions"], strict=True):
            assert [t["index"] for t in got_p["top"]] == [t["index"] for t in want_p["top"]], (job, answer)
            assert np.allclose([t["probability"] for t in got_p["top"]], [t["probability"] for t in want_p["top"]],
                               atol=1e-4)  # fmt: skip


# Metrics.


def _series(text: str) -> set[str]:
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line.startswith("modelviz_app_http_requests_total")}


def test_metrics_labels_stay_bounded(served: Served) -> None:
    # Methods the HTTP parsers take (llhttp knows these) that the API does not: each would be a series of its own.
    methods = ["PROPFIND", "MKCOL", "LOCK", "UNLOCK", "SEARCH", "PURGE", "REPORT", "MKACTIVITY", "CHECKOUT", "MERGE"]

    def burst(tag: str) -> None:
        for i, method in enumerate(methods):
            predict(served, png((1, 2, 3)), f"model={tag}{i}-{uuid.uuid4().hex}")
            raw(served.url, method, "/api/v1/predict")
            raw(served.url, "GET", f"/api/v1/{tag}{i}")

    burst("warm")  # the series these errors belong to exist from here on
    before = _series(call(f"{served.url}/metrics")[2].decode())
    threads = [threading.Thread(target=burst, args=(t,)) for t in ("scan", "probe")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    text = call(f"{served.url}/metrics")[2].decode()
    assert _series(text) - before <= {'modelviz_app_http_requests_total{code="200",method="GET",route="metrics"}'}
    assert "scan" not in text and "probe" not in text and "PROPFIND" not in text
    assert 'code="404",method="POST",route="api:predict"' in text
    assert 'method="OTHER",route="api:predict"' in text
