"""Which labels and predictions make up each cell of the detection confusion matrix (for drill-down).

Rows are the true class, columns the predicted class, both with a ``"background"`` entry. At the match's IoU
threshold every non-ignored record falls in exactly one cell:

* a true-positive prediction of class c → ``(c, c)``;
* a false detection of class b whose reason is ``wrong_class`` → ``(a, b)`` with a the class of the
  other-class label it overlaps most (box IoU, crowd labels by intersection over the prediction's area, as in
  matching; ``confused_labels`` finds it — the match itself only records *matched* labels);
* any other false detection of class b (localisation, duplicate, background) → ``("background", b)``;
* a missed label of class a → ``(a, "background")``.

Ignored records (crowd labels, predictions matched to crowd) are in no cell. Counting the members of each cell
gives the raw matrix; ``cell_counts`` does that with one ``groupby``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

BACKGROUND = "background"


def confused_labels(pred_ids: np.ndarray, *, label_boxes: pd.DataFrame, pred_boxes: pd.DataFrame) -> pd.DataFrame:
    """For each prediction id, the label of *another* class on its image with the highest box IoU.

    ``label_boxes``/``pred_boxes`` are the project's ``labels``/``predictions`` tables. Returns ``pred_id,
    label_id, category_id, iou`` (one row per prediction that overlaps some other-class label; ties: lowest
    label_id). Vectorised over all (prediction, label) pairs of the same image.
    """
    preds = pred_boxes.loc[pred_boxes["pred_id"].isin(pred_ids), ["pred_id", "image_id", "category_id", "x", "y", "w", "h"]]
    pairs = preds.merge(label_boxes[["label_id", "image_id", "category_id", "x", "y", "w", "h", "iscrowd"]],
                        on="image_id", suffixes=("_p", "_l"))
    pairs = pairs[pairs["category_id_p"] != pairs["category_id_l"]]
    px1, py1 = pairs["x_p"].to_numpy(), pairs["y_p"].to_numpy()
    px2, py2 = px1 + pairs["w_p"].to_numpy(), py1 + pairs["h_p"].to_numpy()
    lx1, ly1 = pairs["x_l"].to_numpy(), pairs["y_l"].to_numpy()
    lx2, ly2 = lx1 + pairs["w_l"].to_numpy(), ly1 + pairs["h_l"].to_numpy()
    inter = np.clip(np.minimum(px2, lx2) - np.maximum(px1, lx1), 0, None) * np.clip(
        np.minimum(py2, ly2) - np.maximum(py1, ly1), 0, None)
    area_p = pairs["w_p"].to_numpy() * pairs["h_p"].to_numpy()
    union = np.where(pairs["iscrowd"].to_numpy(bool), area_p, area_p + pairs["w_l"].to_numpy() * pairs["h_l"].to_numpy() - inter)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    out = pd.DataFrame({"pred_id": pairs["pred_id"].to_numpy(), "label_id": pairs["label_id"].to_numpy(),
                        "category_id": pairs["category_id_l"].to_numpy(), "iou": iou})
    out = out[out["iou"] > 0].sort_values(["pred_id", "iou", "label_id"], ascending=[True, False, True], kind="stable")
    return out.drop_duplicates("pred_id").reset_index(drop=True)


def cell_members(predictions: pd.DataFrame, labels: pd.DataFrame, *, names: dict[int, str],
                 label_boxes: pd.DataFrame, pred_boxes: pd.DataFrame) -> pd.DataFrame:
    """One row per record in a cell: ``record`` ("prediction"/"label"), ``id``, ``true``, ``predicted``.

    ``predictions``/``labels`` are ``MatchResult.predictions`` / ``.labels`` (already restricted to the selection);
    ``names`` maps category ids to the names used for rows and columns; ``label_boxes``/``pred_boxes`` are the
    project's tables (for the label a wrong-class detection overlaps).
    """
    preds = predictions[~predictions["ignored"].to_numpy(bool)]
    pred_name = preds["category_id"].map(names).to_numpy(object)
    is_tp = preds["is_tp"].to_numpy(bool)
    wrong = (preds["fp_reason"] == "wrong_class").to_numpy() & ~is_tp
    confused = confused_labels(preds.loc[wrong, "pred_id"].to_numpy(), label_boxes=label_boxes, pred_boxes=pred_boxes)
    overlapped = (pd.Series(confused["category_id"].to_numpy(), index=confused["pred_id"].to_numpy())
                  .reindex(preds["pred_id"].to_numpy()).map(names).to_numpy(object))
    true = np.where(is_tp, pred_name, np.where(wrong, overlapped, BACKGROUND))
    pred_rows = pd.DataFrame({"record": "prediction", "id": preds["pred_id"].to_numpy(np.int64),
                              "true": true, "predicted": pred_name})
    missed = labels[~labels["detected"].to_numpy(bool) & ~labels["ignored"].to_numpy(bool)]
    label_rows = pd.DataFrame({"record": "label", "id": missed["label_id"].to_numpy(np.int64),
                               "true": missed["category_id"].map(names).to_numpy(object), "predicted": BACKGROUND})
    return pd.concat([pred_rows, label_rows], ignore_index=True)


def fold(members: pd.DataFrame, keep: list[str], *, other: str = "other") -> pd.DataFrame:
    """Members with every class outside ``keep`` (and not background) renamed ``other`` (top-K folding)."""
    allowed = set(keep) | {BACKGROUND}
    out = members.copy()
    for col in ("true", "predicted"):
        out[col] = out[col].where(out[col].isin(allowed), other)
    return out


def cell_counts(members: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Raw counts, index ``true`` and columns ``predicted`` in ``order`` (background included by the caller)."""
    counts = members.groupby(["true", "predicted"]).size()
    table = counts.unstack(fill_value=0) if len(counts) else pd.DataFrame()
    return table.reindex(index=order, columns=order, fill_value=0).astype(np.int64).rename_axis(
        index="true", columns="predicted")
