"""One uploaded image (the API's body, the upload page's file) as the uint8 RGB or grey array a model is fitted from.

Unlike a dataset folder, an upload is whatever a phone or an editor wrote: it is shown upright as its EXIF
orientation says (as browsers show it), transparent pixels are composited over white (what a viewer shows; dropping
alpha would reveal whatever colour the transparent pixels hold, often black), 16-bit and float grey are scaled to
8 bits (not clipped to white), and an animation gives its first frame. Every failure is an :class:`ImageRejected`
saying why, whichever decoder raised what.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from modelviz_app.datasets import MAX_PIXELS, deep_grey

__all__ = ["READABLE", "ImageRejected", "decode_upload"]

READABLE = "JPEG, PNG, WebP, BMP, GIF or TIFF"
_ORIENTATION_TAG = 274
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageRejected(ValueError):
    """An upload that cannot be classified; ``too_large`` tells a pixel-limit refusal from an unreadable file."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.message, self.too_large = message, too_large


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # a damaged EXIF block leaves the pixels readable: shown as stored
        return 1


def _pixels(img: Image.Image) -> np.ndarray:
    if img.mode in ("1", "L"):
        return np.asarray(img.convert("L"))
    if img.mode.startswith("I") or img.mode == "F":
        return deep_grey(img)
    has_alpha = img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info
    if has_alpha:
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")  # convert() would copy it
        # Pasted through its own alpha onto an RGB canvas: one RGB copy beside the RGBA (alpha_composite's RGBA
        # canvas, result and final conversion would hold three more, near 0.5 GB at 40 megapixels).
        shown = Image.new("RGB", rgba.size, (255, 255, 255))
        shown.paste(rgba, (0, 0), rgba)
        return np.asarray(shown)
    return np.asarray(img.convert("RGB"))


def decode_upload(data: bytes) -> np.ndarray:
    """uint8 HxW (grey) or HxWx3 (colour), upright; the pixel count is checked before any pixel is decoded."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own bomb check, as for datasets (refused above twice this)
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageRejected(
                    f"the image is {width}x{height}, {width * height:,} pixels; the limit is {MAX_PIXELS:,}", True
                )
            img.seek(0)  # the first frame of an animation
            img.load()
            method = _TRANSPOSE.get(_orientation(img))
            return _pixels(img.transpose(method) if method is not None else img)
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"{exc}; the limit is {MAX_PIXELS:,} pixels", True) from None
    except UnidentifiedImageError:
        raise ImageRejected(f"the file is not an image this app can read ({READABLE})") from None
    except MemoryError:
        raise ImageRejected("the image is too large to decode", True) from None
    except Exception as exc:  # Pillow's decoders raise OSError, SyntaxError, EOFError, ValueError, struct.error...
        raise ImageRejected(
            f"the image could not be decoded (damaged, truncated or an unsupported variant): {exc}"
        ) from None
