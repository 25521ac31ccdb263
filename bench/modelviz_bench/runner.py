"""Run Apache Bench once against a URL and turn the outcome into one JSON result.

    python -m modelviz_bench --url URL [--scenario page|health|predict] [--requests 5000] [--concurrency 50]
                             [--keep-alive] [--timeout 30] [--wait 300] [--post-file PATH] [--content-type TYPE]
                             [--output PATH]

Scenarios: ``page`` (default) requests URL itself; ``health`` requests ``/_stcore/health`` and ``predict`` POSTs an
image (``--post-file``, default the sample photo shipped in this package, ``data/sample.jpg``) to
``/api/v1/predict``, both under URL's path (the app's base URL).

1. Wait (at most --wait seconds, backoff 0.25 s doubling to 5 s) until URL answers HTTP with any status.
2. Run ``ab -q -r -n N -c C [-k] -s TIMEOUT [-p FILE -T TYPE -l] URL`` (a URL without a path gets ``/``).
3. Print ONE compact JSON line (<= 4096 bytes: Kubernetes' termination message cap) on stdout and write it to
   --output (default ``/dev/termination-log`` when it exists and is writable; progress goes to stderr).

Success, exit 0::

    {"ok": true, "url", "scenario", "requests", "concurrency", "keepAlive", "waitedSeconds", "rps", "meanMs",
     "p50Ms", "p90Ms", "p95Ms", "p99Ms", "maxMs", "complete", "failed", "non2xx", "keepAliveRequests", "transferKBps",
     "timeTakenSeconds", "serverSoftware"}

Fault, exit code per reason (see ``_result.EXIT_CODES``)::

    {"ok": false, "reason", "message", "url", "scenario", "requests", "concurrency", "keepAlive", ...figures if any}

Reasons: InvalidArguments (2), Non2xxResponses (3), RequestsFailed (4, adds "failures": {connect, receive,
length, exceptions}), EmptyResponses (5), ServiceNotReady (10), AbMissing (11), AbFailed (12, adds "stderrTail",
"abErrors", "complete" when ab said), Timeout (13: a response took longer than --timeout; same extras),
UnparsableOutput (14), Terminated (143: SIGTERM/SIGINT; ab is stopped and its figures so far are included).
Latency figures are null when ab printed no percentile table (a single request).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from ._probe import wait_until_answering
from ._result import EXIT_CODES, encode, figures, judge
from .parse import ParseError, parse_abort, parse_report

__all__ = [
    "DEFAULT_OUTPUT",
    "SAMPLE_IMAGE",
    "SCENARIOS",
    "BenchConfig",
    "Terminated",
    "build_ab_command",
    "default_output",
    "exit_code",
    "main",
    "normalize_url",
    "parse_args",
    "run",
    "scenario_url",
    "terminate_on_signals",
    "write_result",
]

DEFAULT_OUTPUT = Path("/dev/termination-log")
SCENARIOS = ("page", "health", "predict")
# A real photo (224x224 JPEG, 15 KB): what a client of the prediction API sends.
SAMPLE_IMAGE = Path(__file__).resolve().parent / "data" / "sample.jpg"
_SCENARIO_PATHS = {"health": "/_stcore/health", "predict": "/api/v1/predict"}
# ab refuses more (its MAX_CONCURRENCY); checking here turns ab's usage text into a clear InvalidArguments.
_AB_MAX_CONCURRENCY = 20000
_STDERR_TAIL_CHARS = 1500
_KILL_GRACE_S = 2.0


class Terminated(Exception):
    """Raised in the main thread when SIGTERM/SIGINT arrives (e.g. the Job's activeDeadlineSeconds)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _UsageError(Exception):
    pass


@dataclass(frozen=True)
class BenchConfig:
    url: str
    requests: int = 5000
    concurrency: int = 50
    keep_alive: bool = False
    timeout_s: float = 30.0
    wait_s: float = 300.0
    output: Path | None = None
    scenario: str = "page"
    post_file: Path | None = None  # the body ab POSTs (predict)
    content_type: str = "image/jpeg"


def normalize_url(url: str) -> str:
    """Check ``url`` is http(s)://host[:port][/path] and give it the path ab insists on (``/`` at least)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {url!r}")
    if parts.fragment:
        parts = parts._replace(fragment="")
    if not parts.path:
        parts = parts._replace(path="/")
    return urllib.parse.urlunsplit(parts)


def scenario_url(url: str, scenario: str) -> str:
    """The URL a scenario requests: ``url`` itself for ``page``, else its endpoint under ``url``'s path."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
    suffix = _SCENARIO_PATHS.get(scenario)
    parts = urllib.parse.urlsplit(normalize_url(url))
    if suffix is None or parts.path.endswith(suffix):
        return urllib.parse.urlunsplit(parts)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix))


