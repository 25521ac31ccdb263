"""HTTP serving ceiling of the Streamlit visualizer vs a static nginx, measured with Apache Bench on this machine.

    python benchmarks/http_serving.py [-n 5000] [-c 50] [--accel-path DIR] [--no-profile] [--output PATH]

Everything listens on 127.0.0.1 only. Runs, with the same -n/-c (through ``modelviz_bench.runner``, the code the
benchmark Job runs):
  * ``streamlit run`` (one process): ``/``, ``/_stcore/health``, ``/`` with ``ab -k``, ``/`` with server and ab
    pinned to different cores, and (with ``--accel-path``, a ``pip install --target`` dir holding httptools and
    uvloop) ``/`` with uvicorn's compiled HTTP parser and event loop;
  * nginx (Debian nginx-light, 1 worker, own config in a temp dir) serving a copy of Streamlit's index.html,
    shared and pinned;
  * optionally Streamlit under cProfile for ``/`` to show where its time goes.
Writes a markdown table and an analysis to ``benchmarks/http_serving.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import os
import platform
import pstats
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # run from a checkout without the editable install too
sys.path.insert(0, str(ROOT / "cluster"))

from modelviz_bench._probe import wait_until_answering  # noqa: E402
from modelviz_bench.runner import BenchConfig, run  # noqa: E402
from modelviz_cluster.ports import free_port  # noqa: E402

MAX_REQUESTS = 50_000  # keep every run bounded
REFERENCE = ("replaced app (reported, 3 replicas on GKE)", 850.0, 175.0)
APP_CANDIDATES = ("visualizer/modelviz_app/main.py", "visualizer/modelviz_app/app.py")
APP_CONFIG = "examples/app-config/demo.yaml"
MINIMAL_APP = 'import streamlit as st\n\nst.title("modelviz benchmark placeholder")\nst.write("hello")\n'
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[http_serving] {msg}", file=sys.stderr, flush=True)


# --- process CPU accounting (/proc) -------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            kids += [int(c) for c in (task / "children").read_text().split()]
    return kids


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += _children(p)
    return pids


def cpu_seconds(pid: int) -> float:
    """User+system CPU of ``pid`` and its descendants (all threads)."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of proc(5))
    return total / CLK_TCK


