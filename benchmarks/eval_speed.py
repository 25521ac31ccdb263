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


def _median_of(results: list[dict[str, float]]) -> dict[str, float]:
    """The round with the median images/s (its other figures with it), plus the largest difference seen."""
    ordered = sorted(results, key=lambda r: r["images_per_s"])
    median = dict(ordered[len(ordered) // 2])
    diffs = [r["max_abs_diff"] for r in results if "max_abs_diff" in r]
    if diffs:
        median["max_abs_diff"] = max(diffs)
    return median


def _agreement(model: str, app: dict[str, float]) -> str:
    from modelviz_app.models import KERAS_APPLICATIONS

    if model in KERAS_APPLICATIONS:
        return "n/a (random weights)"  # an untrained network's outputs are near-constant: agreement says nothing
    return f"{app['max_abs_diff']:.1e}" if "max_abs_diff" in app else "n/a"


def _first_chart(pw, url: str) -> float:
    """Seconds from navigation to the first drawn chart in a fresh browser session (new profile: nothing cached)."""
    from tests.app.browser import CHART, CHROMIUM, FLAGS

    with tempfile.TemporaryDirectory() as profile:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        try:
            page = context.new_page()
            t0 = time.perf_counter()
            while True:
                try:
                    page.goto(url, wait_until="domcontentloaded")
                    break
                except Exception:
                    time.sleep(0.2)
                    t0 = time.perf_counter()
            page.locator(CHART).first.wait_for(timeout=600_000)
            return time.perf_counter() - t0
        finally:
            context.close()


def _serve(config: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    from modelviz_app.cli import serve_command

    port = free_port()
    proc = subprocess.Popen(
        serve_command(port, "127.0.0.1", str(config)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    return proc, port


def _peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024


def _cold_start(config: Path) -> tuple[float, float]:
    """Seconds from `streamlit run` to the first chart drawn in Chromium, and the server's peak RSS (MB)."""
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    proc, port = _serve(config)
    try:
        with sync_playwright() as pw:
            _first_chart(pw, f"http://127.0.0.1:{port}/")
        elapsed = time.perf_counter() - start
        peak = _peak_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return elapsed, peak


def _fresh_sessions(config: Path, sessions: int) -> dict[str, list[float]]:
    """With servers warm (one visit each done), the first chart in ``sessions`` fresh browser sessions per server:
    the app as served, and the same app with index.html as Streamlit ships it (no preload hints), alternating."""
    from playwright.sync_api import sync_playwright

    from modelviz_app.serving._app import PRELOAD_ENV

    servers = {"preload hints (as served)": _serve(config), "no preload hints": _serve(config, {PRELOAD_ENV: "0"})}
    times: dict[str, list[float]] = {name: [] for name in servers}
    try:
        with sync_playwright() as pw:
            for _proc, port in servers.values():
                _first_chart(pw, f"http://127.0.0.1:{port}/")  # the server's first run: caches read, views built
            for _ in range(sessions):
                for name, (_proc, port) in servers.items():
                    times[name].append(_first_chart(pw, f"http://127.0.0.1:{port}/"))
    finally:
        for proc, _port in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="efficientnet-lite0,mobilenet_v2")
    parser.add_argument("--images", type=int, default=256, help="images for the batched paths")
    parser.add_argument("--naive-images", type=int, default=48, help="images for the per-image loop (it is slow)")
    parser.add_argument("--cache", help="cache directory (default: a fresh temporary one)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement; the median is reported")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of naive, Keras and app children")
    parser.add_argument("--child", choices=["naive", "keras", "app"], help=argparse.SUPPRESS)
    parser.add_argument("--no-cold-start", action="store_true")
    parser.add_argument("--no-empty-cache", action="store_true", help="skip the start with an empty cache (slow)")
    parser.add_argument("--no-speed", action="store_true", help="only the browser measurements")
    parser.add_argument("--sessions", type=int, default=6, help="fresh browser sessions per server")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "eval_speed.md"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.models, args.images, Path(args.cache), args.repeat)))
        return 0

    cache = Path(args.cache or tempfile.mkdtemp(prefix="modelviz-bench-"))
    load_before = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = []
    for model in [] if args.no_speed else args.models.split(","):
        # Rounds of naive, Keras and app children back to back: on a shared machine the load drifts over minutes,
        # so the ratio is taken within each round and its median reported (and each mode's median images/s).
        rounds = []
        for index in range(args.rounds):
            naive = _run_child("naive", model, args.naive_images, cache, args.repeat)
            keras = _run_child("keras", model, args.images, cache, args.repeat)
            app = _run_child("app", model, args.images, cache, args.repeat)
            rounds.append((naive, keras, app))
            print(
                f"{model} round {index + 1}: naive {naive['images_per_s']:.1f} img/s, keras batch "
                f"{keras['images_per_s']:.1f}, app {app['images_per_s']:.1f} "
                f"({app['images_per_s'] / naive['images_per_s']:.1f}x naive)",
                flush=True,
            )
        rows.append((model, *(_median_of([r[i] for r in rounds]) for i in range(3)), rounds))

    lines = [
        "# Evaluation speed",
        "",
        f"`benchmarks/eval_speed.py` on {os.cpu_count()} CPU cores; images/s include decoding and resizing; "
        f"per-image loop on {args.naive_images} images, batched paths on {args.images} (batch 16 per worker, "
        "the app path with 2 workers each running its own single-threaded LiteRT interpreters, allocated once per "
        "fixed batch size); "
        f"measured {started}; load average before {load_before:.1f}, when the speed rows were done "
        f"{os.getloadavg()[0]:.1f}; "
        f"{args.rounds} rounds of naive, Keras and app measurements back to back, each the median of {args.repeat} "
        "runs; the table gives each mode's median over the rounds and the median of the rounds' own ratios. "
        "Peak RSS is the measuring process's own (the app child also converts the model to TFLite, with TensorFlow "
        "loaded). EfficientNet-Lite has its real ImageNet weights; keras.applications models random ones (speed only).",
        "",
        "| model | naive `predict` per image | Keras `predict_on_batch` | app path (LiteRT/XNNPACK) | app ÷ naive "
        "| app ÷ naive per round | max \\|Δp\\| app vs naive | peak RSS naive / Keras / app |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, naive, keras, app, rounds in rows:
        ratios = [a["images_per_s"] / n["images_per_s"] for n, _k, a in rounds]
        lines.append(
            f"| {model} | {naive['images_per_s']:.1f} img/s | {keras['images_per_s']:.1f} img/s "
            f"| {app['images_per_s']:.1f} img/s | {statistics.median(ratios):.1f}x "
            f"| {', '.join(f'{r:.1f}x' for r in ratios)} "
            f"| {_agreement(model, app)} "
            f"| {naive['peak_rss_mb']:.0f} / {keras['peak_rss_mb']:.0f} / {app['peak_rss_mb']:.0f} MB |"
        )
    if not args.no_cold_start:
        config = ROOT / "examples" / "app-config" / "demo.yaml"
        empty = Path(tempfile.mkdtemp(prefix="modelviz-cold-"))
        cold_config = empty / "demo.yaml"
        cold_config.write_text(config.read_text() + f"cacheDir: {empty / 'cache'}\n")
        _cold_start(config)  # fills the prediction cache if nothing did yet: "warm" below means warm
        warm_s, warm_mb = _cold_start(config)
        fresh = _fresh_sessions(config, args.sessions)
        cold_s, cold_mb = (None, None) if args.no_empty_cache else _cold_start(cold_config)
        lines += [
            "",
            "| app start (examples/app-config/demo.yaml) | to first chart in Chromium | server peak RSS |",
            "| --- | ---: | ---: |",
            f"| warm caches (converted models and predictions on disk) | {warm_s:.1f} s | {warm_mb:.0f} MB |",
        ]
        if cold_s is not None:
            lines.append(
                f"| empty cache (convert weights, build TFLite, predict) | {cold_s:.1f} s | {cold_mb:.0f} MB |"
            )
        lines += [
            "",
            "| fresh browser session, server warm (new profile: no browser cache) | to first chart, median | min-max |",
            "| --- | ---: | ---: |",
            *(
                f"| {name} ({len(v)} sessions, alternating) | {statistics.median(v):.2f} s | "
                f"{min(v):.2f}-{max(v):.2f} s |"
                for name, v in fresh.items()
            ),
        ]
        print(f"cold start: warm caches {warm_s:.1f} s ({warm_mb:.0f} MB); fresh sessions {fresh}")
    Path(args.output).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
