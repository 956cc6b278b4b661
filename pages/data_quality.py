"""Data Quality: the distribution of any data metric, its outliers, and the images behind the numbers.

Pick a metric of any level — frame "(F)", label "(O)" or prediction "(P)", plugins included — and see its
histogram (binned on the server), summary statistics, Tukey IQR outliers, and a paginated gallery of the items
sorted or filtered by the metric, with labels (and predictions) drawn. The sidebar's split and class filters apply.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.errors import UserError
from explorer.analysis.stats import in_range
from explorer.datametrics.catalog import LEVEL_WORD
from explorer.ui import data_quality as dq
from explorer.ui.gallery import Pages, show_gallery
from explorer.ui.state import selection
from explorer.ui.charts import show_chart
from explorer.ui.text import plain
from explorer.ui.persist import bounded, keep

PAGE_SIZES = (12, 24, 48)
SHOW_ALL, SHOW_RANGE, SHOW_OUTLIERS = "all, sorted by the metric", "a range of the metric", "IQR outliers"

st.title("Data Quality")
sel = selection()
project = sel.project

try:
    tables = dq.metric_tables(project)
except UserError as e:  # metrics not computed yet, or unreadable: say what to run, no traceback
    st.info(plain(e))
    st.stop()

if project.images_root is None:
    st.info("This project has no images, so the frame (F) metrics that need pixels are absent. "
            "Metrics that only need boxes or sizes are still shown.")
unavailable = getattr(tables, "unavailable", {}) or {}
if unavailable:
    with st.expander(f"{len(unavailable):,} metric(s) not available for this project"):
        st.dataframe({"metric": [f"{n} ({lv})" for n, lv in unavailable],
                      "why": [str(r) for r in unavailable.values()]}, hide_index=True)

choices = dq.metric_choices(tables)
if not choices:
    st.info(f"No data metric is available for **{plain(project.name)}** (no images and no boxes to measure).")
    st.stop()
choices, empty = dq.empty_metrics(project, tables, choices)  # order_with_values_first, cached
by_key = {c.key: c for c in choices}
key = st.selectbox("Metric", list(by_key), **keep("dq_metric"),
                   format_func=lambda k: by_key[k].display_name + (" — no values in this project" if k in empty else ""),
                   help="(F) one value per image, (O) per label, (P) per prediction. Metrics without any value "
                        "in this project are listed last.")
choice = by_key[key]
if choice.description:
    st.caption(f"{plain(choice.description)} · direction: {plain(choice.direction.replace('_', ' '))}")

rows, values, summary, outliers = dq.selection_rows(project, tables, choice, split=sel.split, image_ids=sel.image_ids,
                                                   classes=None if sel.all_classes else sel.classes)
word = LEVEL_WORD[choice.level]
scope = "all splits" if sel.split is None else f"split {plain(repr(sel.split))}"
classes_note = "all classes" if sel.all_classes else f"{len(sel.classes):,} of {len(project.categories):,} classes"
st.caption(f"{len(rows):,} {word}s · {scope} · {classes_note}"
           + ("" if choice.level != "F" or sel.all_classes else " (images holding a label or prediction of a selected class)"))
if len(rows) == 0:
    st.warning(f"No {word}s in the current selection: widen the split or class filter in the sidebar.")
    st.stop()

# ---- distribution ----------------------------------------------------------------------------------------------
chart_col, stats_col = st.columns([3, 1])
with stats_col:
    bins = st.slider("Bins", min_value=5, max_value=100, value=30, step=1, **keep("dq_bins"))
    st.dataframe({"statistic": list(summary.as_dict()),
                  "value": [dq.format_value(float(v)) for v in summary.as_dict().values()]},
                 hide_index=True, width="stretch")
hist, figure = dq.selection_histogram(project, choice, split=sel.split, classes=None if sel.all_classes else sel.classes,
                                      bins=bins, values=values, outliers=outliers)
with chart_col:
    if figure is not None:
        show_chart(figure, key="dq_histogram")
    else:
        st.warning(f"Every value of {plain(choice.display_name)} is missing in this selection: nothing to plot.")
    if hist.n_missing:
        st.caption(f"{hist.n_missing:,} {word}(s) have no value (NaN or infinite): counted as missing, not plotted.")

m1, m2, m3 = st.columns(3)
m1.metric("Moderate outliers (1.5–3×IQR)", f"{outliers.n_moderate:,}")
m2.metric("Severe outliers (>3×IQR)", f"{outliers.n_severe:,}")
m3.metric("Missing values", f"{summary.n_missing:,}")
if np.isfinite(outliers.iqr):
    st.caption(f"Q1 = {outliers.q1:.4g}, Q3 = {outliers.q3:.4g}, IQR = {outliers.iqr:.4g}; moderate beyond "
               f"[{outliers.moderate_fences[0]:.4g}, {outliers.moderate_fences[1]:.4g}], severe beyond "
               f"[{outliers.severe_fences[0]:.4g}, {outliers.severe_fences[1]:.4g}].")

# ---- gallery ---------------------------------------------------------------------------------------------------
st.subheader("Gallery")
c1, c2, c3 = st.columns([2, 1, 1])
show = c1.radio("Show", [SHOW_ALL, SHOW_RANGE, SHOW_OUTLIERS], **keep("dq_show"), horizontal=True)
order = c2.radio("Order", ["ascending", "descending"], **keep("dq_order"), horizontal=True)
page_size = c3.selectbox("Per page", PAGE_SIZES, index=0, **keep("dq_page_size"))

finite = np.isfinite(values)
shown_mask = np.ones(len(values), dtype=bool)
if show == SHOW_RANGE:
    lo, hi = (float(values[finite].min()), float(values[finite].max())) if finite.any() else (0.0, 0.0)
    if hi > lo:
        chosen = st.slider(f"Range of {plain(choice.display_name)}", min_value=lo, max_value=hi, value=(lo, hi),
                           step=(hi - lo) / 1000, format="%.4g", **keep(bounded(f"dq_range::{choice.key}", lo, hi), url=False))
        shown_mask = in_range(values, *chosen)
    else:
        st.caption(f"Every defined value equals {lo:.4g}: no range to choose.")
        shown_mask = finite
elif show == SHOW_OUTLIERS:
    kind = st.radio("Outliers", ["any", "moderate", "severe"], **keep("dq_outlier_kind"), horizontal=True)
    shown_mask = outliers.mask(kind)

n_shown = int(np.count_nonzero(shown_mask))
st.caption(f"{n_shown:,} {word}(s) match" + ("" if show != SHOW_ALL or finite.all() else " · missing values last"))
t1, t2 = st.columns(2)
with_predictions = t1.toggle("Draw predictions", value=True, **keep("dq_with_predictions"),
                             disabled=not project.has_predictions)
zoom = t2.toggle("Zoom on the object", value=False, **keep("dq_zoom"), disabled=choice.level == "F",
                 help="Crop each tile around its object; off shows the whole image with the object highlighted.")
if choice.level != "F":
    st.caption(f"Each tile shows the {word}'s whole image: the {word} is drawn thick (with its mask), "
               "the image's other objects thin and dimmed. Labels light blue, predictions violet.")


def tiles(start: int, stop: int):  # only the page shown is selected from the (maybe millions of) rows
    at = dq.gallery_window(values, shown_mask, descending=order == "descending", start=start, stop=stop)
    return dq.item_tiles(project, rows.iloc[at], choice=choice, with_predictions=bool(with_predictions), zoom=bool(zoom))


show_gallery(Pages(n_shown, tiles), key="dq_gallery", project=project, per_page=int(page_size),
             empty_message=f"No {word} matches this filter.")
