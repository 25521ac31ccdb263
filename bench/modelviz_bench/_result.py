"""The runner's one JSON document: compact, camelCase, and never over Kubernetes' 4 KiB termination message cap."""

from __future__ import annotations

import json
from typing import Any

from .parse import AbReport

__all__ = ["EXIT_CODES", "MAX_BYTES", "REASONS", "encode", "figures", "judge"]

MAX_BYTES = 4096

# reason -> process exit code; "ok" results exit 0. Distinct codes let a Job's exit code alone tell the fault.
EXIT_CODES: dict[str, int] = {
    "InvalidArguments": 2,
    "Non2xxResponses": 3,
    "RequestsFailed": 4,
    "EmptyResponses": 5,
    "ServiceNotReady": 10,
    "AbMissing": 11,
    "AbFailed": 12,
    "Timeout": 13,
    "UnparsableOutput": 14,
    "Terminated": 143,  # 128 + SIGTERM, as a shell would report it
}
REASONS = tuple(EXIT_CODES)

# Text fields that may be cut to fit, longest-lived first to go.
_SHRINKABLE = ("stderrTail", "stdoutTail", "message", "abErrors", "serverSoftware", "url")


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def figures(report: AbReport) -> dict[str, Any]:
    """The measured figures of a parsed report, in the contract's key names."""
    doc: dict[str, Any] = {
        "rps": _r(report.rps),
        "meanMs": _r(report.mean_ms),
        "p50Ms": _r(report.p50_ms),
        "p90Ms": _r(report.p90_ms),
        "p95Ms": _r(report.p95_ms),
        "p99Ms": _r(report.p99_ms),
        "maxMs": _r(report.max_ms),
        "complete": report.complete,
        "failed": report.failed,
        "non2xx": report.non_2xx,
        "keepAliveRequests": report.keep_alive,
        "transferKBps": _r(report.transfer_kbps),
        "timeTakenSeconds": _r(report.time_taken_s),
        "serverSoftware": report.server_software,
    }
    if report.failed:
        f = report.failures
        doc["failures"] = {"connect": f.connect, "receive": f.receive, "length": f.length, "exceptions": f.exceptions}
    return doc


def judge(report: AbReport) -> tuple[str, str] | None:
    """(reason, message) if the run shows a fault, else None."""
    if report.non_2xx:
        return "Non2xxResponses", f"{report.non_2xx} of {report.complete} responses were not 2xx"
    if report.failed:
        f = report.failures
        return "RequestsFailed", (
            f"{report.failed} requests failed (connect {f.connect}, receive {f.receive}, "
            f"length {f.length}, exceptions {f.exceptions})"
        )
    if report.complete and report.total_transferred == 0:
        # ab counts a connection closed without any answer as a complete request; nothing was served.
        return "EmptyResponses", f"{report.complete} requests got no bytes back (connections closed unanswered)"
    return None


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def encode(doc: dict[str, Any]) -> str:
    """Serialise ``doc`` compactly, cutting text fields (from their start, keeping the tail) to fit MAX_BYTES."""
    text = _dump(doc)
    if len(text.encode()) <= MAX_BYTES:
        return text
    doc = dict(doc)
    for key in _SHRINKABLE:
        value = doc.get(key)
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value)
        if not isinstance(value, str):
            continue
        while value:
            excess = len(_dump(doc).encode()) - MAX_BYTES
            if excess <= 0:
                return _dump(doc)
            # Escaped characters take several bytes, so cutting ``excess`` characters may not be enough: loop.
            value = value[min(len(value), excess + 3) :]
            doc[key] = "..." + value if value else ""
    text = _dump(doc)
    if len(text.encode()) > MAX_BYTES:
        # Unreachable with the fields the runner sets; drop every free-text field rather than break the cap.
        text = _dump({k: v for k, v in doc.items() if k not in _SHRINKABLE})
    return text
