"""The "Try an image" page with real uploads (AppTest's file uploader): odd files classify, bad ones are explained."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import image_cases as cases
from tests.app.api_helpers import png
from tests.app.pages import APP


@pytest.fixture(scope="module")
def page(tiny) -> Iterator[AppTest]:
    previous = os.environ.get("MODELVIZ_CONFIG")
    os.environ["MODELVIZ_CONFIG"] = str(tiny.config("upload-page"))  # AppTest runs the script in this process
    try:
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()
        at.switch_page("pages/upload.py")
        at.run()
        yield at
    finally:
        if previous is None:
            os.environ.pop("MODELVIZ_CONFIG", None)
        else:
            os.environ["MODELVIZ_CONFIG"] = previous


def _upload(at: AppTest, name: str, data: bytes, kind: str) -> AppTest:
    at.file_uploader[0].set_value((name, data, kind))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _captions(at: AppTest) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "data", "kind", "size"),
    [
        ("grey16.png", cases.sixteen_bit_grey()[0], "image/png", (cases.W, cases.H)),
        ("alpha.png", cases.transparent_over_blue()[0], "image/png", (cases.W, cases.H)),
        ("palette.png", cases.palette_with_transparency()[0], "image/png", (cases.W, cases.H)),
        ("phone.jpg", cases.exif_rotated_jpeg()[0], "image/jpeg", (cases.H, cases.W)),  # shown upright
        ("print.jpg", cases.red("JPEG", "CMYK"), "image/jpeg", (cases.W, cases.H)),
        ("anim.gif", cases.animated_gif(), "image/gif", (cases.W, cases.H)),
        ("scan.tiff", cases.float_grey_tiff()[0], "image/tiff", (cases.W, cases.H)),
        ("wide.png", png((200, 30, 30), (10_000, 1)), "image/png", (10_000, 1)),  # st.image alone fails on it
        ("banner.png", png((200, 30, 30), (2_000, 1)), "image/png", (2_000, 1)),
        ("tall.png", png((200, 30, 30), (1, 10_000)), "image/png", (1, 10_000)),
        ("dot.png", png((200, 30, 30), (1, 1)), "image/png", (1, 1)),
    ],
)
def test_odd_images_are_classified(page: AppTest, name: str, data: bytes, kind: str, size: tuple[int, int]) -> None:
    at = _upload(page, name, data, kind)
    assert not at.error, [e.value for e in at.error]
    assert len(list(at.get("plotly_chart"))) == 2  # one per model
    assert any(c.startswith(f"{name} · {size[0]}x{size[1]}") for c in _captions(at)), _captions(at)


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("notes.png", cases.NOT_IMAGES["text"], "not an image"),
        ("drawing.png", cases.NOT_IMAGES["svg"], "not an image"),
        ("cut.png", cases.truncated_png(), "could not be decoded"),
        ("cut.jpg", cases.truncated_jpeg(), "could not be decoded"),
        ("bomb.png", cases.bomb(), "too large"),
        ("bomb45.png", cases.bomb(9_000, 5_000), "too large"),
        *[(f"mutant-{i}.png", data, "") for i, data in enumerate(cases.mutants(12))],
    ],
)
def test_bad_files_are_explained(page: AppTest, name: str, data: bytes, words: str) -> None:
    at = _upload(page, name, data, "image/png")
    errors = [e.value for e in at.error]
    if not words and not errors:  # a few changed bytes can leave an image readable
        return
    assert len(errors) == 1 and name in errors[0] and words in errors[0], errors
    assert "Traceback" not in errors[0] and ".py" not in errors[0]
