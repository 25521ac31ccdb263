"""Datasets: an image folder (one sub-folder per class), the hand-labelled ImageNet photo sample, Fashion-MNIST."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from modelviz_app.datasets._fashion import FASHION_CLASSES, read_fashion
from modelviz_app.paths import file_digest

__all__ = [
    "CATALOG_DATASETS",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "Dataset",
    "DatasetLoadError",
    "decode_image",
    "deep_grey",
    "load_dataset",
    "stratified_sample",
]

CATALOG_DATASETS: tuple[str, ...] = ("imagenet-sample", "fashion-mnist")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Decompression-bomb guard for folders and uploads: 40 megapixels is far above any classifier's need.
MAX_PIXELS = 40_000_000
_SAMPLE_VERSION = "s1"


class DatasetLoadError(RuntimeError):
    """A dataset that cannot be loaded; the message says which and why."""


@dataclass
class Dataset:
    name: str
    class_ids: list[str]  # folder names: ImageNet wnids or class names
    class_names: list[str]  # for display
    labels: np.ndarray  # (N,) index into class_ids
    ids: list[str]  # per-image identifier shown to users
    key: str  # content hash: predictions are cached under it
    loader: Callable[[int], np.ndarray] = field(repr=False)
    skipped: list[str] = field(default_factory=list)  # unreadable files left out
    split: str = ""  # where the images come from, for people ("test split (t10k)")
    total: int = 0  # images the source holds before sampling (0: same as len)
    # Source photo per image: variants of one photo are not independent evidence (intervals resample groups).
    groups: np.ndarray | None = None
    variants: str = ""  # how one source becomes several images, when it does

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def group_ids(self) -> np.ndarray:
        return self.groups if self.groups is not None else np.arange(len(self.ids))

    @property
    def sources(self) -> int:
        """Distinct source images."""
        return len(np.unique(self.group_ids)) if len(self.ids) else 0

    def context(self) -> str:
        """One line for every page: what the images are and how many of how many."""
        n, total = len(self.ids), self.total or len(self.ids)
        # Unreadable files are not a sample: "24 images" with them noted, not "a 22-image sample of 24".
        sampled = total > n + len(self.skipped)
        size = f"a {n:,}-image stratified sample of {total:,}" if sampled else f"{n:,} images"
        parts = [f"**{self.name}**" + (f" ({self.split})" if self.split else ""), size]
        if self.skipped:
            parts.append(f"{len(self.skipped):,} unreadable file{'s' if len(self.skipped) != 1 else ''} left out")
        parts.append(f"{len(self.class_ids)} classes")
        if self.sources != n:
            parts.append(f"{self.sources} distinct photos ({self.variants}), each counted once in intervals")
        return " · ".join(parts)

    def image(self, index: int) -> np.ndarray:
        """uint8 HxW (grey) or HxWx3."""
        return self.loader(index)


def decode_image(data: bytes | Path) -> np.ndarray:
    """Decode an image safely (size-checked before pixels are decoded) to uint8 RGB or grey."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(source) as img:
        if img.width * img.height > MAX_PIXELS:
            raise ValueError(f"image is {img.width}x{img.height}, more than {MAX_PIXELS} pixels")
        img.seek(0)  # first frame of animations
        if img.mode in ("I", "F") or img.mode.startswith("I;16"):
            return deep_grey(img)
        mode = "L" if img.mode in ("1", "L") else "RGB"
        return np.asarray(img.convert(mode))


