"""Classify one image with every model: what each model actually sees, top-5 with probabilities and latency, and a
hint when the image looks unlike the data the model knows."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st
from PIL import Image

from modelviz_app._ui import model_colors, page_header
from modelviz_app._uploads import READABLE, ImageRejected, decode_upload

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
_FALLBACK_LOW = 0.5  # low confidence when a model has no dataset evaluation to compare with
# Narrower than the width above which st.image scales an image down itself, rounding a 10000x1 image to no rows
# (a ValueError on the page).
_PREVIEW_WIDTH = 1400


def _preview(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    if width <= _PREVIEW_WIDTH:
        return image
    size = (_PREVIEW_WIDTH, max(1, round(height * _PREVIEW_WIDTH / width)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


state = page_header("Try an image", need_evaluations=False)
if not state.models:
    st.info("No model could be loaded.")
    st.stop()
colors = model_colors(list(state.models))
upload = st.file_uploader(
    f"Image ({READABLE}; at most 10 MB)", type=["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
)
image: np.ndarray | None = None
caption = ""
if upload is not None:
    data = upload.getvalue()
    if len(data) > MAX_UPLOAD_BYTES:
        st.error(f"{upload.name} is {len(data) / 1e6:.1f} MB; the limit is 10 MB.", icon=":material/error:")
    else:
        try:
            image, caption = decode_upload(data), upload.name
        except ImageRejected as exc:  # never a raw exception: every decoder failure says what is wrong
            why = f"is too large to classify: {exc.message}" if exc.too_large else f"cannot be used: {exc.message}"
            st.error(f"{upload.name} {why}.", icon=":material/error:")
elif state.dataset is not None and len(state.dataset):
    dataset = state.dataset
    if len(dataset) <= 2000:
        pick = st.selectbox("…or a dataset image", list(range(len(dataset))), format_func=lambda i: dataset.ids[i])
    else:  # a 50,000-entry list would be sent to the browser on every rerun
        pick = st.number_input(f"…or dataset image number (0-{len(dataset) - 1:,})", 0, len(dataset) - 1, 0)
    image, caption = dataset.image(int(pick or 0)), dataset.ids[int(pick or 0)]
if image is None:
    st.stop()

left, right = st.columns([1, 3])
left.image(_preview(image), caption=f"{caption} · {image.shape[1]}x{image.shape[0]}", width="stretch")
with right:
    columns = st.columns(min(len(state.models), 3))
    for n, (name, model) in enumerate(state.models.items()):
        try:
            fitted = model.fit(image)
            batch = model.preprocess(fitted[None])
            start = time.perf_counter()
            probs = state.predictors[name].predict(batch)[0]
            latency = (time.perf_counter() - start) * 1000
        except Exception as exc:  # one model failing on this image leaves the others' answers on the page
            logging.getLogger("modelviz_app.pages").exception("%s failed on %s", name, caption)
            columns[n % len(columns)].error(f"**{name}** could not classify this image ({type(exc).__name__}).")
            continue
        top = np.argsort(-probs, kind="stable")[:5]
        frame = pd.DataFrame({"class": [model.labels[i] for i in top], "probability": probs[top]})
        with columns[n % len(columns)].container(border=True):
            st.markdown(f"**{name}** · {latency:.1f} ms")
            h, w = model.input_size
            how = "centre crop" if model.crop else "stretched"
            colour = "greyscale" if model.channels == 1 else "colour"
            st.image(fitted.squeeze(), caption=f"model input: {w}x{h} {colour}, {how}", width=120)
            view = state.views.get(name)
            if view is not None and view.correct.any():
                # Below the 5th percentile of the confidence this model has when it is right on the dataset.
                low = float(np.quantile(view.confidence[view.correct], 0.05))
                basis = f"95% of its correct predictions on {state.dataset.name if state.dataset else 'the dataset'}"
            else:
                low, basis = _FALLBACK_LOW, "a coin flip"
            if probs[top[0]] < low:
                st.warning(
                    f"Low confidence ({probs[top[0]]:.0%}, below {low:.0%}, the confidence of {basis}): the image "
                    f"may be unlike anything {name} was trained on (out of distribution); treat the answer with care.",
                    icon=":material/help:",
                )
            fig = px.bar(
                frame[::-1],
                x="probability",
                y="class",
                orientation="h",
                range_x=[0, 1],
                color_discrete_sequence=[colors[name]],
                text_auto=".1%",
            )
            fig.update_layout(height=260, margin={"l": 0, "r": 0, "t": 10, "b": 0}, yaxis_title="")
            st.plotly_chart(fig, key=f"top5-{name}")
            st.dataframe(
                frame, hide_index=True, column_config={"probability": st.column_config.NumberColumn(format="percent")}
            )
