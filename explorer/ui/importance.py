"""Metric importance and correlation charts for any task.

``render_task_importance(sel)`` draws them for every outcome of the task (registry: ``explorer.tasks.get(task)
.outcomes``; detection: labels with Y = detected and predictions with Y = true positive; classification Y =
correct…), over the rows of the task's outcome table where the outcome is defined. ``render_metric_importance
(metrics, outcome, names, ...)`` draws one set. The numbers come from ``explorer.analysis`` and are cached with
``st.cache_resource`` under a ``cache_key`` (a small tuple that identifies the data: project, fingerprint, core
selection, target); the big arguments are passed un-hashed, so the key must change whenever they do.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.analysis import (
    DEFAULT_MAX_SAMPLES,
    MIN_POSITIVES,
    metric_correlation,
    metric_importance,
)
from explorer.analysis.importance import correlation_of_columns, importance_of_columns, outcome_values
from explorer.analysis.outcomes import _remember
from explorer import tasks
from explorer.ui.charts import figure_once, show_chart, sorted_bar, table_once
from explorer.ui.text import plain
from explorer.ui.outcomes import metric_levels, metric_names, metrics_stamp, outcome_table

CORRELATION_METHODS = {"Pearson (linear)": "pearson", "Spearman (rank, monotone)": "spearman"}
CORRELATION_KEY = "mq_correlation_method"  # the Metrics page's radio of CORRELATION_METHODS labels
_SHOWN: OrderedDict = OrderedDict()  # render_task_importance's tables as drawn, per data key


@st.cache_resource(show_spinner="Estimating metric importance…", max_entries=32)
def _importance(cache_key: tuple, max_samples: int, random_state: int, _X: pd.DataFrame, _y: np.ndarray,
                _groups=None, _grouped=None) -> pd.DataFrame:
    return metric_importance(_X, _y, random_state=random_state, max_samples=max_samples, groups=_groups,
                             grouped_metrics=_grouped)


@st.cache_resource(show_spinner=False, max_entries=32)
def _correlation(cache_key: tuple, method: str, _X: pd.DataFrame, _y: np.ndarray) -> pd.DataFrame:
    return metric_correlation(_X, _y, method=method)


def importance_tables(metrics: pd.DataFrame, outcome, names: dict[str, str], *, cache_key: tuple,
                      method: str = "pearson", max_samples: int = DEFAULT_MAX_SAMPLES,
                      random_state: int = 0, groups=None, grouped_metrics=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cached (importance, correlation) tables of the ``names`` columns of ``metrics`` against ``outcome``, each
    with a ``display_name`` column. ``names``: ``{column: "Title (L)"}`` (``explorer.ui.outcomes.metric_names``)."""
    names = {c: n for c, n in names.items() if c in metrics.columns}
    X = metrics[list(names)]
    y = np.asarray(outcome)
    imp = _importance(cache_key, max_samples, random_state, X, y, groups, grouped_metrics).copy()
    cor = _correlation(cache_key, method, X, y).copy()
    imp["display_name"] = imp["metric"].map(names)
    cor["display_name"] = cor["metric"].map(names)
    return imp, cor


def importance_figure(imp: pd.DataFrame) -> go.Figure:
    """Sorted importance bars with each metric's permutation baseline (the importance a shuffled outcome gets,
    ``baseline``) drawn as a reference tick on its bar: a bar that does not clear its tick is noise."""
    fig = sorted_bar(imp, value="importance", title="Metric importance (0 = none, 1 = predicts Y)")
    shown = imp[imp["importance"].notna() & imp["baseline"].notna()]
    if len(shown):
        fig.add_trace(dict(  # a trace dict: validated once (sorted_bar)
            type="scatter", x=shown["baseline"], y=shown["display_name"], mode="markers",
            name="shuffled-outcome baseline", marker=dict(symbol="line-ns-open", size=18, line=dict(width=2, color="#222")),
            hovertemplate="%{y}: baseline %{x:.4f}<extra></extra>"))
        fig.update_layout(showlegend=True, legend=dict(orientation="h", x=0, y=-0.08, yanchor="top"))
    return fig


def render_metric_importance(metrics: pd.DataFrame, outcome, names: dict[str, str], *, cache_key: tuple,
                             outcome_label: str, method: str = "pearson",
                             max_samples: int = DEFAULT_MAX_SAMPLES, random_state: int = 0, groups=None,
                             grouped_metrics=None) -> None:
    """Draw importance (normalised MI, 0..1) and correlation (-1..1) as sorted bar charts with sample counts.

    ``metrics``: DataFrame of shape (n, m), one row per item; ``outcome``: bool array of shape (n,);
    ``outcome_label``: what Y is, in words ("true positive", "detected", "correct"); ``groups`` (e.g. image ids
    of the rows) and ``grouped_metrics`` (e.g. the frame metrics): rows of a group sharing such a metric's value
    count as one unit (``explorer.analysis.metric_importance``).
    """
    y = np.asarray(outcome).astype(bool)
    if len(metrics.columns) == 0 or len(y) == 0:
        st.info(f"No data metrics or no rows to relate to “{plain(outcome_label)}”.")
        return
    imp, cor = importance_tables(metrics, y, names, cache_key=cache_key, method=method,
                                 max_samples=max_samples, random_state=random_state, groups=groups,
                                 grouped_metrics=grouped_metrics)
    figures = None if cache_key is None else (cache_key, tuple(names.items()), method, max_samples, random_state)
    _draw(imp, cor, len(y), int(y.sum()), outcome_label=outcome_label, method=method, max_samples=max_samples,
          random_state=random_state, grouped=groups is not None, figures=figures)


