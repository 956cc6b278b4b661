"""Which labels and predictions make up each cell of the detection confusion matrix (for drill-down).

The cells follow ``explorer.evaluation.confusion.detection_confusion_matrix`` exactly (its module docstring has
the definition): TPs on the diagonal; a second greedy pass per image pairs each remaining false detection (by
descending score) with the still-free non-crowd label *of another class* with the highest IoU ≥ t — that pair
counts once, in (label class, predicted class); leftover false detections go to ("background", predicted
class) and leftover labels to (true class, "background"). Ignored records (crowd, beyond 100 per image-class)
are in no cell.

``cell_members`` lists *which* records land in each cell from the engine's own ``confusion_assignment``, so
counting the members reproduces the engine's matrix; the tests assert that equality. Row and column names are the engine's (class names, made unique with the id when two
classes share a name, plus "background").
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from explorer.evaluation.confusion import BACKGROUND, OTHER, confusion_assignment
from explorer.evaluation.matcher import Matcher

__all__ = ["BACKGROUND", "OTHER", "cell_members", "cell_counts", "fold"]


def cell_members(matcher: Matcher, iou_threshold: float, *, confidence_threshold: float = 0.0, classes=None,
                 image_ids=None) -> pd.DataFrame:
    """One row per counted record: ``record`` ("prediction"/"label"), ``id``, ``true``, ``predicted``.

    A cross-class pair is two rows with the same cell (the prediction and the label it was paired with), so
    ``cell_counts`` counts a pair once by counting prediction rows for it; see ``cell_counts``.
    """
    a = confusion_assignment(matcher, iou_threshold, confidence_threshold=confidence_threshold, classes=classes,
                             image_ids=image_ids)
    lay = matcher.layout
    dt_ids, gt_ids = matcher._dt_cols["pred_id"], matcher._gt_cols["label_id"]
    dt_name = np.array([a.names.get(int(c), OTHER) for c in matcher.cat_list[lay.dt_cat]], dtype=object)
    gt_name = np.array([a.names.get(int(c), OTHER) for c in matcher.cat_list[lay.gt_cat]], dtype=object)
    tp, crossed, cross, bg, gt_free = a.tp, a.crossed, a.cross, a.background_dt, a.background_gt
    parts = [
        ("prediction", dt_ids[tp], dt_name[tp], dt_name[tp]),
        ("prediction", dt_ids[crossed], gt_name[cross[crossed]], dt_name[crossed]),
        ("label", gt_ids[cross[crossed]], gt_name[cross[crossed]], dt_name[crossed]),
        ("prediction", dt_ids[bg], np.full(bg.sum(), BACKGROUND, object), dt_name[bg]),
        ("label", gt_ids[gt_free], gt_name[gt_free], np.full(gt_free.sum(), BACKGROUND, object)),
    ]
    return pd.concat([pd.DataFrame({"record": r, "id": i.astype(np.int64), "true": t, "predicted": p,
                                    "counted": k != 2}) for k, (r, i, t, p) in enumerate(parts)], ignore_index=True)


def fold(members: pd.DataFrame, keep: list[str], *, other: str = OTHER) -> pd.DataFrame:
    """Members with every class outside ``keep`` (and not background) renamed ``other`` (top-K folding)."""
    allowed = set(keep) | {BACKGROUND}
    out = members.copy()
    for col in ("true", "predicted"):
        out[col] = out[col].where(out[col].isin(allowed), other)
    return out


def cell_counts(members: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Raw counts (a cross-class pair once: only ``counted`` rows), index ``true``, columns ``predicted``."""
    counted = members[members["counted"].to_numpy(bool)]
    counts = counted.groupby(["true", "predicted"]).size()
    table = counts.unstack(fill_value=0) if len(counts) else pd.DataFrame()
    return table.reindex(index=order, columns=order, fill_value=0).astype(np.int64).rename_axis(
        index="true", columns="predicted")
