"""Per-class precision, recall and F1 of every model, side by side; sortable and filterable."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from modelviz_app._tables import per_class_frame
from modelviz_app._ui import model_colors, page_header

state = page_header("Per-class metrics")
long = per_class_frame(state.evaluations)
colors = model_colors(state.names)

f1, f2, f3 = st.columns([2, 1, 1])
text = f1.text_input("Filter classes (substring)", "")
min_support = f2.number_input(
    "Minimum support", min_value=0, value=1, step=1, help="0 also lists classes that only appear as (wrong) predictions"
)
metric = f3.selectbox("Metric for the chart", ["F1", "precision", "recall"])
view = long[long["support"] >= min_support]
if text:
    view = view[view["class"].str.contains(text, case=False, regex=False)]

wide = view.pivot_table(index="class", columns="model", values=["precision", "recall", "F1"], aggfunc="first")
wide.columns = [f"{model} · {m}" for m, model in wide.columns]
support = view.groupby("class")["support"].max().rename("support")
wide = wide.join(support).reset_index()
ordered = ["class", "support"] + [f"{n} · {m}" for n in state.names for m in ("precision", "recall", "F1")]
wide = wide[[c for c in ordered if c in wide.columns]]
st.caption(f"{len(wide)} classes · click a column header to sort")
st.dataframe(
    wide,
    hide_index=True,
    column_config={
        c: st.column_config.ProgressColumn(c, min_value=0, max_value=1, format="%.2f") for c in wide.columns if "·" in c
    },
)
if not view.empty:
    top = view.groupby("class")["support"].max().sort_values(ascending=False).index[:40]
    chart = view[view["class"].isin(top)]
    fig = px.bar(
        chart,
        x="class",
        y=metric,
        color="model",
        barmode="group",
        color_discrete_map=colors,
        title=f"{metric} per class (up to 40 classes by support)",
    )
    fig.update_yaxes(range=[0, 1])
    st.plotly_chart(fig)