def _draw(imp: pd.DataFrame, cor: pd.DataFrame, n: int, n_pos: int, *, outcome_label: str, method: str,
          max_samples: int, random_state: int, grouped: bool, figures: tuple | None = None) -> None:
    """The charts, caption and table of one outcome's importance ``imp`` and correlation ``cor`` (both with a
    ``display_name`` column) over ``n`` rows, ``n_pos`` of them with Y true. ``figures``: the key naming what
    ``imp``/``cor`` were computed from, so their figures are built once per key (``charts.figure_once``)."""
    st.caption(f"Y = “{plain(outcome_label)}” · {n:,} rows, {n_pos:,} with Y true · importance = I(X;Y)/H(Y), "
               f"bias-corrected plug-in estimate on quantile bins over every row (no random numbers; at most "
               f"{max_samples:,} rows per metric, a deterministic stratified subsample above that); baseline = "
               f"the importance of a shuffled outcome (random_state={random_state}), drawn as a tick on each bar: a bar "
               f"that does not clear its tick is noise; see docs/metrics.md"
               + ("; rows of one image sharing a frame (F) value count as one unit" if grouped else ""))
    if n_pos < MIN_POSITIVES:
        st.warning(f"Only {n_pos:,} row(s) with Y = “{plain(outcome_label)}” (fewer than {MIN_POSITIVES}): the importance "
                   "values are rough estimates.")
    # a metric constant over the rows carries no information: listed under the charts, not drawn as empty bars
    constant = imp["note"].fillna("").astype(str).str.startswith("metric is constant").to_numpy()
    left, right = st.columns(2)
    title = f"Metric correlation with Y ({method.capitalize()})"

    def figure(name, build):
        return build() if figures is None else figure_once((name, outcome_label, *figures), build)

    with left:
        show_chart(figure("importance", lambda: importance_figure(imp[~constant])), key=f"importance_{outcome_label}")
    with right:
        show_chart(figure(f"correlation {title}", lambda: sorted_bar(cor, value="correlation",
                                                                      value_range=(-1.0, 1.0), title=title)),
                   key=f"correlation_{outcome_label}")
    if constant.any():
        st.caption(f"{int(constant.sum())} metric(s) constant over these rows (no information, not drawn): "
                   + ", ".join(map(plain, imp.loc[constant, "display_name"].astype(str))))

    def table():
        both = imp.merge(cor[["metric", "correlation", "note"]].rename(columns={"note": "correlation_note"}),
                         on="metric", how="left")
        return both[["display_name", "importance", "baseline", "correlation", "n_samples", "n_positive", "note",
                     "correlation_note"]]

    with st.expander(f"Numbers and sample sizes (Y = {plain(outcome_label)})"):
        st.dataframe(table() if figures is None else table_once(("importance table", outcome_label, *figures), table),
                     hide_index=True, column_config={"display_name": "metric"})


@st.cache_resource(show_spinner="Estimating metric importance…", max_entries=32)
def _task_importance(cache_key: tuple, column: str, names: tuple, grouped: tuple | None, max_samples: int,
                     random_state: int, _sel) -> tuple[pd.DataFrame, int, int]:
    return _importance_of(_sel, cache_key[-1], column, names, grouped, max_samples, random_state)


def _importance_of(sel, target: str, column: str, names: tuple, grouped: tuple | None, max_samples: int,
                   random_state: int) -> tuple[pd.DataFrame, int, int]:
    """(importance table, rows, rows with Y true) of ``target``'s outcome ``column``: core calls only (no
    Streamlit), so a worker thread can make it ahead of the page (``prefetch``)."""
    # the core's outcome tables are never written: facts about their metric columns are kept across IoU moves
    values = outcome_values(outcome_table(sel, target), column, names, groups=grouped is not None, kept=True)
    imp = importance_of_columns(values.columns, values.y, rows=values.rows, random_state=random_state,
                                max_samples=max_samples, groups=values.groups, grouped_metrics=grouped,
                                kept=values.kept)
    return imp, values.n, values.n_positive


@st.cache_resource(show_spinner=False, max_entries=32)
def _task_correlation(cache_key: tuple, column: str, names: tuple, method: str, _sel) -> pd.DataFrame:
    return _correlation_of(_sel, cache_key, column, names, method)


# correlation tables per (view, metrics run, core selection, target, column, metrics, method), made by the page or
# ahead by a worker (``prefetch``): a few kB each
_CORRELATIONS: OrderedDict = OrderedDict()


