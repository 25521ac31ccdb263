"""Parse Apache Bench (``ab`` 2.3) text output into typed results.

``parse_report`` reads the full report ab prints on stdout after a finished run; ``parse_abort`` reads what
ab leaves behind when it gives up part-way (``apr_...: <message> (<code>)`` on stderr and, once some
requests are done, ``Total of N requests completed`` on stdout).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PERCENTILES", "AbAbort", "AbReport", "FailureBreakdown", "ParseError", "parse_abort", "parse_report"]

# The rows of ab's "Percentage of the requests served within a certain time (ms)" table; 100 is the maximum.
PERCENTILES = (50, 66, 75, 80, 90, 95, 98, 99, 100)


class ParseError(ValueError):
    """ab's output is not a report this parser understands (ab crashed, was cut off, or changed format)."""


@dataclass(frozen=True)
class FailureBreakdown:
    """ab's "(Connect: a, Receive: b, Length: c, Exceptions: d)" line; all zero when ab omits it."""

    connect: int = 0
    receive: int = 0
    length: int = 0
    exceptions: int = 0


@dataclass(frozen=True)
class AbReport:
    """One finished ab run. Times in milliseconds unless the name says otherwise.

    Figures that ab leaves out (no percentile table for a single request, no rates when nothing completed)
    are ``None``.
    """

    server_software: str
    server_hostname: str
    server_port: int
    document_path: str
    document_length: int
    concurrency: int
    time_taken_s: float
    complete: int
    failed: int
    failures: FailureBreakdown
    write_errors: int
    non_2xx: int
    keep_alive: int
    total_transferred: int
    html_transferred: int
    rps: float | None
    mean_ms: float | None
    mean_across_ms: float | None
    transfer_kbps: float | None
    p50_ms: float | None
    p66_ms: float | None
    p75_ms: float | None
    p80_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p98_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass(frozen=True)
class AbAbort:
    """What ab printed when it stopped early: its ``apr_*`` errors and how many requests it had completed."""

    errors: tuple[str, ...]
    completed: int | None
    timed_out: bool
    connection_refused: bool


