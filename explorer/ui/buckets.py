"""Showing one failure bucket: counts per outcome, outcome filter, sort by any metric, gallery, COCO export.

Shared by the Failure Explorer and the Confusion Matrix pages. A bucket is an
``explorer.analysis.failure_buckets.Bucket`` (row positions into the match's ``BucketSource``, cached per match
by ``bucket_source``); widgets are namespaced by ``key``. At 2M predictions nothing here copies or sorts the rows:
counts are bincounts, filters masks, and the gallery selects only the rows of the page shown
(``failure_buckets.sorted_window``); the COCO export collects its ids when its button is clicked.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.analysis import outcomes as core
from explorer.analysis.failure_buckets import (CODE_WIDTH, FP_REASON_WORDS, FP_REASONS, OUTCOMES, Bucket,
                                               BucketSource, metric_values, sort_key, sorted_window)
from explorer.drawing.failure_tiles import outcome_tiles
from explorer.project.folder import Project
from explorer.export.subset import coco_subset
from explorer.ui.outcomes import metric_names, metrics_for_target, metrics_stamp
from explorer.ui.gallery import Pages, show_gallery
from explorer.ui.text import plain
from explorer.ui.persist import bounded, keep

SMALL_BUCKET = 10  # fewer items than this: say the bucket is too small to generalise from

# outcome filter choices: label -> (outcome, fp_reason or None)
OUTCOME_CHOICES = {"TP": ("TP", None), **{f"FP · {FP_REASON_WORDS[r]}": ("FP", r) for r in FP_REASONS},
                   "FN (missed)": ("FN", None), "ignored (crowd)": ("ignored", None)}
BUILTIN_SORTS = {"score": "Score", "iou": "IoU"}


@st.cache_resource(show_spinner=False, max_entries=2)
def _source(path: str, fingerprint: str, iou_threshold: float, confidence_threshold: float, _match, _pred_index,
            _label_index) -> BucketSource:
    return BucketSource(_match.predictions, _match.labels, confidence_threshold=confidence_threshold,
                        fp_code=_match.fp_code, pred_index=_pred_index, label_index=_label_index)


def bucket_source(sel) -> BucketSource:
    """The ``BucketSource`` of the selection's match (IoU and confidence thresholds), built once per match and
    shared by every class, split and bucket of it (two matches kept: ~40 bytes per prediction each)."""
    project = sel.project
    match = core.match(project, sel.core)
    return _source(str(project.root), project.fingerprint, float(sel.iou_threshold), float(sel.confidence_threshold),
                   match, core.match_index(project, sel.core, "predictions"),
                   core.match_index(project, sel.core, "labels"))


def outcome_mask(bucket: Bucket, chosen: list[str]) -> np.ndarray:
    """Rows whose outcome (and FP reason) is among the chosen ``OUTCOME_CHOICES`` labels: one look-up per row of
    the (outcome, reason) code."""
    width = CODE_WIDTH  # reason codes -1.. as 0..
    allowed = np.zeros(len(OUTCOMES) * width, bool)
    for label in chosen:
        o, r = OUTCOME_CHOICES[label]
        base = OUTCOMES.index(o) * width
        if r is None:
            allowed[base:base + width] = True
        else:
            allowed[base + FP_REASONS.index(r) + 1] = True
    return allowed[bucket.codes()]


def show_counts(counts: dict[str, int]) -> dict[str, int]:
    """Counts per outcome (``Bucket.counts``) as metrics, FP split by reason underneath."""
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


def values_of(project: Project, table: pd.DataFrame | Bucket, column: str) -> np.ndarray:
    """Per-row values of ``column``: the bucket's own score/IoU, or a data metric by level (NaN where absent).
    For a ``Bucket`` the metric is aligned to its source once per metric (``BucketSource.aligned``)."""
    if column in BUILTIN_SORTS:
        return table.column(column) if isinstance(table, Bucket) else table[column].to_numpy(np.float64)
    preds = metrics_for_target(project, "predictions")
    labels = metrics_for_target(project, "labels")
    preds = preds[column] if preds is not None and column in preds else None
    labels = labels[column] if labels is not None and column in labels else None
    if isinstance(table, Bucket):
        return table.source.aligned((column, metrics_stamp(project)), preds, labels)[table.rows]
    return metric_values(table, predictions=preds, labels=labels)


def show_bucket(project: Project, bucket: Bucket, *, key: str, default_outcomes: list[str] | None = None,
                metric_range: bool = True) -> Bucket:
    """Counts, filters (outcome, metric range, sort) and the gallery of one bucket; returns the rows shown."""
    show_counts(bucket.counts())
    left, mid, right = st.columns([2, 2, 1])
    chosen = left.multiselect("Outcomes", list(OUTCOME_CHOICES), **keep(f"{key}:outcomes"),
                              default=default_outcomes if default_outcomes is not None else
                              [c for c in OUTCOME_CHOICES if c != "ignored (crowd)"])
    choices = metric_choices(project)
    column = mid.selectbox("Sort by / filter on", list(choices), format_func=choices.get, **keep(f"{key}:metric"))
    descending = right.radio("Order", ["descending", "ascending"], **keep(f"{key}:order")) == "descending"

    rows = bucket.take(outcome_mask(bucket, chosen))
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
            rows, values = rows.take(inside), values[inside]
    elif (~finite).all() and len(rows):
        st.caption(f"{plain(choices[column])} has no value for these items (e.g. a prediction-only metric on missed labels).")

    if 0 < len(rows) < SMALL_BUCKET:
        st.warning(f"Only {len(rows):,} item(s) in this bucket — too few to draw conclusions from; look at them one by one.")
    title = choices[column] if column not in BUILTIN_SORTS else None
    # failures first, each outcome by the value (failure_buckets.sort_rows' order); only a page is ever selected
    rank, order_key = rows.rank(), sort_key(values, descending=descending)

    def tiles(start: int, stop: int):
        at = sorted_window(rank, order_key, start, stop)
        return outcome_tiles(project, rows.take(at).frame(), metric_title=title, metric_values=values[at])

    show_gallery(Pages(len(rows), tiles), key=f"{key}:gallery", project=project, per_page=12, columns=4,
                 empty_message="No item in this bucket with the chosen outcomes.")
    export_button(project, rows, key=key)
    return rows


def export_button(project: Project, rows: Bucket, *, key: str) -> None:
    """Download the shown rows as a COCO JSON subset (its ids collected and the file built only when clicked)."""
    whole = st.checkbox("Export whole images (every label and prediction of these images)", **keep(f"{key}:whole", url=False))

    def build() -> str:
        is_pred, ids = rows.column("is_pred"), rows.column("id")
        partner, has = rows.column("partner"), rows.column("has_partner")
        # a TP prediction brings its label along, a detected label its prediction: the pair is the example
        pred_partners, label_partners = partner[is_pred & has], partner[~is_pred & has]
        label_ids = np.union1d(ids[~is_pred], pred_partners[np.isin(pred_partners, project.labels["label_id"].to_numpy())])
        pred_ids = np.union1d(ids[is_pred], label_partners[np.isin(label_partners, project.predictions["pred_id"].to_numpy())])
        return coco_subset(project, label_ids=label_ids, pred_ids=pred_ids, whole_images=whole).to_json()

    st.download_button(f"Download these {len(rows):,} items as COCO JSON", build, file_name=f"{key}_subset.json",
                       mime="application/json", key=f"{key}:download", disabled=len(rows) == 0)
