"""Failure buckets: the true positives, false detections and misses of a selection, ready for a gallery.

``bucket_table(match_predictions, match_labels, ...)`` turns a ``MatchResult``'s two tables into one row per
bucket item:

* a prediction is ``"TP"`` when ``is_tp`` and ``"FP"`` otherwise (with its ``fp_reason``);
* a label is ``"FN"`` when not ``detected``; when labels are chosen explicitly (a label bucket of Performance by
  Metric) a detected label is a ``"TP"`` too;
* rows the COCO protocol ignores (crowd labels, predictions matched to a crowd label) get outcome ``"ignored"``:
  they are kept and counted, never silently dropped, and left out of TP/FP/FN.

Without explicit ids the bucket is the whole selection: every prediction (TP or FP) plus every missed label
(FN); a detected label is then represented by its true-positive prediction, so nothing is counted twice.

Columns of the table: ``record`` (``"prediction"``/``"label"``), ``id`` (pred_id/label_id), ``image_id``,
``category_id``, ``outcome``, ``fp_reason`` (None unless FP), ``score`` (the prediction's score; for a label, the
score of the prediction that matched it, NaN if none), ``iou`` (IoU of the matched pair; for a false detection
its best IoU with a label of its own class, ``max_iou_same_class``; NaN if unknown), ``iou_other`` (a
prediction's best IoU with a label of another class, ``max_iou_other_class``; NaN for labels),
``partner_id`` (matched label of a prediction / matched prediction of a label; Int64, ``<NA>`` = none).
``table.attrs["confidence_threshold"]`` records the threshold the match used (when the caller gave it).

Galleries show failures first (``sort_rows``: missed labels, then false detections, then true positives, then
ignored rows, each group ordered by the chosen value), and ``nearest_other`` says what was near a failure (the
label of another class a false detection overlapped, the best prediction of any class near a missed label).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

OUTCOMES = ("TP", "FP", "FN", "ignored")
FP_REASONS = ("wrong_class", "localisation", "duplicate", "background")
FP_REASON_WORDS = {"wrong_class": "wrong class", "localisation": "localisation", "duplicate": "duplicate",
                   "background": "background"}
# gallery order of the outcomes: failures first (missed labels have no score, so sorting by score alone put
# them on the last pages)
FAILURE_ORDER = {"FN": 0, "FP": 1, "TP": 2, "ignored": 3}
COLUMNS = ["record", "id", "image_id", "category_id", "outcome", "fp_reason", "score", "iou", "iou_other",
           "partner_id"]


def _prediction_rows(preds: pd.DataFrame) -> pd.DataFrame:
    ignored = preds["ignored"].to_numpy(bool)
    is_tp = preds["is_tp"].to_numpy(bool)
    outcome = np.where(ignored, "ignored", np.where(is_tp, "TP", "FP"))
    reason = preds["fp_reason"].astype(object).where(outcome == "FP", None)
    nan = np.full(len(preds), np.nan)
    best_same = preds["max_iou_same_class"].to_numpy(np.float64) if "max_iou_same_class" in preds else nan
    best_other = preds["max_iou_other_class"].to_numpy(np.float64) if "max_iou_other_class" in preds else nan
    iou = np.where(outcome == "FP", best_same, preds["iou"].to_numpy(np.float64))
    return pd.DataFrame({
        "record": "prediction", "id": preds["pred_id"].to_numpy(np.int64), "image_id": preds["image_id"].to_numpy(np.int64),
        "category_id": preds["category_id"].to_numpy(np.int64), "outcome": outcome, "fp_reason": reason.to_numpy(),
        "score": preds["score"].to_numpy(np.float64), "iou": iou, "iou_other": best_other,
        "partner_id": pd.array(preds["label_id"], dtype="Int64"),
    })


def _label_rows(labels: pd.DataFrame, scores: pd.Series) -> pd.DataFrame:
    ignored = labels["ignored"].to_numpy(bool)
    detected = labels["detected"].to_numpy(bool)
    partner = pd.array(labels["pred_id"], dtype="Int64")
    has = ~partner.isna()
    iou = labels["iou"].to_numpy(np.float64)
    return pd.DataFrame({
        "record": "label", "id": labels["label_id"].to_numpy(np.int64), "image_id": labels["image_id"].to_numpy(np.int64),
        "category_id": labels["category_id"].to_numpy(np.int64),
        "outcome": np.where(ignored, "ignored", np.where(detected, "TP", "FN")), "fp_reason": None,
        "score": scores.reindex(partner).to_numpy(np.float64),  # <NA> partner: NaN score
        "iou": np.where(has, iou, np.nan), "iou_other": np.nan, "partner_id": partner,
    })


def _id_array(ids: Iterable[int] | None) -> np.ndarray:
    if ids is None:
        return np.empty(0, np.int64)
    return np.asarray(ids if isinstance(ids, (np.ndarray, pd.Series, pd.Index)) else list(ids), np.int64)


def restrict(table: pd.DataFrame, *, classes: Iterable[int] | None = None,
             image_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Rows of a match table (or bucket table) in the given classes and images (None = no restriction)."""
    keep = np.ones(len(table), bool)
    if classes is not None:
        keep &= table["category_id"].isin(_id_array(classes)).to_numpy()
    if image_ids is not None:
        keep &= table["image_id"].isin(_id_array(image_ids)).to_numpy()
    return table[keep]


