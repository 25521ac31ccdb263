"""Overview: accuracy, confidence and latency of every model on the dataset."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from modelviz_app._ui import model_colors, page_header
from modelviz_app.metrics import expected_calibration_error, topk_accuracy

state = page_header("Overview")
assert state.dataset is not None
colors = model_colors(state.names)
rows = []
for name, ev in state.evaluations.items():
    rows.append(
        {
            "model": name,
            "top-1 accuracy": topk_accuracy(ev.y_true, ev.probs, 1),
            "top-5 accuracy": topk_accuracy(ev.y_true, ev.probs, 5),
            "mean confidence": float(ev.confidence.mean()),
            "ECE": expected_calibration_error(ev.y_true, ev.probs),
            "ms / image": ev.seconds_per_image * 1000,
            "images / s": 1 / ev.seconds_per_image if ev.seconds_per_image > 0 else float("nan"),
            "runtime": ev.backend,
            "source": state.models[name].source,
        }
    )
table = pd.DataFrame(rows)

cols = st.columns(4)
cols[0].metric("Images", len(state.dataset))
cols[1].metric("Classes", len(state.dataset.class_ids))
cols[2].metric("Models", len(state.evaluations))
best = table.loc[table["top-1 accuracy"].idxmax()]
cols[3].metric("Best top-1", f"{best['top-1 accuracy']:.1%}", help=f"{best['model']}")

left, right = st.columns(2)
accuracy = table.melt(id_vars="model", value_vars=["top-1 accuracy", "top-5 accuracy", "mean confidence"])
fig = px.bar(
    accuracy,
    x="variable",
    y="value",
    color="model",
    barmode="group",
    color_discrete_map=colors,
    labels={"variable": "", "value": ""},
    title="Accuracy and confidence",
)
fig.update_yaxes(tickformat=".0%", range=[0, 1])
left.plotly_chart(fig)
fig = px.bar(
    table,
    x="model",
    y="ms / image",
    color="model",
    color_discrete_map=colors,
    text_auto=".1f",
    title="Inference latency per image (batched)",
)
right.plotly_chart(fig)

st.dataframe(
    table,
    hide_index=True,
    column_config={
        c: st.column_config.NumberColumn(format="percent")
        for c in ("top-1 accuracy", "top-5 accuracy", "mean confidence")
    }
    | {
        "ECE": st.column_config.NumberColumn(format="%.3f"),
        "ms / image": st.column_config.NumberColumn(format="%.2f"),
        "images / s": st.column_config.NumberColumn(format="%.0f"),
    },
)
counts = pd.Series(state.dataset.labels).value_counts().sort_index()
dist = pd.DataFrame({"class": [state.dataset.class_names[i] for i in counts.index], "images": counts.to_numpy()})
st.plotly_chart(px.bar(dist, x="class", y="images", title="Images per class"))
if state.dataset.skipped:
    with st.expander(f"{len(state.dataset.skipped)} unreadable files left out"):
        st.write("\n".join(f"- {s}" for s in state.dataset.skipped))
