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

from collections import namedtuple

import numpy as np
import pandas as pd

from explorer.analysis.failure_buckets import FP_REASON_WORDS, nearest_other_columns
from explorer.analysis.outcomes import image_rows
from explorer.project.folder import Project
from explorer.drawing.render import LABEL_COLOUR, OUTCOME_COLOURS, OUTCOME_WORDS, PREDICTION_COLOUR, DrawItem
from explorer.drawing.tiles import ImageObjects, Tile, dim

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
    boxes = {"label": ImageObjects(project, "labels", image_ids),
             "prediction": ImageObjects(project, "predictions", image_ids)}
    columns = {c: rows[c].to_numpy() for c in ("record", "id", "image_id", "category_id")}
    near = nearest_other_columns(columns, boxes["label"].columns, boxes["prediction"].columns, min_score=min_score)
    near_class = [None if pd.isna(c) else names.get(int(c), str(c)) for c in near["near_class"]]
    near_iou = near["near_iou"].to_numpy(np.float64)
    images = project.images
    at = image_rows(project, "images", image_ids)
    files = dict(zip(images["image_id"].to_numpy()[at].tolist(), images["file_name"].iloc[at].tolist()))
    values = np.full(len(rows), np.nan) if metric_values is None else np.asarray(metric_values, np.float64)
    label_colour, pred_colour = dim(LABEL_COLOUR), dim(PREDICTION_COLOUR)

    tiles = []
    # the rows as records with itertuples' fields (Python values, <NA> for no partner), from one list per column
    Row = namedtuple("Row", [str(c) for c in rows.columns], rename=True)
    records = [Row(*r) for r in zip(*(rows[c].tolist() for c in rows.columns))]
    for k, row in enumerate(records):
        is_pred = row.record == "prediction"
        has_partner = pd.notna(row.partner_id)  # <NA>: nothing matched
        own, other = (boxes["prediction"], boxes["label"]) if is_pred else (boxes["label"], boxes["prediction"])
        image = int(row.image_id)
        mine, theirs = own.of_image(image), other.of_image(image)
        me = mine[own.ids[mine] == row.id]
        if not len(me):  # the match refers to a record the project no longer holds: show the image only
            tiles.append(Tile(image, caption=f"{row.record} {row.id} not found in the project", key=f"{row.record}:{row.id}"))
            continue
        me = me[0]
        partner_id = row.partner_id if has_partner else None
        image_labels, image_preds = (theirs, mine) if is_pred else (mine, theirs)
        lab, prd = boxes["label"], boxes["prediction"]
        # the other labels of the image (not the item, not its partner), then the predictions overlapping the item
        skip_label = row.id if not is_pred else partner_id
        items = [DrawItem(*lab.xywh[i], colour=label_colour, thickness=1) for i in image_labels
                 if lab.ids[i] != skip_label]
        overlapping = image_preds[_overlaps(own.xyxy[me], prd.xyxy[image_preds])]
        skip_pred = row.id if is_pred else partner_id
        items += [DrawItem(*prd.xywh[i], colour=pred_colour, thickness=1) for i in overlapping
                  if prd.ids[i] != skip_pred]
        if has_partner:
            for i in theirs[other.ids[theirs] == row.partner_id]:
                text = names.get(int(other.category[i]), "?") + (f" {other.score[i]:.2f}" if not is_pred else "")
                items.append(DrawItem(*other.xywh[i], colour=PREDICTION_COLOUR if not is_pred else LABEL_COLOUR,
                                      caption=text, thickness=1))
        colour = OUTCOME_COLOURS.get(row.outcome, IGNORED_COLOUR)
        short = {"TP": "TP", "FP": "false detection", "FN": "missed"}.get(row.outcome, "ignored")
        x, y, w, h = own.xywh[me]
        items.append(DrawItem(x, y, w, h, colour=colour, caption=short, segmentation=own.segmentation[me],
                              thickness=2))
        class_name = names.get(int(row.category_id), str(row.category_id))
        text = caption(row, class_name=class_name, metric_title=metric_title, metric_value=values[k],
                       file_name=str(files.get(row.image_id, "")), near=near_words(row, near_class[k], near_iou[k]))
        tiles.append(Tile(image, tuple(items), focus=(x, y, w, h), caption=text, key=f"{row.record}:{row.id}"))
    return tiles
