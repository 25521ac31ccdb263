"""Evaluation speed of the visualizer: its batched, cached path against a naive per-image ``model.predict`` loop.

One run, same model, same images (the ImageNet photo sample, cycled to --images), decode and resize included in both:

    .venv/bin/python benchmarks/eval_speed.py [--models efficientnet-lite0,mobilenet_v2] [--images 256]

Each measurement runs in its own process so peak memory (max RSS) is its own. The script also measures the app's cold
start to the first rendered chart in headless Chromium (warm disk caches, as after a pod restart, and empty caches).
Writes a Markdown table to benchmarks/eval_speed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "visualizer"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "cluster"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from modelviz_cluster.ports import free_port  # noqa: E402


def _model(name: str, cache: Path):
    """EfficientNet-Lite with its real weights; keras.applications architectures with random weights (speed only)."""
    from modelviz_app.models import KERAS_APPLICATIONS, load_catalog

    if name in KERAS_APPLICATIONS:
        import keras

        weights = cache / "weights" / f"{name}.weights.h5"
        if not weights.exists():
            weights.parent.mkdir(parents=True, exist_ok=True)
            keras.utils.set_random_seed(0)
            getattr(keras.applications, KERAS_APPLICATIONS[name])(weights=None).save_weights(weights)
    return load_catalog(name, name, None, cache)


def _dataset(count: int):
    import dataclasses

    from modelviz_app.datasets import load_dataset

    sample = load_dataset("imagenet-sample", None)
    index = [i % len(sample) for i in range(count)]
    return dataclasses.replace(
        sample,
        labels=sample.labels[index],
        ids=[sample.ids[i] for i in index],
        key=f"bench-{count}",
        loader=lambda i: sample.image(index[i]),
    )


def _child(mode: str, model_name: str, images: int, cache: Path, repeat: int) -> dict[str, float]:
    import numpy as np

    from modelviz_app.evaluation import evaluate
    from modelviz_app.models import Predictor

    model = _model(model_name, cache)
    dataset = _dataset(images)
    # Median of --repeat timed runs: other work on a shared 2-core machine makes single runs noisy.
    times: list[float] = []
    if mode == "naive":
        # What the replaced app did: one model.predict call per image.
        model.keras_model.predict(model.preprocess(model.fit(dataset.image(0))[None]), verbose=0)  # warm-up
        for _ in range(repeat):
            start = time.perf_counter()
            rows = [
                model.keras_model.predict(model.preprocess(model.fit(dataset.image(i))[None]), verbose=0)[0]
                for i in range(images)
            ]
            times.append(time.perf_counter() - start)
        np.save(cache / f"naive-{model_name}.npy", np.array(rows))
    else:
        predictor = Predictor(model, cache, use_tflite=mode == "app")
        evaluate(model, predictor, _dataset(32), None)  # warm-up: interpreter allocation, graph tracing
        for _ in range(repeat):
            start = time.perf_counter()
            result = evaluate(model, predictor, dataset, None)
            times.append(time.perf_counter() - start)
        naive = cache / f"naive-{model_name}.npy"
        if naive.exists():
            reference = np.load(naive)
            n = len(reference)
            print(json.dumps({"max_abs_diff": float(np.abs(result.probs[:n] - reference).max())}), file=sys.stderr)
    seconds = statistics.median(times)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"images_per_s": images / seconds, "seconds": seconds, "peak_rss_mb": peak_mb, "images": images}


def _run_child(mode: str, model: str, images: int, cache: Path, repeat: int) -> dict[str, float]:
    out = subprocess.run(
        [
            *(sys.executable, __file__, "--child", mode, "--models", model, "--images", str(images)),
            *("--cache", str(cache), "--repeat", str(repeat)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    for line in out.stderr.splitlines():
        if line.startswith('{"max_abs_diff"'):
            result.update(json.loads(line))
    return result


def _agreement(model: str, app: dict[str, float]) -> str:
    from modelviz_app.models import KERAS_APPLICATIONS

    if model in KERAS_APPLICATIONS:
        return "n/a (random weights)"  # an untrained network's outputs are near-constant: agreement says nothing
    return f"{app['max_abs_diff']:.1e}" if "max_abs_diff" in app else "n/a"


def _cold_start(config: Path, sessions: int = 0) -> tuple[float, float, list[float]]:
    """Seconds from `streamlit run` to the first chart drawn in Chromium, the server's peak RSS (MB), and then, with
    the server warm, seconds from navigation to the first chart in each of ``sessions`` fresh browser sessions (new
    profile: nothing cached in the browser, as a user's first visit)."""
    from playwright.sync_api import sync_playwright

    from modelviz_app.cli import serve_command
    from tests.app.browser import CHART, CHROMIUM, FLAGS

    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        serve_command(port, "127.0.0.1", str(config)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    fresh: list[float] = []
    try:
        with sync_playwright() as pw:
            for session in range(sessions + 1):
                with tempfile.TemporaryDirectory() as profile:
                    context = pw.chromium.launch_persistent_context(
                        profile, executable_path=str(CHROMIUM), headless=True, args=FLAGS
                    )
                    page = context.new_page()
                    t0 = time.perf_counter()
                    while True:
                        try:
                            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                            break
                        except Exception:
                            time.sleep(0.2)
                    page.locator(CHART).first.wait_for(timeout=600_000)
                    if session == 0:
                        elapsed = time.perf_counter() - start
                    else:
                        fresh.append(time.perf_counter() - t0)
                    context.close()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return elapsed, peak, fresh


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="efficientnet-lite0,mobilenet_v2")
    parser.add_argument("--images", type=int, default=256, help="images for the batched paths")
    parser.add_argument("--naive-images", type=int, default=48, help="images for the per-image loop (it is slow)")
    parser.add_argument("--cache", help="cache directory (default: a fresh temporary one)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement; the median is reported")
    parser.add_argument("--child", choices=["naive", "keras", "app"], help=argparse.SUPPRESS)
    parser.add_argument("--no-cold-start", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "eval_speed.md"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.models, args.images, Path(args.cache), args.repeat)))
        return 0

    cache = Path(args.cache or tempfile.mkdtemp(prefix="modelviz-bench-"))
    rows = []
    for model in args.models.split(","):
        naive = _run_child("naive", model, args.naive_images, cache, args.repeat)
        keras = _run_child("keras", model, args.images, cache, args.repeat)
        app = _run_child("app", model, args.images, cache, args.repeat)
        rows.append((model, naive, keras, app))
        print(
            f"{model}: naive {naive['images_per_s']:.1f} img/s, keras batch {keras['images_per_s']:.1f}, "
            f"app {app['images_per_s']:.1f} ({app['images_per_s'] / naive['images_per_s']:.1f}x naive)",
            flush=True,
        )

    lines = [
        "# Evaluation speed",
        "",
        f"`benchmarks/eval_speed.py` on {os.cpu_count()} CPU cores; images/s include decoding and resizing; "
        f"per-image loop on {args.naive_images} images, batched paths on {args.images} (batch 16 per worker, "
        "the app path with 2 workers each running its own single-threaded LiteRT interpreter); "
        f"load average when done {os.getloadavg()[0]:.1f}; "
        f"median of {args.repeat} runs. "
        "Peak RSS is the measuring process's own (the app child also converts the model to TFLite, with TensorFlow "
        "loaded). EfficientNet-Lite has its real ImageNet weights; keras.applications models random ones (speed only).",
        "",
        "| model | naive `predict` per image | Keras `predict_on_batch` | app path (LiteRT/XNNPACK) | app ÷ naive "
        "| max \\|Δp\\| app vs naive | peak RSS naive / Keras / app |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, naive, keras, app in rows:
        lines.append(
            f"| {model} | {naive['images_per_s']:.1f} img/s | {keras['images_per_s']:.1f} img/s "
            f"| {app['images_per_s']:.1f} img/s | {app['images_per_s'] / naive['images_per_s']:.1f}x "
            f"| {_agreement(model, app)} "
            f"| {naive['peak_rss_mb']:.0f} / {keras['peak_rss_mb']:.0f} / {app['peak_rss_mb']:.0f} MB |"
        )
    if not args.no_cold_start:
        config = ROOT / "examples" / "app-config" / "demo.yaml"
        empty = Path(tempfile.mkdtemp(prefix="modelviz-cold-"))
        cold_config = empty / "demo.yaml"
        cold_config.write_text(config.read_text() + f"cacheDir: {empty / 'cache'}\n")
        _cold_start(config)  # fills the prediction cache if nothing did yet: "warm" below means warm
        warm_s, warm_mb, fresh = _cold_start(config, sessions=5)
        cold_s, cold_mb, _ = _cold_start(cold_config)
        lines += [
            "",
            "| app start (examples/app-config/demo.yaml) | to first chart in Chromium | server peak RSS |",
            "| --- | ---: | ---: |",
            f"| warm caches (converted models and predictions on disk) | {warm_s:.1f} s | {warm_mb:.0f} MB |",
            f"| empty cache (convert weights, build TFLite, predict) | {cold_s:.1f} s | {cold_mb:.0f} MB |",
            "",
            "| fresh browser session, server running (new profile: no browser cache) | to first chart |",
            "| --- | ---: |",
            f"| median of {len(fresh)} (min-max {min(fresh):.1f}-{max(fresh):.1f} s) "
            f"| {statistics.median(fresh):.1f} s |",
        ]
        print(
            f"cold start: warm caches {warm_s:.1f} s ({warm_mb:.0f} MB), empty cache {cold_s:.1f} s "
            f"({cold_mb:.0f} MB); fresh browser session to first chart {statistics.median(fresh):.1f} s"
        )
    Path(args.output).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