def bucket_table(predictions: pd.DataFrame, labels: pd.DataFrame, *, pred_ids: Iterable[int] | None = None,
                 label_ids: Iterable[int] | None = None, classes: Iterable[int] | None = None,
                 image_ids: Iterable[int] | None = None, confidence_threshold: float | None = None) -> pd.DataFrame:
    """One row per bucket item (see the module docstring); predictions first, then labels, each by id.

    ``predictions``/``labels`` are ``MatchResult.predictions`` / ``.labels``. ``pred_ids``/``label_ids`` choose an
    explicit bucket (ids absent from the match, e.g. below the confidence threshold, are simply not there);
    when both are None the bucket is the whole selection. ``classes``/``image_ids`` restrict by category / image.
    """
    scores = pd.Series(predictions["score"].to_numpy(np.float64), index=predictions["pred_id"].to_numpy(np.int64))
    if pred_ids is None and label_ids is None:
        preds = predictions
        labs = labels[~labels["detected"].to_numpy(bool) | labels["ignored"].to_numpy(bool)]
    else:
        preds = predictions[predictions["pred_id"].isin(_id_array(pred_ids))]
        labs = labels[labels["label_id"].isin(_id_array(label_ids))]
    table = pd.concat([_prediction_rows(preds), _label_rows(labs, scores)], ignore_index=True)[COLUMNS]
    table = restrict(table, classes=classes, image_ids=image_ids).reset_index(drop=True)
    if confidence_threshold is not None:
        table.attrs["confidence_threshold"] = float(confidence_threshold)
    return table


def outcome_counts(table: pd.DataFrame) -> dict[str, int]:
    """Items per outcome (every key of ``OUTCOMES`` present) plus FP per reason as ``"FP:<reason>"``."""
    counts = {o: int((table["outcome"] == o).sum()) for o in OUTCOMES}
    fp = table.loc[table["outcome"] == "FP", "fp_reason"]
    for reason in FP_REASONS:
        counts[f"FP:{reason}"] = int((fp == reason).sum())
    return counts


def metric_values(table: pd.DataFrame, *, predictions: pd.Series | None, labels: pd.Series | None) -> np.ndarray:
    """Per-row value of one metric: ``predictions`` (index pred_id) for prediction rows, ``labels`` (index
    label_id) for label rows; NaN where the metric has no value for that row's level (e.g. confidence of a label)."""
    out = np.full(len(table), np.nan)
    is_pred = (table["record"] == "prediction").to_numpy()
    ids = table["id"].to_numpy(np.int64)
    for mask, series in ((is_pred, predictions), (~is_pred, labels)):
        if series is not None and mask.any():
            out[mask] = pd.to_numeric(series, errors="coerce").reindex(ids[mask]).to_numpy(np.float64)
    return out


