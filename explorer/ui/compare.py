"""The Compare runs page: two runs of the project at the sidebar's selection (``explorer.analysis.compare``).

Cached per project, the two runs' fingerprints and the core selection; the galleries draw each change on the run
that shows it (``explorer.drawing.failure_tiles.outcome_tiles`` of that run's project view).

Stable texts (the browser walk): title "Compare runs"; selectboxes "Run A" and "Run B"; subheaders "Headline",
"Per class", "Per bucket", "Fixed and broken objects"; the radio "Show objects" with ``GALLERIES`` as options.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.analysis.compare import Comparison, compare_runs, run_bucket_deltas
from explorer.analysis.failure_buckets import sort_key, sorted_window
from explorer.analysis.intervals import N_RESAMPLES, SEED
from explorer.drawing.failure_tiles import outcome_tiles
from explorer.ui.buckets import BUILTIN_SORTS, metric_choices, values_of
from explorer.ui.charts import figure_once, show_chart, table_once
from explorer.ui.gallery import Pages, show_gallery
from explorer.ui.outcomes import metric_names, metrics_stamp
from explorer.ui.persist import keep, keyed
from explorer.ui.text import number, plain

# gallery choice -> (change, kind, what the tile shows)
GALLERIES = {
    "Fixed: missed by A, detected by B": ("fixed", "label", "B's detection of a label A missed"),
    "Fixed: false detections of A gone in B": ("fixed", "false detection", "A's false detection, absent from B"),
    "Broken: detected by A, missed by B": ("broken", "label", "a label B misses (A detected it)"),
    "Broken: new false detections in B": ("broken", "false detection", "B's false detection, absent from A"),
}
TARGETS = {"labels (TPR)": "labels", "predictions (precision)": "predictions"}


@st.cache_resource(show_spinner="Comparing the runs…", max_entries=8)
def _comparison(path: str, fingerprint_a: str, fingerprint_b: str, core, run_a: str, run_b: str,
                _project) -> Comparison:
    return compare_runs(_project, core, run_a, run_b)


def comparison(sel, run_a: str, run_b: str) -> Comparison:
    """``compare_runs`` of the selection, cached."""
    p = sel.project
    return _comparison(*_key(sel, run_a, run_b), sel.core, run_a, run_b, p)


@st.cache_resource(show_spinner=False, max_entries=32)
def _deltas(path: str, fingerprint_a: str, fingerprint_b: str, stamp: float, core, run_a: str, run_b: str,
            metric: str, target: str, n_buckets: int, _project) -> pd.DataFrame:
    return run_bucket_deltas(_project, core, run_a, run_b, metric, target=target, n_buckets=n_buckets)


def bucket_deltas(sel, run_a: str, run_b: str, metric: str, target: str, n_buckets: int) -> pd.DataFrame:
    """``run_bucket_deltas`` of the selection, cached."""
    p = sel.project
    return _deltas(*_key(sel, run_a, run_b), metrics_stamp(p), sel.core, run_a, run_b, metric, target, int(n_buckets),
                   p)


def _key(sel, run_a: str, run_b: str) -> tuple:
    """``(path, fingerprint A, fingerprint B)``: what names the two runs' data."""
    p = sel.project
    return str(p.root), p.for_run(run_a).fingerprint, p.for_run(run_b).fingerprint


def deltas_figure(table: pd.DataFrame, *, rate: str, run_a: str, run_b: str, title: str) -> go.Figure:
    """Rate of both runs per bucket (bars with Wilson 95% error bars) and B − A (markers, right axis)."""
    fig = go.Figure()
    for side, name, color in (("a", run_a, "#7f7f7f"), ("b", run_b, "#1f77b4")):
        y = table[f"rate_{side}"].to_numpy(np.float64)
        fig.add_trace(go.Bar(
            x=table["range"], y=y, name=f"{name} ({side.upper()})", marker_color=color,
            error_y=dict(type="data", symmetric=False, array=table[f"rate_{side}_hi"].to_numpy(np.float64) - y,
                         arrayminus=y - table[f"rate_{side}_lo"].to_numpy(np.float64), thickness=1, width=3),
            customdata=table[[f"n_{side}"]].to_numpy(),
            hovertemplate="%{x}: %{y:.3f} (n = %{customdata[0]:,})<extra>" + rate + "</extra>"))
    fig.add_trace(go.Scatter(x=table["range"], y=table["delta"], name="B − A (right axis)", yaxis="y2",
                             mode="lines+markers", line=dict(color="#d62728"),
                             hovertemplate="%{x}: B − A %{y:+.3f}<extra></extra>"))
    fig.update_layout(barmode="group", title=title, height=430, margin=dict(l=10, r=10, t=90, b=30),
                      legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom"),
                      yaxis=dict(title=rate, range=[0, 1.05]),
                      yaxis2=dict(title="B − A", overlaying="y", side="right", range=[-1, 1], showgrid=False,
                                  zeroline=True),
                      xaxis=dict(title="bucket (metric range)", type="category"))
    return fig


