"""What every page shares: the configuration, dataset, models and their evaluations, loaded once per process, and
error panels for whatever could not be loaded (a message, never a traceback)."""

from __future__ import annotations

import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from modelviz_app._classes import ClassSpace, ModelView, class_space, model_view
from modelviz_app.config import CONFIG_ENV, AppConfig, ConfigError, ModelSpec, config_path_from
from modelviz_app.datasets import Dataset, load_dataset
from modelviz_app.evaluation import Evaluation, evaluate
from modelviz_app.models import LoadedModel, Predictor
from modelviz_app.paths import cache_root
from modelviz_app.serving._registry import SHARED_MODELS

__all__ = [
    "AppState",
    "describe_error",
    "load_state",
    "md",
    "model_colors",
    "page_header",
    "true_class_names",
]

_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
_EVALUATIONS: dict[tuple[str, str], Evaluation] = {}
_VIEWS: dict[tuple[str, ...], tuple[ClassSpace, dict[str, ModelView]]] = {}
_EVAL_LOCK = threading.Lock()


@dataclass
class AppState:
    config: AppConfig
    cache: Path
    dataset: Dataset | None
    models: dict[str, LoadedModel] = field(default_factory=dict)
    predictors: dict[str, Predictor] = field(default_factory=dict)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # model name (or "dataset") -> why
    space: ClassSpace | None = None  # every class any page shows, by id
    views: dict[str, ModelView] = field(default_factory=dict)  # evaluations in that class space

    @property
    def names(self) -> list[str]:
        return list(self.evaluations)

    def class_names(self) -> list[str]:
        """The dataset's classes by (distinct) display name, in class-index order."""
        if self.space is not None:
            return self.space.names[: self.space.n_dataset]
        return self.dataset.class_names if self.dataset is not None else []

    @property
    def groups(self) -> np.ndarray | None:
        """Source photo of each image when some sources appear several times (else None: all independent)."""
        if self.dataset is None or self.dataset.sources == len(self.dataset):
            return None
        return self.dataset.group_ids


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, RuntimeError | ValueError | OSError):
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) < 600 else text[:600] + " …"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>$~|#])")


