"""``modelviz bench URL [--scenario page|health|predict] [-n N] [-c C] [-k] [--timeout S] [--wait S] [--json]``.

The Job's runner, from a laptop: ``--scenario predict`` POSTs the package's sample photo to URL's
``/api/v1/predict`` (``--post-file`` another), ``health`` requests ``/_stcore/health``.

Prints a human table and the runner's JSON document (only the JSON with ``--json``); exits with the runner's code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._result import encode
from .runner import SAMPLE_IMAGE, SCENARIOS, BenchConfig, exit_code, run, scenario_url, terminate_on_signals

__all__ = ["format_table", "main"]


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:g} ms"


def format_table(result: dict[str, Any]) -> str:
    """Two aligned columns: the verdict, then rps, latencies, failed and non-2xx counts."""
    verdict = "ok" if result.get("ok") else f"FAILED {result.get('reason')}: {result.get('message', '')}"
    rps = result.get("rps")
    rows = [
        ("url", str(result.get("url", "-"))),
        ("scenario", str(result.get("scenario", "-"))),
        ("result", verdict),
        ("requests", f"{result.get('requests', '-')} (concurrency {result.get('concurrency', '-')})"),
        ("requests/s", "-" if rps is None else f"{rps:,.1f}"),
        ("mean", _ms(result.get("meanMs"))),
        ("p50", _ms(result.get("p50Ms"))),
        ("p90", _ms(result.get("p90Ms"))),
        ("p99", _ms(result.get("p99Ms"))),
        ("max", _ms(result.get("maxMs"))),
        ("failed", str(result.get("failed", "-"))),
        ("non-2xx", str(result.get("non2xx", "-"))),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="modelviz bench", description="Run Apache Bench (ab) once against URL.")
    p.add_argument("url", help="http(s)://host[:port][/path]; a bare host gets the path /")
    p.add_argument("--scenario", choices=SCENARIOS, default="page", help="page (default), health or predict")
    p.add_argument("--post-file", default=None, help=f"predict: the image to POST (default {SAMPLE_IMAGE})")
    p.add_argument("--content-type", default="image/jpeg", help="predict: Content-Type of the image (image/jpeg)")
    p.add_argument("-n", "--requests", type=int, default=5000, help="number of requests (default 5000)")
    p.add_argument("-c", "--concurrency", type=int, default=50, help="concurrent requests (default 50)")
    p.add_argument("-k", "--keep-alive", action="store_true", help="HTTP keep-alive (ab -k)")
    p.add_argument("--timeout", type=float, default=30.0, help="ab -s: seconds to wait for each response (30)")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait until URL answers at all (30)")
    p.add_argument("--json", action="store_true", help="print only the JSON result")
    return p


def main(argv: list[str]) -> int:
    parser = _parser()
    ns = parser.parse_args(argv)
    if ns.requests < 1 or ns.concurrency < 1 or ns.concurrency > ns.requests:
        parser.error("need 1 <= -c <= -n")
    if ns.timeout < 0 or ns.wait < 0:
        parser.error("--timeout and --wait must be >= 0")
    try:
        url = scenario_url(ns.url, ns.scenario)
    except ValueError as err:
        parser.error(str(err))
    post_file = Path(ns.post_file) if ns.post_file else (SAMPLE_IMAGE if ns.scenario == "predict" else None)
    config = BenchConfig(
        url=url,
        scenario=ns.scenario,
        post_file=post_file,
        content_type=ns.content_type,
        requests=ns.requests,
        concurrency=ns.concurrency,
        keep_alive=ns.keep_alive,
        timeout_s=ns.timeout,
        wait_s=ns.wait,
    )

    def log(message: str) -> None:
        if not ns.json:
            print(f"modelviz bench: {message}", file=sys.stderr, flush=True)

    with terminate_on_signals() as guard:
        result = run(config, log=log)
        guard.disarm()
    if not ns.json:
        print(format_table(result))
    print(encode(result), flush=True)
    return exit_code(result)
