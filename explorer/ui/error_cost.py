"""The Metrics page's "What each error type costs" section: TIDE-style ΔAP (``explorer.analysis.tide``) overall, per
class and per bucket of a data metric, at the sidebar's IoU and confidence thresholds.

Cached per project fingerprint (which names the run) and core ``Selection``; the per-bucket table also per metric
and bucket count. Stable texts for browser tests: the subheader "What each error type costs", the radio
"Error cost view" (Overall / Per class / Per metric bucket), the chart key ``error_cost`` and the button
"Open suspected label errors".
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.analysis.tide import DELTA_KEYS, ERROR_TYPES, TITLES
from explorer.project.folder import Project
from explorer.ui.charts import figure_once, show_chart
from explorer.ui.persist import keep, switch_page
from explorer.ui.text import plain

VIEWS = ("Overall", "Per class", "Per metric bucket")
HELP = {
    "classification": "a false detection with IoU ≥ t on a label of another class: fixed, it becomes a true positive of that class",
    "localisation": "a false detection of the right class overlapping a label only with 0.1 ≤ IoU ≤ t: fixed, a true positive",
    "both": "wrong class and poorly localised (0.1 < IoU < t with another class): removed",
    "duplicate": "a second detection of a label already taken by a higher score: removed",
    "background": "a false detection overlapping no label above IoU 0.1: removed",
    "missed": "a label no detection took or could be fixed into: taken out of the label count",
    "false_positives": "every false detection removed (perfect precision at the same recall)",
    "false_negatives": "every class's label count set to its true positives (perfect recall at the same precision)",
}


@st.cache_resource(show_spinner="Classifying errors…", max_entries=4)  # big: the core keeps 4 too
def _cost(path: str, fingerprint: str, core, _project: Project):
    from explorer.analysis.tide import error_cost

    return error_cost(_project, core)


def prefetch(sel) -> list:
    """The selection's error cost and its oracle fixes as a zero-argument call of core functions, for a worker
    thread started at the top of the page (``detection.start``); ``error_cost_section`` then finds them in the
    core's cache (single-flight) and the cost's kept fixes."""
    def work():
        from explorer.analysis.tide import error_cost

        cost = error_cost(sel.project, sel.core)
        if np.isfinite(cost.ap):
            cost.delta_ap  # noqa: B018 — the fixes run once and are kept (a cached property, locked)
        return cost
    return [work]


def cost_of(sel):
    """``ErrorCost`` of the UI selection (cached)."""
    return _cost(str(sel.project.root), sel.project.fingerprint, sel.core, sel.project)


@st.cache_resource(show_spinner="Error cost per bucket…", max_entries=32)
def _by_bucket(path: str, fingerprint: str, stamp: float, core, metric: str, n_buckets: int, _project: Project):
    from explorer.analysis.tide import error_cost_for_metric

    return error_cost_for_metric(_project, core, _cost(path, fingerprint, core, _project), metric, n_buckets=n_buckets)


def by_bucket(sel, metric: str, n_buckets: int) -> pd.DataFrame:
    from explorer.ui.outcomes import metrics_stamp

    p = sel.project
    return _by_bucket(str(p.root), p.fingerprint, metrics_stamp(p), sel.core, metric, n_buckets, p)


def overall_figure(cost) -> go.Figure:
    """Horizontal bars: ΔAP of each type (the six error types, then the two "all FP / all FN" fixes)."""
    keys = list(DELTA_KEYS)[::-1]  # plotly draws bottom-up: classification on top
    values = [cost.delta_ap[k] for k in keys]
    colours = ["#7f7f7f" if k not in ERROR_TYPES else "#d62728" for k in keys]
    fig = go.Figure(go.Bar(
        x=values, y=[TITLES[k] for k in keys], orientation="h", marker_color=colours,
        text=[f"{v:.3f}" for v in values], textposition="outside", cliponaxis=False,
        customdata=[[cost.counts[k]] for k in keys],
        hovertemplate="%{y}: ΔAP %{x:.4f}<br>%{customdata[0]:,} errors<extra></extra>"))
    top = max(max(values, default=0.0) * 1.25, 0.01)
    fig.update_layout(title=f"mAP gained if each error type were fixed (AP @ {cost.iou_threshold:.2f} = {cost.ap:.3f})",
                      height=340, margin=dict(l=10, r=40, t=40, b=30), xaxis=dict(range=[0, top], title="ΔAP"),
                      yaxis=dict(automargin=True))
    return fig


def grouped_figure(table: pd.DataFrame, label: str, title: str) -> go.Figure:
    """Grouped bars: ΔAP of each of the six error types per row of ``table`` (``label`` names the rows)."""
    fig = go.Figure([go.Bar(name=TITLES[k], x=table[label].astype(str), y=table[f"delta_{k}"],
                            hovertemplate=f"{TITLES[k]} · %{{x}}: ΔAP %{{y:.4f}}<extra></extra>") for k in ERROR_TYPES])
    fig.update_layout(barmode="group", title=title, height=380, margin=dict(l=10, r=10, t=40, b=30),
                      yaxis=dict(title="ΔAP", rangemode="tozero"), legend=dict(orientation="h", y=-0.2))
    return fig


def _delta_config(prefix: str = "delta_") -> dict:
    return {f"{prefix}{k}": st.column_config.NumberColumn(f"ΔAP {TITLES[k].lower()}", format="%.4f", help=HELP[k])
            for k in DELTA_KEYS}


def error_cost_section(sel) -> None:
    """The whole section (one call from the Metrics page)."""
    st.subheader("What each error type costs")
    st.caption(f"TIDE (Bolya et al., ECCV 2020) at foreground IoU {sel.iou_threshold:.2f} and background IoU 0.10: "
               "each false detection and missed label gets one error type; a bar is the mAP gained if exactly those "
               "errors were fixed (the paper's oracle fixes). Grey bars: every false positive / every false negative at once.")
    cost = cost_of(sel)
    if not np.isfinite(cost.ap):
        st.info("The selection holds no labels of the selected classes: AP and its error costs are undefined.")
        return
    view = st.radio("Error cost view", VIEWS, horizontal=True, **keep("ec_view"))
    if view == "Overall":
        # one figure per selection for every session (charts.figure_once)
        show_chart(figure_once(("error_cost", str(sel.project.root), sel.project.fingerprint, sel.core),
                               lambda: overall_figure(cost)), key="error_cost")
        counts = pd.DataFrame({"error type": [TITLES[k] for k in DELTA_KEYS], "errors": [cost.counts[k] for k in DELTA_KEYS],
                               "ΔAP": [cost.delta_ap[k] for k in DELTA_KEYS], "what the fix does": [HELP[k] for k in DELTA_KEYS]})
        st.dataframe(counts, hide_index=True, column_config={"ΔAP": st.column_config.NumberColumn(format="%.4f")})
    elif view == "Per class":
        table = cost.per_class.rename(columns={"name": "class"})
        show_chart(grouped_figure(table, "class", "ΔAP per class (that class's AP gained)"), key="error_cost_per_class")
        cols = ["class", "ap", *(f"delta_{k}" for k in DELTA_KEYS), *(f"n_{k}" for k in ERROR_TYPES)]
        st.dataframe(table[cols], hide_index=True, column_config={
            "ap": st.column_config.NumberColumn(f"AP @ {sel.iou_threshold:.2f}", format="%.4f"), **_delta_config()})
    else:
        _bucket_view(sel)
    if st.button("Open suspected label errors", key="ec_open_suspects", icon=":material/flag:",
                 help="The queue of labels the model's errors suggest are wrong, with their images"):
        from explorer.resources import pages_dir

        switch_page(st.Page(pages_dir() / "suspects.py", url_path="suspects"))


def _bucket_view(sel) -> None:
    from explorer.ui.performance import metric_options

    options = {}
    for entry in metric_options(sel.project):  # one choice per metric name (its levels share the column)
        options.setdefault(entry.name, entry.display_name)
    if not options:
        st.info("No data metrics yet: compute them (explorer metrics PROJECT) to split the error cost by a metric.")
        return
    left, right = st.columns([3, 1])
    name = left.selectbox("Metric", list(options), format_func=lambda n: plain(options[n]), **keep("ec_metric"))
    n_buckets = right.slider("Buckets", 2, 10, 5, **keep("ec_buckets"))
    table = by_bucket(sel, name, n_buckets)
    if not len(table):
        st.info("This metric has no value for the selection's detections or labels.")
        return
    show_chart(grouped_figure(table, "range", f"mAP gained by fixing only the errors in each bucket of "
                                              f"{options[name]}"), key="error_cost_per_bucket")
    st.caption("A prediction's error falls in the bucket of its own value, a missed label in the label's; edges are "
               "quantiles over the selection's detections and labels together.")
    cols = ["range", "n_items", *(f"delta_{k}" for k in DELTA_KEYS), *(f"n_{k}" for k in ERROR_TYPES)]
    st.dataframe(table[cols], hide_index=True, column_config={"n_items": "items", **_delta_config()})