def _fmt(v: float) -> str:
    return number(v)


def pick_runs(project, current: str | None = None) -> tuple[str, str] | None:
    """The "Run A" / "Run B" pickers (A starts at the sidebar's run ``current``, B at the first other run; keyed by
    ``current``, so choosing another run in the sidebar moves A to it); None (with a note) when both are the same."""
    runs = list(project.runs)
    first = runs.index(current) if current in runs else 0
    left, right = st.columns(2)
    a = left.selectbox("Run A", runs, index=first, **keep(keyed("compare_run_a", current)))
    b = right.selectbox("Run B", runs, index=next((i for i, r in enumerate(runs) if r != a), 0),
                        **keep(keyed("compare_run_b", current)))
    if a == b:
        st.warning("Run A and run B are the same run: choose two different runs to compare.")
        return None
    return a, b


def headline(c: Comparison, sel) -> None:
    h = c.headline
    t = sel.iou_threshold
    st.subheader("Headline")
    cols = st.columns(3)
    cols[0].metric(f"mAP @ IoU {t:.2f} — A ({plain(c.run_a)})", _fmt(h["map_a"]))
    cols[1].metric(f"mAP @ IoU {t:.2f} — B ({plain(c.run_b)})", _fmt(h["map_b"]))
    lo, hi = h["map_delta_interval"]
    cols[2].metric("B − A", f"{h['map_delta']:+.4f}" if np.isfinite(h["map_delta"]) else "—",
                   help=f"95% paired bootstrap interval [{lo:+.4f}, {hi:+.4f}]")
    verdict = ("B is better beyond the noise" if lo > 0 else "B is worse beyond the noise" if hi < 0
               else "the difference is within the noise of these images")
    st.caption(f"mAP difference B − A: {h['map_delta']:+.4f}, 95% paired bootstrap interval [{lo:+.4f}, {hi:+.4f}] "
               f"({h['n_resamples']:d} resamples of the {h['n_images']:,} images, seed {SEED}; both runs evaluated on "
               f"the same resampled images): {verdict}. mAR A {plain(_fmt(h['mar_a']))}, B {plain(_fmt(h['mar_b']))}, "
               f"B − A {h['mar_delta']:+.4f} [{h['mar_delta_interval'][0]:+.4f}, {h['mar_delta_interval'][1]:+.4f}].")


def class_table(c: Comparison, sel) -> None:
    st.subheader("Per class")
    cols = ["name", "support", "ap_a", "ap_b", "ap_delta", "ap_delta_lo", "ap_delta_hi", "ar_a", "ar_b", "ar_delta"]
    fmt = {k: st.column_config.NumberColumn(k, format="%.4f") for k in cols[2:]}
    fmt.update({"name": "class", "support": "labels",
                "ap_delta": st.column_config.NumberColumn("AP B − A", format="%+.4f"),
                "ap_delta_lo": st.column_config.NumberColumn("lo (95%)", format="%+.4f"),
                "ap_delta_hi": st.column_config.NumberColumn("hi (95%)", format="%+.4f")})
    # kept in st.dataframe's form per data key, for every session's rerun (charts.table_once)
    st.dataframe(table_once(("compare per class", *_key(sel, c.run_a, c.run_b), sel.core, c.run_a, c.run_b),
                            lambda: c.per_class[cols]), hide_index=True, column_config=fmt)


