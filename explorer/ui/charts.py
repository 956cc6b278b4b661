"""Plotly figure builders for the model-quality pages: aggregates in, figure out (never raw rows).

Each builder takes a small summary table (one row per metric, bucket, class or curve point) and returns a
``plotly.graph_objects.Figure``; curves are thinned to at most ``MAX_CURVE_POINTS`` points per trace.

Every figure reaches the page through ``show_chart``, which HTML-escapes the figure's text (``escape_figure``):
Plotly renders ``<b>``, ``<br>`` and ``<a href>`` found in category names, trace names and titles, and those hold
class names, metric titles and file names (``explorer.ui.text``).
"""
from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io

from explorer.ui.text import chart_text

MAX_CURVE_POINTS = 400
FIGURES_KEPT = 96  # figures of ~100 traces × 400 points: well under 100 MB in all
TABLES_KEPT = 256  # shown tables of at most a few hundred rows (a class or a metric per row): a few MB in all
LEGEND_TOP_K = 12  # classes named in a legend; the others are grouped into one entry
RATE_TITLES = {
    "true_positive_rate": "True positive rate (TPR)",
    "false_negative_rate": "False negative rate (FNR)",
    "precision": "Precision",
    "false_discovery_rate": "False discovery rate (FDR)",
    "outcome_rate": "Share with Y true",
    "complement_rate": "Share with Y false",
}
RATE_COLORS = {
    "true_positive_rate": "#2ca02c",
    "false_negative_rate": "#ff7f0e",
    "precision": "#1f77b4",
    "false_discovery_rate": "#d62728",
    "outcome_rate": "#2ca02c",
    "complement_rate": "#d62728",
}


def table_height(n_rows: int, *, max_rows: int = 40) -> int:
    """``st.dataframe`` height in pixels that shows ``n_rows`` rows without an inner scroll bar (up to
    ``max_rows``; a longer table scrolls): 35 px per row plus the header."""
    return 38 + 35 * max(1, min(int(n_rows), max_rows))


def _thin(df: pd.DataFrame, limit: int = MAX_CURVE_POINTS) -> pd.DataFrame:
    if len(df) <= limit:
        return df
    keep = np.unique(np.linspace(0, len(df) - 1, limit).round().astype(int))
    return df.iloc[keep]


def sorted_bar(table: pd.DataFrame, *, value: str, label: str = "display_name", value_range=(0.0, 1.0),
               title: str = "", hover: str = "n_samples") -> go.Figure:
    """Horizontal bars of ``table[value]`` by ``table[label]``, largest on top (by |value|); NaN bars are left
    out of the drawing (the table below the chart lists them with their note).

    ``table``: one row per metric with columns ``label``, ``value`` and ``hover`` (shown on hover and as text).
    """
    shown = table[table[value].notna()].copy()
    shown = shown.iloc[np.argsort(np.abs(shown[value].to_numpy(np.float64)), kind="stable")]  # plotly draws bottom-up
    colors = np.where(shown[value].to_numpy() >= 0, "#1f77b4", "#d62728")
    # a trace dict: go.Figure validates it once (a go.Bar was validated again by go.Figure)
    fig = go.Figure(data=[dict(
        type="bar", x=shown[value], y=shown[label], orientation="h", marker=dict(color=colors),
        text=[f"{v:.3f}" for v in shown[value]], textposition="outside", cliponaxis=False,
        customdata=shown[[hover]].to_numpy() if hover in shown else None,
        hovertemplate="%{y}: %{x:.4f}" + ("<br>n = %{customdata[0]:,}" if hover in shown else "") + "<extra></extra>",
    )])
    fig.update_layout(title=title, height=max(260, 26 * len(shown) + 90), margin=dict(l=10, r=40, t=40, b=30),
                      xaxis=dict(range=list(value_range)), yaxis=dict(automargin=True))
    return fig