def build_ab_command(config: BenchConfig, ab: str = "ab") -> list[str]:
    # -q: no "Completed N requests" progress lines, so the stderr tail holds ab's actual complaint.
    # -r: count receive errors (resets, refused connections mid-run) as failed requests instead of aborting,
    #     so a flaky service still yields figures.
    cmd = [ab, "-q", "-r", "-n", str(config.requests), "-c", str(config.concurrency)]
    if config.keep_alive:
        cmd.append("-k")
    if config.post_file is not None:
        cmd += ["-p", str(config.post_file), "-T", config.content_type]
    if config.scenario == "predict":
        # -l: answers differ in length (probabilities, timings); ab would count every one as a Length failure.
        cmd.append("-l")
    # ab's -s takes whole seconds.
    cmd += ["-s", str(max(1, round(config.timeout_s))), config.url]
    return cmd


def exit_code(result: dict[str, Any]) -> int:
    return 0 if result.get("ok") else EXIT_CODES.get(str(result.get("reason")), 1)


def default_output() -> Path | None:
    """``/dev/termination-log`` when it exists and is writable (in a Kubernetes container), else nothing."""
    if DEFAULT_OUTPUT.exists() and os.access(DEFAULT_OUTPUT, os.W_OK):
        return DEFAULT_OUTPUT
    return None


class _SignalGuard:
    """While armed, SIGTERM and SIGINT raise ``Terminated``; once disarmed they are ignored (result being written)."""

    def __init__(self) -> None:
        self.armed = True

    def disarm(self) -> None:
        self.armed = False

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        if self.armed:
            self.armed = False  # a second signal must not interrupt the clean-up of the first
            raise Terminated(signum)


