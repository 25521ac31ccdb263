"""Gates: results that must be in, and good, before the resource counts as done (pure).

Two things gate a ModelVisualizer the same way: a benchmark run (``spec.benchmark``) and the evaluation of its models
(``spec.evaluation``). While a gate's result is pending or running the resource is Reconciling (kstatus InProgress,
Argo CD Progressing); a result that missed its targets, or a run that failed, makes it Stalled (kstatus Failed, Argo
CD Degraded), with the reason. :func:`modelviz_operator.status.gitops_conditions` reads :func:`gates_of`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .api import ModelVisualizerSpec
from .builders.evaluation import evaluation_hash

__all__ = ["Gate", "gates_of", "reconciling_for", "stalled_by"]


@dataclass(frozen=True)
class Gate:
    """One gating result: what it is called, where it is, and its verdict condition."""

    label: str  # "benchmark r1", "evaluation 1a2b3c4d"
    kind: str  # reason prefix: Benchmark, Evaluation
    missed_reason: str  # Stalled's reason when a target was missed
    phase: str | None  # Pending, Running, Succeeded, Failed (None: nothing recorded yet, i.e. pending)
    verdict: Mapping[str, Any] | None  # the BenchmarkPassed / QualityPassed condition

    @property
    def ended(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


def _benchmark(spec: ModelVisualizerSpec, run: Mapping[str, Any], verdict: Mapping[str, Any] | None) -> Gate | None:
    if spec.benchmark is None or not spec.benchmark.gating:
        return None
    label = f"benchmark {run.get('runId')}" if run.get("runId") else "benchmark"
    # A benchmark gates only once some run is recorded (a run waits for the visualizer, which is Reconciling anyway).
    phase = run.get("phase") if run else None
    return Gate(label, "Benchmark", "BenchmarkTargetMissed", phase, verdict) if phase else None


def _evaluation(spec: ModelVisualizerSpec, found: Mapping[str, Any], verdict: Mapping[str, Any] | None) -> Gate | None:
    if spec.evaluation is None or not spec.evaluation.gating:
        return None
    wanted = evaluation_hash(spec)
    current = found.get("hash") == wanted
    label = f"evaluation {wanted[:8]}"
    # Figures of other models or another dataset say nothing: until the current hash's evaluation ends, it is pending.
    phase = found.get("phase") if current else "Pending"
    return Gate(label, "Evaluation", "QualityTargetMissed", phase, verdict if current else None)


def gates_of(
    spec: ModelVisualizerSpec | None,
    conditions: Mapping[str, Mapping[str, Any]],
    benchmark: Mapping[str, Any] | None,
    evaluation: Mapping[str, Any] | None,
) -> list[Gate]:
    """The gates that apply to this spec (none while suspended: nothing runs then)."""
    if spec is None or spec.suspend:
        return []
    gates = [
        _benchmark(spec, benchmark or {}, conditions.get("BenchmarkPassed")),
        _evaluation(spec, evaluation or {}, conditions.get("QualityPassed")),
    ]
    return [g for g in gates if g is not None]


def stalled_by(gates: Sequence[Gate]) -> tuple[str, str] | None:
    """(reason, message) of the first gate that ended without passing."""
    for gate in gates:
        verdict = gate.verdict
        if gate.ended and verdict is not None and verdict.get("status") == "False":
            why = gate.missed_reason if verdict.get("reason") == "TargetMissed" else f"{gate.kind}Failed"
            return why, f"{gate.label} gates this resource and did not pass: {verdict.get('message', '')}"
    return None


def reconciling_for(gates: Sequence[Gate]) -> tuple[str, str] | None:
    """(reason, message) of the first gate still waiting for its result."""
    for gate in gates:
        if not gate.ended:
            phase = gate.phase or "Pending"
            return f"{gate.kind}{phase}", f"{gate.label} gates this resource and is {phase.lower()}"
    return None