def pr_curve_figure(curves: pd.DataFrame, names: dict[int, str]) -> go.Figure:
    """Precision against recall, one line per class. ``curves``: ``category_id, recall, precision``."""
    cats = curves["category_id"].to_numpy()
    order = None
    if len(cats) and not (cats[1:] >= cats[:-1]).all():  # the engine's curves come grouped by class already
        order = np.argsort(cats, kind="stable")
        cats = cats[order]
    starts = np.flatnonzero(np.r_[True, cats[1:] != cats[:-1]]) if len(cats) else np.zeros(0, np.int64)
    uniq = cats[starts]
    ends = np.r_[starts[1:], len(cats)]
    # the points drawn (at most MAX_CURVE_POINTS per class, evenly spaced) are gathered before anything else is
    # read: the curves hold a point per prediction (2M at 100k images), the figure ≤ 400 per class
    keeps = [np.unique(np.linspace(a, b - 1, min(b - a, MAX_CURVE_POINTS)).round().astype(int))
             for a, b in zip(starts, ends)]
    drawn = np.concatenate(keeps) if keeps else np.zeros(0, np.int64)
    at = drawn if order is None else order[drawn]
    # drawn in float32 (7 significant digits, far finer than a pixel or a hover label): half the bytes every
    # session is sent at each new threshold (80 classes x 400 points x 2 coordinates)
    recall, precision = (curves[c].to_numpy()[at].astype(np.float32) for c in ("recall", "precision"))
    bounds = np.r_[0, np.cumsum([len(k) for k in keeps])].astype(int)
    # the legend names the LEGEND_TOP_K classes with the longest curves (most predictions); the rest share one
    # "N other classes" entry that shows or hides them together
    named = set(uniq[np.argsort(-(ends - starts), kind="stable")[:LEGEND_TOP_K]].tolist())
    n_other = len(uniq) - len(named)
    traces = []  # trace dicts: go.Figure validates each once (go.Scatter objects were validated twice, ~2/5 of the cost)
    for cat, a, b in zip(uniq, bounds[:-1], bounds[1:]):  # one trace per class: its drawn points a..b-1
        name = names.get(int(cat), str(cat))
        if cat in named:
            traces.append(dict(type="scatter", x=recall[a:b], y=precision[a:b], mode="lines", name=name))
        else:
            traces.append(dict(type="scatter", x=recall[a:b], y=precision[a:b], mode="lines", name=name,
                               legendgroup="other", showlegend=False, line=dict(width=1, color="#bbb")))
    if n_other:  # a legend-only entry for the grouped classes (clicking it toggles the whole group)
        traces.append(dict(type="scatter", x=[None], y=[None], mode="lines", name=f"{n_other} other classes",
                           legendgroup="other", line=dict(width=1, color="#bbb"), hoverinfo="skip"))
    fig = go.Figure(data=traces)
    fig.update_layout(title="Precision–recall curves", xaxis_title="Recall", yaxis_title="Precision",
                      xaxis=dict(range=[0, 1.01]), yaxis=dict(range=[0, 1.01]), height=380,
                      margin=dict(l=10, r=10, t=40, b=30))
    return fig


def f1_confidence_figure(curve: pd.DataFrame, best: pd.Series | None) -> go.Figure:
    """F1, precision and recall against the confidence threshold, best-F1 threshold marked.

    ``curve``: ``threshold, precision, recall, f1``; ``best``: the row of the best F1 (or None).
    """
    part = _thin(curve)
    traces = [go.Scatter(x=part["threshold"].to_numpy(), y=part[col].to_numpy(), mode="lines",
                         name=col.upper() if col == "f1" else col, line=dict(color=color, width=3 if col == "f1" else 1.5))
              for col, color in (("f1", "#9467bd"), ("precision", "#1f77b4"), ("recall", "#2ca02c"))]
    shapes, annotations = [], []
    if best is not None:
        x = float(best["threshold"])
        shapes.append(dict(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line=dict(dash="dash", color="#9467bd")))
        annotations.append(dict(x=x, y=1, yref="paper", showarrow=False, yanchor="bottom",
                                text=f"best F1 {best['f1']:.3f} @ {best['threshold']:.3f}"))
    fig = go.Figure(data=traces)
    fig.update_layout(shapes=shapes, annotations=annotations, title="F1 against confidence threshold",
                      xaxis=dict(range=[0, 1.0], title="Confidence threshold"),  # scores are in [0, 1]: never 0–6
                      yaxis=dict(range=[0, 1.01], title="F1 / precision / recall"), height=380,
                      margin=dict(l=10, r=10, t=40, b=30))
    return fig


def _interval_bars(perf: pd.DataFrame, rate: str) -> dict | None:
    """Error bars from the ``<rate>_lo`` / ``<rate>_hi`` columns (Wilson 95%), when ``perf`` has them."""
    if f"{rate}_lo" not in perf:
        return None
    y = perf[rate].to_numpy(np.float64)
    return dict(type="data", symmetric=False, array=perf[f"{rate}_hi"].to_numpy(np.float64) - y,
                arrayminus=y - perf[f"{rate}_lo"].to_numpy(np.float64), thickness=1, width=3, color="#444")


