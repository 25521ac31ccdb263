"""Re-capture the real ab reports in ``tests/bench/data/`` (run by hand, not by pytest).

    python -m tests.bench.capture_reports [CASE ...]

Each case runs the real ``ab`` against a local server from ``servers.py`` (or a closed port) and stores
``<name>.txt`` (ab's stdout), ``<name>.stderr.txt`` and one line in ``index.json`` (arguments, exit code).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modelviz_bench._probe import wait_until_answering
from tests.bench.servers import free_port, serve

DATA = Path(__file__).with_name("data")

# The runner's fixed flags (see modelviz_bench.runner.build_ab_command).
_Q = ["-q", "-r"]

# name -> (server behaviour or None for a closed port, ab arguments before the URL)
CASES: dict[str, tuple[str | None, list[str]]] = {
    "normal": ("ok", [*_Q, "-n", "2000", "-c", "50", "-s", "5"]),
    "keepalive": ("ok", [*_Q, "-n", "2000", "-c", "50", "-k", "-s", "5"]),
    "non2xx": ("error500", [*_Q, "-n", "500", "-c", "10", "-s", "5"]),
    "length_failures": ("varylength", [*_Q, "-n", "500", "-c", "10", "-s", "5"]),
    "dropped_responses": ("flaky", [*_Q, "-n", "500", "-c", "10", "-s", "5"]),
    "connection_reset": ("reset", [*_Q, "-n", "500", "-c", "10", "-s", "5"]),
    "closed_without_answer": ("close", [*_Q, "-n", "200", "-c", "5", "-s", "5"]),
    "timeout": ("hang", [*_Q, "-n", "100", "-c", "5", "-s", "1"]),
    "timeout_partial": ("hangafter", [*_Q, "-n", "400", "-c", "5", "-s", "1"]),
    # Without -q ab prints progress lines and puts "Total of N requests completed" on a line of its own.
    "timeout_partial_verbose": ("hangafter", ["-r", "-n", "400", "-c", "5", "-s", "1"]),
    "connection_refused": (None, [*_Q, "-n", "100", "-c", "5", "-s", "1"]),
    # Without -r ab gives up at the first receive error instead of counting it.
    "connection_refused_abort": (None, ["-q", "-n", "100", "-c", "5", "-s", "1"]),
    # ab prints no percentile table for a single request.
    "single_request": ("ok", [*_Q, "-n", "1", "-c", "1", "-s", "5"]),
}


def _run_ab(args: list[str], url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ab", *args, url], capture_output=True, text=True, timeout=60, check=False)


def _interrupted(args: list[str], url: str, after_s: float) -> subprocess.CompletedProcess[str]:
    """ab stopped by SIGINT part-way: it prints its report for the requests done so far (the runner's Terminated)."""
    proc = subprocess.Popen(["ab", *args, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@contextmanager
def _streamlit() -> Iterator[str]:
    """A minimal ``streamlit run`` app on 127.0.0.1 (the visualizer's server stack: Starlette on uvicorn)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "app.py"
        script.write_text("import streamlit as st\n\nst.write('hello')\n")
        port = free_port()
        cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.address=127.0.0.1"]
        cmd += [f"--server.port={port}", "--server.headless=true", "--browser.gatherUsageStats=false"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/"
            if not wait_until_answering(url + "_stcore/health", 120).ok:
                raise RuntimeError("streamlit did not start")
            yield url
        finally:
            proc.terminate()
            proc.wait(30)


# Real Streamlit 1.x (uvicorn): ab -k gets no keep-alive because ab speaks HTTP/1.0.
STREAMLIT_CASES: dict[str, list[str]] = {
    "streamlit_root": [*_Q, "-n", "1000", "-c", "20", "-s", "10"],
    "streamlit_keepalive": [*_Q, "-n", "1000", "-c", "20", "-k", "-s", "10"],
}


def main(argv: list[str] | None = None) -> int:
    only = set(sys.argv[1:] if argv is None else argv)  # capture only these cases (default: all)
    DATA.mkdir(exist_ok=True)
    index_path = DATA / "index.json"
    index: dict[str, dict[str, object]] = json.loads(index_path.read_text()) if index_path.exists() else {}
    if not only or only & set(STREAMLIT_CASES):
        with _streamlit() as url:
            for name, args in STREAMLIT_CASES.items():
                if not only or name in only:
                    _store(index, name, "streamlit", args, _run_ab(args, url))
    for name, (behaviour, args) in CASES.items():
        if only and name not in only:
            continue
        if behaviour is None:
            proc = _run_ab(args, f"http://127.0.0.1:{free_port()}/")
        else:
            with serve(behaviour) as url:
                proc = _run_ab(args, url)
        _store(index, name, behaviour, args, proc)
    if not only or "interrupted" in only:
        # ab interrupted by SIGINT while the server hangs after HANG_AFTER answers.
        args = [*_Q, "-n", "1000", "-c", "10", "-s", "20"]
        with serve("hangafter") as url:
            proc = _interrupted(args, url, after_s=1.0)
        _store(index, "interrupted", "hangafter", [*args, "(SIGINT after 1 s)"], proc)
    index_path.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return 0


def _store(
    index: dict[str, dict[str, object]],
    name: str,
    behaviour: str | None,
    args: list[str],
    proc: subprocess.CompletedProcess[str],
) -> None:
    (DATA / f"{name}.txt").write_text(proc.stdout)
    (DATA / f"{name}.stderr.txt").write_text(proc.stderr)
    index[name] = {"behaviour": behaviour, "args": args, "returncode": proc.returncode}
    print(f"{name}: rc={proc.returncode}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