def _correlation_of(sel, cache_key: tuple, column: str, names: tuple, method: str) -> pd.DataFrame:
    """The correlation table of ``cache_key``'s target (``_figures_key``) against its outcome ``column``: core
    calls only, kept in a single-flight cache, so a worker thread can make it ahead of the page."""
    def make():
        values = outcome_values(outcome_table(sel, cache_key[-1]), column, names, kept=True)
        return correlation_of_columns(values.columns, values.y.astype(np.float64), rows=values.rows, method=method,
                                      kept=values.kept)

    return _remember(_CORRELATIONS, (cache_key, column, names, method), make, size=32)


def _figures_key(sel, o, names: dict, frame: tuple, method: str) -> tuple:
    """What outcome ``o``'s tables and figures are kept by: ((view, metrics run, core selection, target),
    outcome column, metric names, frame metrics, correlation method)."""
    return _data_key(sel, o.target), o.column, tuple(names.items()), frame, method


def _data_key(sel, target: str) -> tuple:
    """(view, fingerprint, metrics run, core selection, target): what a target's outcome table is made of."""
    p = sel.project
    return str(p.root), p.fingerprint, metrics_stamp(p), sel.core, target


def prefetch(sel) -> list:
    """The importance and correlation tables of the selection's outcomes not drawn yet, one zero-argument call of
    core functions each (no Streamlit): for worker threads started at the top of the page (``detection.start``), so
    they are made while the headline is drawn; ``render_task_importance`` then finds them in the core's caches (single-flight:
    it waits for a table still being made). Same arguments as the page's, so the same numbers."""
    project = sel.project
    todo = []
    for o in tasks.get(project.task).outcomes:
        names = metric_names(project, o.target, numeric=True)
        if not names:
            break
        levels = metric_levels(project, o.target)
        frame = tuple(c for c in names if levels.get(c) == "F")
        if not any(_figures_key(sel, o, names, frame, m) in _SHOWN for m in CORRELATION_METHODS.values()):
            todo.append((o, tuple(names), frame if o.target != "images" else None))
    # the correlation of the method the page's radio holds (its default before the radio is drawn)
    method = CORRELATION_METHODS.get(st.session_state.get(CORRELATION_KEY), "pearson")

    def work(o, names, grouped):
        out = _importance_of(sel, o.target, o.column, names, grouped, DEFAULT_MAX_SAMPLES, 0)
        if out[1]:  # rows to correlate (the page draws nothing for an outcome without any)
            _correlation_of(sel, _data_key(sel, o.target), o.column, names, method)
        return out

    return [lambda job=job: work(*job) for job in todo]


def render_task_importance(sel, *, method: str = "pearson") -> None:
    """Importance and correlation of the data metrics with each outcome of the task, over the selection's rows
    whose outcome is defined; the rows of an image sharing a frame (F) value count as one unit. Both are cached
    per (project view, metrics run, core selection, target): a rerun that changes neither redraws them without
    touching the outcome table, and a change of correlation method leaves importance alone."""
    project = sel.project
    task = tasks.get(project.task)
    for o in task.outcomes:
        names = metric_names(project, o.target, numeric=True)
        if not names:
            st.info("No data metrics computed for this project yet: run `explorer metrics PROJECT`.")
            return
        st.markdown(f"**{plain(o.target.capitalize())}** — Y = “{plain(o.title)}”" + _options_note(task, sel.core))
        per_image = o.target != "images"
        levels = metric_levels(project, o.target)
        frame = tuple(c for c in names if levels.get(c) == "F")
        figures = _figures_key(sel, o, names, frame, method)
        key = figures[0]

        def tables():
            imp, n, n_pos = _task_importance(key, o.column, tuple(names), frame if per_image else None,
                                             DEFAULT_MAX_SAMPLES, 0, sel)
            if n == 0:
                return None, None, 0, 0
            cor = _task_correlation(key, o.column, tuple(names), method, sel)
            return (imp.assign(display_name=imp["metric"].map(names)),
                    cor.assign(display_name=cor["metric"].map(names)), n, n_pos)

        # the tables as drawn, kept per key for every session's rerun (a hit of st.cache_resource hashes its
        # arguments, ~0.5 ms, and the display names were mapped again each time)
        imp, cor, n, n_pos = _remember(_SHOWN, figures, tables, size=32)
        if n == 0:
            st.info(f"No data metrics or no rows to relate to “{plain(o.title)}”.")
            continue
        _draw(imp, cor, n, n_pos, outcome_label=o.title, method=method, max_samples=DEFAULT_MAX_SAMPLES,
              random_state=0, grouped=per_image, figures=figures)


def _options_note(task, core) -> str:
    """The outcome options in force (the selection's, else the task's defaults), e.g. " (target_iou = 0.75)"."""
    options = {**{k: v for k, v in task.option_defaults.items() if v is not None}, **dict(core.options)}
    return "" if not options else " (" + ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                                                  for k, v in options.items()) + ")"
