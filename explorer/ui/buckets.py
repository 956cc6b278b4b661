"""Showing one failure bucket: counts per outcome, outcome filter, sort by any metric, gallery, COCO export.

Shared by the Failure Explorer and the Confusion Matrix pages. A bucket is an
``explorer.analysis.failure_buckets.bucket_table`` frame; widgets are namespaced by ``key``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.analysis.failure_buckets import FP_REASON_WORDS, FP_REASONS, metric_values, outcome_counts, sort_rows
from explorer.drawing.failure_tiles import outcome_tiles
from explorer.project.folder import Project
from explorer.export.subset import coco_subset
from explorer.ui.outcomes import metric_names, metrics_for_target
from explorer.ui.gallery import show_gallery
from explorer.ui.text import plain
from explorer.ui.persist import bounded, keep

SMALL_BUCKET = 10  # fewer items than this: say the bucket is too small to generalise from

# outcome filter choices: label -> (outcome, fp_reason or None)
OUTCOME_CHOICES = {"TP": ("TP", None), **{f"FP · {FP_REASON_WORDS[r]}": ("FP", r) for r in FP_REASONS},
                   "FN (missed)": ("FN", None), "ignored (crowd)": ("ignored", None)}
BUILTIN_SORTS = {"score": "Score", "iou": "IoU"}


def outcome_mask(table: pd.DataFrame, chosen: list[str]) -> np.ndarray:
    """Rows whose outcome (and FP reason) is among the chosen ``OUTCOME_CHOICES`` labels."""
    keep = np.zeros(len(table), bool)
    outcome = table["outcome"].to_numpy()
    reason = table["fp_reason"].to_numpy()
    for label in chosen:
        o, r = OUTCOME_CHOICES[label]
        keep |= (outcome == o) & ((reason == r) if r is not None else True)
    return keep


def show_counts(table: pd.DataFrame) -> dict[str, int]:
    """Counts per outcome as metrics, FP split by reason underneath."""
    counts = outcome_counts(table)
    cols = st.columns(4)
    cols[0].metric("TP (true positives)", f"{counts['TP']:,}")
    cols[1].metric("FP (false detections)", f"{counts['FP']:,}")
    cols[2].metric("FN (missed)", f"{counts['FN']:,}")
    cols[3].metric("ignored (crowd)", f"{counts['ignored']:,}")
    if counts["FP"]:
        st.caption("False detections by reason: " + ", ".join(
            f"{FP_REASON_WORDS[r]} {counts['FP:' + r]:,}" for r in FP_REASONS))
    return counts


def metric_choices(project: Project) -> dict[str, str]:
    """``{column: display name}`` of the sortable values: score, IoU, and every (F)/(O)/(P) data metric."""
    choices = dict(BUILTIN_SORTS)
    for target in ("predictions", "labels"):
        for col, name in metric_names(project, target).items():
            choices.setdefault(col, name)
    return choices


def values_of(project: Project, table: pd.DataFrame, column: str) -> np.ndarray:
    """Per-row values of ``column``: the bucket's own score/IoU, or a data metric by level (NaN where absent)."""
    if column in BUILTIN_SORTS:
        return table[column].to_numpy(np.float64)
    preds = metrics_for_target(project, "predictions")
    labels = metrics_for_target(project, "labels")
    return metric_values(table,
                         predictions=preds[column] if preds is not None and column in preds else None,
                         labels=labels[column] if labels is not None and column in labels else None)


def show_bucket(project: Project, table: pd.DataFrame, *, key: str, default_outcomes: list[str] | None = None,
                metric_range: bool = True) -> pd.DataFrame:
    """Counts, filters (outcome, metric range, sort) and the gallery of one bucket; returns the rows shown."""
    show_counts(table)
    left, mid, right = st.columns([2, 2, 1])
    chosen = left.multiselect("Outcomes", list(OUTCOME_CHOICES), **keep(f"{key}:outcomes"),
                              default=default_outcomes if default_outcomes is not None else
                              [c for c in OUTCOME_CHOICES if c != "ignored (crowd)"])
    choices = metric_choices(project)
    column = mid.selectbox("Sort by / filter on", list(choices), format_func=choices.get, **keep(f"{key}:metric"))
    descending = right.radio("Order", ["descending", "ascending"], **keep(f"{key}:order")) == "descending"

    rows = table[outcome_mask(table, chosen)]
    values = values_of(project, rows, column)
    finite = np.isfinite(values)
    if metric_range and finite.sum() > 1 and np.nanmin(values) < np.nanmax(values):
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        range_key = bounded(f"{key}:range:{column}", lo, hi)
        low, high = st.slider(f"{plain(choices[column])} range", lo, hi, (lo, hi), **keep(range_key, url=False))
        inside = finite & (values >= low) & (values <= high)
        if not (low == lo and high == hi):
            if (~finite).any():
                st.caption(f"{int((~finite).sum()):,} item(s) without a value for {plain(choices[column])} are left out "
                           "by the range.")
            rows, values = rows[inside], values[inside]
    elif (~finite).all() and len(rows):
        st.caption(f"{plain(choices[column])} has no value for these items (e.g. a prediction-only metric on missed labels).")
    rows = sort_rows(rows.assign(_value=values), values, descending=descending)

    if 0 < len(rows) < SMALL_BUCKET:
        st.warning(f"Only {len(rows):,} item(s) in this bucket — too few to draw conclusions from; look at them one by one.")
    title = choices[column] if column not in BUILTIN_SORTS else None
    show_gallery(rows, key=f"{key}:gallery", project=project, per_page=12, columns=4,
                 make_tiles=lambda page: outcome_tiles(project, page, metric_title=title,
                                                       metric_values=page["_value"].to_numpy()),
                 empty_message="No item in this bucket with the chosen outcomes.")
    export_button(project, rows, key=key)
    return rows


def export_button(project: Project, rows: pd.DataFrame, *, key: str) -> None:
    """Download the shown rows as a COCO JSON subset (built only when clicked)."""
    whole = st.checkbox("Export whole images (every label and prediction of these images)", **keep(f"{key}:whole", url=False))
    pred_ids = rows.loc[rows["record"] == "prediction", "id"].to_numpy()
    label_ids = rows.loc[rows["record"] == "label", "id"].to_numpy()
    # a TP prediction brings its label along, a detected label its prediction: the pair is the example
    pred_partners = rows.loc[(rows["record"] == "prediction") & rows["partner_id"].notna(), "partner_id"].to_numpy(np.int64)
    label_partners = rows.loc[(rows["record"] == "label") & rows["partner_id"].notna(), "partner_id"].to_numpy(np.int64)
    known_labels = project.labels["label_id"].to_numpy()
    known_preds = project.predictions["pred_id"].to_numpy()
    label_ids = np.union1d(label_ids, pred_partners[np.isin(pred_partners, known_labels)])
    pred_ids = np.union1d(pred_ids, label_partners[np.isin(label_partners, known_preds)])

    def build() -> str:
        return coco_subset(project, label_ids=label_ids, pred_ids=pred_ids, whole_images=whole).to_json()

    st.download_button(f"Download these {len(rows):,} items as COCO JSON", build, file_name=f"{key}_subset.json",
                       mime="application/json", key=f"{key}:download", disabled=len(rows) == 0)
