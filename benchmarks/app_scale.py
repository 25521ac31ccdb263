"""The app at scale: 50,000 images x 1,000 ImageNet classes, two models, every page rendered in headless Chromium.

The images are tiny generated PNGs in 1,000 wnid folders; the two models are small Keras files with 1,000 outputs
whose predictions on those images are generated (about 76% and 70% top-1, confident mistakes included) and written
to the app's prediction cache, so the run measures the app (loading, class space, metrics, pages), not inference:

    .venv/bin/python benchmarks/app_scale.py [--images 50000] [--classes 1000]

Times each page from navigation to its content drawn and Streamlit idle, twice (first visit computes and caches,
second is warm), and the server's peak RSS. Writes a Markdown table to benchmarks/app_scale.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "visualizer"))
sys.path.insert(0, str(ROOT))

# sidebar link -> page heading
PAGES = {
    "Overview": "Overview",
    "Per class": "Per-class metrics",
    "Confusion": "Confusion",
    "Misclassified": "Misclassified images",
    "Hardest examples": "Hardest examples",
    "Compare models": "Compare models",
    "Calibration": "Calibration",
    "ROC & PR": "ROC and precision-recall",
    "Try an image": "Try an image",
    "Export": "Export",
}


def _idle_at(page, timeout: float = 900) -> float:
    """perf_counter() when Streamlit's running indicator went away for good (quiet for a second)."""
    deadline = time.perf_counter() + timeout
    quiet_since: float | None = None
    while time.perf_counter() < deadline:
        if page.locator('[data-testid="stStatusWidget"]').count() > 0:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.perf_counter()
        elif time.perf_counter() - quiet_since > 1.0:
            return quiet_since
        time.sleep(0.05)
    raise TimeoutError("the page kept running")


def _log(message: str, start: float) -> None:
    print(f"[{time.monotonic() - start:6.1f} s] {message}", flush=True)


def _make_data(root: Path, images: int, classes: int, start: float) -> tuple[Path, Path]:
    from PIL import Image

    from modelviz_app.models._imagenet import imagenet_labels

    _, wnids, _ = imagenet_labels()
    chosen = wnids[:classes]
    data = root / "images"
    rng = np.random.default_rng(0)
    per_class = images // classes
    for c, wnid in enumerate(chosen):
        folder = data / wnid
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        if c % 100 == 99:
            _log(f"images: {(c + 1) * per_class:,}/{images:,}", start)
    labels = root / "labels.txt"  # the models know all 1,000 ImageNet classes, as real ones do
    labels.write_text("\n".join(wnids) + "\n")
    return data, labels


def _make_models(root: Path) -> dict[str, Path]:
    from modelviz_app.models._quiet import import_tensorflow

    import_tensorflow()
    import keras

    paths = {}
    for name in ("model-a", "model-b"):
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(1000, activation="softmax")])  # fmt: skip
        paths[name] = root / f"{name}.keras"
        model.save(paths[name])
    return paths


