"""Calibration: reliability diagram and expected calibration error of every model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from modelviz_app._ui import model_colors, page_header
from modelviz_app.metrics import reliability

state = page_header("Calibration")
colors = model_colors(state.names)
bins = st.slider("Bins", min_value=5, max_value=30, value=15)
fig = go.Figure()
fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dash", "color": "gray"}))
metrics = st.columns(len(state.evaluations))
hist = []
for i, (name, ev) in enumerate(state.evaluations.items()):
    rel = reliability(ev.y_true, ev.probs, bins)
    filled = rel.counts > 0
    fig.add_trace(
        go.Scatter(
            x=rel.confidence[filled],
            y=rel.accuracy[filled],
            mode="lines+markers",
            name=f"{name} (ECE {rel.ece:.3f})",
            line={"color": colors[name]},
            customdata=rel.counts[filled],
            hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{customdata} images",
        )
    )
    metrics[i].metric(f"ECE · {name}", f"{rel.ece:.3f}")
    hist.append(
        pd.DataFrame(
            {"model": name, "top-1 confidence": ev.confidence, "outcome": np.where(ev.correct, "correct", "wrong")}
        )
    )
fig.update_layout(
    title="Reliability diagram",
    xaxis_title="mean confidence in bin",
    yaxis_title="accuracy in bin",
    xaxis_range=[0, 1],
    yaxis_range=[0, 1.02],
    height=500,
)
st.plotly_chart(fig)
frame = pd.concat(hist, ignore_index=True)
fig = px.histogram(
    frame,
    x="top-1 confidence",
    color="outcome",
    facet_col="model",
    nbins=bins,
    title="Confidence of correct and wrong predictions",
    range_x=[0, 1],
)
st.plotly_chart(fig)
