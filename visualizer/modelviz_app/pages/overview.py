"""Overview: accuracy (with honest intervals), confidence, calibration and latency of every model on the dataset."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from modelviz_app._export import ECE_BINS
from modelviz_app._ui import md, model_colors, page_header
from modelviz_app.metrics import SMALL_SAMPLE, expected_calibration_error, grouped_mean_interval

state = page_header("Overview")
assert state.dataset is not None
colors = model_colors(state.names)
k = int(st.radio("Top-k accuracy", [1, 2, 3, 5], index=3, horizontal=True, key="overview-k"))
rows = []
sources = state.dataset.sources
for name, view in state.views.items():
    acc, low, high, _ = grouped_mean_interval(view.correct, state.groups)
    rows.append(
        {
            "model": name,
            "top-1 accuracy": acc,
            "top-1 95% CI": f"{low:.1%} - {high:.1%}" if np.isfinite(low) else "n/a",
            f"top-{k} accuracy": float(np.mean(view.topk_correct(k))),
            "mean confidence": float(view.confidence.mean()),
            f"ECE ({ECE_BINS} bins)": expected_calibration_error(view.evaluation.y_true, view.probs, ECE_BINS),
            "ms / image": view.evaluation.seconds_per_image * 1000,
            "images / s": 1 / view.evaluation.seconds_per_image if view.evaluation.seconds_per_image > 0 else np.nan,
            "runtime": view.evaluation.backend,
            "source": state.models[name].source,
        }
    )
table = pd.DataFrame(rows)

cols = st.columns(4)
cols[0].metric("Images", f"{len(state.dataset):,}", help=f"{sources:,} distinct source images")
empty = int(np.sum(np.bincount(state.dataset.labels, minlength=len(state.dataset.class_ids)) == 0))
cols[1].metric(
    "Classes",
    len(state.dataset.class_ids),
    help=f"{empty} without images (left out of per-class averages)" if empty else None,
)
cols[2].metric("Models", len(state.evaluations))
best = table.loc[table["top-1 accuracy"].idxmax()]
cols[3].metric("Best top-1", f"{best['top-1 accuracy']:.1%}", help=f"{best['model']}")
if sources < SMALL_SAMPLE:
    st.warning(
        f"Only {sources} independent source images: accuracy differences of a few images are noise, and the "
        "intervals are rough (normal approximation).",
        icon=":material/warning:",
    )

# Vega-Lite rather than plotly on the landing page: its bundle is a third of plotly's 4.7 MB, so the first chart of a
# fresh browser session is drawn sooner (the other pages load plotly while this one is read).
scale = alt.Scale(domain=list(colors), range=list(colors.values()))
left, right = st.columns(2)
accuracy = table.melt(id_vars="model", value_vars=["top-1 accuracy", f"top-{k} accuracy", "mean confidence"])
accuracy = accuracy.drop_duplicates(["model", "variable"])
left.altair_chart(
    alt.Chart(accuracy, title="Accuracy and confidence")
    .mark_bar()
    .encode(
        x=alt.X("variable:N", title=None, sort=None),
        xOffset="model:N",
        y=alt.Y("value:Q", title=None, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("model:N", scale=scale),
        tooltip=["model", "variable", alt.Tooltip("value:Q", format=".1%")],
    )
)
right.altair_chart(
    alt.Chart(table, title="Inference latency per image (batched)")
    .mark_bar()
    .encode(
        x=alt.X("model:N", sort=None),
        y=alt.Y("ms / image:Q"),
        color=alt.Color("model:N", scale=scale, legend=None),
        tooltip=["model", alt.Tooltip("ms / image:Q", format=".2f")],
    )
)

st.dataframe(
    table,
    hide_index=True,
    column_config={
        c: st.column_config.NumberColumn(format="percent")
        for c in ("top-1 accuracy", f"top-{k} accuracy", "mean confidence")
    }
    | {
        f"ECE ({ECE_BINS} bins)": st.column_config.NumberColumn(
            format="%.3f", help=f"Expected calibration error over {ECE_BINS} equal-width confidence bins"
        ),
        "ms / image": st.column_config.NumberColumn(format="%.2f"),
        "images / s": st.column_config.NumberColumn(format="%.0f"),
    },
)
counts = np.bincount(state.dataset.labels, minlength=len(state.dataset.class_ids))
dist = pd.DataFrame({"class": state.class_names(), "images": counts}).sort_values("images", ascending=False)
shown = dist.head(60)
title = "Images per class" + (f" (60 largest of {len(dist)})" if len(dist) > 60 else "")
st.altair_chart(
    alt.Chart(shown, title=title)
    .mark_bar()
    .encode(x=alt.X("class:N", sort=None), y="images:Q", tooltip=["class", "images"])
)
if state.dataset.skipped:
    with st.expander(f"{len(state.dataset.skipped)} unreadable files left out"):
        st.markdown("\n".join(f"- {md(s)}" for s in state.dataset.skipped))
