"""The Slices page: a metric × metric heatmap of a rate and the ranked weakest slices (``explorer.analysis.slices``).

The rows are the selection's outcome table of labels (rate: TPR) or predictions (precision) where the outcome is
defined (``explorer.analysis.outcomes.rated``), with every numeric data metric. A slice opens in the Failure
Explorer through ``st.session_state["failure_selection"]`` (the Performance by Metric hand-off:
``{"label_ids", "pred_ids", "title"}``).

Stable texts: title "Slices"; subheaders "Metric × metric", "Weakest slices"; selectbox "Slice to inspect";
button "Open in Failure Explorer".
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.analysis.slices import (MIN_SUPPORT, N_BINS, HeatmapBins, SliceBins, heatmap, heatmap_bins, slice_bins,
                                     slice_mask, weakest_slices)
from explorer.resources import pages_dir
from explorer.ui.charts import show_chart
from explorer.ui.outcomes import metric_names, metrics_stamp, outcome_table
from explorer.ui.persist import keep, keyed, switch_page
from explorer.ui.text import plain

TARGETS = {"labels (TPR)": ("labels", "detected", "TPR"), "predictions (precision)": ("predictions", "is_tp", "precision")}


def rows_of(sel, target: str, column: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The selection's outcome table of ``target`` (cached, every row) and the positions (ascending int64) of its
    rows with a defined outcome (``rated``'s rows): columns are gathered at those positions when read, so a rerun
    never copies the table's every metric column."""
    table = outcome_table(sel, target)
    return table, np.flatnonzero(table[column].notna().to_numpy())


def _outcome(table: pd.DataFrame, at: np.ndarray, column: str) -> np.ndarray:
    """The yes/no outcome of the rated rows ``at`` (defined there: ``<NA>`` elsewhere reads False, never used)."""
    return table[column].to_numpy(dtype=bool, na_value=False)[at]


def _rows_key(table: pd.DataFrame, at: np.ndarray) -> tuple[int, int]:
    """The identity of a row set: its length and a hash of its ids (in order)."""
    return len(at), hash(np.ascontiguousarray(table.index.to_numpy(np.int64)[at]).tobytes())


@st.cache_resource(show_spinner=False, max_entries=2)
def _bins(path: str, fingerprint: str, stamp: float, target: str, metrics: tuple[str, ...], n_bins: int,
          rows: tuple[int, int], _table, _at) -> SliceBins:
    # the bins and pair counts depend on the rows and their metric values only: an IoU move keeps them (int8
    # codes, ~26 MB for 2M predictions × 13 metrics, so only two are kept)
    return slice_bins(_table[list(metrics)].take(_at), n_bins=n_bins)


@st.cache_resource(show_spinner=False, max_entries=4)
def _heat_bins(path: str, fingerprint: str, stamp: float, target: str, x: str, y: str, n_bins: int,
               rows: tuple[int, int], _table, _at) -> HeatmapBins:
    # the cells of the rows depend on the two metrics' values only: an IoU move recounts the positives (an int32
    # cell per row, ~8 MB for 2M predictions)
    return heatmap_bins(_table[x].to_numpy(np.float64)[_at], _table[y].to_numpy(np.float64)[_at], n_bins=n_bins)


@st.cache_resource(show_spinner="Searching the weakest slices…", max_entries=16)
def _slices(path: str, fingerprint: str, stamp: float, core, target: str, column: str, metrics: tuple[str, ...],
            n_bins: int, min_support: int, _sel) -> pd.DataFrame:
    table, at = rows_of(_sel, target, column)
    names = metric_names(_sel.project, target, numeric=True)
    bins = _bins(path, fingerprint, stamp, target, metrics, n_bins, _rows_key(table, at), table, at)
    # with the bins, X only gives the number of rows: no copy of the metrics
    return weakest_slices(pd.DataFrame(index=pd.RangeIndex(len(at))), _outcome(table, at, column), n_bins=n_bins,
                          min_support=min_support, titles=names, bins=bins)


def slices(sel, target: str, column: str, metrics: list[str], n_bins: int, min_support: int) -> pd.DataFrame:
    """``weakest_slices`` of the selection, cached per selection and options."""
    p = sel.project
    return _slices(str(p.root), p.fingerprint, metrics_stamp(p), sel.core, target, column, tuple(metrics),
                   int(n_bins), int(min_support), sel)


def heatmap_figure(cells: pd.DataFrame, *, x_title: str, y_title: str, rate: str) -> go.Figure:
    """The rate per cell as colour, ``rate`` and ``n`` written in each cell (NaN cells empty)."""
    xs = list(dict.fromkeys(cells["x_range"]))
    ys = list(dict.fromkeys(cells["y_range"]))
    z = cells["rate"].to_numpy(np.float64).reshape(len(xs), len(ys)).T
    n = cells["n"].to_numpy().reshape(len(xs), len(ys)).T
    text = [[("" if not np.isfinite(z[r, c]) else f"{z[r, c]:.2f}") + f"<br>n={n[r, c]:,}" for c in range(len(xs))]
            for r in range(len(ys))]
    fig = go.Figure(go.Heatmap(z=z, x=xs, y=ys, text=text, texttemplate="%{text}", colorscale="RdYlGn", zmin=0,
                               zmax=1, colorbar=dict(title=rate), customdata=n,
                               hovertemplate="%{x} × %{y}: " + rate + " %{z:.3f} (n = %{customdata:,})<extra></extra>"))
    fig.update_layout(title=f"{rate} by {x_title} × {y_title}", height=460, margin=dict(l=10, r=10, t=50, b=30),
                      xaxis=dict(title=x_title, type="category"), yaxis=dict(title=y_title, type="category"))
    return fig


