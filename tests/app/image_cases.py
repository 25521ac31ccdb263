"""Image files as phones, editors and broken uploads write them, each beside what a viewer shows of it."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

W, H = 24, 20


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def gradient() -> np.ndarray:
    """A picture with structure, so that a rotation or a wrong scale changes what a convolution sees."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([x * 10, y * 12, (x + y) * 5], axis=-1).clip(0, 255).astype(np.uint8)


def sixteen_bit_grey() -> tuple[bytes, bytes]:
    """(16-bit grey PNG, the same picture as an 8-bit grey PNG)."""
    grey16 = (np.mgrid[0:H, 0:W][1] * 2500 + 5000).astype(np.uint16)  # 5000..62500 of 65535: never white
    eight = np.rint(grey16 / 257).astype(np.uint8)
    return encode(Image.fromarray(grey16), "PNG"), encode(Image.fromarray(eight), "PNG")


def float_grey_tiff() -> tuple[bytes, bytes]:
    """(32-bit float grey TIFF on a 0-1 scale, the same picture as 8-bit grey PNG)."""
    values = np.linspace(0.1, 0.9, W * H, dtype=np.float32).reshape(H, W)
    return encode(Image.fromarray(values), "TIFF"), encode(Image.fromarray(np.rint(values * 255).astype(np.uint8)),
                                                           "PNG")  # fmt: skip


def transparent_over_blue() -> tuple[bytes, bytes]:
    """(RGBA PNG: an opaque red centre, the rest fully transparent with blue colour values; red on white)."""
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 255, 0
    rgba[7:13, 9:15] = (255, 0, 0, 255)
    shown = np.full((H, W, 3), 255, np.uint8)
    shown[7:13, 9:15] = (255, 0, 0)
    return encode(Image.fromarray(rgba, "RGBA"), "PNG"), encode(Image.fromarray(shown), "PNG")


def palette_with_transparency() -> tuple[bytes, bytes]:
    """(palette PNG whose transparent index is blue, red centre; red on white)."""
    index = np.zeros((H, W), np.uint8)
    index[7:13, 9:15] = 1
    img = Image.fromarray(index, "P")
    img.putpalette([0, 0, 255, 255, 0, 0] + [0] * 762)
    shown = np.full((H, W, 3), 255, np.uint8)
    shown[7:13, 9:15] = (255, 0, 0)
    return encode(img, "PNG", transparency=0), encode(Image.fromarray(shown), "PNG")


def exif_rotated_jpeg() -> tuple[bytes, bytes, tuple[int, int]]:
    """(JPEG stored sideways with EXIF orientation 6, its pixels upright as PNG, the upright (width, height))."""
    stored = encode(Image.fromarray(gradient()), "JPEG", quality=95, exif=_orientation_exif(6))
    with Image.open(io.BytesIO(stored)) as img:
        upright = img.convert("RGB").transpose(Image.Transpose.ROTATE_270)
    return stored, encode(upright, "PNG"), upright.size


def _orientation_exif(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[274] = value
    return exif


def animated_gif() -> bytes:
    """Red first frame, blue second: the first is the picture (what a still preview shows)."""
    frames = [Image.new("RGB", (W, H), c) for c in ((230, 10, 10), (10, 10, 230))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def red(fmt: str, mode: str = "RGB") -> bytes:
    colour: tuple[int, ...] = (0, 255, 255, 0) if mode == "CMYK" else (230, 10, 10)
    return encode(Image.new(mode, (W, H), colour), fmt)


def truncated_jpeg() -> bytes:
    data = encode(Image.fromarray(gradient()), "JPEG")
    return data[: len(data) // 2]


def truncated_png() -> bytes:
    data = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)), "PNG")
    return data[: len(data) // 2]


def bomb(width: int = 10_000, height: int = 5_000) -> bytes:
    """One colour, a few kilobytes of PNG that decode to ``width * height`` bytes."""
    return encode(Image.new("L", (width, height), 0), "PNG")


NOT_IMAGES = {
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
    "html": b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
    "text": b"just some words\n",
}


def mutants(n: int = 48) -> list[bytes]:
    """Small images of several formats with a few bytes changed in their headers: decoders raise all sorts."""
    rng = np.random.default_rng(11)
    seeds = [encode(Image.fromarray(gradient()), f) for f in ("PNG", "GIF", "BMP", "TIFF", "WEBP", "JPEG")]
    out = []
    for i in range(n):
        data = bytearray(seeds[i % len(seeds)])
        for _ in range(1 + i % 4):
            at = int(rng.integers(0, min(len(data), 96)))
            data[at] = int(rng.integers(0, 256))
        out.append(bytes(data))
    return out