def _probabilities(y: np.ndarray, classes: int, accuracy: float, seed: int) -> np.ndarray:
    """Softmax scores whose argmax is right for about ``accuracy`` of the images."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(y), classes), dtype=np.float32)
    for s in range(0, len(y), 5000):
        t = y[s : s + 5000]
        logits = rng.normal(0, 1, (len(t), classes)).astype(np.float32)
        right = rng.random(len(t)) < accuracy
        target = np.where(right, t, rng.integers(0, classes, len(t)))
        logits[np.arange(len(t)), target] += rng.uniform(2, 9, len(t)).astype(np.float32)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        out[s : s + 5000] = logits
    return out


def _write_predictions(config: Path, start: float) -> None:
    import json

    from modelviz_app.config import AppConfig
    from modelviz_app.datasets import load_dataset
    from modelviz_app.evaluation import class_mapping, predictions_path
    from modelviz_app.models import Predictor, load_file_model

    cfg = AppConfig.load(config)
    assert cfg.cache_dir is not None and cfg.dataset.path is not None
    dataset = load_dataset(None, cfg.dataset.path)
    _log(f"dataset scanned: {len(dataset):,} images", start)  # what the server does again on its first page
    for i, spec in enumerate(cfg.models):
        assert spec.path is not None and spec.labels is not None
        model = load_file_model(spec.name, spec.path, spec.labels, cfg.cache_dir)
        Predictor(model, cfg.cache_dir)  # the TFLite copy, checked, so the server never needs TensorFlow
        y = class_mapping(model, dataset)[dataset.labels]
        probs = _probabilities(y, len(model.labels), (0.76, 0.70)[i], i)
        path = predictions_path(cfg.cache_dir, model, dataset)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({"seconds_per_image": 0.0001, "backend": "tflite"})
        np.savez(path, probs=probs, meta=np.array(meta))
        _log(f"{spec.name}: predictions written ({probs.nbytes / 1e6:.0f} MB)", start)


def _peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024


def _render(url: str, pid: int, start: float) -> list[tuple[str, float, float, float]]:
    from playwright.sync_api import sync_playwright

    from tests.app.browser import CHART, CHROMIUM, FLAGS

    rows = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=FLAGS, viewport={"width": 1400, "height": 1000}
        )
        page = context.new_page()
        t0 = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("heading", name="Overview").first.wait_for(timeout=900_000)
        first = _idle_at(page) - t0
        _log(f"first load (dataset scan, class space, cached predictions): {first:.1f} s", start)
        what = "first load of a fresh server (scan the files, class space, read predictions)"
        rows.append((what, first, float("nan"), _peak_mb(pid)))
        t0 = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        page.locator(CHART).first.wait_for(timeout=300_000)
        rows.append(("Overview in a fresh browser tab, to the first chart", time.perf_counter() - t0, float("nan"),
                     _peak_mb(pid)))  # fmt: skip
        _idle_at(page)
        order = list(PAGES.items())
        for link, title in [*order[1:], order[0]]:
            times = []
            for again in range(2):
                if again:  # away and back: the second visit finds the page's caches warm
                    page.get_by_role("link", name="Export" if link != "Export" else "Overview").click()
                    _idle_at(page)
                t0 = time.perf_counter()
                page.get_by_role("link", name=link, exact=True).click()
                page.get_by_role("heading", name=title).first.wait_for(timeout=300_000)
                times.append(_idle_at(page, 300) - t0)
            errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()
            assert errors == 0, f"{title}: an error is shown"
            rows.append((title, times[0], times[1], _peak_mb(pid)))
            _log(f"{title}: {times[0]:.1f} s, again {times[1]:.1f} s; server peak {rows[-1][3]:.0f} MB", start)
        context.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "app_scale.md"))
    args = parser.parse_args()
    start = time.monotonic()
    import yaml

    from modelviz_app.cli import serve_command
    from tests.app.browser import free_port, stop, wait_healthy

    with tempfile.TemporaryDirectory(prefix="modelviz-scale-") as tmp:
        root = Path(tmp)
        data, labels = _make_data(root, args.images, args.classes, start)
        models = _make_models(root)
        config = root / "scale.yaml"
        config.write_text(yaml.safe_dump({
            "title": f"{args.images:,} images x {args.classes:,} classes",
            "models": [{"name": n, "path": str(p), "labels": str(labels)} for n, p in models.items()],
            "dataset": {"path": str(data)}, "cacheDir": str(root / "cache"),
        }))  # fmt: skip
        _write_predictions(config, start)
        port = free_port()
        log = root / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(serve_command(port, "127.0.0.1", str(config)), stdout=out,
                                    stderr=subprocess.STDOUT, env=dict(os.environ))  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc, log)  # type: ignore[arg-type]
            rows = _render(url, proc.pid, start)
        finally:
            stop(proc)
    lines = [
        "# The app at scale",
        "",
        f"`benchmarks/app_scale.py`: {args.images:,} generated images in {args.classes:,} ImageNet classes, two models "
        "with generated predictions in the prediction cache, served by `streamlit run` and rendered in headless "
        f"Chromium on {os.cpu_count()} cores shared with whatever else runs (load average at the end "
        f"{os.getloadavg()[0]:.1f}). Pages are opened from the sidebar as a user does and timed from the click to "
        "Streamlit idle (script finished, everything drawn); first visit, then again after visiting another page.",
        "",
        "| page | first visit | again | server peak RSS so far |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {t} | {a:.1f} s | {'' if b != b else f'{b:.1f} s'} | {m:.0f} MB |" for t, a, b, m in rows]
    Path(args.output).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
