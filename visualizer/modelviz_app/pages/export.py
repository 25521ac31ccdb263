"""Export: per-image predictions of every model and the metrics report, as CSV and JSON."""

from __future__ import annotations

import re

import numpy as np
import streamlit as st

from modelviz_app._export import csv_text, metrics_frame, predictions_frame, report_json
from modelviz_app._ui import page_header

state = page_header("Export")
assert state.dataset is not None
st.markdown(
    "The same numbers the pages show, for a notebook or a spreadsheet: class ids (ImageNet wnids or labels) beside "
    "their display names."
)
# A file name every browser and file system keeps: a title's "/", ":" or quotes would be mangled or refused.
stem = re.sub(r"[^a-z0-9._-]+", "-", (state.config.title or "").lower()).strip("-.")[:40] or "modelviz"
# Files are built when a button is pressed (50,000 images make a 30 MB CSV), not on every rerun.
downloads = [
    ("Predictions (CSV)", lambda: csv_text(predictions_frame(state)), "predictions.csv", "text/csv"),
    ("Predictions (JSON)", lambda: predictions_frame(state).to_json(orient="records"), "predictions.json",
     "application/json"),
    ("Metrics report (JSON)", lambda: report_json(state), "metrics.json", "application/json"),
    ("Metrics report (CSV)", lambda: csv_text(metrics_frame(state)), "metrics.csv", "text/csv"),
]  # fmt: skip
for column, (label, data, name, mime) in zip(st.columns(len(downloads)), downloads, strict=True):
    column.download_button(label, data, f"{stem}-{name}", mime, icon=":material/download:", on_click="ignore")
preview = predictions_frame(state, np.arange(min(200, len(state.dataset))))
st.caption(
    f"Predictions: {len(state.dataset):,} rows (one per image: true class, each model's top-5 and their "
    f"probabilities), {len(preview.columns)} columns; the first {len(preview)} below."
)
st.dataframe(preview, hide_index=True)
