"""The confusion assignment from the Matcher's match equals the former two-pass one (``greedy_assign`` plus the
unpruned cross-class pass), bit for bit, and the per-row cells give the former record cells and counts.

The reference below is the former implementation, kept here as the oracle: crowd labels, an id-0 label (taken
but not counted by pycocotools), predictions with an area outside the area range, an image-class past the 100
predictions cut, tied scores, confidence thresholds, class and image filters, thresholds 0 and 1.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.evaluation import Matcher, kernels
from explorer.evaluation.confusion import (BACKGROUND, OTHER, _image_score_order, confusion_assignment,
                                           confusion_cells, detection_confusion_matrix)
from explorer.evaluation.class_confusion import confusion_counts
from tests.evaluation.greedy_reference import greedy_assign


def _reference(matcher, t, c, classes, image_ids):
    """The former ``confusion_assignment`` (``greedy_assign(matcher, t)`` as pass 1, every free prediction in
    pass 2) and ``confusion_cells`` (records in cell_members order): ``(tp, crossed, cross, bg_dt, bg_gt, records)``."""
    lay = matcher.layout
    cats = np.array(sorted(matcher.data.category_names) if classes is None else sorted(classes), np.int64)
    m, _, ignored = greedy_assign(matcher, t)
    chosen = np.isin(matcher.cat_list, cats)
    dt_sel = chosen[lay.dt_cat] & (matcher._dt_cols["score"] >= c)
    gt_sel = chosen[lay.gt_cat] & ~matcher.gt_ignore[0]
    if image_ids is not None:
        dt_sel &= np.isin(matcher._dt_cols["image_id"], image_ids)
        gt_sel &= np.isin(matcher._gt_cols["image_id"], image_ids)
    live = dt_sel & ~ignored & ~(lay.dt_rank >= 100)
    tp = live & (m >= 0)
    gt_taken = np.zeros(len(gt_sel), bool)
    gt_taken[m[tp]] = True
    dt_free = live & (m < 0)
    gt_free = gt_sel & ~gt_taken
    cross = np.full(len(lay.dt_rows), -1, np.int64)
    kernels.cross_class_match(lay.blk_d0, lay.blk_d1, lay.blk_g0, lay.blk_g1, lay.blk_off, lay.ious,
                              _image_score_order(matcher), dt_free, gt_free, lay.dt_cat, lay.gt_cat,
                              min(float(t), 1 - 1e-10), cross)
    crossed = cross >= 0
    gt_free[cross[crossed]] = False
    bg = dt_free & ~crossed
    k = len(cats)
    pos = {int(x): i for i, x in enumerate(cats)}
    cat_k = np.array([pos.get(int(x), k) for x in matcher.cat_list], np.int64)
    dt_k, gt_k = cat_k[lay.dt_cat], cat_k[lay.gt_cat]
    dt_ids, gt_ids = matcher._dt_cols["pred_id"], matcher._gt_cols["label_id"]
    partner = cross[crossed]
    records = ([(True, i, a, a, True) for i, a in zip(dt_ids[tp], dt_k[tp])]
               + [(True, i, a, b, True) for i, a, b in zip(dt_ids[crossed], gt_k[partner], dt_k[crossed])]
               + [(False, i, a, b, False) for i, a, b in zip(gt_ids[partner], gt_k[partner], dt_k[crossed])]
               + [(True, i, k, b, True) for i, b in zip(dt_ids[bg], dt_k[bg])]
               + [(False, i, a, k, True) for i, a in zip(gt_ids[gt_free], gt_k[gt_free])])
    return tp, crossed, cross, bg, gt_free, records


def _tables(seed: int):
    """Random overlapping boxes of 3 classes on 12 images: crowds, label id 0, negative-area predictions, one
    image-class with 130 predictions (past the 100 cut), scores rounded to two decimals (ties)."""
    rng = np.random.default_rng(seed)
    n_img, n_gt, n_dt = 12, 90, 420

    def boxes(n):
        img = rng.integers(1, n_img + 1, n)
        xy = rng.integers(0, 6, (n, 2)) * 4.0  # a coarse grid: many overlaps, exact IoU ties too
        wh = rng.integers(2, 5, (n, 2)) * 4.0
        return img, rng.integers(1, 4, n), xy, wh

    img, cat, xy, wh = boxes(n_gt)
    labels = pd.DataFrame({"label_id": np.arange(n_gt), "image_id": img, "category_id": cat, "x": xy[:, 0],
                           "y": xy[:, 1], "w": wh[:, 0], "h": wh[:, 1], "area": wh[:, 0] * wh[:, 1],
                           "iscrowd": rng.random(n_gt) < 0.08, "segmentation": None})  # label_id 0 included
    img, cat, xy, wh = boxes(n_dt)
    img[:130], cat[:130] = 1, 2  # one image-class past the maxDets cut
    area = wh[:, 0] * wh[:, 1]
    area[rng.random(n_dt) < 0.03] = -1.0  # outside the area range: ignored when unmatched
    preds = pd.DataFrame({"pred_id": np.arange(1, n_dt + 1), "image_id": img, "category_id": cat, "x": xy[:, 0],
                          "y": xy[:, 1], "w": wh[:, 0], "h": wh[:, 1], "area": area,
                          "score": np.round(rng.random(n_dt), 2), "segmentation": None})
    # the id-0 label is matched by an outside-area prediction of its class (the one rule read from that row)
    zero = labels.iloc[0]
    preds.loc[len(preds)] = {"pred_id": 10_000, "image_id": zero.image_id, "category_id": zero.category_id,
                             "x": zero.x, "y": zero.y, "w": zero.w, "h": zero.h, "area": -5.0, "score": 0.999,
                             "segmentation": None}
    categories = pd.DataFrame({"category_id": [1, 2, 3], "name": ["cat", "dog", "eel"], "supercategory": None})
    return labels, preds, categories


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_assignment_from_the_match_equals_the_two_pass_reference(seed):
    labels, preds, categories = _tables(seed)
    matcher = Matcher(labels, preds, categories=categories)
    assert not matcher.gt_counts.all() and matcher.dt_outside.any() and (matcher.layout.dt_rank >= 100).any()
    images = np.unique(labels["image_id"])[::2]
    n_crossed = 0
    for t in (0.0, 0.1, 0.3, 0.5, 0.75, 1.0):
        for c in (0.0, 0.3, 0.7):
            match = matcher.match(t, confidence_threshold=c)
            for classes in (None, [1, 3], [2]):
                for image_ids in (None, images):
                    a = confusion_assignment(matcher, t, confidence_threshold=c, classes=classes,
                                             image_ids=image_ids, match=match)
                    tp, crossed, cross, bg, gt_free, records = _reference(matcher, t, c, classes, image_ids)
                    for got, want in ((a.tp, tp), (a.crossed, crossed), (a.cross, cross), (a.background_dt, bg),
                                      (a.background_gt, gt_free)):
                        np.testing.assert_array_equal(got, want)
                    n_crossed += int(crossed.sum())
                    cells = confusion_cells(matcher, a)
                    assert list(zip(cells.is_pred.tolist(), cells.id.tolist(), cells.true.tolist(),
                                    cells.predicted.tolist(), cells.counted.tolist())) == \
                        [(p, int(i), int(x), int(y), q) for p, i, x, y, q in records]
                    counted = np.array([r[4] for r in records], bool)
                    want_counts = confusion_counts(np.array([r[2] for r in records], np.int64)[counted],
                                                   np.array([r[3] for r in records], np.int64)[counted],
                                                   len(cells.names)) if records else \
                        np.zeros((len(cells.names),) * 2, np.int64)
                    np.testing.assert_array_equal(cells.counts, want_counts)
                    np.testing.assert_array_equal(
                        detection_confusion_matrix(matcher, t, confidence_threshold=c, classes=classes,
                                                   image_ids=image_ids).matrix.to_numpy(), want_counts)
    assert n_crossed > 0  # the second pass paired something


def test_cell_ids_are_the_records_in_the_cell():
    labels, preds, categories = _tables(3)
    matcher = Matcher(labels, preds, categories=categories)
    for t in (0.1, 0.5):
        cells = confusion_cells(matcher, confusion_assignment(matcher, t))
        names = np.array(cells.names, object)
        for shown in (names, np.array([n if n in ("dog", BACKGROUND) else OTHER for n in names], object)):
            for cell in {(a, b) for a in shown for b in shown}:
                pred_ids, label_ids = cells.cell_ids(shown, shown, cell)
                inside = cells.in_cell(shown, shown, cell)
                assert sorted(pred_ids.tolist()) == sorted(cells.id[inside & cells.is_pred].tolist())
                assert sorted(label_ids.tolist()) == sorted(cells.id[inside & ~cells.is_pred].tolist())


def test_a_match_at_other_thresholds_is_refused():
    labels, preds, categories = _tables(0)
    matcher = Matcher(labels, preds, categories=categories)
    with pytest.raises(ValueError, match="not 0.6"):
        confusion_assignment(matcher, 0.6, match=matcher.match(0.5))