def md(text: str) -> str:
    """``text`` shown literally inside markdown: a class or file named ``$5 bill``, ``*new*`` or ``a|b`` would
    otherwise turn into maths, emphasis or a table."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def model_colors(names: list[str]) -> dict[str, str]:
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}


@st.cache_resource(show_spinner=False)
def _config(path: str, mtime: float) -> AppConfig:
    return AppConfig.load(path)


@st.cache_resource(show_spinner="Loading dataset…")
def _dataset(catalog: str | None, path: str | None, limit: int | None) -> Dataset:
    return load_dataset(catalog, Path(path) if path else None, limit)


@st.cache_resource(show_spinner="Loading model…")
def _model(spec_json: str, cache: str) -> tuple[LoadedModel, Predictor]:
    # The process-wide registry: the prediction API loaded these at startup, the pages reuse the same objects.
    return SHARED_MODELS.load(ModelSpec.model_validate_json(spec_json), Path(cache))


def _evaluation(
    model: LoadedModel, predictor: Predictor, dataset: Dataset, cache: Path, shared: Path | None = None
) -> Evaluation:
    key = (model.key, dataset.key)
    with _EVAL_LOCK:  # one computation per model and dataset, even with several browser sessions
        if key not in _EVALUATIONS:
            bar = st.progress(0.0, text=f"Predicting {len(dataset)} images with {model.name}…")
            try:

                def report(fraction: float, text: str) -> None:
                    bar.progress(fraction, text=text)

                _EVALUATIONS[key] = evaluate(model, predictor, dataset, cache, report, shared=shared)
            finally:
                bar.empty()
        found = _EVALUATIONS[key]
    # Same key, possibly another configured name for the same network.
    return Evaluation(
        model.name, found.labels, found.y_true, found.probs, found.seconds_per_image, found.backend, found.cached
    )


def _stop_with(message: str) -> None:
    st.error(message, icon=":material/error:")
    st.stop()


def load_state() -> AppState:
    path = config_path_from(sys.argv[1:])
    if path is None:
        _stop_with(f"No configuration: set {CONFIG_ENV} or pass `-- --config PATH` to streamlit run.")
        raise AssertionError  # unreachable: st.stop() raises
    try:
        config = _config(str(path), path.stat().st_mtime)
    except FileNotFoundError:
        _stop_with(f"Configuration file {path} does not exist.")
        raise AssertionError from None
    except ConfigError as exc:
        _stop_with(f"Invalid configuration: {exc}")
        raise AssertionError from None
    cache = cache_root(config.cache_dir)
    state = AppState(config, cache, None)
    spec = config.dataset
    try:
        state.dataset = _dataset(spec.catalog, str(spec.path) if spec.path else None, spec.max_images)
    except Exception as exc:
        state.errors["dataset"] = describe_error(exc)
    for model_spec in config.models:
        try:
            model, predictor = _model(model_spec.model_dump_json(by_alias=True), str(cache))
        except Exception as exc:
            state.errors[model_spec.name] = describe_error(exc)
            continue
        state.models[model_spec.name] = model
        state.predictors[model_spec.name] = predictor
        if state.dataset is not None:
            try:
                state.evaluations[model_spec.name] = _evaluation(
                    model, predictor, state.dataset, cache, config.predictions_dir
                )
            except Exception as exc:
                state.errors[model_spec.name] = describe_error(exc)
    if state.dataset is not None and state.evaluations:
        state.space, state.views = _views(state)
    return state


def _views(state: AppState) -> tuple[ClassSpace, dict[str, ModelView]]:
    assert state.dataset is not None
    models = {n: state.models[n] for n in state.evaluations}
    key = (state.dataset.key, *(f"{n}={m.key}" for n, m in models.items()))
    with _EVAL_LOCK:  # top-5 and ranks of 50,000 x 1,000 probabilities: once per process, not per rerun
        if key not in _VIEWS:
            space = class_space(state.dataset, models)
            views = {n: model_view(state.evaluations[n], space.outputs[n], state.dataset.labels) for n in models}
            _VIEWS[key] = (space, views)
        return _VIEWS[key]


def page_header(title: str, need_evaluations: bool = True) -> AppState:
    """Title, error panels and the sidebar summary; stops the page when nothing is left to show."""
    state = load_state()
    st.title(title)
    if state.dataset is not None:
        st.caption(state.dataset.context(), help=_CONTEXT_HELP)
    for name, message in state.errors.items():
        what = "Dataset" if name == "dataset" else "Model"
        label = state.config.dataset.catalog or "folder" if name == "dataset" else name
        st.error(f"**{what} `{label}` could not be loaded.** {message}", icon=":material/error:")
    for name, view in state.views.items():
        if view.output_problem:
            st.warning(
                f"**{name} does not output probabilities**: {view.output_problem}. Accuracy and the confusion "
                "matrix hold; confidence, calibration, loss and thresholds do not (end the network with a softmax).",
                icon=":material/warning:",
            )
    with st.sidebar:
        if state.config.title:
            st.markdown(f"**{state.config.title}**")
        if state.dataset is not None:
            st.caption(
                f"Dataset **{state.dataset.name}** · {len(state.dataset):,} images · "
                f"{len(state.dataset.class_ids)} classes"
            )
        for name, model in state.models.items():
            backend = state.predictors[name].backend
            failed = " · no predictions (see the error)" if name in state.errors else ""
            st.caption(f"**{name}** · {model.source} · {backend}{failed}")
    if need_evaluations and not state.evaluations:
        st.info("No model has predictions to show: fix the errors above.")
        st.stop()
    return state


_CONTEXT_HELP = (
    "Every figure on these pages is measured on exactly these images. Where one source photo appears in several "
    "variants, confidence intervals count the photo once."
)


def true_class_names(state: AppState) -> np.ndarray:
    assert state.dataset is not None
    return np.array(state.class_names())[state.dataset.labels]
