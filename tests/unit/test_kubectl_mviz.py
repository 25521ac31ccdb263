"""kubectl mviz's pure parts: run ids the API accepts, tables, ages, flags before or after the subcommand."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from modelviz_cli import _tables, kubectl_mviz
from modelviz_cli._tables import age, run_row, table, targets_text
from modelviz_operator.api import BenchmarkSpec


def test_fresh_run_ids_are_valid_unique_and_sortable() -> None:
    pattern = BenchmarkSpec.model_json_schema()["properties"]["runId"]["pattern"]
    first = kubectl_mviz.fresh_run_id(datetime(2026, 12, 1, 9, 5, 7, tzinfo=UTC))
    assert first.startswith("20261201-090507-") and re.match(pattern, first) and len(first) <= 63
    assert kubectl_mviz.fresh_run_id() != kubectl_mviz.fresh_run_id()


def test_global_flags_before_or_after_the_subcommand() -> None:
    parser = kubectl_mviz._parser()
    before = parser.parse_args(["-n", "shop", "--context", "prod", "status", "imagenet"])
    after = parser.parse_args(["status", "imagenet", "-n", "shop", "--context", "prod"])
    for args in (before, after):
        assert (args.namespace, args.context, args.name) == ("shop", "prod", "imagenet")
    assert parser.parse_args(["status", "-A"]).all_namespaces is True
    assert parser.parse_args(["-A", "status"]).all_namespaces is True
    assert parser.parse_args(["status"]).all_namespaces is False
    bench = parser.parse_args(["bench", "imagenet", "--scenario", "upload", "--wait", "--kubeconfig", "/k"])
    assert (bench.scenario, bench.wait, bench.kubeconfig) == ("upload", True, "/k")


def test_tables_and_rows() -> None:
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    assert [age(s, now) for s in ("2026-12-01T11:59:55Z", "2026-12-01T11:57:00Z", "2026-12-01T09:00:00Z")] == [
        "5s",
        "3m",
        "3h",
    ]
    run = {"runId": "r1", "phase": "Succeeded", "rps": 850.25, "p50Ms": 40, "p99Ms": 170.0, "passed": False}
    row = run_row(run)
    assert row[:3] == ["r1", "Succeeded", "850.2"] and row[7] == "missed"
    assert run_row({"runId": "r2", "phase": "Failed", "reason": "JobFailed"})[7] == "failed: JobFailed"
    assert targets_text({"benchmark": {"targets": {"minRps": 850, "maxP99Ms": 175}}}) == "rps >= 850, p99 <= 175 ms"
    assert targets_text({}) == "none"
    text = table(["A", "LONGER"], [["xyz", "1"], ["", "22"]])
    assert text.splitlines() == ["A     LONGER", "xyz   1", "      22"]


def test_quality_in_the_list_and_the_detail() -> None:
    evaluation = {
        "hash": "h",
        "phase": "Succeeded",
        "eceBins": 15,
        "bestTop1": 0.8125,
        "bestModel": "b",
        "passed": False,
        "models": [
            {"name": "a", "images": 2000, "top1": 0.75, "top5": 0.95, "ece": 0.0412, "macroF1": 0.7312,
             "worstClass": "shirt", "worstClassRecall": 0.4, "passed": False},
            {"name": "b", "images": 2000, "top1": 0.8125, "top5": 0.99, "ece": 0.02, "macroF1": 0.8, "passed": True},
            {"name": "c", "error": "cannot read /models/c.keras"},
        ],
    }  # fmt: skip
    obj = {
        "metadata": {"name": "viz", "namespace": "team", "generation": 2},
        "spec": {"evaluation": {"targets": {"minTop1": 0.8}}},
        "status": {
            "evaluation": evaluation,
            "conditions": [{"type": "QualityPassed", "status": "False", "reason": "TargetMissed",
                            "message": "model a: top-1 0.75 below minTop1 0.8"}],
        },
    }  # fmt: skip
    text = kubectl_mviz._detail(obj)
    section = text[text.index("Quality (missed; ECE over 15 bins):") :].splitlines()
    assert section[1].split() == [
        "MODEL",
        "IMAGES",
        "TOP-1",
        "TOP-5",
        "ECE",
        "MACRO",
        "F1",
        "WORST",
        "CLASS",
        "(RECALL)",
        "RESULT",
    ]
    assert section[2].split() == ["a", "2000", "75.0%", "95.0%", "0.041", "0.731", "shirt", "(40.0%)", "missed"]
    assert section[4].split() == ["c", "-", "-", "-", "-", "-", "-", "error"]
    assert "c: cannot read /models/c.keras" in text and "model a: top-1 0.75 below minTop1 0.8" in text
    assert "not evaluated" in kubectl_mviz._detail({"metadata": obj["metadata"], "spec": {}, "status": {}})
    assert _tables.quality_text(evaluation) == "missed" and _tables.quality_text({}) == "-"
    assert _tables.quality_text({"phase": "Failed", "reason": "ModelLoadFailed"}) == "failed: ModelLoadFailed"
    assert _tables.pct(True) == "-" and _tables.pct(0.5) == "50.0%"
