"""Which labels and predictions make up each cell of the detection confusion matrix (for drill-down).

The cells follow ``explorer.evaluation.confusion.detection_confusion_matrix`` exactly (its module docstring has
the definition): TPs on the diagonal; a second greedy pass per image pairs each remaining false detection (by
descending score) with the still-free non-crowd label *of another class* with the highest IoU ≥ t — that pair
counts once, in (label class, predicted class); leftover false detections go to ("background", predicted
class) and leftover labels to (true class, "background"). Ignored records (crowd, beyond 100 per image-class)
are in no cell.

``cell_members`` re-runs those two passes with the engine's own kernel and records *which* records land in
each cell (the engine returns counts only), so counting the members reproduces the engine's matrix; the tests
assert that equality. Row and column names are the engine's (class names, made unique with the id when two
classes share a name, plus "background").
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from explorer.evaluation import kernels
from explorer.evaluation.confusion import BACKGROUND, OTHER
from explorer.evaluation.matcher import Matcher
from explorer.evaluation.tables import resolve_classes

__all__ = ["BACKGROUND", "OTHER", "cell_members", "cell_counts", "fold"]


def _class_names(matcher: Matcher, cats: np.ndarray) -> dict[int, str]:
    names = matcher.data.category_names
    labels = [names.get(int(c), str(int(c))) for c in cats]
    if len(set(labels)) < len(labels):  # same rule as the engine's matrix
        labels = [f"{n} ({int(c)})" for n, c in zip(labels, cats)]
    return dict(zip((int(c) for c in cats), labels))


def cell_members(matcher: Matcher, iou_threshold: float, *, confidence_threshold: float = 0.0, classes=None,
                 image_ids=None) -> pd.DataFrame:
    """One row per counted record: ``record`` ("prediction"/"label"), ``id``, ``true``, ``predicted``.

    A cross-class pair is two rows with the same cell (the prediction and the label it was paired with), so
    ``cell_counts`` counts a pair once by counting prediction rows for it; see ``cell_counts``.
    """
    lay = matcher.layout
    cats = resolve_classes(classes, matcher.data.category_names)
    m, _, ignored = matcher.assign(iou_threshold)
    dt_cat_id = matcher.cat_list[lay.dt_cat]
    gt_cat_id = matcher.cat_list[lay.gt_cat]
    dt_ids, gt_ids = matcher._dt_cols["pred_id"], matcher._gt_cols["label_id"]
    dt_sel = np.isin(dt_cat_id, cats) & (matcher._dt_cols["score"] >= confidence_threshold)
    gt_sel = np.isin(gt_cat_id, cats) & ~matcher.gt_ignore[0]
    if image_ids is not None:
        ids = np.asarray(list(image_ids), dtype=np.int64)
        dt_sel &= np.isin(matcher._dt_cols["image_id"], ids)
        gt_sel &= np.isin(matcher._gt_cols["image_id"], ids)
    live = dt_sel & ~ignored & ~(lay.dt_rank >= 100)
    tp = live & (m >= 0)
    gt_taken = np.zeros(len(gt_sel), bool)
    gt_taken[m[tp]] = True
    dt_free = live & (m < 0)
    gt_free = gt_sel & ~gt_taken
    blk_of_dt = np.searchsorted(lay.blk_d1, np.arange(len(lay.dt_rows)), "right")
    dt_order = np.lexsort((-matcher._dt_cols["score"], blk_of_dt)).astype(np.int64)
    cross = np.full(len(lay.dt_rows), -1, np.int64)
    kernels.cross_class_match(lay.blk_d0, lay.blk_d1, lay.blk_g0, lay.blk_g1, lay.blk_off, lay.ious, dt_order,
                              dt_free, gt_free, lay.dt_cat, lay.gt_cat, min(float(iou_threshold), 1 - 1e-10), cross)
    crossed = cross >= 0
    gt_free[cross[crossed]] = False
    names = _class_names(matcher, cats)
    dt_name = np.array([names.get(int(c), OTHER) for c in dt_cat_id], dtype=object)
    gt_name = np.array([names.get(int(c), OTHER) for c in gt_cat_id], dtype=object)
    bg = dt_free & ~crossed
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
