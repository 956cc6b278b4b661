"""Metric importance and correlation charts for any task: give metrics, an outcome and display names.

``render_metric_importance(metrics, outcome, catalogue, ...)`` is the one entry point. Detection calls it twice
(predictions with Y = true positive, labels with Y = detected); classification can call it with Y = correct.
The numbers come from ``explorer.analysis`` and are cached with ``st.cache_resource`` under the caller's
``cache_key`` (a small tuple that identifies the data, e.g. fingerprint + thresholds + selection); the big
arguments are passed un-hashed, so the key must change whenever they do.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.analysis import (
    DEFAULT_MAX_SAMPLES,
    MIN_POSITIVES,
    metric_correlation,
    metric_importance,
)
from explorer.ui.charts import sorted_bar

CORRELATION_METHODS = {"Pearson (linear)": "pearson", "Spearman (rank, monotone)": "spearman"}


@st.cache_resource(show_spinner="Estimating metric importance…", max_entries=32)
def _importance(cache_key: tuple, max_samples: int, random_state: int, _X: pd.DataFrame, _y: np.ndarray,
                _groups=None, _grouped=None) -> pd.DataFrame:
    return metric_importance(_X, _y, random_state=random_state, max_samples=max_samples, groups=_groups,
                             grouped_metrics=_grouped)


@st.cache_resource(show_spinner=False, max_entries=32)
def _correlation(cache_key: tuple, method: str, _X: pd.DataFrame, _y: np.ndarray) -> pd.DataFrame:
    return metric_correlation(_X, _y, method=method)


def _names(catalogue, columns, level: str | None) -> dict[str, str]:
    if isinstance(catalogue, dict):
        return {c: catalogue[c] for c in columns if c in catalogue}
    from explorer.ui.detection import display_names

    return display_names(catalogue, list(columns), level or "F")


def importance_tables(metrics: pd.DataFrame, outcome, catalogue, *, cache_key: tuple, level: str | None = None,
                      method: str = "pearson", max_samples: int = DEFAULT_MAX_SAMPLES,
                      random_state: int = 0, groups=None, grouped_metrics=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cached (importance, correlation) tables of the catalogued columns of ``metrics`` against ``outcome``,
    each with a ``display_name`` column. ``catalogue``: ``{column: "Title (L)"}`` or the catalogue DataFrame
    (then ``level`` is the rows' own level, "O"/"P", F metrics being named "(F)")."""
    names = _names(catalogue, metrics.columns, level)
    X = metrics[list(names)]
    y = np.asarray(outcome)
    imp = _importance(cache_key, max_samples, random_state, X, y, groups, grouped_metrics).copy()
    cor = _correlation(cache_key, method, X, y).copy()
    imp["display_name"] = imp["metric"].map(names)
    cor["display_name"] = cor["metric"].map(names)
    return imp, cor


def render_metric_importance(metrics: pd.DataFrame, outcome, catalogue, *, cache_key: tuple, outcome_label: str,
                             level: str | None = None, method: str = "pearson",
                             max_samples: int = DEFAULT_MAX_SAMPLES, random_state: int = 0, groups=None,
                             grouped_metrics=None) -> None:
    """Draw importance (normalised MI, 0..1) and correlation (-1..1) as sorted bar charts with sample counts.

    ``metrics``: DataFrame of shape (n, m), one row per item; ``outcome``: bool array of shape (n,);
    ``outcome_label``: what Y is, in words ("true positive", "detected", "correct"); ``groups`` (e.g. image ids
    of the rows) and ``grouped_metrics`` (e.g. the frame metrics): those metrics are scored on one row per group.
    """
    y = np.asarray(outcome).astype(bool)
    if len(metrics.columns) == 0 or len(y) == 0:
        st.info(f"No data metrics or no rows to relate to “{outcome_label}”.")
        return
    imp, cor = importance_tables(metrics, y, catalogue, cache_key=cache_key, level=level, method=method,
                                 max_samples=max_samples, random_state=random_state, groups=groups,
                                 grouped_metrics=grouped_metrics)
    n_pos, n = int(y.sum()), len(y)
    st.caption(f"Y = “{outcome_label}” · {n:,} rows, {n_pos:,} with Y true · importance = I(X;Y)/H(Y) "
               f"(scikit-learn k-NN estimator, random_state={random_state}), at most {max_samples:,} rows per "
               f"metric (deterministic stratified subsample above that)"
               + ("; frame (F) metrics use one row per image" if groups is not None else ""))
    if n_pos < MIN_POSITIVES:
        st.warning(f"Only {n_pos} row(s) with Y = “{outcome_label}” (fewer than {MIN_POSITIVES}): the importance "
                   "values are rough estimates.")
    # a metric constant over the rows carries no information: listed under the charts, not drawn as empty bars
    constant = imp["note"].fillna("").astype(str).str.startswith("metric is constant").to_numpy()
    left, right = st.columns(2)
    with left:
        st.plotly_chart(sorted_bar(imp[~constant], value="importance",
                                   title="Metric importance (0 = none, 1 = predicts Y)"),
                        key=f"importance_{outcome_label}")
    with right:
        st.plotly_chart(sorted_bar(cor, value="correlation", value_range=(-1.0, 1.0),
                                   title=f"Metric correlation with Y ({method.capitalize()})"),
                        key=f"correlation_{outcome_label}")
    if constant.any():
        st.caption(f"{int(constant.sum())} metric(s) constant over these rows (no information, not drawn): "
                   + ", ".join(imp.loc[constant, "display_name"].astype(str)))
    table = imp.merge(cor[["metric", "correlation", "note"]].rename(columns={"note": "correlation_note"}),
                      on="metric", how="left")
    with st.expander(f"Numbers and sample sizes (Y = {outcome_label})"):
        st.dataframe(
            table[["display_name", "importance", "correlation", "n_samples", "n_positive", "note", "correlation_note"]],
            hide_index=True, column_config={"display_name": "metric"},
        )


def frame_importance_inputs(project, image_ids, outcome, *, outcome_label: str, cache_key: tuple) -> list[dict]:
    """``importance_inputs`` of a task whose outcome is per image: the frame (F) metrics of ``image_ids``
    (one row per id, in order) against the boolean ``outcome`` of the same length; [] before metrics exist."""
    from explorer.ui.detection import metric_catalog, metrics_for_target

    frame = metrics_for_target(project, "images")
    catalogue = metric_catalog(project)
    if frame is None or catalogue is None:
        return []
    metrics = frame.reindex(np.asarray(image_ids))
    numeric = [c for c in metrics.columns if pd.api.types.is_numeric_dtype(metrics[c])]
    return [{"title": "Images", "outcome_label": outcome_label, "metrics": metrics[numeric],
             "outcome": np.asarray(outcome, dtype=bool), "catalogue": catalogue, "level": "F",
             "cache_key": cache_key}]
