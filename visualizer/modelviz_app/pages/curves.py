"""ROC and precision-recall curves (one class against the rest) with a threshold's operating point, and AUC/AP of
every class with macro and micro averages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from modelviz_app._tables import auc_table
from modelviz_app._ui import model_colors, page_header
from modelviz_app.metrics import average_precision, operating_point, pr_curve, roc_auc, roc_curve

AUTO_LIMIT = 2_000_000  # image x class scores computed without asking
state = page_header("ROC and precision-recall")
assert state.dataset is not None and state.space is not None
space = state.space
colors = model_colors(state.names)
present = np.unique(state.dataset.labels).tolist()
c1, c2 = st.columns([2, 1])
chosen = int(c1.selectbox("Class (one against the rest)", present, format_func=space.name_of, key="curves-class"))
threshold = c2.slider(
    "Threshold", 0.0, 1.0, 0.5, 0.01, key="curves-threshold", help="An image counts as this class when its score ≥ it"
)
roc = go.Figure()
roc.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dash", "color": "gray"}))
pr = go.Figure()
points = []
for name, view in state.views.items():
    y = view.y_true == chosen
    scores = view.scores(chosen)
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
    op = operating_point(y, scores, threshold)
    marker = {"color": colors[name], "size": 12, "symbol": "x", "line": {"width": 2}}
    at = f"{name} @ {threshold:.2f}"
    roc.add_trace(go.Scatter(x=[op.fpr], y=[op.recall], mode="markers", marker=marker, name=at))
    pr.add_trace(
        go.Scatter(x=[op.recall], y=[op.precision], mode="markers", marker=marker, name=f"{name} @ {threshold:.2f}")
    )
    points.append(
        {
            "model": name,
            "threshold": threshold,
            "precision": op.precision,
            "recall": op.recall,
            "F1": op.f1,
            "false positive rate": op.fpr,
            "TP": op.tp,
            "FP": op.fp,
            "FN": op.fn,
            "TN": op.tn,
        }
    )
for fig, x, y in ((roc, "false positive rate", "true positive rate"), (pr, "recall", "precision")):
    kind = "ROC" if fig is roc else "Precision-recall"
    fig.update_layout(
        title=f"{kind} · {space.names[chosen]}", xaxis_title=x, yaxis_title=y, xaxis_range=[0, 1], yaxis_range=[0, 1.02]
    )
left, right = st.columns(2)
left.plotly_chart(roc)
right.plotly_chart(pr)
if points:
    st.markdown(f"**At threshold {threshold:.2f}** (✕ on the curves)")
    st.dataframe(
        pd.DataFrame(points),
        hide_index=True,
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "recall", "F1")},
    )

st.subheader("Every class")
classes = len(present)
# Sorting every class's scores takes seconds at 50,000 images x 1,000 classes: then it waits to be asked for.
if len(state.dataset) * classes > AUTO_LIMIT and not st.toggle(
    f"Compute ROC AUC and AP of all {classes:,} classes", key="curves-all"
):
    st.stop()
table, averages = auc_table(state)
st.dataframe(averages, hide_index=True)
st.dataframe(
    table,
    hide_index=True,
    column_config={"class": st.column_config.TextColumn(pinned=True)}
    | {c: st.column_config.NumberColumn(format="%.3f") for c in table.columns if c.endswith(("AUC", "AP"))},
)
