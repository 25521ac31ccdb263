"""Confusion matrices with class names: most-confused pairs across models, and a heatmap zoomed to chosen classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from modelviz_app._tables import present_classes
from modelviz_app._ui import page_header
from modelviz_app.metrics import confusion_matrix, most_confused

state = page_header("Confusion")
matrices = {name: confusion_matrix(ev.y_true, ev.pred, len(ev.labels)) for name, ev in state.evaluations.items()}

st.subheader("Most-confused pairs")
rows = []
for name, cm in matrices.items():
    labels = state.evaluations[name].labels
    support = cm.sum(axis=1)
    for t, p, count in most_confused(cm, 15):
        rows.append(
            {
                "model": name,
                "true": labels[t],
                "predicted as": labels[p],
                "images": count,
                "share of true class": count / max(int(support[t]), 1),
            }
        )
pairs = pd.DataFrame(rows, columns=["model", "true", "predicted as", "images", "share of true class"])
if pairs.empty:
    st.success("No confusions: every image is classified correctly.")
else:
    st.dataframe(
        pairs.sort_values("images", ascending=False),
        hide_index=True,
        column_config={"share of true class": st.column_config.ProgressColumn(min_value=0, max_value=1)},
    )

st.subheader("Matrix")
names_all: list[str] = []
for name, ev in state.evaluations.items():
    # Default view: classes involved in most confusions and the largest true classes, at most 25.
    cm = matrices[name]
    involved = {ev.labels[i] for t, p, _ in most_confused(cm, 25) for i in (t, p)}
    involved |= {ev.labels[i] for i in present_classes(ev)}
    names_all.extend(sorted(involved))
choices = sorted(set(names_all))
default = choices[:25]
c1, c2 = st.columns([3, 1])
chosen = c1.multiselect(
    "Classes shown (zoom)", choices, default=default, help="Rows are true classes, columns predictions; pick any subset"
)
normalize = c2.toggle("Row-normalised (recall)", value=True)
if not chosen:
    st.info("Pick at least one class.")
    st.stop()
columns = st.columns(min(len(matrices), 2))
for i, (name, cm) in enumerate(matrices.items()):
    labels = state.evaluations[name].labels
    idx = [labels.index(c) for c in chosen if c in labels]
    sub = cm[np.ix_(idx, idx)].astype(float)
    if normalize:
        totals = cm[idx].sum(axis=1, keepdims=True)
        sub = np.divide(sub, totals, out=np.zeros_like(sub), where=totals > 0)
    shown = [labels[j] for j in idx]
    fig = px.imshow(
        sub,
        x=shown,
        y=shown,
        color_continuous_scale="Blues",
        aspect="auto",
        labels={"x": "predicted", "y": "true", "color": "share" if normalize else "images"},
        text_auto=".2f" if normalize else True,
        title=name,
    )
    fig.update_layout(height=max(400, 28 * len(shown) + 150))
    columns[i % len(columns)].plotly_chart(fig, key=f"cm-{name}")
