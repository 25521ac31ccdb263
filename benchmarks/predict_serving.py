"""What the visualizer's pods sustain: prediction throughput with and without micro-batching, and the page shell.

    python benchmarks/predict_serving.py [--models efficientnet-lite0,...] [--concurrency 1,8,32] [--repeat 3]
                                         [--cache DIR] [--output PATH]

Everything listens on 127.0.0.1; ab and the server share the machine's cores (no pinning). Runs, through
``modelviz_bench.runner`` (the benchmark Job's code), in one session:

* predict: ``ab -p sample.jpg -T image/jpeg`` (the 224x224 photo the Job POSTs) against ``/api/v1/predict?model=M``
  for each catalog model M, at each concurrency, on the app served by ``modelviz app serve`` with micro-batching
  (defaults) and on the same server with batching off (``MODELVIZ_BATCH_MAX_SIZE=1``: one request, one model call);
  the mean batch size comes from the app's ``/metrics``;
* page: ``/`` of this app (in-memory page shell, with the app extra's ``httptools``/``uvloop``), of the same app on
  h11/asyncio, of plain ``streamlit run`` of the same pages script (on h11/asyncio: the baseline, as the app ran
  before; and with httptools/uvloop), and of nginx serving Streamlit's index.html (the ceiling).

Writes a markdown table beside this script (``predict_serving.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from http_serving import _stop, children_cpu_seconds, cpu_seconds, free_port, nginx_server  # noqa: E402

from modelviz_bench._probe import wait_until_answering  # noqa: E402
from modelviz_bench.runner import SAMPLE_IMAGE, BenchConfig, run  # noqa: E402

UI_SCRIPT = ROOT / "visualizer" / "modelviz_app" / "app.py"
TARGETS = {"batching_x": 5.0, "p99_ms": 250.0, "page_x": 4.0}
PLAIN = "plain streamlit run, h11/asyncio"  # the baseline: Streamlit as the app ran before this entry


def log(msg: str) -> None:
    print(f"[predict_serving] {msg}", file=sys.stderr, flush=True)


@dataclass
class Server:
    name: str
    base_url: str
    pid: int


@dataclass
class Row:
    group: str  # "predict" or "page"
    target: str
    model: str
    concurrency: int
    result: dict[str, Any]
    server_cores: float | None
    mean_batch: float | None = None

    @property
    def cpu_ms(self) -> float | None:
        """Server CPU per request: what a request costs, whatever share of the machine the server got."""
        complete = self.result.get("complete") or 0
        wall = self.result.get("timeTakenSeconds") or 0
        if self.server_cores is None or not complete:
            return None
        return 1000 * self.server_cores * wall / complete

    @property
    def rps(self) -> float:
        return float(self.result.get("rps") or 0.0)


def _env(extra: dict[str, str], pythonpath: str | None = None) -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}
    paths = [str(ROOT / p) for p in ("visualizer", "bench", "cli", "operator")]
    if pythonpath:
        paths.insert(0, pythonpath)
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    return env


@contextlib.contextmanager
def app_server(
    name: str, config: Path, tmp: Path, extra: dict[str, str], pythonpath: str | None = None
) -> Iterator[Server]:
    """``modelviz app serve`` (the st.App), as the image and the Deployment start it."""
    port = free_port()
    logf = (tmp / f"{name}-{port}.log").open("wb")
    cmd = [sys.executable, "-m", "modelviz_cli", "app", "serve", "--config", str(config), "--port", str(port)]
    proc = subprocess.Popen(
        cmd, env=_env(extra, pythonpath), stdout=logf, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        probe = wait_until_answering(f"{base}/api/v1/models", 600)
        if not probe.ok or proc.poll() is not None:
            raise RuntimeError(f"{name} did not come up: {logf.name}")
        yield Server(name, base, proc.pid)
    finally:
        _stop(proc)
        logf.close()


@contextlib.contextmanager
def plain_streamlit(config: Path, tmp: Path, pythonpath: str | None = None) -> Iterator[Server]:
    """``streamlit run`` of the pages script itself: no st.App, no shell, no API."""
    port = free_port()
    logf = (tmp / f"plain-{port}.log").open("wb")
    cmd = [sys.executable, "-m", "streamlit", "run", str(UI_SCRIPT), "--server.address=127.0.0.1",
           f"--server.port={port}", "--server.headless=true", "--browser.gatherUsageStats=false",
           "--", "--config", str(config)]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=_env({}, pythonpath), stdout=logf, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        if not wait_until_answering(f"{base}/_stcore/health", 180).ok:
            raise RuntimeError(f"streamlit did not come up: {logf.name}")
        yield Server("plain streamlit run", base, proc.pid)
    finally:
        _stop(proc)
        logf.close()


def _batch_counts(server: Server, model: str) -> tuple[float, float]:
    """(batched calls, images) for ``model`` from the app's /metrics."""
    with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    calls = images = 0.0
    for line in text.splitlines():
        if line.startswith(f'modelviz_app_predict_batch_size_count{{model="{model}"}} '):
            calls = float(line.split()[-1])
        elif line.startswith(f'modelviz_app_predicted_images_total{{model="{model}"}} '):
            images = float(line.split()[-1])
    return calls, images