def bucket_rates_figure(perf: pd.DataFrame, overall: pd.DataFrame, rates: tuple[str, str], *,
                        count: str, names: dict | None = None, title: str = "",
                        rate_titles: dict[str, str] | None = None) -> go.Figure:
    """Rates per bucket as bars (aggregate) or lines (one per group), item counts on a second axis, and the
    overall averages as dashed horizontal lines (named in the legend, not written over the bars); bars carry
    their Wilson 95% interval as error bars when ``perf`` has ``<rate>_lo``/``<rate>_hi`` columns.

    ``perf``: ``performance_by_metric`` output (``range`` and the two ``rates`` columns, ``count``, optional
    ``group``); ``overall``: ``overall_performance`` output (one row, or one per group); ``rate_titles``
    overrides ``RATE_TITLES`` (e.g. "prediction correct" instead of "Share with Y true").
    """
    fig = go.Figure()
    shapes = []
    rate_name = {**RATE_TITLES, **(rate_titles or {})}

    def hline(y: float, color: str, legend: str = "", opacity: float = 1.0) -> None:  # cheaper than fig.add_hline
        if not np.isfinite(y):
            return
        shapes.append(dict(type="line", x0=0, x1=1, xref="paper", y0=y, y1=y, opacity=opacity,
                           line=dict(dash="dash", color=color)))
        if legend:  # a legend entry for the dashed line: a trace without points
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=legend, hoverinfo="skip",
                                     line=dict(dash="dash", color=color)))

    if "group" not in perf:
        for rate in rates:
            fig.add_trace(go.Bar(x=perf["range"], y=perf[rate], name=rate_name[rate], marker_color=RATE_COLORS[rate],
                                 error_y=_interval_bars(perf, rate),
                                 hovertemplate="%{x}: %{y:.3f}<extra>" + rate_name[rate] + "</extra>"))
        fig.add_trace(go.Scatter(x=perf["range"], y=perf[count], name=count.replace("_", " ") + " (right axis)",
                                 yaxis="y2", mode="lines+markers", line=dict(color="#7f7f7f", width=1),
                                 hovertemplate="%{x}: %{y:,}<extra>" + count.replace("_", " ") + "</extra>"))
        for rate in rates:
            avg = float(overall[rate].iloc[0])
            hline(avg, RATE_COLORS[rate], f"average {rate_name[rate].split(' (')[0]}: {avg:.3f}")
        fig.update_layout(barmode="group")
    else:
        rate = rates[0]
        palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf"]
        # many classes: the LEGEND_TOP_K classes with the most items are named and coloured, the rest are thin grey
        # lines behind one "N other classes" legend entry
        sizes = perf.groupby("group", sort=True)[count].sum()
        named = set(sizes.sort_values(ascending=False, kind="stable").index[:LEGEND_TOP_K])
        n_other = len(sizes) - len(named)
        for i, (g, part) in enumerate(perf.groupby("group", sort=True)):
            label = (names or {}).get(g, str(g))
            color = palette[i % len(palette)] if g in named else "#bbb"
            fig.add_trace(go.Scatter(x=part["range"], y=part[rate], name=label, mode="lines+markers",
                                     line=dict(color=color, width=2 if g in named else 1),
                                     customdata=part[[count]].to_numpy(),
                                     showlegend=g in named, legendgroup=label if g in named else "other",
                                     hovertemplate="%{x}: %{y:.3f} (n = %{customdata[0]})<extra>" + label + "</extra>"))
            avg = overall.loc[overall["group"] == g, rate]
            if len(avg) and np.isfinite(float(avg.iloc[0])) and len(part):
                # the class's average as a dashed line across the buckets, named on hover and toggled with its class
                y = float(avg.iloc[0])
                fig.add_trace(go.Scatter(x=[part["range"].iloc[0], part["range"].iloc[-1]], y=[y, y], mode="lines",
                                         name=f"average {label}", legendgroup=label if g in named else "other",
                                         showlegend=False, opacity=0.6, line=dict(color=color, dash="dash"),
                                         hovertemplate=f"average {label}: {y:.3f}<extra></extra>"))
        if n_other:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"{n_other} other classes",
                                     legendgroup="other", hoverinfo="skip", line=dict(color="#bbb", width=1)))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="dashed: the class's average",
                                 hoverinfo="skip", line=dict(dash="dash", color="#777")))
    # legend above the plot, under the title: below it, it collides with the (rotated) bucket labels and the
    # axis title; on the right it takes a third of the width
    fig.update_layout(
        shapes=shapes, title=dict(text=title, y=0.98, yanchor="top"), height=470,
        margin=dict(l=10, r=10, t=100, b=30),
        legend=dict(orientation="h", x=0, xanchor="left", y=1.03, yanchor="bottom"),
        yaxis=dict(title=rate_name[rates[0]] if "group" in perf else "rate", range=[0, 1.05]),
        yaxis2=dict(title="count", overlaying="y", side="right", showgrid=False, rangemode="tozero",
                    tickmode="auto"),
        xaxis=dict(title=f"{title}: bucket range" if title else "bucket (metric range)", type="category"),
    )
    return fig


