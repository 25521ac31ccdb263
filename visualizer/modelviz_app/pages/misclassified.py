"""Misclassified images of one model: filter by true class, its prediction, its confidence and disagreement."""

from __future__ import annotations

import numpy as np
import streamlit as st

from modelviz_app._gallery import gallery
from modelviz_app._ui import page_header

state = page_header("Misclassified images")
assert state.dataset is not None and state.space is not None
names = state.names
views = state.views
space = state.space
truth = state.dataset.labels

c1, c2, c3 = st.columns(3)
model = c1.selectbox("Model", names, help="The predicted class and confidence filters mean this model's")
view = views[model]
scope = c2.selectbox("Images", [f"wrong for {model}", "wrong for every model", "all images"])
only_disagree = c3.checkbox("Only where models disagree", value=False, disabled=len(names) < 2)
c4, c5, c6 = st.columns(3)
true_filter = c4.multiselect("True class", np.unique(truth).tolist(), format_func=space.name_of)
pred_filter = c5.multiselect(f"Predicted class (by {model})", np.unique(view.pred).tolist(), format_func=space.name_of)
low, high = c6.slider(f"Top-1 confidence of {model}", 0.0, 1.0, (0.0, 1.0), 0.05)

if scope.startswith("wrong for every"):
    mask = np.logical_and.reduce([~v.correct for v in views.values()])
elif scope == "all images":
    mask = np.ones(len(truth), dtype=bool)
else:
    mask = ~view.correct
if true_filter:
    mask &= np.isin(truth, true_filter)
if pred_filter:
    mask &= np.isin(view.pred, pred_filter)
mask &= (view.confidence >= low) & (view.confidence <= high)
if only_disagree and len(names) > 1:
    mask &= np.logical_or.reduce([v.pred != view.pred for v in views.values()])
selected = np.flatnonzero(mask)
# Most confident mistakes first: those are the surprising ones.
selected = selected[np.argsort(-view.confidence[selected], kind="stable")]
st.caption(f"{len(selected):,} of {len(truth):,} images match")
gallery(state, selected, key="misclassified")