@contextmanager
def terminate_on_signals() -> Iterator[_SignalGuard]:
    """Turn SIGTERM and SIGINT into ``Terminated`` in the main thread for the duration of the block."""
    guard = _SignalGuard()
    previous = {sig: signal.signal(sig, guard) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield guard
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _tail(text: str, limit: int = _STDERR_TAIL_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


class _AbInterrupted(Exception):
    """``Terminated`` while ab ran, with what ab printed before it stopped."""

    def __init__(self, cause: Terminated, stdout: str, stderr: str) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.stdout = stdout
        self.stderr = stderr


def _interrupt(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop ab and collect its output.

    ab answers SIGINT by printing its report for the requests done so far, so try that first; SIGKILL if it
    lingers. Always reaps ab.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        # Popen keeps what the interrupted communicate() had already read, so this returns all of it.
        stdout, stderr = proc.communicate(timeout=_KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    return stdout or "", stderr or ""


def _run_ab(cmd: list[str], log: Callable[[str], None]) -> tuple[int, str, str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    log(f"ab pid {proc.pid}: {' '.join(cmd)}")
    try:
        stdout, stderr = proc.communicate()
    except Terminated as err:
        # E.g. the Job hit activeDeadlineSeconds: never leave ab running, and keep its partial figures.
        raise _AbInterrupted(err, *_interrupt(proc)) from err
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc.returncode, stdout, stderr


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"ab was killed by {name}"
    return f"ab exited with code {returncode}"


def run(config: BenchConfig, *, log: Callable[[str], None] = lambda _msg: None) -> dict[str, Any]:
    """Wait for the URL, run ab, and return the result document.

    A ``Terminated`` raised while waiting or while ab runs (see ``terminate_on_signals``) becomes a
    ``Terminated`` result, with ab's figures so far when it managed to print them.
    """
    base: dict[str, Any] = {
        "url": config.url,
        "scenario": config.scenario,
        "requests": config.requests,
        "concurrency": config.concurrency,
        "keepAlive": config.keep_alive,
    }

    def fault(reason: str, message: str, **extra: Any) -> dict[str, Any]:
        return {"ok": False, "reason": reason, "message": message, **base, **extra}

    ab = shutil.which("ab")
    if ab is None:
        return fault("AbMissing", "ab (Apache Bench, Debian package apache2-utils) is not on PATH")
    if config.post_file is not None and not config.post_file.is_file():
        return fault("InvalidArguments", f"--post-file {config.post_file} is not a readable file")

    try:
        log(f"waiting up to {config.wait_s:g}s for {config.url} to answer")
        probe = wait_until_answering(config.url, config.wait_s, log=log)
        base["waitedSeconds"] = round(probe.waited_s, 3)
        if not probe.ok:
            return fault(
                "ServiceNotReady",
                f"{config.url} did not answer HTTP within {config.wait_s:g}s "
                f"({probe.attempts} attempts; last error: {probe.last_error})",
            )
        log(f"{config.url} answered HTTP {probe.status} after {probe.waited_s:.2f}s")
        started = time.monotonic()
        returncode, stdout, stderr = _run_ab(build_ab_command(config, ab), log)
        log(f"ab finished in {time.monotonic() - started:.2f}s with code {returncode}")
    except Terminated as err:
        return fault("Terminated", f"received {err} while waiting for {config.url}")
    except _AbInterrupted as err:
        partial: dict[str, Any] = {}
        # No figures when ab was killed before it could print its report.
        with contextlib.suppress(ParseError):
            partial = figures(parse_report(err.stdout))
        return fault("Terminated", f"received {err.cause}; ab was stopped part-way", **partial)

    if returncode != 0:
        abort = parse_abort(stdout, stderr)
        extra: dict[str, Any] = {"stderrTail": _tail(stderr)}
        if abort.completed is not None:
            extra["complete"] = abort.completed
        if abort.errors:
            extra["abErrors"] = list(abort.errors[-3:])
        if abort.timed_out:
            return fault(
                "Timeout",
                f"a response took longer than {config.timeout_s:g}s (ab -s); {_describe_exit(returncode)}",
                **extra,
            )
        detail = f": {abort.errors[-1]}" if abort.errors else ""
        return fault("AbFailed", f"{_describe_exit(returncode)}{detail}", **extra)

    try:
        report = parse_report(stdout)
    except ParseError as err:
        return fault("UnparsableOutput", str(err), stdoutTail=_tail(stdout, 600), stderrTail=_tail(stderr, 600))

    measured = figures(report)
    verdict = judge(report)
    if verdict is not None:
        return fault(verdict[0], verdict[1], **measured)
    return {"ok": True, **base, **measured}


def write_result(result: dict[str, Any], output: Path | None, *, log: Callable[[str], None]) -> str:
    """Print the encoded result on stdout and write it to ``output``; return the encoded text."""
    text = encode(result)
    if output is not None:
        try:
            output.write_text(text)
        except OSError as err:
            # The figures still reach stdout (the Job's log); losing the file must not hide them.
            log(f"could not write {output}: {err}")
    print(text, flush=True)
    return text


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return value


def _parser(prog: str) -> _Parser:
    p = _Parser(prog=prog, description="Wait for URL to answer, run Apache Bench (ab) once, emit one JSON result.")
    p.add_argument("--url", required=True, help="http(s)://host[:port][/path]; a bare host gets the path /")
    p.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="page",
        help="page: GET URL (default); health: GET URL's /_stcore/health; predict: POST an image to /api/v1/predict",
    )
    p.add_argument("--post-file", type=Path, default=None, help=f"predict: the body to POST (default {SAMPLE_IMAGE})")
    p.add_argument("--content-type", default="image/jpeg", help="predict: Content-Type of the body (image/jpeg)")
    p.add_argument("--requests", "-n", type=_positive_int, default=5000, help="ab -n (default 5000)")
    p.add_argument("--concurrency", "-c", type=_positive_int, default=50, help="ab -c (default 50)")
    p.add_argument("--keep-alive", "-k", action="store_true", help="ab -k (HTTP keep-alive)")
    p.add_argument("--timeout", type=_seconds, default=30.0, help="ab -s: seconds to wait for each response (30)")
    p.add_argument("--wait", type=_seconds, default=300.0, help="max seconds to wait until URL answers (300)")
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"file for the JSON result (default {DEFAULT_OUTPUT} if it exists and is writable, else none)",
    )
    return p


def parse_args(argv: list[str], prog: str = "python -m modelviz_bench") -> BenchConfig:
    """Parse the runner's arguments; raise ``ValueError`` with a readable message on bad ones."""
    try:
        ns = _parser(prog).parse_args(argv)
    except _UsageError as err:
        raise ValueError(str(err)) from err
    if ns.concurrency > ns.requests:
        raise ValueError(f"--concurrency ({ns.concurrency}) must not exceed --requests ({ns.requests})")
    if ns.concurrency > _AB_MAX_CONCURRENCY:
        raise ValueError(f"--concurrency must be <= {_AB_MAX_CONCURRENCY} (ab's limit)")
    post_file = ns.post_file if ns.post_file is not None else (SAMPLE_IMAGE if ns.scenario == "predict" else None)
    return BenchConfig(
        url=scenario_url(ns.url, ns.scenario),
        scenario=ns.scenario,
        post_file=post_file,
        content_type=ns.content_type,
        requests=ns.requests,
        concurrency=ns.concurrency,
        keep_alive=ns.keep_alive,
        timeout_s=ns.timeout,
        wait_s=ns.wait,
        output=ns.output if ns.output is not None else default_output(),
    )


def _log(message: str) -> None:
    print(f"modelviz-bench: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        _parser("python -m modelviz_bench").print_help()
        return 0
    with terminate_on_signals() as guard:
        try:
            config = parse_args(args)
        except ValueError as err:
            guard.disarm()
            result: dict[str, Any] = {"ok": False, "reason": "InvalidArguments", "message": str(err)}
            write_result(result, default_output(), log=_log)
            return exit_code(result)
        result = run(config, log=_log)
        guard.disarm()
        write_result(result, config.output, log=_log)
    return exit_code(result)