def heatmap_section(sel, table: pd.DataFrame, at: np.ndarray, names: dict[str, str], column: str, rate: str,
                    target: str) -> None:
    st.subheader("Metric × metric")
    cols = list(names)
    left, mid, right = st.columns([2, 2, 1])
    x = left.selectbox("Metric (x)", cols, format_func=names.get, **keep(keyed("slices_x", target)))
    y = mid.selectbox("Metric (y)", cols, index=min(1, len(cols) - 1), format_func=names.get,
                      **keep(keyed("slices_y", target)))
    n_bins = int(right.number_input("Bins", min_value=2, max_value=10, value=5, step=1, **keep("slices_heat_bins")))
    p = sel.project
    bins = _heat_bins(str(p.root), p.fingerprint, metrics_stamp(p), target, x, y, n_bins, _rows_key(table, at),
                      table, at)
    cells = heatmap(None, None, _outcome(table, at, column), bins=bins)
    if cells.empty:
        st.info("One of the two metrics has no spread over these rows (a single value or none): nothing to bin.")
        return
    show_chart(heatmap_figure(cells, x_title=names[x], y_title=names[y], rate=rate), key="slices_heatmap")
    few = int(((cells["n"] > 0) & (cells["n"] < MIN_SUPPORT)).sum())
    if few:
        st.caption(f"{few} cell(s) hold fewer than {MIN_SUPPORT} {target}: their rates rest on few samples.")


def open_in_failures(sel, table: pd.DataFrame, at: np.ndarray, row, target: str) -> None:
    """Hand the slice's rows (among the rated rows ``at``) to the Failure Explorer (the Performance by Metric
    hand-off) and switch to it."""
    metrics = [m for m in (row.get("metric_1"), row.get("metric_2")) if isinstance(m, str)]
    inside = slice_mask({m: table[m].to_numpy()[at] for m in metrics}, row)
    ids = table.index.to_numpy()[at][inside].astype(int).tolist()
    st.session_state["failure_selection"] = {"label_ids": ids if target == "labels" else [],
                                             "pred_ids": ids if target == "predictions" else [],
                                             "title": f"Slice: {row['description']}"}
    failures = pages_dir() / "failures.py"
    if failures.is_file():
        switch_page(st.Page(failures, url_path="failures"))
    st.info("Stored: open the Failure Explorer page to see this slice.")


def slices_section(sel, table: pd.DataFrame, at: np.ndarray, names: dict[str, str], target: str, column: str,
                   rate: str) -> None:
    st.subheader("Weakest slices")
    left, mid, right = st.columns([3, 1, 1])
    chosen = left.multiselect("Metrics searched", list(names), default=list(names), format_func=names.get,
                              **keep(keyed("slices_metrics", target), url=False))
    n_bins = int(mid.number_input("Bins per metric", min_value=2, max_value=10, value=N_BINS, step=1,
                                  **keep("slices_bins")))
    min_support = int(right.number_input("Minimum support", min_value=1, value=MIN_SUPPORT, step=10,
                                         **keep("slices_min_support")))
    if not chosen:
        st.info("Choose at least one metric to search.")
        return
    found = slices(sel, target, column, chosen, n_bins, min_support)
    st.caption(f"Each metric cut into {n_bins} quantile bins; a slice is one bin or two bins of different metrics "
               f"with at least {min_support:,} {target}, ranked by its {rate} minus the {rate} of the other {target} "
               "(gap), with Wilson (rate) and Newcombe (gap) 95% intervals. A two-metric slice is listed only when it "
               "is weaker than both of its one-metric parts.")
    if found.empty:
        st.info(f"No slice reaches {min_support:,} {target} with a lower {rate} than the rest.")
        return
    shown = found[["rank", "description", "n", "rate", "rate_lo", "rate_hi", "rest_rate", "gap", "gap_lo", "gap_hi"]]
    fmt = {c: st.column_config.NumberColumn(c, format="%.3f") for c in ("rate", "rate_lo", "rate_hi", "rest_rate")}
    fmt.update({c: st.column_config.NumberColumn(c, format="%+.3f") for c in ("gap", "gap_lo", "gap_hi")})
    fmt.update({"description": "slice", "n": target, "rate": rate})
    st.dataframe(shown, hide_index=True, column_config=fmt)
    labels = [f"{r.rank}: {r.description}" for r in found.itertuples(index=False)]
    pick = labels.index(st.selectbox("Slice to inspect", labels, **keep(keyed("slices_pick", target, n_bins,
                                                                              min_support), url=False)))
    row = found.iloc[pick].to_dict()
    st.caption(f"{plain(row['description'])}: {row['n']:,} {target}, {rate} {row['rate']:.3f} "
               f"[{row['rate_lo']:.3f}, {row['rate_hi']:.3f}] vs {row['rest_rate']:.3f} for the rest.")
    if st.button("Open in Failure Explorer", key="slices_open_failures"):
        open_in_failures(sel, table, at, row, target)


def render_slices(sel) -> None:
    """The whole page for the sidebar selection ``sel``."""
    st.title("Slices")
    project = sel.project
    if not project.has_predictions:
        st.info("This project has no predictions: import a model's predictions to find where it is weakest.")
        return
    label = st.radio("Rows", list(TARGETS), horizontal=True, **keep("slices_target"))
    target, column, rate = TARGETS[label]
    names = metric_names(project, target, numeric=True)
    if not names:
        st.info("No data metrics computed for this project yet: run `explorer metrics PROJECT`.")
        return
    table, at = rows_of(sel, target, column)
    if len(at) == 0:
        st.info(f"No {target} of this selection has an outcome (e.g. nothing is predicted).")
        return
    heatmap_section(sel, table, at, names, column, rate, target)
    slices_section(sel, table, at, names, target, column, rate)