def deep_grey(img: Image.Image) -> np.ndarray:
    """Grey deeper than 8 bits scaled to 0-255 (PIL's ``convert("L")`` clips at 255: a 16-bit image turns white).
    16-bit modes by their depth; 32-bit integers holding more than 8 bits' values (how some readers open 16-bit
    PNG and TIFF) the same; floats from 0..1, or as they are when already on a 0-255 scale; NaN and infinities 0.
    Datasets and uploads share it, so an image scores the same whichever way it reaches a model."""
    values = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        if values.size and values.max() <= 1.0:
            values = values * 255.0
    elif img.mode.startswith("I;16") or (values.size and values.max() > 255):
        values = values / 257.0  # 65535 -> 255
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _check_readable(path: Path) -> None:
    """Decode the file (JPEGs at 1/8 scale, which still reads every byte): ``verify()`` passes a truncated JPEG,
    which would then fail every model's evaluation instead of being left out."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    with Image.open(path) as img:
        if img.width * img.height > MAX_PIXELS:
            raise ValueError(f"image is {img.width}x{img.height}, more than {MAX_PIXELS} pixels")
        if img.format == "JPEG":
            img.draft("RGB" if img.mode == "RGB" else img.mode, (1, 1))
        img.load()


def stratified_sample(labels: np.ndarray, limit: int | None) -> np.ndarray:
    """Deterministic indices: classes take turns, each in a seeded shuffled order, so small caps keep every class."""
    if limit is None or limit >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(0)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    order: list[int] = []
    depth = 0
    while len(order) < limit:
        for members in per_class:
            if depth < len(members):
                order.append(int(members[depth]))
                if len(order) == limit:
                    break
        depth += 1
    return np.sort(np.array(order, dtype=np.int64))


def _display_names(class_ids: list[str]) -> list[str]:
    from modelviz_app.models._imagenet import imagenet_labels

    names, wnids, _ = imagenet_labels()
    lookup = dict(zip(wnids, names, strict=True))
    return [lookup.get(c, c.replace("_", " ")) for c in class_ids]


def _folder(path: Path, limit: int | None) -> Dataset:
    if not path.is_dir():
        raise DatasetLoadError(f"dataset folder {path} does not exist")
    class_dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[Path] = []
    labels: list[int] = []
    for c, folder in enumerate(class_dirs):
        for f in sorted(folder.rglob("*")):
            # Hidden paths are tool litter (.ipynb_checkpoints copies, macOS "._x.jpg" resource forks), not images.
            hidden = any(part.startswith(".") for part in f.relative_to(folder).parts)
            if f.is_file() and not hidden and f.suffix.lower() in IMAGE_SUFFIXES:
                files.append(f)
                labels.append(c)
    if not files:
        raise DatasetLoadError(f"dataset folder {path} has no images in per-class sub-folders")
    keep = stratified_sample(np.array(labels), limit)
    chosen, chosen_labels, skipped = [], [], []
    # "d3": deeper-than-8-bit grey files decode differently since (scaled, not clipped): their predictions are stale.
    digest = hashlib.sha256(b"folder\0d3")
    for i in keep:
        f = files[i]
        try:
            _check_readable(f)
        except Exception as exc:  # one bad file should not hide the rest of the dataset
            skipped.append(f"{f.relative_to(path)}: {exc}")
            continue
        chosen.append(f)
        chosen_labels.append(labels[i])
        digest.update(f"{f.relative_to(path)}\0{file_digest(f)}\0".encode())
    if not chosen:
        shown = "; ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        raise DatasetLoadError(f"dataset folder {path}: none of its {len(skipped)} image files can be read ({shown})")
    class_ids = [d.name for d in class_dirs]
    return Dataset(
        name=path.name,
        class_ids=class_ids,
        class_names=_display_names(class_ids),
        labels=np.array(chosen_labels, dtype=np.int64),
        ids=[str(f.relative_to(path)) for f in chosen],
        key=digest.hexdigest()[:20],
        loader=lambda i: decode_image(chosen[i]),
        skipped=skipped,
        split="image folder",
        total=len(files),
    )


def _sample_images() -> tuple[list[str], list[str], list[np.ndarray], list[int]]:
    """(wnid, id, image, photo) of the photo sample: each photo as is, mirrored, and two 80% crops."""
    spec = json.loads((Path(__file__).parent / "imagenet_sample.json").read_text(encoding="utf-8"))
    wnids, ids, images, photos = [], [], [], []
    for number, photo in enumerate(spec["photos"]):
        found = importlib.util.find_spec(photo["package"])
        if found is None or not found.submodule_search_locations:
            continue
        path = Path(next(iter(found.submodule_search_locations))) / photo["file"]
        if not path.exists():
            continue
        image = decode_image(path)
        h, w = image.shape[:2]
        ch, cw = int(h * 0.8), int(w * 0.8)
        variants = {
            "": image,
            "mirrored": image[:, ::-1],
            "crop-left": image[(h - ch) // 2 : (h - ch) // 2 + ch, :cw],
            "crop-right": image[(h - ch) // 2 : (h - ch) // 2 + ch, w - cw :],
        }
        for suffix, variant in variants.items():
            wnids.append(photo["wnid"])
            ids.append(f"{photo['package']}:{Path(photo['file']).name}" + (f" ({suffix})" if suffix else ""))
            images.append(np.ascontiguousarray(variant))
            photos.append(number)
    return wnids, ids, images, photos


def _imagenet_sample(limit: int | None) -> Dataset:
    wnids, ids, images, photos = _sample_images()
    if not images:
        raise DatasetLoadError("imagenet-sample: none of its photos are installed (scikit-image, scikit-learn)")
    class_ids = sorted(set(wnids))
    labels = np.array([class_ids.index(w) for w in wnids], dtype=np.int64)
    keep = stratified_sample(labels, limit)
    digest = hashlib.sha256(_SAMPLE_VERSION.encode())
    for i in keep:
        digest.update(ids[i].encode() + hashlib.sha256(images[i].tobytes()).digest())
    kept = [images[i] for i in keep]
    return Dataset(
        name="imagenet-sample",
        class_ids=class_ids,
        class_names=_display_names(class_ids),
        labels=labels[keep],
        ids=[ids[i] for i in keep],
        key=digest.hexdigest()[:20],
        loader=lambda i: kept[i],
        split="photos shipped by scikit-image and scikit-learn",
        total=len(images),
        groups=np.array(photos, dtype=np.int64)[keep],
        variants="original, mirrored, two crops",
    )


def _fashion(limit: int | None) -> Dataset:
    try:
        images, labels = read_fashion("t10k")
    except FileNotFoundError as exc:
        raise DatasetLoadError(str(exc)) from None
    total = len(labels)
    keep = stratified_sample(labels, limit)
    images, labels = images[keep], labels[keep]
    digest = hashlib.sha256(b"fashion-mnist-t10k")
    digest.update(images.tobytes())
    digest.update(labels.tobytes())
    return Dataset(
        name="fashion-mnist",
        class_ids=list(FASHION_CLASSES),
        class_names=list(FASHION_CLASSES),
        labels=labels,
        ids=[f"t10k #{i}" for i in keep],
        key=digest.hexdigest()[:20],
        loader=lambda i: images[i],
        split="test split, t10k",
        total=total,
    )


def load_dataset(catalog: str | None, path: Path | None, limit: int | None = None) -> Dataset:
    if path is not None:
        return _folder(path, limit)
    if catalog == "imagenet-sample":
        return _imagenet_sample(limit)
    if catalog == "fashion-mnist":
        return _fashion(limit)
    raise DatasetLoadError(f"unknown dataset {catalog!r}")