def measure(server: Server, group: str, target: str, model: str, url: str, n: int, c: int, post: bool) -> Row:
    def config(requests: int) -> BenchConfig:
        return BenchConfig(
            url=url, requests=requests, concurrency=min(c, requests), wait_s=30, timeout_s=60,
            scenario="predict" if post else "page", post_file=SAMPLE_IMAGE if post else None,
        )  # fmt: skip

    run(config(max(c, min(n // 5, 100))))  # warm-up: thread pools, interpreter tensors, connection setup
    name = model.split(" ")[0]  # the configured name ("efficientnet-lite0 (keras)" is a row label)
    before = _batch_counts(server, name) if post else (0.0, 0.0)
    cpu0, _ab0 = cpu_seconds(server.pid), children_cpu_seconds()
    log(f"{target} {model or '/'}: ab -n {n} -c {c}{' -p sample.jpg' if post else ''}")
    result = run(config(n))
    wall = result.get("timeTakenSeconds") or 0
    cores = (cpu_seconds(server.pid) - cpu0) / wall if wall else None
    row = Row(group, target, model, c, result, cores)
    if post:
        calls, images = (a - b for a, b in zip(_batch_counts(server, name), before, strict=True))
        row.mean_batch = images / calls if calls else None
    log(f"  -> {result.get('rps')} rps, p99 {result.get('p99Ms')} ms, {result.get('reason', 'ok')}")
    return row


def _f(value: Any, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def render(rows: list[Row], env: dict[str, str], models: list[str], levels: list[int]) -> str:
    out = [
        "# Prediction API and page shell: what one visualizer process sustains",
        "",
        f"Measured {env['date']} by `python benchmarks/predict_serving.py` on {env['cpus']}; load average before "
        f"the run {env['load']}, after it {' '.join(Path('/proc/loadavg').read_text().split()[:3])} (the machine is "
        "shared: compare rows within this run, not with other files). "
        f"{env['versions']}.",
        "",
        "* **ab and the server share the cores** (no pinning) in every row. Each row is one `ab` run after a warm-up, "
        "through `modelviz_bench.runner` (the benchmark Job's code); server cores = its CPU seconds / wall time.",
        "* predict: `ab -p sample.jpg -T image/jpeg` (the 224x224 JPEG the `predict` scenario POSTs) to "
        "`/api/v1/predict?model=<name>`; the server is `modelviz app serve` with the three catalog models loaded "
        "(TFLite/XNNPACK, 2 threads, one interpreter allocated per fixed batch size, 1 and 2: a batch is split "
        "onto them, never re-allocated). *batching*: defaults (at most 8 images per call, at most 5 ms "
        "of waiting for requests already being read); *no batching*: `MODELVIZ_BATCH_MAX_SIZE=1`, one request = one "
        "model call (the same interpreters and threads). Mean batch = images / model calls during the run, from the "
        "app's `/metrics`. *(keras)* rows: the same servers with `MODELVIZ_RUNTIME=keras` (Keras `predict_on_batch` "
        "instead of the TFLite copy).",
        "* page: `GET /`, each row the median of the repeated runs; *this app* = the st.App entry with the "
        "in-memory page shell and the app extra's httptools/uvloop (as the image runs it); *h11/asyncio* = the same "
        "with those two made unimportable (uvicorn's fallback); *plain streamlit run* = `streamlit run` of the same "
        "pages script (`app.py`), the baseline being its h11/asyncio row (the app as it ran before); nginx = Debian "
        "nginx-light, 1 worker, a copy of Streamlit's index.html. Server CPU ms/request is what a request costs the "
        "server whatever share of the busy machine it got.",
        "",
        "## Predict",
        "",
        "| model | concurrency | server | requests/s | p50 ms | p99 ms | failed | mean batch | server cores "
        "| server CPU ms/request | batching vs none (requests/s) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts: list[str] = []
    for model in models:
        for c in levels:
            on = next((r for r in rows if r.group == "predict" and r.model == model and r.concurrency == c
                       and r.target == "batching"), None)  # fmt: skip
            off = next((r for r in rows if r.group == "predict" and r.model == model and r.concurrency == c
                        and r.target == "no batching"), None)  # fmt: skip
            for row in (on, off):
                if row is None:
                    continue
                ratio = f"{on.rps / off.rps:.2f}x" if row is on and on and off and off.rps else ""
                res = row.result
                out.append(
                    f"| {model} | {c} | {row.target} | {_f(res.get('rps'))} | {_f(res.get('p50Ms'))} | "
                    f"{_f(res.get('p99Ms'))} | {_f(res.get('failed'))} | {_f(row.mean_batch, '{:.1f}')} | "
                    f"{_f(row.server_cores, '{:.2f}')} | {_f(row.cpu_ms, '{:.2f}')} | {ratio} |"
                )
            if c == max(levels) and on and off and off.rps:
                x, p99 = on.rps / off.rps, on.result.get("p99Ms") or 0
                met = x >= TARGETS["batching_x"] and p99 <= TARGETS["p99_ms"]
                cpu = f"; server CPU per request {off.cpu_ms / on.cpu_ms:.2f}x less" if on.cpu_ms and off.cpu_ms else ""
                verdicts.append(
                    f"* {model} at c={c}: batching {x:.2f}x the unbatched rate (target >= {TARGETS['batching_x']:g}x), "
                    f"p99 {p99:g} ms (target < {TARGETS['p99_ms']:g} ms): **{'met' if met else 'not met'}**{cpu}."
                )
    out += ["", "## Page shell (`GET /`)", "",
            "| server | concurrency | requests/s | p50 ms | p99 ms | failed | server cores | server CPU ms/request "
            "| vs plain streamlit run (requests/s) | CPU/request vs plain | vs nginx |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for c in levels:
        plain = next((r for r in rows if r.group == "page" and r.concurrency == c and r.target == PLAIN), None)
        nginx = next(
            (r for r in rows if r.group == "page" and r.concurrency == c and r.target.startswith("nginx")), None
        )
        for row in (r for r in rows if r.group == "page" and r.concurrency == c):
            res = row.result
            vs_plain = f"{row.rps / plain.rps:.2f}x" if plain and plain.rps else "-"
            vs_nginx = f"{100 * row.rps / nginx.rps:.1f} %" if nginx and nginx.rps else "-"
            cheaper = f"{plain.cpu_ms / row.cpu_ms:.2f}x less" if plain and plain.cpu_ms and row.cpu_ms else "-"
            out.append(
                f"| {row.target} | {c} | {_f(res.get('rps'))} | {_f(res.get('p50Ms'))} | {_f(res.get('p99Ms'))} | "
                f"{_f(res.get('failed'))} | {_f(row.server_cores, '{:.2f}')} | {_f(row.cpu_ms, '{:.2f}')} | "
                f"{vs_plain} | {cheaper} | {vs_nginx} |"
            )
        for name in ("this app", "this app, h11/asyncio"):
            app = next((r for r in rows if r.group == "page" and r.concurrency == c and r.target == name), None)
            if c == max(levels) and app and plain and plain.rps:
                x = app.rps / plain.rps
                cpu = (
                    f"; {plain.cpu_ms / app.cpu_ms:.2f}x less server CPU per request"
                    if plain.cpu_ms and app.cpu_ms
                    else ""
                )
                verdicts.append(
                    f"* `/` at c={c}, {name}: {x:.2f}x plain `streamlit run` in requests/s (target >= "
                    f"{TARGETS['page_x']:g}x): **{'met' if x >= TARGETS['page_x'] else 'not met'}**; "
                    f"{app.rps:,.0f} requests/s per process{cpu}."
                )
    out += ["", "## Against the targets", "", *verdicts, ""]
    return "\n".join(out) + "\n"


def environment() -> dict[str, str]:
    import streamlit

    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{os.cpu_count()} CPUs ({model})",
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "versions": f"Python {platform.python_version()}, Streamlit {streamlit.__version__}",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="efficientnet-lite0,efficientnet-lite1,efficientnet-lite2")
    p.add_argument("--concurrency", default="1,8,32", help="ab -c levels (1,8,32)")
    p.add_argument("--predict-requests", type=int, default=400, help="ab -n per predict row (400)")
    p.add_argument("--page-requests", type=int, default=3000, help="ab -n per page row (3000)")
    p.add_argument("--keras-model", default="efficientnet-lite0", help="also this model on Keras ('' for none)")
    p.add_argument("--keras-requests", type=int, default=64, help="ab -n per Keras row (64)")
    p.add_argument("--repeat", type=int, default=3, help="runs per page row, the median kept (3)")
    p.add_argument("--cache", help="model cache directory (default $MODELVIZ_CACHE or ~/.cache/modelviz)")
    p.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "predict_serving.md")
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    levels = [int(c) for c in args.concurrency.split(",")]
    env = environment()
    started = time.monotonic()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="predict-serving-") as tmp_name:
        tmp = Path(tmp_name)
        config = tmp / "config.yaml"
        lines = [
            "models:",
            *(f"  - {{name: {m}, catalog: {m}}}" for m in models),
            "dataset: {catalog: imagenet-sample}",
        ]
        if args.cache:
            lines.append(f"cacheDir: {args.cache}")
        config.write_text("\n".join(lines) + "\n")
        # All servers of a section run at once and their rows alternate, so a shared machine's load swings hit
        # both sides of each comparison alike; the page rows are repeated and the median run kept.
        with contextlib.ExitStack() as stack:
            on = stack.enter_context(app_server("batching", config, tmp, {}))
            off = stack.enter_context(app_server("no batching", config, tmp, {"MODELVIZ_BATCH_MAX_SIZE": "1"}))
            for model in models:
                for c in levels:
                    for target, server in (("batching", on), ("no batching", off)):
                        url = f"{server.base_url}/api/v1/predict?model={model}"
                        rows.append(measure(server, "predict", target, model, url, args.predict_requests, c, True))
                log(f"{model} done ({time.monotonic() - started:.0f} s so far)")
        if args.keras_model:
            # The same batcher in front of Keras' predict_on_batch, whose fixed cost per call batching amortises.
            with contextlib.ExitStack() as stack:
                keras_env = {"MODELVIZ_RUNTIME": "keras"}
                on = stack.enter_context(app_server("keras batching", config, tmp, keras_env))
                off = stack.enter_context(
                    app_server("keras no batching", config, tmp, {**keras_env, "MODELVIZ_BATCH_MAX_SIZE": "1"})
                )
                model = args.keras_model
                for c in levels:
                    for target, server in (("batching", on), ("no batching", off)):
                        url = f"{server.base_url}/api/v1/predict?model={model}"
                        rows.append(
                            measure(server, "predict", target, f"{model} (keras)", url, args.keras_requests, c, True)
                        )
                log(f"keras done ({time.monotonic() - started:.0f} s so far)")
        from streamlit import file_util

        index = Path(file_util.get_static_dir()) / "index.html"
        with contextlib.ExitStack() as stack:
            # Without httptools/uvloop: modules of those names on PYTHONPATH that fail to import, so uvicorn's
            # http=auto/loop=auto fall back to h11 and asyncio (what the app image had before they were added).
            plain_py = tmp / "no-accel"
            plain_py.mkdir()
            for name in ("httptools", "uvloop"):
                stub = f"raise ModuleNotFoundError('{name} left out for this row', name='{name}')\n"
                (plain_py / f"{name}.py").write_text(stub)
            blocked = str(plain_py)
            servers = [
                ("this app", stack.enter_context(app_server("this app", config, tmp, {}))),
                ("this app, h11/asyncio", stack.enter_context(app_server("h11", config, tmp, {}, blocked))),
                ("plain streamlit run, h11/asyncio", stack.enter_context(plain_streamlit(config, tmp, blocked))),
                ("plain streamlit run + httptools/uvloop", stack.enter_context(plain_streamlit(config, tmp))),
                ("nginx static index.html (ceiling)", stack.enter_context(nginx_server(tmp, index))),
            ]
            for c in levels:
                runs: dict[str, list[Row]] = {}
                for _ in range(args.repeat):
                    for target, server in servers:
                        row = measure(server, "page", target, "", f"{server.base_url}/", args.page_requests, c, False)
                        runs.setdefault(target, []).append(row)
                for target, _server in servers:
                    ordered = sorted(runs[target], key=lambda r: r.rps)
                    rows.append(ordered[(len(ordered) - 1) // 2])
            log(f"page done ({time.monotonic() - started:.0f} s so far)")
    shown = [*models, *([f"{args.keras_model} (keras)"] if args.keras_model else [])]
    text = render(rows, env, shown, levels)
    args.output.write_text(text)
    print(text)
    log(f"wrote {args.output} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
