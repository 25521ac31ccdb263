"""Export: per-image predictions of every model and the metrics report, as CSV and JSON."""

from __future__ import annotations

import streamlit as st

from modelviz_app._export import metrics_frame, predictions_frame, report_json
from modelviz_app._ui import page_header

state = page_header("Export")
st.markdown(
    "The same numbers the pages show, for a notebook or a spreadsheet: class ids (ImageNet wnids or labels) beside "
    "their display names."
)
stem = (state.config.title or "modelviz").lower().replace(" ", "-")[:40]
predictions = predictions_frame(state)
c1, c2, c3, c4 = st.columns(4)
c1.download_button(
    "Predictions (CSV)",
    predictions.to_csv(index=False),
    f"{stem}-predictions.csv",
    "text/csv",
    icon=":material/download:",
    help="One row per image: true class, each model's top-5 and probabilities",
)
c2.download_button(
    "Predictions (JSON)",
    predictions.to_json(orient="records"),
    f"{stem}-predictions.json",
    "application/json",
    icon=":material/download:",
)
c3.download_button(
    "Metrics report (JSON)", report_json(state), f"{stem}-metrics.json", "application/json", icon=":material/download:"
)
c4.download_button(
    "Metrics report (CSV)",
    metrics_frame(state).to_csv(index=False),
    f"{stem}-metrics.csv",
    "text/csv",
    icon=":material/download:",
)
st.caption(f"{len(predictions):,} images · {len(predictions.columns)} columns")
st.dataframe(predictions.head(200), hide_index=True)
