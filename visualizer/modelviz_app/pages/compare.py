"""Model comparison: where models disagree, and whether accuracy differences are more than noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from modelviz_app._ui import page_header, true_class_names
from modelviz_app.metrics import mcnemar, paired_accuracy_difference

state = page_header("Compare models")
names = state.names
evs = state.evaluations
if len(names) < 2:
    st.info("Configure two or more models to compare them; the other pages show this one.")
    st.stop()
predicted = {n: np.array(ev.labels)[ev.pred] for n, ev in evs.items()}
agreement = np.array([[float(np.mean(predicted[a] == predicted[b])) for b in names] for a in names])
fig = px.imshow(
    agreement,
    x=names,
    y=names,
    zmin=0,
    zmax=1,
    color_continuous_scale="Greens",
    text_auto=".0%",
    title="Share of images where two models predict the same class",
)
left, right = st.columns(2)
left.plotly_chart(fig)

rows = []
for i, a in enumerate(names):
    for b in names[i + 1 :]:
        diff, low, high = paired_accuracy_difference(evs[a].correct, evs[b].correct)
        test = mcnemar(evs[a].correct, evs[b].correct)
        rows.append(
            {
                "A": a,
                "B": b,
                "accuracy A - B": diff,
                "95% CI low": low,
                "95% CI high": high,
                "only A right": test.only_a,
                "only B right": test.only_b,
                "McNemar p": test.p_value,
            }
        )
pairs = pd.DataFrame(rows)
fig = go.Figure(
    go.Scatter(
        x=pairs["accuracy A - B"],
        y=pairs["A"] + " - " + pairs["B"],
        mode="markers",
        error_x={
            "type": "data",
            "symmetric": False,
            "array": pairs["95% CI high"] - pairs["accuracy A - B"],
            "arrayminus": pairs["accuracy A - B"] - pairs["95% CI low"],
        },
    )
)
fig.add_vline(x=0, line_dash="dash", line_color="gray")
fig.update_layout(title="Paired accuracy difference with 95% confidence interval", xaxis_tickformat=".0%")
right.plotly_chart(fig)
st.dataframe(
    pairs,
    hide_index=True,
    column_config={
        c: st.column_config.NumberColumn(format="percent") for c in ("accuracy A - B", "95% CI low", "95% CI high")
    }
    | {"McNemar p": st.column_config.NumberColumn(format="%.4f")},
)
st.caption(
    "McNemar's test looks only at images where exactly one model is right; a small p means the two models' "
    "error rates differ beyond chance on this dataset."
)

st.subheader("Where two models disagree")
c1, c2 = st.columns(2)
a = c1.selectbox("Model A", names, index=0)
b = c2.selectbox("Model B", names, index=1)
truth = true_class_names(state)
split = pd.DataFrame(
    {
        "class": truth,
        "only A right": evs[a].correct & ~evs[b].correct,
        "only B right": ~evs[a].correct & evs[b].correct,
        "both wrong": ~evs[a].correct & ~evs[b].correct,
    }
)
by_class = split.groupby("class").sum().reset_index()
by_class = by_class[(by_class[["only A right", "only B right", "both wrong"]].sum(axis=1)) > 0]
if by_class.empty:
    st.success(f"{a} and {b} are right on the same images.")
else:
    melted = by_class.melt(id_vars="class", var_name="outcome", value_name="images")
    st.plotly_chart(
        px.bar(
            melted,
            x="class",
            y="images",
            color="outcome",
            barmode="stack",
            title=f"Images per class where {a} or {b} is wrong",
        )
    )
    differ = np.flatnonzero(predicted[a] != predicted[b])
    table = pd.DataFrame(
        {
            "image": [state.dataset.ids[i] for i in differ] if state.dataset else differ,
            "true": truth[differ],
            f"{a} predicts": predicted[a][differ],
            f"{b} predicts": predicted[b][differ],
        }
    )
    st.dataframe(table, hide_index=True)
