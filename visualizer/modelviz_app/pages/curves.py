"""ROC and precision-recall curves, one class against the rest, for any class the user picks."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from modelviz_app._ui import model_colors, page_header
from modelviz_app.metrics import average_precision, pr_curve, roc_auc, roc_curve

state = page_header("ROC and precision-recall")
assert state.dataset is not None
colors = model_colors(state.names)
classes = state.class_names()
chosen = st.selectbox("Class (one against the rest)", classes)
roc = go.Figure()
roc.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dash", "color": "gray"}))
pr = go.Figure()
for name, ev in state.evaluations.items():
    model = state.models[name]
    index = model.class_index(state.dataset.class_ids[classes.index(chosen)])
    if index is None:
        continue
    y = ev.y_true == index
    scores = ev.probs[:, index]
    if not y.any() or y.all():
        st.warning(f"{name}: the dataset needs images of this class and of others for a curve.")
        continue
    fpr, tpr, _ = roc_curve(y, scores)
    roc.add_trace(
        go.Scatter(
            x=fpr,
            y=tpr,
            mode="lines",
            name=f"{name} (AUC {roc_auc(y, scores):.3f})",
            line={"color": colors[name], "shape": "hv"},
        )
    )
    precision, recall, _ = pr_curve(y, scores)
    pr.add_trace(
        go.Scatter(
            x=recall,
            y=precision,
            mode="lines",
            name=f"{name} (AP {average_precision(y, scores):.3f})",
            line={"color": colors[name], "shape": "vh"},
        )
    )
roc.update_layout(
    title=f"ROC · {chosen}",
    xaxis_title="false positive rate",
    yaxis_title="true positive rate",
    xaxis_range=[0, 1],
    yaxis_range=[0, 1.02],
)
pr.update_layout(
    title=f"Precision-recall · {chosen}",
    xaxis_title="recall",
    yaxis_title="precision",
    xaxis_range=[0, 1],
    yaxis_range=[0, 1.02],
)
left, right = st.columns(2)
left.plotly_chart(roc)
right.plotly_chart(pr)
