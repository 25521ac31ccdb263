"""Calibration: reliability diagram and expected calibration error of every model."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from modelviz_app._export import ECE_BINS
from modelviz_app._ui import model_colors, page_header
from modelviz_app.metrics import reliability

state = page_header("Calibration")
colors = model_colors(state.names)
bins = st.slider(
    "Bins", min_value=5, max_value=30, value=ECE_BINS, help=f"The Overview's ECE always uses {ECE_BINS} bins"
)
fig = go.Figure()
fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dash", "color": "gray"}))
metrics = st.columns(len(state.views))
for i, (name, view) in enumerate(state.views.items()):
    rel = reliability(view.evaluation.y_true, view.probs, bins)
    filled = rel.counts > 0
    fig.add_trace(
        go.Scatter(
            x=rel.confidence[filled],
            y=rel.accuracy[filled],
            mode="lines+markers",
            name=f"{name} (ECE {rel.ece:.3f}, {bins} bins)",
            line={"color": colors[name]},
            customdata=rel.counts[filled],
            hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{customdata} images",
        )
    )
    metrics[i].metric(f"ECE · {name}", f"{rel.ece:.3f}", help=f"{bins} equal-width bins (Overview: {ECE_BINS})")
fig.update_layout(
    title=f"Reliability diagram ({bins} equal-width bins)",
    xaxis_title="mean confidence in bin",
    yaxis_title="accuracy in bin",
    xaxis_range=[0, 1],
    yaxis_range=[0, 1.02],
    height=500,
)
st.plotly_chart(fig)

# Binned here rather than by plotly: 50,000 raw points per model would all travel to the browser.
edges = np.linspace(0.0, 1.0, bins + 1)
centres = (edges[:-1] + edges[1:]) / 2
hist = make_subplots(rows=1, cols=len(state.views), subplot_titles=list(state.views), shared_yaxes=False)
for i, view in enumerate(state.views.values()):
    for outcome, mask, colour in (("correct", view.correct, "#2ca02c"), ("wrong", ~view.correct, "#d62728")):
        counts, _ = np.histogram(view.confidence[mask], bins=edges)
        hist.add_trace(
            go.Bar(
                x=centres,
                y=counts,
                width=1 / bins,
                name=outcome,
                marker_color=colour,
                legendgroup=outcome,
                showlegend=i == 0,
                hovertemplate=f"{outcome}: %{{y}} images<br>confidence %{{x:.2f}} ± {0.5 / bins:.3f}",
            ),
            row=1,
            col=i + 1,
        )
hist.update_layout(barmode="stack", title=f"Confidence of correct and wrong predictions ({bins} bins)", height=400)
hist.update_xaxes(range=[0, 1], title_text="top-1 confidence")
hist.update_yaxes(autorange=True, rangemode="tozero", title_text="images", col=1)
st.plotly_chart(hist)
