"""The export files (per-image predictions, metrics report) against scikit-learn on the tiny models' predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelviz_app._export import metrics_frame, predictions_frame, report_json
from tests.app.export_checks import _state, check_predictions_csv, check_report


def test_export_files_match_scikit_learn(tiny, tmp_path: Path) -> None:
    state = _state(tiny)
    check_predictions_csv(predictions_frame(state).to_csv(index=False), state)
    report = json.loads(report_json(state))
    check_report(report, state)
    assert report["dataset"]["images"] == 24 and report["title"] == "tiny"
    flat = metrics_frame(state)
    macro = flat[(flat["model"] == "colour-mean") & (flat["scope"] == "macro") & (flat["metric"] == "F1")]
    assert float(macro["value"].iloc[0]) == pytest.approx(report["models"]["colour-mean"]["averages"]["macro"]["F1"])
