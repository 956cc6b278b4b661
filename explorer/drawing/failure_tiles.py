"""Gallery tiles for failure-bucket rows: each item drawn on its image in its outcome colour, with context.

For one row of ``explorer.analysis.failure_buckets.bucket_table`` the tile shows, cropped around the item:

* the item itself, thick, in its outcome colour — TP green, FP red ("false detection"), FN orange ("missed"),
  ignored grey — with its mask when it has one;
* its partner (the label a prediction matched or overlapped, the prediction that matched a label) in the
  neutral label / prediction colour;
* the other labels of the image, thin and dimmed, and the other predictions that overlap the item (IoU > 0),
  thin and dimmed — what the model saw around it.

Captions say what was near a failure (``explorer.analysis.failure_buckets.nearest_other``): a wrong-class false
detection names the true class and its IoU ("true class circle, IoU 0.62"), a missed label the best prediction of
any class ("near miss 0.41 with square", or "nothing near"). Undefined numbers read "—".
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from explorer.analysis.failure_buckets import FP_REASON_WORDS, nearest_other
from explorer.analysis.outcomes import image_table
from explorer.project.folder import Project
from explorer.drawing.render import LABEL_COLOUR, OUTCOME_COLOURS, OUTCOME_WORDS, PREDICTION_COLOUR, DrawItem
from explorer.project.schema import boxes_xyxy
from explorer.drawing.tiles import Tile, dim

IGNORED_COLOUR = (160, 160, 160)


def _overlaps(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Boolean ``(n,)``: which ``others`` (xyxy) intersect ``box`` (xyxy) with positive area."""
    iw = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    ih = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    return (iw > 0) & (ih > 0)


def _fmt(value: float, spec: str = ".2f") -> str:
    # the app's one rendering of an undefined number (explorer.ui.text.number)
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def near_words(row, near_class: str | None, near_iou: float) -> str:
    """What overlapped a failure most (``nearest_other``): "" for rows that need no such words."""
    if row.outcome == "FN":
        return "nothing near" if near_class is None else f"near miss {near_iou:.2f} with {near_class}"
    if row.outcome == "FP" and row.fp_reason == "wrong_class" and near_class is not None:
        return f"true class {near_class}, IoU {near_iou:.2f}"
    return ""


def caption(row, *, class_name: str, metric_title: str | None = None, metric_value: float = np.nan,
            file_name: str = "", near: str = "") -> str:
    """Caption under a tile: outcome in words, class, FP reason, score, IoU, what was near, metric value, file."""
    parts = [f"{row.outcome} · {OUTCOME_WORDS.get(row.outcome, 'ignored (crowd)')}"]
    if row.outcome == "FP" and isinstance(row.fp_reason, str):
        parts[0] += f" ({FP_REASON_WORDS.get(row.fp_reason, row.fp_reason)})"
    parts.append(class_name)
    if np.isfinite(row.score):
        parts.append(f"score {row.score:.2f}")
    if near:
        parts.append(near)
    if row.outcome == "FP" and row.fp_reason != "wrong_class":
        parts.append(f"best IoU same class {_fmt(row.iou)}, other class {_fmt(row.iou_other)}")
    elif row.outcome != "FN" and row.outcome != "FP":
        parts.append(f"IoU {_fmt(row.iou)}")
    if metric_title:
        parts.append(f"{metric_title} {_fmt(metric_value, '.4g')}")
    if file_name:
        parts.append(file_name)
    return " · ".join(parts)