def bucket_section(sel, run_a: str, run_b: str) -> None:
    st.subheader("Per bucket")
    project = sel.project
    left, mid, right = st.columns([1, 2, 1])
    target = TARGETS[left.radio("Rows", list(TARGETS), **keep("compare_target"))]
    names = metric_names(project, target, numeric=True)
    if not names:
        st.info("No data metrics computed for this project yet: run `explorer metrics PROJECT` to compare the runs "
                "per bucket of a metric.")
        return
    metric = mid.selectbox("Metric", list(names), format_func=names.get, **keep(keyed("compare_metric", target)))
    n_buckets = int(right.number_input("Buckets", min_value=2, max_value=20, value=5, step=1,
                                       **keep("compare_n_buckets")))
    table = bucket_deltas(sel, run_a, run_b, metric, target, n_buckets)
    if table.empty:
        st.info(f"{plain(names[metric])} has no value over these {target}.")
        return
    rate = "TPR" if target == "labels" else "precision"
    key = ("compare deltas", *_key(sel, run_a, run_b), metrics_stamp(project), sel.core, run_a, run_b, metric, target,
           n_buckets, names[metric])
    show_chart(figure_once(key, lambda: deltas_figure(table, rate=rate, run_a=run_a, run_b=run_b,
                                                      title=f"{names[metric]}: {rate} of A and B")),
               key="compare_bucket_chart")
    with st.expander("Bucket counts and rates"):
        st.dataframe(table_once(key, lambda: table), hide_index=True)


def changes_section(sel, c: Comparison) -> None:
    st.subheader("Fixed and broken objects")
    st.caption("Fixed: a label A missed and B detects, or a false detection of A with no false detection of the same "
               f"class at box IoU ≥ {sel.iou_threshold:.2f} in B. Broken: the reverse. Matched at the sidebar's IoU "
               "and confidence thresholds.")
    counts = {label: len(c.group(change, kind)) for label, (change, kind, _) in GALLERIES.items()}
    st.dataframe(pd.DataFrame({"objects": list(counts), "count": list(counts.values())}), hide_index=True)
    choice = st.radio("Show objects", list(GALLERIES), **keep("compare_gallery"))
    change, kind, what = GALLERIES[choice]
    group = c.group(change, kind)
    project = sel.project.for_run(group.run)
    choices = metric_choices(project)
    left, right = st.columns([3, 1])
    column = left.selectbox("Sort by", list(choices), format_func=choices.get, **keep("compare_sort"))
    descending = right.radio("Order", ["descending", "ascending"], **keep("compare_order")) == "descending"
    rows = group.rows
    values = values_of(project, rows, column)
    # failure_buckets.sort_rows' order (outcome rank, then the value, then position), selected per page only:
    # the rows' text columns are built for the tiles shown, never for every changed object
    rank, order_key = rows.rank(), sort_key(values, descending=descending)
    st.caption(f"{len(rows):,} objects: each tile shows {what} (drawn on run {plain(group.run)}'s boxes).")
    title = choices[column] if column not in BUILTIN_SORTS else None

    def tiles(start: int, stop: int):
        at = sorted_window(rank, order_key, start, stop)
        return outcome_tiles(project, group.frame(at).assign(_value=values[at]), metric_title=title,
                             metric_values=values[at])

    show_gallery(Pages(len(rows), tiles), key=keyed("compare_gallery_items", change, kind), project=project,
                 per_page=12, columns=4, empty_message="No object changed this way between the two runs.")


def render_compare(sel) -> None:
    """The whole page for the sidebar selection ``sel``."""
    st.title("Compare runs")
    project = sel.project
    if len(project.runs) < 2:
        st.info(f"This project has {len(project.runs)} run(s): comparing needs two models' predictions on the same "
                "images. Add another run with `explorer add-predictions PROJECT PREDICTIONS.json --run NAME`, "
                "then come back.")
        return
    runs = pick_runs(project, sel.run)
    if runs is None:
        return
    run_a, run_b = runs
    st.caption(f"Both runs matched at IoU ≥ {sel.iou_threshold:.2f}, confidence ≥ {sel.confidence_threshold:.2f}, on "
               "the sidebar's classes and split. Every difference reads B − A.")
    c = comparison(sel, run_a, run_b)  # its paired bootstrap runs in a worker thread until the headline is read
    top = st.container()  # headline and per-class table, drawn last (above the rest) while the resamples run
    bucket_section(sel, run_a, run_b)
    changes_section(sel, c)
    with top:
        with st.spinner(f"Paired bootstrap ({N_RESAMPLES} image resamples)…"):
            c.headline
        headline(c, sel)
        class_table(c, sel)