# trace attributes holding data shown as text (axis categories, cell text, hover text, legend names); templates
# (hovertemplate, texttemplate) are our own constant markup and are left alone
_TRACE_TEXT = ("x", "y", "z", "text", "hovertext", "labels", "name", "customdata", "legendgroup")
_AXIS_TEXT = ("ticktext",)


def _escaped(value):
    """``value`` with every string inside it (nested lists / arrays included) through ``chart_text``."""
    if isinstance(value, str):
        return chart_text(value)
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
        return np.vectorize(lambda v: chart_text(v) if isinstance(v, str) else v, otypes=[object])(value)
    return value


def escape_figure(fig: go.Figure) -> go.Figure:
    """``fig`` with its data text, titles, annotations and tick texts HTML-escaped in place (returned).

    Numbers are untouched; a point selected on the chart reports the escaped category (``html.unescape`` it)."""
    for trace in fig.data:
        for attr in _TRACE_TEXT:
            if attr in trace and trace[attr] is not None:
                trace[attr] = _escaped(trace[attr])
    layout = fig.layout
    if layout.title.text is not None:
        layout.title.text = chart_text(layout.title.text)
    for name in layout:
        if name.startswith(("xaxis", "yaxis")):
            axis = layout[name]
            if axis.title.text is not None:
                axis.title.text = chart_text(axis.title.text)
            for attr in _AXIS_TEXT:
                if axis[attr] is not None:
                    axis[attr] = _escaped(list(axis[attr]))
    if layout.legend.title.text is not None:
        layout.legend.title.text = chart_text(layout.legend.title.text)
    for note in layout.annotations:
        if note.text is not None:
            note.text = chart_text(note.text)
    return fig


def show_chart(fig: go.Figure, *, where=None, **kwargs):
    """``st.plotly_chart`` of ``escape_figure(fig)`` in ``where`` (a column or container; default the page):
    the one way a figure reaches the page. A figure from ``figure_once`` is escaped already and shown as is."""
    import streamlit as st

    return (where or st).plotly_chart(fig if getattr(fig, "_escaped_once", False) else escape_figure(fig), **kwargs)


# Figures kept per key, escaped once: a rerun that shows the same data (a revisited threshold, ten sessions at
# one IoU) skips building ~80 validated traces and escaping them — most of a warm Model Metrics rerun at 100k.
_FIGURES: OrderedDict = OrderedDict()


def figure_once(key: tuple, build) -> go.Figure:
    """``escape_figure(build())`` made once per ``key`` (hashable, naming everything the figure shows: the cache
    key of its data plus any titles and names) and shared by every session; never changed after it is made
    (marked ``_escaped_once``, so ``show_chart`` does not escape it again; ``to_dict()`` returns the one dict
    made with it, which is what a session's ``st.plotly_chart`` serialises)."""
    from explorer.analysis.outcomes import _remember  # the core's bounded single-flight cache

    def make():
        fig = escape_figure(build())
        fig._escaped_once = True
        # what st.plotly_chart serialises of a Figure each time it is shown: ``to_dict`` deep-copies the figure and
        # base64-encodes every array (~30 ms for 80 PR curves, in every session's rerun), then ``to_json`` cleans
        # what orjson refuses (object arrays of escaped names) item by item; done once here: the dict kept is the
        # JSON's own (plain lists, strings, numbers), which plotly.io.to_json writes back to the same text
        spec = json.loads(plotly.io.to_json(fig.to_dict(), validate=False))
        fig.to_dict = lambda: spec  # plotly allows setting an existing attribute; the dict is never changed
        return fig

    return _remember(_FIGURES, key, make, size=FIGURES_KEPT)


# Tables shown, kept per key in the form st.dataframe sends (Arrow): converting a DataFrame costs ~2 ms per table
# (pyarrow's per-column conversion), paid for each table of each rerun of each session; a kept Arrow table ~0.03 ms.
_TABLES: OrderedDict = OrderedDict()


def table_once(key: tuple, build):
    """The ``pyarrow.Table`` that ``st.dataframe`` makes of ``build()`` (a small DataFrame: pandas'
    ``convert_pandas_df_to_arrow_table``, so the bytes sent are the same as for the frame), made once per ``key``
    (hashable, naming everything the table shows) and shared by every session; pass it to ``st.dataframe`` as is."""
    from streamlit import dataframe_util

    from explorer.analysis.outcomes import _remember

    return _remember(_TABLES, key, lambda: dataframe_util.convert_pandas_df_to_arrow_table(build()), size=TABLES_KEPT)
