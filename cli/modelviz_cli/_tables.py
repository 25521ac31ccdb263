"""Plain-text tables and the fields of a ModelVisualizer's status they show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "QUALITY_HEADER",
    "RUN_HEADER",
    "age",
    "condition",
    "fmt",
    "pct",
    "quality_rows",
    "quality_text",
    "result_text",
    "run_row",
    "table",
    "targets_text",
]

RUN_HEADER = ("RUN", "PHASE", "RPS", "P50", "P90", "P99", "FAILED", "RESULT", "COMPLETED")
QUALITY_HEADER = ("MODEL", "IMAGES", "TOP-1", "TOP-5", "ECE", "MACRO F1", "WORST CLASS (RECALL)", "RESULT")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, like kubectl's."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "   ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in (header, *rows)
    ]
    return "\n".join(lines)


def fmt(value: Any, digits: int = 0) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def age(stamp: str | None, now: datetime | None = None) -> str:
    """kubectl-style age of an RFC 3339 timestamp (5s, 3m, 2h, 4d)."""
    if not stamp:
        return "-"
    then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size or (unit == "m" and seconds >= size):
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def result_text(run: dict[str, Any]) -> str:
    if run.get("phase") not in ("Succeeded", "Failed"):
        return "-"
    if run.get("phase") == "Failed":
        return f"failed: {run.get('reason') or 'see message'}"
    passed = run.get("passed")
    return "passed" if passed is True else "missed" if passed is False else "no targets"


def run_row(run: dict[str, Any]) -> list[str]:
    return [
        fmt(run.get("runId")),
        fmt(run.get("phase")),
        fmt(run.get("rps"), 1),
        fmt(run.get("p50Ms")),
        fmt(run.get("p90Ms")),
        fmt(run.get("p99Ms")),
        fmt(run.get("failedRequests")),
        result_text(run),
        age(run.get("completedAt")),
    ]


def targets_text(spec: dict[str, Any]) -> str:
    targets = (spec.get("benchmark") or {}).get("targets") or {}
    parts = []
    if targets.get("minRps") is not None:
        parts.append(f"rps >= {targets['minRps']:g}")
    if targets.get("maxP99Ms") is not None:
        parts.append(f"p99 <= {targets['maxP99Ms']:g} ms")
    return ", ".join(parts) or "none"


def pct(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def quality_text(evaluation: dict[str, Any]) -> str:
    """One word for status.evaluation, as kubectl get mviz -o wide's QUALITY column."""
    phase = evaluation.get("phase")
    if not phase:
        return "-"
    if phase != "Succeeded":
        return str(phase) if phase != "Failed" else f"failed: {evaluation.get('reason') or 'see message'}"
    passed = evaluation.get("passed")
    return "passed" if passed is True else "missed" if passed is False else "no targets"


def quality_rows(evaluation: dict[str, Any]) -> list[list[str]]:
    rows = []
    for model in evaluation.get("models") or []:
        worst = model.get("worstClass")
        recall = model.get("worstClassRecall")
        passed = model.get("passed")
        result = "error" if model.get("error") else {True: "passed", False: "missed"}.get(passed, "-")
        rows.append(
            [
                fmt(model.get("name")),
                fmt(model.get("images")),
                pct(model.get("top1")),
                pct(model.get("top5")),
                fmt(model.get("ece"), 3),
                fmt(model.get("macroF1"), 3),
                f"{worst} ({pct(recall)})" if worst else "-",
                result,
            ]
        )
    return rows