def children_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of ``pid`` and its descendants (affinity is per thread on Linux)."""
    for p in tree(pid):
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), cpus)


# --- servers ------------------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    base_url: str
    pid: int
    note: str = ""


@dataclass
class AppChoice:
    script: Path
    env: dict[str, str]
    label: str


def choose_app(tmp: Path) -> AppChoice:
    """The project's visualizer entry if it exists and imports, else a minimal script (and say which)."""
    env = dict(os.environ, MODELVIZ_CONFIG=str(ROOT / APP_CONFIG))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "visualizer"), env.get("PYTHONPATH", "")]))
    for rel in APP_CANDIDATES:
        script = ROOT / rel
        if not script.exists():
            continue
        module = "modelviz_app." + script.stem
        probe = subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if probe.returncode == 0:
            return AppChoice(script, env, f"project visualizer `{rel}` (MODELVIZ_CONFIG={APP_CONFIG})")
        tail = (probe.stderr.strip().splitlines() or ["?"])[-1]
        log(f"{rel} does not import ({tail}); using a minimal script")
        fallback_reason = f"`{rel}` exists but does not import: {tail[:120]}"
        break
    else:
        fallback_reason = f"no {' / '.join(f'`{c}`' for c in APP_CANDIDATES)} yet"
    script = tmp / "minimal_app.py"
    script.write_text(MINIMAL_APP)
    return AppChoice(script, dict(os.environ), f"minimal streamlit script ({fallback_reason})")


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def streamlit_server(
    app: AppChoice, tmp: Path, *, extra_path: str | None = None, profile_dir: Path | None = None
) -> Iterator[Server]:
    port = free_port()
    env = dict(app.env)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra_path, env.get("PYTHONPATH", "")]))
    if profile_dir is not None:
        wrapper = tmp / "profiled_streamlit.py"
        wrapper.write_text(PROFILE_WRAPPER)
        prefix = [sys.executable, str(wrapper), str(profile_dir)]
    else:
        prefix = [sys.executable, "-m", "streamlit"]
    cmd = [
        *prefix,
        "run",
        str(app.script),
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--server.headless=true",
        "--server.fileWatcherType=none",
        "--browser.gatherUsageStats=false",
        "--global.developmentMode=false",
    ]
    logf = (tmp / f"streamlit-{port}.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        probe = wait_until_answering(f"{base}/_stcore/health", 180)
        if not probe.ok or proc.poll() is not None:
            raise RuntimeError(f"streamlit did not come up: {(tmp / f'streamlit-{port}.log').read_text()[-2000:]}")
        yield Server("streamlit", base, proc.pid)
    finally:
        _stop(proc)
        logf.close()


# Runs Streamlit with cProfile switched on by SIGUSR1 and off (and dumped to <dir>/<k>.prof) by SIGUSR2, so a
# profile covers exactly one ab run. uvicorn's event loop runs in the main thread, where signal handlers run.
PROFILE_WRAPPER = """\
import cProfile, os, runpy, signal, sys
out_dir = sys.argv.pop(1)
state = {"profile": None, "count": 0}
def on(*_):
    state["profile"] = cProfile.Profile()
    state["profile"].enable()
def off(*_):
    prof, state["profile"] = state["profile"], None
    prof.disable()
    state["count"] += 1
    path = os.path.join(out_dir, f"{state['count']}.prof")
    prof.dump_stats(path + ".tmp")
    os.replace(path + ".tmp", path)
signal.signal(signal.SIGUSR1, on)
signal.signal(signal.SIGUSR2, off)
sys.argv[0] = "streamlit"
runpy.run_module("streamlit", run_name="__main__")
"""

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    types {{ text/html html; }}
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location / {{ index index.html; }}
    }}
}}
"""


@contextlib.contextmanager
def nginx_server(tmp: Path, index_html: Path) -> Iterator[Server]:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None:
        raise RuntimeError("nginx not found: apt-get install nginx-light")
    root = tmp / "nginx"
    (root / "www").mkdir(parents=True)
    (root / "tmp").mkdir()
    shutil.copy(index_html, root / "www" / "index.html")
    # nginx workers drop to an unprivileged user when started as root: the tree must be world-readable.
    for p in (tmp, root, root / "www", root / "www" / "index.html"):
        p.chmod(0o755)
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, port=port))
    proc = subprocess.Popen([nginx, "-p", str(root), "-c", str(conf)], stderr=subprocess.PIPE, start_new_session=True)
    try:
        probe = wait_until_answering(f"http://127.0.0.1:{port}/", 20)
        if not probe.ok or proc.poll() is not None:
            raise RuntimeError(f"nginx did not come up: {(root / 'error.log').read_text()[-2000:]}")
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False).stderr.strip()
        yield Server("nginx", f"http://127.0.0.1:{port}", proc.pid, note=version)
    finally:
        _stop(proc, signal.SIGQUIT)  # graceful shutdown of master and worker


# --- measuring ----------------------------------------------------------------------------------------------


@dataclass
class Row:
    target: str
    path: str
    result: dict[str, Any]
    server_cores: float | None = None
    ab_cores: float | None = None
    notes: list[str] = field(default_factory=list)
    all_rps: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float | None:
        value = self.result.get("rps")
        return float(value) if value is not None else None


def measure(
    server: Server,
    target: str,
    path: str,
    n: int,
    c: int,
    *,
    repeat: int = 1,
    keep_alive: bool = False,
    pinned: bool = False,
) -> Row:
    """Warm up, then run ab ``repeat`` times; the row is the run with the median requests/s."""
    url = server.base_url + path
    all_cpus = os.sched_getaffinity(0)
    if pinned:
        cpus = sorted(all_cpus)
        if len(cpus) < 2:
            raise RuntimeError("pinning needs two CPUs")
        pin(server.pid, {cpus[0]})
        os.sched_setaffinity(0, {cpus[1]})  # ab inherits this process's affinity
    runs: list[Row] = []
    try:
        # Warm-up: first requests pay for imports, caches and the thread pool.
        run(BenchConfig(url=url, requests=min(n, 500), concurrency=min(c, 500), keep_alive=keep_alive, wait_s=30))
        for k in range(repeat):
            server_cpu0, ab_cpu0 = cpu_seconds(server.pid), children_cpu_seconds()
            flags = f"{' -k' if keep_alive else ''}{' (pinned)' if pinned else ''}"
            log(f"{target} {path}: ab -n {n} -c {c}{flags} [{k + 1}/{repeat}]")
            result = run(BenchConfig(url=url, requests=n, concurrency=c, keep_alive=keep_alive, wait_s=30))
            server_cpu, ab_cpu = cpu_seconds(server.pid) - server_cpu0, children_cpu_seconds() - ab_cpu0
            row = Row(target, path, result)
            wall = result.get("timeTakenSeconds") or 0
            if wall:
                row.server_cores, row.ab_cores = server_cpu / wall, ab_cpu / wall
            log(f"  -> {result.get('rps')} rps, p99 {result.get('p99Ms')} ms, {result.get('reason', 'ok')}")
            runs.append(row)
    finally:
        if pinned:
            os.sched_setaffinity(0, all_cpus)
            pin(server.pid, all_cpus)
    runs.sort(key=lambda r: r.rps or 0.0)
    median = runs[(len(runs) - 1) // 2]
    median.all_rps = [r.rps or 0.0 for r in runs]
    return median


@dataclass
class Profile:
    path: str
    requests: int
    rps: float | None
    busy_share: float
    thread_hops: float
    cpu_ms: float
    lines: list[tuple[str, float, float]]  # (function, calls per request, self ms per request)


def _read_profile(path: Path, url_path: str, requests: int, rps: float | None) -> Profile:
    stats = pstats.Stats(str(path))
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    idle = sum(v[2] for (_f, _l, name), v in raw.items() if "poll" in name and "epoll" in name)
    hops = sum(v[1] for (f, _l, name), v in raw.items() if f.endswith("anyio/to_thread.py") and name == "run_sync")
    lines = []
    for (f, line, name), (_cc, nc, tt, _ct, _callers) in sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True):
        if "epoll" in name:
            continue
        where = "/".join(Path(f).parts[-2:]) if line else ""
        name = re.sub(r" at 0x[0-9a-f]+", "", name)  # function reprs carry addresses
        lines.append((f"{where}:{line}({name})" if where else name, nc / requests, 1000 * tt / requests))
        if len(lines) == 8:
            break
    return Profile(
        url_path,
        requests,
        rps,
        busy_share=(total - idle) / total if total else 0.0,
        thread_hops=hops / requests,
        cpu_ms=1000 * (total - idle) / requests,
        lines=lines,
    )


def profile_streamlit(app: AppChoice, tmp: Path, n: int, c: int) -> list[Profile]:
    """Profile the event loop during one ab run on ``/`` and one on ``/_stcore/health``."""
    out_dir = tmp / "profiles"
    out_dir.mkdir()
    profiles = []
    with streamlit_server(app, tmp, profile_dir=out_dir) as server:
        for k, path in enumerate(("/", "/_stcore/health"), start=1):
            url = server.base_url + path
            run(BenchConfig(url=url, requests=min(n, 500), concurrency=min(c, 500), wait_s=30))
            os.kill(server.pid, signal.SIGUSR1)
            time.sleep(0.2)  # let the handler run before the load starts
            log(f"profiling streamlit {path}: ab -n {n} -c {c}")
            result = run(BenchConfig(url=url, requests=n, concurrency=c, wait_s=30))
            os.kill(server.pid, signal.SIGUSR2)
            dump = out_dir / f"{k}.prof"
            deadline = time.monotonic() + 30
            while not dump.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            # +1: the runner's readiness probe is inside the window too.
            profiles.append(_read_profile(dump, path, n + 1, result.get("rps")))
    return profiles


# --- report -------------------------------------------------------------------------------------------------

NONE = "-"


def _f(value: Any, fmt: str = "{:,.0f}") -> str:
    return NONE if value is None else fmt.format(value)


def _span(values: list[float]) -> str:
    if len(values) < 2:
        return NONE
    return f"{min(values):,.0f}-{max(values):,.0f} ({len(values)} runs)"


def _row(
    rows: list[Row], target_prefix: str, path: str, *, pinned: bool = False, keep_alive: bool = False
) -> Row | None:
    for row in rows:
        if (
            row.target.startswith(target_prefix)
            and row.path == path
            and ("pinned" in row.notes) == pinned
            and ("keep-alive" in row.notes) == keep_alive
        ):
            return row
    return None


def _cpu_ms_per_request(row: Row | None) -> float | None:
    if row is None or not row.rps or row.server_cores is None:
        return None
    return 1000 * row.server_cores / row.rps


def render(
    rows: list[Row],
    n: int,
    c: int,
    app: AppChoice,
    profiles: list[Profile],
    env_info: dict[str, str],
) -> str:
    nginx = _row(rows, "nginx", "/")
    nginx_rps = nginx.rps if nginx else None

    def ratio(rps: float | None) -> str:
        return NONE if rps is None or not nginx_rps else f"{100 * rps / nginx_rps:.1f} %"

    out = [
        "# HTTP serving: Streamlit visualizer vs static nginx",
        "",
        f"Measured {env_info['date']} by `python benchmarks/http_serving.py -n {n} -c {c}"
        f"{env_info['extra_args']}` on {env_info['cpus']}; load average before the run {env_info['load']} "
        "(other jobs, e.g. a Go build, were running: absolute numbers are noisy, compare rows within one run). "
        f"{env_info['versions']}.",
        "",
        f"* Streamlit app: {app.label}. `streamlit run`, one process, 127.0.0.1.",
        "* nginx: Debian nginx-light, `worker_processes 1`, its own config in a temp dir, serving a copy of "
        "Streamlit's `static/index.html` (same bytes as Streamlit's `/`).",
        *(
            [
                f"* `streamlit + httptools/uvloop`: the same app with {env_info['accel']} on PYTHONPATH "
                "(`pip install --target DIR httptools uvloop`), which uvicorn picks up by itself."
            ]
            if env_info.get("accel")
            else []
        ),
        f"* Every row: `ab -n {n} -c {c}` (HTTP/1.0; keep-alive only where noted) after a 500-request warm-up, "
        f"run {env_info['repeat']} times through `modelviz_bench.runner` (the benchmark Job's code); the row shows "
        "the run with the median requests/s, and the range over all runs.",
        "* **CPU: ab and the server shared the machine's 2 cores** in rows marked *shared* (no pinning, as on a "
        "single node); rows marked *pinned* put the server on core 0 and ab on core 1. Server/ab cores = CPU "
        "seconds used during the run / its wall time (1.00 = one core busy all the time).",
        "",
        "| target | path | CPU | requests/s | range of runs | mean ms | p50 ms | p90 ms | p99 ms | failed "
        "| server cores | ab cores | vs nginx ceiling |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        r = row.result
        failed = _f(r.get("failed"), "{}")
        if r.get("non2xx"):
            failed += f" (+{r['non2xx']} non-2xx)"
        if not r.get("ok"):
            failed += f" **{r.get('reason')}**"
        out.append(
            f"| {row.target} | `{row.path}` | {'pinned' if 'pinned' in row.notes else 'shared'} | {_f(row.rps)} "
            f"| {_span(row.all_rps)} | {_f(r.get('meanMs'), '{:.1f}')} | {_f(r.get('p50Ms'))} | {_f(r.get('p90Ms'))} "
            f"| {_f(r.get('p99Ms'))} "
            f"| {failed} | {_f(row.server_cores, '{:.2f}')} | {_f(row.ab_cores, '{:.2f}')} | {ratio(row.rps)} |"
        )
    name, ref_rps, ref_p99 = REFERENCE
    out.append(
        f"| {name} | `/` | {NONE} | {ref_rps:,.0f} | {NONE} | {NONE} | {NONE} | {NONE} | {ref_p99:.0f} | {NONE} "
        f"| {NONE} | {NONE} | {ratio(ref_rps)} |"
    )
    out += [
        "",
        '"vs nginx ceiling" = requests/s / the shared static-nginx row of this run. The reference row is the '
        "figure reported for the app this one replaces (3 replicas on GKE, other hardware and client): listed for "
        "scale only, it is not comparable with the rows measured here.",
        "",
    ]
    out += analysis(rows, profiles)
    return "\n".join(out) + "\n"


def analysis(rows: list[Row], profiles: list[Profile]) -> list[str]:
    root = _row(rows, "streamlit", "/")
    health = _row(rows, "streamlit", "/_stcore/health")
    ka = _row(rows, "streamlit", "/", keep_alive=True)
    root_pinned = _row(rows, "streamlit", "/", pinned=True)
    accel = _row(rows, "streamlit + httptools", "/")
    nginx = _row(rows, "nginx", "/")
    nginx_pinned = _row(rows, "nginx", "/", pinned=True)
    prof = {p.path: p for p in profiles}
    out = ["## Analysis", "", "### What limits the app's requests/s", ""]
    if root is not None and root.server_cores is not None:
        saturated = root.server_cores >= 0.8
        out.append(
            f"* **{'One Python process, CPU-bound' if saturated else 'Server CPU'}.** Streamlit served `/` at "
            f"{_f(root.rps)} req/s while its process used {root.server_cores:.2f} cores"
            + (
                ": the single uvicorn/asyncio event loop (one thread runs all HTTP work) is the bottleneck. "
                if saturated
                else " (not saturated in this run: the machine's other load took the rest). "
            )
            + f"That is {_f(_cpu_ms_per_request(root), '{:.2f}')} ms of server CPU per request, against "
            f"{_f(_cpu_ms_per_request(nginx), '{:.3f}')} ms for nginx serving the same bytes. More client "
            "concurrency only lengthens the queue (p99); it cannot add throughput."
        )
    if root is not None and health is not None and root.rps and health.rps:
        out.append(
            "* **A large part of the cost is Streamlit's static-file path, not HTTP handling itself.** "
            "`/_stcore/health` "
            f"(same process, same middleware stack, 2-byte body) ran at {_f(health.rps)} req/s "
            f"({_f(_cpu_ms_per_request(health), '{:.2f}')} ms CPU/request), {health.rps / root.rps:.1f}x `/`. "
            "`/` is served by Starlette's `StaticFiles`/`FileResponse`, which does its file system calls "
            "(stat, open, read, close) through `anyio.to_thread.run_sync`, i.e. through the worker thread pool."
        )
    if "/" in prof:
        p = prof["/"]
        h = prof.get("/_stcore/health")
        top = "; ".join(f"`{fn}` {calls:.1f}x {ms:.3f} ms" for fn, calls, ms in p.lines[:6])
        out.append(
            f"* **Profile of the event loop** (cProfile switched on only during `ab -n {p.requests - 1}`; "
            f"{_f(p.rps)} req/s under profiling): on `/` the loop thread was busy {100 * p.busy_share:.0f} % of "
            f"the time, {p.cpu_ms:.2f} ms per request, with **{p.thread_hops:.1f} worker-thread hops per "
            "request**"
            + (
                f"; on `/_stcore/health`: {p.cpu_ms / h.cpu_ms if h.cpu_ms else 0:.1f}x less loop time "
                f"({h.cpu_ms:.2f} ms/request) and {h.thread_hops:.1f} hops."
                if h
                else "."
            )
            + f" Top self time per `/` request (calls, ms): {top}."
        )
    if ka is not None:
        out.append(
            f"* **No keep-alive with ab.** With `-k`, {ka.result.get('keepAliveRequests', 0)} of "
            f"{ka.result.get('complete')} requests reused a connection ({_f(ka.rps)} req/s): ab speaks HTTP/1.0 "
            "and uvicorn closes HTTP/1.0 connections, so every request also pays a TCP accept/close in Python."
        )
    if root is not None and root_pinned is not None and root.rps and root_pinned.rps:
        out.append(
            f"* **Sharing the 2 cores with ab:** Streamlit `/` did {_f(root.rps)} req/s shared and "
            f"{_f(root_pinned.rps)} pinned ({root_pinned.rps / root.rps:.2f}x); ab used "
            f"{_f(root.ab_cores, '{:.2f}')} cores at that rate"
            + (", so the client is not what limits the app." if (root.ab_cores or 0) < 0.5 else ".")
        )
    if nginx is not None and nginx.ab_cores is not None and nginx.server_cores is not None:
        pinned_text = f" ({_f(nginx_pinned.rps)} pinned)" if nginx_pinned is not None else ""
        client_bound = nginx.ab_cores >= nginx.server_cores
        out.append(
            f"* **The nginx ceiling is a lower bound:** at {_f(nginx.rps)} req/s{pinned_text} ab used "
            f"{nginx.ab_cores:.2f} cores and nginx {nginx.server_cores:.2f}"
            + (
                "; the single-threaded client is at least as busy as the server, so nginx could do more."
                if client_bound
                else "."
            )
        )
    out += ["", "### What would raise it", ""]
    out.append(
        "* **Serve `index.html` and `/static/*` through a fast static path** (an nginx/Envoy sidecar, an ingress "
        "rule, or a CDN) and route only `/_stcore/*` (health, websocket stream, uploads) and the media endpoints "
        "to Streamlit. The page shell is the same bytes for every visitor"
        + (f"; nginx served it at {_f(nginx.rps)} req/s on one worker here" if nginx is not None else "")
        + ", and the Python process is left to the websocket sessions that run the model."
    )
    if accel is not None and root is not None and accel.rps and root.rps:
        out.append(
            "* **uvicorn's compiled HTTP parser and event loop** (`httptools` + `uvloop`, i.e. `uvicorn[standard]` "
            "in the app image; Streamlit leaves uvicorn on `http=auto`/`loop=auto`, so installing them is enough): "
            f"`/` went from {_f(root.rps)} to {_f(accel.rps)} req/s ({accel.rps / root.rps:.2f}x) in this run. "
            "The static-file thread hops remain, so this helps less than a static path."
        )
    else:
        out.append(
            "* **uvicorn's compiled HTTP parser and event loop** (`httptools` + `uvloop`, i.e. `uvicorn[standard]` "
            "in the app image): Streamlit leaves uvicorn on `http=auto`/`loop=auto`, so installing them is enough "
            "(not measured in this run: pass `--accel-path`)."
        )
    out.append(
        "* **More Streamlit processes or replicas** add event loops (not measured here). Sessions live in process "
        "memory, so the Service/Ingress then needs session affinity for the websocket; the reference figure "
        "above came from 3 replicas."
    )
    out.append(
        "* Keep-alive clients (browsers, HTTP/1.1 proxies) skip the per-request TCP setup that ab's HTTP/1.0 "
        "mode forces; a benchmark through the ingress with a keep-alive client would show that share."
    )
    return out


def environment() -> dict[str, str]:
    def version(cmd: list[str]) -> str:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return "missing"
        return (p.stdout + p.stderr).strip().splitlines()[0] if (p.stdout + p.stderr).strip() else "?"

    import streamlit

    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin") or "nginx"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{os.cpu_count()} CPUs ({model})",
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "versions": (
            f"Python {platform.python_version()}, Streamlit {streamlit.__version__}, "
            f"{version([nginx, '-v']).removeprefix('nginx version: ')}, "
            f"ApacheBench {version(['ab', '-V']).split('Version ')[-1].split()[0]}"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=5000, help="requests per run (default 5000)")
    p.add_argument("-c", type=int, default=50, help="concurrency (default 50)")
    p.add_argument("--repeat", type=int, default=3, help="measured runs per row; the median is shown (3)")
    p.add_argument("--accel-path", help="dir with httptools+uvloop (pip install --target DIR httptools uvloop)")
    p.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    p.add_argument("--no-pin", action="store_true", help="skip the pinned rows")
    p.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "http_serving.md")
    args = p.parse_args(argv)
    if not 1 <= args.c <= args.n <= MAX_REQUESTS:
        p.error(f"need 1 <= -c <= -n <= {MAX_REQUESTS}")
    if not 1 <= args.repeat <= 9:
        p.error("need 1 <= --repeat <= 9")
    if shutil.which("ab") is None:
        p.error("ab not found: apt-get install apache2-utils")
    if importlib.util.find_spec("streamlit") is None:
        p.error("streamlit not importable: pip install -e '.[app]'")
    pin_ok = not args.no_pin and len(os.sched_getaffinity(0)) >= 2

    import streamlit

    index_html = Path(streamlit.__file__).parent / "static" / "index.html"
    env_info = environment()
    n, c = args.n, args.c
    env_info["repeat"] = str(args.repeat)
    env_info["extra_args"] = "".join(
        f" {flag}"
        for flag, on in (
            (f"--repeat {args.repeat}", args.repeat != 3),
            ("--accel-path DIR", args.accel_path),
            ("--no-pin", args.no_pin),
        )
        if on
    )
    if args.accel_path:
        dists = sorted(d.name.removesuffix(".dist-info") for d in Path(args.accel_path).glob("*.dist-info"))
        env_info["accel"] = ", ".join(f"`{d.replace('-', ' ')}`" for d in dists) or "`httptools`, `uvloop`"
    rows: list[Row] = []
    profiles: list[Profile] = []
    with tempfile.TemporaryDirectory(prefix="http_serving-") as tmp_name:
        tmp = Path(tmp_name)
        app = choose_app(tmp)
        log(f"streamlit app: {app.label}")
        with streamlit_server(app, tmp) as st:
            rows.append(measure(st, "streamlit (1 process)", "/", n, c, repeat=args.repeat))
            rows.append(measure(st, "streamlit (1 process)", "/_stcore/health", n, c, repeat=args.repeat))
            ka = measure(st, "streamlit (1 process), ab -k", "/", n, c, repeat=args.repeat, keep_alive=True)
            ka.notes.append("keep-alive")
            rows.append(ka)
            if pin_ok:
                row = measure(st, "streamlit (1 process)", "/", n, c, repeat=args.repeat, pinned=True)
                row.notes.append("pinned")
                rows.append(row)
        if args.accel_path:
            with streamlit_server(app, tmp, extra_path=args.accel_path) as st:
                # Only meaningful if uvicorn really picked them up: check the shared objects are mapped.
                maps = Path(f"/proc/{st.pid}/maps").read_text()
                missing = [m for m in ("httptools", "uvloop") if m not in maps]
                if missing:
                    raise RuntimeError(f"streamlit did not load {missing} from {args.accel_path}")
                rows.append(measure(st, "streamlit + httptools/uvloop", "/", n, c, repeat=args.repeat))
        with nginx_server(tmp, index_html) as ng:
            rows.append(measure(ng, "nginx static index.html (1 worker)", "/", n, c, repeat=args.repeat))
            if pin_ok:
                row = measure(ng, "nginx static index.html (1 worker)", "/", n, c, repeat=args.repeat, pinned=True)
                row.notes.append("pinned")
                rows.append(row)
        if not args.no_profile:
            profiles = profile_streamlit(app, tmp, min(n, 2000), c)
    text = render(rows, n, c, app, profiles, env_info)
    args.output.write_text(text)
    print(text)
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