def sort_rows(table: pd.DataFrame, values: np.ndarray, *, descending: bool, failures_first: bool = True) -> pd.DataFrame:
    """``table`` ordered by ``values`` (stable; NaN always last, whatever the direction). With ``failures_first``
    (default) the outcome groups come first in ``FAILURE_ORDER`` (FN, FP, TP, ignored), each ordered by ``values``."""
    values = np.asarray(values, np.float64)
    key = np.where(np.isnan(values), np.inf, -values if descending else values)
    if not failures_first or "outcome" not in table:
        return table.iloc[np.argsort(key, kind="stable")]
    rank = table["outcome"].map(FAILURE_ORDER).fillna(len(FAILURE_ORDER)).to_numpy(np.int64)
    return table.iloc[np.lexsort((key, rank))]  # last key is the primary one


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two ``(n, 4)`` arrays of COCO ``x, y, w, h`` boxes: ``|A∩B| / |A∪B|`` (0 for empty boxes)."""
    iw = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nearest_other(rows: pd.DataFrame, labels: pd.DataFrame, predictions: pd.DataFrame, *,
                  min_score: float = 0.0) -> pd.DataFrame:
    """What overlapped each bucket row most: for a label, the prediction of **any** class (score ≥ ``min_score``)
    with the highest box IoU; for a prediction, the label of **another** class with the highest box IoU (the "true
    class" of a wrong-class false detection).

    ``rows``: ``bucket_table`` rows (``record, id, image_id, category_id``); ``labels``/``predictions``: the
    project tables (``label_id``/``pred_id``, ``image_id``, ``category_id``, ``x, y, w, h``). Returns a frame
    aligned with ``rows`` (same index): ``near_id`` (Int64, ``<NA>`` = nothing overlaps), ``near_class``
    (category id, Int64) and ``near_iou`` (box IoU, 0.0 when nothing overlaps). Vectorised: one merge of the rows
    with the candidates of their images.
    """
    n = len(rows)
    near_id, near_class, near_iou = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n)
    found = np.zeros(n, bool)
    box = ["x", "y", "w", "h"]
    preds = predictions[predictions["score"].to_numpy(np.float64) >= min_score] if "score" in predictions else predictions
    for record, own, cand, own_id, cand_id, other_class in (
            ("label", labels, preds, "label_id", "pred_id", False),
            ("prediction", predictions, labels, "pred_id", "label_id", True)):
        part = rows[rows["record"].to_numpy() == record]
        if part.empty or cand.empty or own.empty:
            continue
        me = part[["id", "image_id", "category_id"]].assign(_row=np.flatnonzero(rows["record"].to_numpy() == record))
        me = me.merge(own[[own_id, *box]].rename(columns={own_id: "id"}), on="id", how="inner")
        pairs = me.merge(cand[[cand_id, "image_id", "category_id", *box]], on="image_id", suffixes=("", "_c"))
        if other_class:
            pairs = pairs[pairs["category_id"].to_numpy() != pairs["category_id_c"].to_numpy()]
        if pairs.empty:
            continue
        iou = _box_iou(pairs[box].to_numpy(np.float64), pairs[[f"{c}_c" for c in box]].to_numpy(np.float64))
        pairs = pairs.assign(_iou=iou)
        pairs = pairs[pairs["_iou"].to_numpy() > 0]
        best = pairs.sort_values(["_row", "_iou"], ascending=[True, False], kind="stable").drop_duplicates("_row")
        at = best["_row"].to_numpy(np.int64)
        found[at] = True
        near_id[at] = best[cand_id].to_numpy(np.int64)
        near_class[at] = best["category_id_c"].to_numpy(np.int64)
        near_iou[at] = best["_iou"].to_numpy(np.float64)
    return pd.DataFrame({"near_id": pd.arrays.IntegerArray(near_id, ~found),
                         "near_class": pd.arrays.IntegerArray(near_class, ~found), "near_iou": near_iou},
                        index=rows.index)