_NUM = r"([0-9]+(?:\.[0-9]+)?)"
# Lines are "Label:<spaces>value"; ab pads labels to a fixed column but only the colon matters.
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9 /-]*?):[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_FAILURES = re.compile(
    r"^\s*\(Connect: ([0-9]+), Receive: ([0-9]+), Length: ([0-9]+), Exceptions: ([0-9]+)\)\s*$", re.MULTILINE
)
_PERCENT_ROW = re.compile(r"^\s*([0-9]+)%\s+([0-9]+(?:\.[0-9]+)?)(?:\s+\(longest request\))?\s*$", re.MULTILINE)
_TIME_PER_REQUEST = re.compile(
    r"^Time per request:\s+" + _NUM + r" \[ms\] \(mean(, across all concurrent requests)?\)", re.M
)
_APR_ERROR = re.compile(r"^(apr_[A-Za-z_]+(?:\(\))?: .+? \(([0-9]+)\))\s*$", re.MULTILINE)
# With -q this follows "Benchmarking host (be patient)..." on the same line, so no ^ anchor.
_TOTAL_COMPLETED = re.compile(r"Total of ([0-9]+) requests completed\s*$", re.MULTILINE)
# APR status codes ab reports for these two; 70007 is APR_TIMEUP (the -s timeout), 111 is ECONNREFUSED.
_APR_TIMEUP = "70007"
_ECONNREFUSED = "111"


def _fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for label, value in _FIELD.findall(text):
        # "Time per request" appears twice; it is read separately, so keeping the first is fine.
        out.setdefault(label, value)
    return out


def _number(fields: dict[str, str], label: str, pattern: str, *, required: bool) -> float | None:
    raw = fields.get(label)
    if raw is None:
        if required:
            raise ParseError(f"ab report has no {label!r} line")
        return None
    m = re.fullmatch(pattern, raw)
    if m is None:
        raise ParseError(f"ab report line {label!r} has an unexpected value: {raw!r}")
    return float(m.group(1))


def _int(fields: dict[str, str], label: str, pattern: str = r"([0-9]+)", *, required: bool = False) -> int:
    value = _number(fields, label, pattern, required=required)
    return 0 if value is None else int(value)


def parse_report(text: str) -> AbReport:
    """Parse ab's stdout from a finished run; raise ``ParseError`` if it is not a complete report."""
    if not isinstance(text, str) or "Complete requests:" not in text:
        raise ParseError("no ab report in the output (no 'Complete requests:' line)")
    fields = _fields(text)

    failures = FailureBreakdown()
    m = _FAILURES.search(text)
    if m is not None:
        failures = FailureBreakdown(*(int(g) for g in m.groups()))

    mean_ms: float | None = None
    mean_across_ms: float | None = None
    for value, across in _TIME_PER_REQUEST.findall(text):
        if across:
            mean_across_ms = float(value)
        else:
            mean_ms = float(value)

    percentiles: dict[int, float] = {}
    table_at = text.find("Percentage of the requests served within a certain time")
    if table_at >= 0:
        for pct, ms in _PERCENT_ROW.findall(text[table_at:]):
            percentiles[int(pct)] = float(ms)
        missing = [p for p in PERCENTILES if p not in percentiles]
        if missing:
            raise ParseError(f"ab percentile table is incomplete (missing {missing})")

    complete = _int(fields, "Complete requests", required=True)
    failed = _int(fields, "Failed requests", required=True)
    return AbReport(
        server_software=fields.get("Server Software", ""),
        server_hostname=fields.get("Server Hostname", ""),
        server_port=_int(fields, "Server Port"),
        document_path=fields.get("Document Path", ""),
        # ``Variable`` with ab -l (answers of differing lengths): no single length to report.
        document_length=0
        if fields.get("Document Length") == "Variable"
        else _int(fields, "Document Length", r"([0-9]+) bytes"),
        concurrency=_int(fields, "Concurrency Level", required=True),
        time_taken_s=_number(fields, "Time taken for tests", _NUM + r" seconds", required=True) or 0.0,
        complete=complete,
        failed=failed,
        failures=failures,
        write_errors=_int(fields, "Write errors"),
        non_2xx=_int(fields, "Non-2xx responses"),
        keep_alive=_int(fields, "Keep-Alive requests"),
        total_transferred=_int(fields, "Total transferred", r"([0-9]+) bytes"),
        html_transferred=_int(fields, "HTML transferred", r"([0-9]+) bytes"),
        rps=_number(fields, "Requests per second", _NUM + r" \[#/sec\] \(mean\)", required=False),
        mean_ms=mean_ms,
        mean_across_ms=mean_across_ms,
        transfer_kbps=_number(fields, "Transfer rate", _NUM + r" \[Kbytes/sec\] received", required=False),
        p50_ms=percentiles.get(50),
        p66_ms=percentiles.get(66),
        p75_ms=percentiles.get(75),
        p80_ms=percentiles.get(80),
        p90_ms=percentiles.get(90),
        p95_ms=percentiles.get(95),
        p98_ms=percentiles.get(98),
        p99_ms=percentiles.get(99),
        max_ms=percentiles.get(100),
    )


def parse_abort(stdout: str, stderr: str) -> AbAbort:
    """Read the traces of a run ab gave up on (exit code non-zero, no report)."""
    errors = tuple(m.group(1) for m in _APR_ERROR.finditer(stderr))
    codes = {m.group(2) for m in _APR_ERROR.finditer(stderr)}
    m = _TOTAL_COMPLETED.search(stdout)
    return AbAbort(
        errors=errors,
        completed=int(m.group(1)) if m else None,
        timed_out=_APR_TIMEUP in codes,
        connection_refused=_ECONNREFUSED in codes,
    )