def outcome_tiles(project: Project, rows: pd.DataFrame, *, metric_title: str | None = None,
                  metric_values: np.ndarray | None = None, min_score: float | None = None) -> list[Tile]:
    """One tile per bucket row (call it for one page of rows: it loops over them to build captions).

    ``min_score``: predictions below it are not "near" a missed label (default: the table's
    ``attrs["confidence_threshold"]``, 0 when absent)."""
    if rows.empty:
        return []
    if min_score is None:
        min_score = float(rows.attrs.get("confidence_threshold", 0.0))
    names = project.category_names
    image_ids = rows["image_id"].unique()
    # the page's images' rows by position (a per-image index), not a scan of every label and prediction
    labels = image_table(project, "labels", image_ids)
    preds = image_table(project, "predictions", image_ids)
    near = nearest_other(rows, labels, preds, min_score=min_score)
    near_class = [None if pd.isna(c) else project.category_names.get(int(c), str(c)) for c in near["near_class"]]
    near_iou = near["near_iou"].to_numpy(np.float64)
    images = image_table(project, "images", image_ids)
    files = dict(zip(images["image_id"].tolist(), images["file_name"].tolist()))
    label_groups = dict(iter(labels.groupby("image_id"))) if len(labels) else {}
    pred_groups = dict(iter(preds.groupby("image_id"))) if len(preds) else {}
    values = np.full(len(rows), np.nan) if metric_values is None else np.asarray(metric_values, np.float64)
    empty_l, empty_p = labels.iloc[:0], preds.iloc[:0]

    tiles = []
    for k, row in enumerate(rows.itertuples(index=False)):
        image_labels = label_groups.get(row.image_id, empty_l)
        image_preds = pred_groups.get(row.image_id, empty_p)
        is_pred = row.record == "prediction"
        has_partner = pd.notna(row.partner_id)  # <NA>: nothing matched
        own, other = (image_preds, image_labels) if is_pred else (image_labels, image_preds)
        own_id, other_id = ("pred_id", "label_id") if is_pred else ("label_id", "pred_id")
        me = own[own[own_id] == row.id]
        if me.empty:  # the match refers to a record the project no longer holds: show the image only
            tiles.append(Tile(int(row.image_id), caption=f"{row.record} {row.id} not found in the project", key=f"{row.record}:{row.id}"))
            continue
        me = me.iloc[0]
        box = boxes_xyxy(me.to_frame().T)[0]

        items = [DrawItem(r.x, r.y, r.w, r.h, colour=dim(LABEL_COLOUR), thickness=1)
                 for r in image_labels.itertuples(index=False)
                 if not (not is_pred and r.label_id == row.id) and not (is_pred and has_partner and r.label_id == row.partner_id)]
        near = image_preds[_overlaps(box, boxes_xyxy(image_preds))] if len(image_preds) else image_preds
        items += [DrawItem(r.x, r.y, r.w, r.h, colour=dim(PREDICTION_COLOUR), thickness=1)
                  for r in near.itertuples(index=False)
                  if not (is_pred and r.pred_id == row.id) and not (not is_pred and has_partner and r.pred_id == row.partner_id)]
        partner = other[other[other_id] == row.partner_id] if has_partner else other.iloc[:0]
        for r in partner.itertuples(index=False):
            text = names.get(int(r.category_id), "?") + (f" {r.score:.2f}" if not is_pred else "")
            items.append(DrawItem(r.x, r.y, r.w, r.h, colour=PREDICTION_COLOUR if not is_pred else LABEL_COLOUR,
                                  caption=text, thickness=1))
        colour = OUTCOME_COLOURS.get(row.outcome, IGNORED_COLOUR)
        short = {"TP": "TP", "FP": "false detection", "FN": "missed"}.get(row.outcome, "ignored")
        items.append(DrawItem(me.x, me.y, me.w, me.h, colour=colour, caption=short, segmentation=me.segmentation,
                              thickness=2))
        class_name = names.get(int(row.category_id), str(row.category_id))
        text = caption(row, class_name=class_name, metric_title=metric_title, metric_value=values[k],
                       file_name=str(files.get(row.image_id, "")), near=near_words(row, near_class[k], near_iou[k]))
        tiles.append(Tile(int(row.image_id), tuple(items), focus=(me.x, me.y, me.w, me.h), caption=text,
                          key=f"{row.record}:{row.id}"))
    return tiles
