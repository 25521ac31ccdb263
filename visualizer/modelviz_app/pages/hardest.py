"""Hardest examples: images sorted by loss (or true-class probability), with suspected label errors tagged and
exportable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from modelviz_app._export import csv_text
from modelviz_app._gallery import gallery
from modelviz_app._ui import page_header

state = page_header("Hardest examples")
assert state.dataset is not None and state.space is not None
names, views, space = state.names, state.views, state.space
truth = state.dataset.labels

c1, c2, c3 = st.columns(3)
scope = c1.selectbox("Model", [*names, "all models (mean)"], help="Whose loss ranks the images")
order = c2.selectbox("Sort by", ["loss (highest first)", "true-class probability (lowest first)"])
agree = c3.slider(
    "Suspected label error: every model predicts the same other class with at least",
    0.5,
    1.0,
    0.7,
    0.05,
    help="Confident, unanimous disagreement with the label is the classic sign of a mislabelled image",
)
chosen = list(views.values()) if scope.startswith("all models") else [views[scope]]
loss = np.mean([v.loss for v in chosen], axis=0)
p_true = np.mean([v.p_true for v in chosen], axis=0)
first = next(iter(views.values()))
unanimous = np.logical_and.reduce([v.pred == first.pred for v in views.values()])
confident = np.logical_and.reduce([v.confidence >= agree for v in views.values()])
suspect = unanimous & confident & (first.pred != truth)
ranking = np.argsort(-loss, kind="stable") if order.startswith("loss") else np.argsort(p_true, kind="stable")

only_suspects = st.toggle(f"Only suspected label errors ({int(suspect.sum()):,})", value=False)
if only_suspects:
    ranking = ranking[suspect[ranking]]
top = ranking[:500]  # the table shows the hardest 500; the gallery pages through all
table = pd.DataFrame(
    {
        "image": [state.dataset.ids[i] for i in top],
        "true": [space.names[truth[i]] for i in top],
        "loss": loss[top],
        "p(true)": p_true[top],
        **{f"{v.name} predicts": [space.names[c] for c in v.pred[top]] for v in chosen},
        **{f"{v.name} confidence": v.confidence[top] for v in chosen},
        "suspected label error": suspect[top],
    }
)
st.caption(f"{len(ranking):,} images; the table lists the first {len(table)}")
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "image": st.column_config.TextColumn(pinned=True),
        "loss": st.column_config.NumberColumn(format="%.3f"),
        "p(true)": st.column_config.NumberColumn(format="percent"),
    }
    | {f"{v.name} confidence": st.column_config.NumberColumn(format="percent") for v in chosen},
)
suspects = np.flatnonzero(suspect)
image_ids = state.dataset.ids


def _suspects_csv() -> str:
    return csv_text(
        pd.DataFrame(
            {
                "image": [image_ids[i] for i in suspects],
                "label_id": [space.keys[truth[i]] for i in suspects],
                "label": [space.names[truth[i]] for i in suspects],
                "suggested_id": [space.keys[first.pred[i]] for i in suspects],
                "suggested": [space.names[first.pred[i]] for i in suspects],
                **{f"{v.name}:confidence": v.confidence[suspects].astype(float) for v in views.values()},
                **{f"{v.name}:p_label": v.p_true[suspects].astype(float) for v in views.values()},
            }
        )
    )


st.download_button(
    f"Suspected label errors (CSV, {len(suspects):,} rows)",
    _suspects_csv,
    file_name="suspected-label-errors.csv",
    mime="text/csv",
    icon=":material/download:",
    on_click="ignore",
)
gallery(state, ranking, key="hardest")
