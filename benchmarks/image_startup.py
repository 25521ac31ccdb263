"""Container images: size (uncompressed, and gzip-compressed as a registry stores the layers) and the visualizer's
start-up from a container start to the first health OK and to the Overview's first chart.

The baseline, in the same run: the same app served by ``modelviz app serve`` on the host with the same configuration
(the demo's EfficientNet-Lite0/1 on the ImageNet photo sample) and the host's prepared models linked into an empty
cache, as the seed-cache init container does for a pod. The container runs with no arguments and no network but its
loopback; Chromium renders from inside its network namespace.

    .venv/bin/python benchmarks/image_startup.py [--runs 3]

Needs the images (``modelviz images build``); writes a Markdown table to benchmarks/image_startup.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for sub in ("cluster", "operator", "visualizer", "cli", ""):
    sys.path.insert(0, str(ROOT / sub))

from modelviz_cluster.images import build_images, find_engine  # noqa: E402
from tests.app.browser import free_port  # noqa: E402
from tests.images.browser import overview_text  # noqa: E402
from tests.images.containers import Runner  # noqa: E402


def _gzip_size(path: Path) -> int:
    with path.open("rb") as src, tempfile.TemporaryFile() as sink:
        with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6, mtime=0) as out:
            while block := src.read(1 << 20):
                out.write(block)
        return sink.tell()


def _container_run(runner: Runner, image: str, profile: Path) -> tuple[float, float]:
    """Seconds from ``run -d`` to health OK and to the first chart."""
    started = time.monotonic()
    with runner.detached(image) as container:
        container.wait_healthy(8501)
        health = time.monotonic() - started
        overview_text(container, profile)
        chart = time.monotonic() - started
    return health, chart


def _host_run(profile: Path) -> tuple[float, float]:
    import yaml
    from playwright.sync_api import sync_playwright

    from modelviz_app.paths import cache_root
    from tests.app.browser import CHART, CHROMIUM, FLAGS, settle

    # As a new pod starts: the prepared models linked in (seed-cache), no predictions yet.
    cache = profile.parent / f"{profile.name}-cache"
    cache.mkdir()
    for part in ("models", "tflite", "fashion", "meta"):
        if (cache_root() / part).is_dir():
            subprocess.run(["cp", "-Rs", str(cache_root() / part), str(cache)], check=True)
    config = yaml.safe_load((ROOT / "examples" / "app-config" / "demo.yaml").read_text())
    config_path = profile.parent / f"{profile.name}-config.yaml"
    config_path.write_text(yaml.safe_dump({**config, "cacheDir": str(cache)}))
    port = free_port()
    argv = [str(ROOT / ".venv" / "bin" / "modelviz"), "app", "serve", "--port", str(port), "--config", str(config_path)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                time.sleep(0.2)
            if time.monotonic() - started > 240:
                raise RuntimeError("the host app did not become healthy")
        health = time.monotonic() - started
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS
            )
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            page.get_by_role("heading", name="Overview").first.wait_for(timeout=240_000)
            settle(page)
            page.locator(CHART).first.wait_for(timeout=120_000)
            chart = time.monotonic() - started
            context.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return health, chart


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    engine = find_engine(os.environ.get("MODELVIZ_IMAGE_ENGINE") or None)
    runner = Runner(engine, find_engine("podman") if engine.name == "buildah" else engine)
    built = {image.name: image for image in build_images(engine)}
    lines = [
        "# Container images: size and visualizer start-up",
        "",
        f"`benchmarks/image_startup.py --runs {args.runs}`, {engine.name}, 2 shared cores (load average "
        f"{os.getloadavg()[0]:.1f} at the start); start-up as median (min-max) of the runs, from the engine's `run` to "
        "the first `/_stcore/health` OK and to the Overview's first chart (predictions computed on first view).",
        "",
        "| image | uncompressed | compressed (gzip -6 of the docker-archive) |",
        "|---|---|---|",
    ]
    for image in built.values():
        assert image.archive is not None
        compressed = _gzip_size(image.archive)
        lines.append(f"| `{image.ref}` | {image.size / 1e6:,.0f} MB | {compressed / 1e6:,.0f} MB |")
        print(lines[-1], flush=True)
    rows: dict[str, list[tuple[float, float]]] = {"container, no arguments": [], "host `modelviz app serve`": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            profile = Path(tmp) / f"c{i}"
            rows["container, no arguments"].append(_container_run(runner, built["visualizer"].ref, profile))
            rows["host `modelviz app serve`"].append(_host_run(Path(tmp) / f"h{i}"))
            print(f"run {i + 1}: {rows}", flush=True)
            shutil.rmtree(profile, ignore_errors=True)
    lines += ["", "| visualizer served by | to health OK (s) | to first chart (s) |", "|---|---|---|"]
    for name, runs in rows.items():
        health = [r[0] for r in runs]
        chart = [r[1] for r in runs]
        lines.append(
            f"| {name} | {statistics.median(health):.1f} ({min(health):.1f}-{max(health):.1f}) "
            f"| {statistics.median(chart):.1f} ({min(chart):.1f}-{max(chart):.1f}) |"
        )
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "image_startup.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
