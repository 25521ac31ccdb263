"""Per-class precision, recall and F1 of every model, side by side, with macro/micro/weighted averages."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from modelviz_app._tables import averages_frame, per_class_frame
from modelviz_app._ui import model_colors, page_header

state = page_header("Per-class metrics")
colors = model_colors(state.names)

f1, f2, f3, f4 = st.columns([2, 1, 1, 2])
text = f1.text_input("Filter classes (substring)", "")
min_support = f2.number_input(
    "Minimum support", min_value=0, value=1, step=1, help="0 also lists classes that only appear as (wrong) predictions"
)
metric = f3.selectbox("Metric for the chart", ["F1", "precision", "recall", "top-k recall"])
shown_models = f4.multiselect("Models in the table", state.names, default=state.names)
k = st.slider("k for top-k recall", 1, 5, 5)
long = per_class_frame(state, k)
view = long[(long["support"] >= min_support) & long["model"].isin(shown_models or state.names)]
if text:
    view = view[view["class"].str.contains(text, case=False, regex=False)]

st.markdown("**Averages over the dataset's classes that have images**")
st.dataframe(averages_frame(state), hide_index=True, column_config={"model": st.column_config.TextColumn(pinned=True)})

values = ["precision", "recall", "F1", "top-k recall"]
wide = view.pivot_table(index=["class_id", "class"], columns="model", values=values, aggfunc="first")
wide.columns = [f"{model} · {m}" for m, model in wide.columns]
support = view.groupby("class_id")["support"].max().rename("support")
wide = wide.reset_index().join(support, on="class_id")
ordered = ["class", "support"] + [f"{n} · {m}" for n in state.names for m in values]
wide = wide[[c for c in ordered if c in wide.columns]]
st.caption(f"{len(wide)} classes · click a column header to sort · top-k recall with k = {k}")
st.dataframe(
    wide,
    hide_index=True,
    column_config={"class": st.column_config.TextColumn("class", pinned=True, width="medium")}
    | {c: st.column_config.NumberColumn(c, format="%.2f", width="small") for c in wide.columns if "·" in c},
)
if not view.empty:
    top = view.groupby("class_id")["support"].max().sort_values(ascending=False).index[:40]
    chart = view[view["class_id"].isin(top)]
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
