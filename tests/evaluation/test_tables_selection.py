"""One pass over a match for every table of a selection: ``selection_tables`` and ``per_class_best_f1`` equal the
one-table functions and ``best_f1`` of each class's own curve, exactly (ties, confidence cuts, subsets)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from explorer.evaluation import Matcher, best_f1, detection_summary, f1_by_confidence, per_class_table, pr_curves
from explorer.evaluation.tables import per_class_best_f1, selection_tables
from random_coco import random_coco


def _selections(gt):
    imgs = [im["id"] for im in gt["images"]]
    return [{}, {"classes": [3, 42]}, {"image_ids": imgs[::2]}, {"classes": [7], "image_ids": imgs[1:2]},
            {"classes": [8], "image_ids": []}]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("conf", [0.0, 0.4])
def test_selection_tables_equal_the_one_table_functions(seed, conf):
    gt, dt = random_coco(300 + seed, iou_type="bbox")
    for dets in dt[::7]:  # more ties on the confidence axis
        dets["score"] = 0.5
    m = Matcher.from_coco(gt, dt).match(0.6, confidence_threshold=conf)
    for sel in _selections(gt):
        t = selection_tables(m, **sel)
        expected = detection_summary(m, **sel)
        pd.testing.assert_frame_equal(t["summary"].pop("per_class"), expected.pop("per_class"))
        assert t["summary"] == pytest.approx(expected, nan_ok=True, rel=0, abs=0)
        pd.testing.assert_frame_equal(t["per_class"], per_class_table(m, **sel))
        pd.testing.assert_frame_equal(t["pr_curves"], pr_curves(m, **sel))
        pd.testing.assert_frame_equal(t["f1"], f1_by_confidence(m, **sel))
        best = per_class_best_f1(m, **sel)
        pd.testing.assert_frame_equal(t["best_per_class"], best)
        classes = sel.get("classes") or sorted(m.category_names)
        assert best["category_id"].tolist() == sorted(classes)
        for row in best.itertuples():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a class without predictions: undefined, with a warning
                one = best_f1(f1_by_confidence(m, classes=[row.category_id], image_ids=sel.get("image_ids")))
            got = {"threshold": row.threshold, "precision": row.precision, "recall": row.recall, "f1": row.f1}
            for key, value in one.items():  # the same bits, NaN where undefined
                assert (np.isnan(value) and np.isnan(got[key])) or value == got[key], (sel, row.category_id, key)


def test_best_per_class_by_hand():
    """Class 1: scores 0.9 TP, 0.8 FP, 0.7 TP with 2 labels: F1 2/3 at 0.9, 1/2 at 0.8, 4/5 at 0.7 -> 0.7;
    class 2: one FP and one label -> F1 0 everywhere, the highest threshold wins."""
    boxes = [[0, 0, 10, 10], [20, 20, 10, 10], [40, 40, 10, 10]]
    gt = {"images": [{"id": 1, "width": 100, "height": 100}],
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
          "annotations": [{"id": i + 1, "image_id": 1, "category_id": c, "bbox": b, "area": 100, "iscrowd": 0}
                          for i, (c, b) in enumerate([(1, boxes[0]), (1, boxes[1]), (2, boxes[2])])]}
    dt = [{"image_id": 1, "category_id": 1, "bbox": boxes[0], "score": 0.9},
          {"image_id": 1, "category_id": 1, "bbox": [60, 60, 5, 5], "score": 0.8},
          {"image_id": 1, "category_id": 1, "bbox": boxes[1], "score": 0.7},
          {"image_id": 1, "category_id": 2, "bbox": [80, 80, 5, 5], "score": 0.6}]
    best = per_class_best_f1(Matcher.from_coco(gt, dt).match(0.5))
    assert best["threshold"].tolist() == [0.7, 0.6]
    assert best["f1"].tolist() == [0.8, 0.0]
    assert best["precision"].tolist() == [2 / 3, 0.0] and best["recall"].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("seed", range(3))
def test_coco_at_threshold_equals_the_summary_of_a_match(seed):
    """mAP/mAR read off the project's COCO evaluation (matched once per run) at one of its IoU thresholds are the
    bits ``detection_summary`` gives on a match at that threshold, for any classes and images; off its thresholds,
    or with a confidence cut that drops predictions, there is no such reading (None)."""
    from explorer.evaluation.coco import IOU_THRESHOLDS, CocoState
    from explorer.evaluation.tables import coco_at_threshold

    gt, dt = random_coco(400 + seed, iou_type="bbox")
    matcher = Matcher.from_coco(gt, dt)
    state = CocoState.build(matcher)
    lowest = float(min(d["score"] for d in dt))
    for sel in _selections(gt):
        ev = state.evaluate(iou_type="bbox", cat_ids=sel.get("classes"), image_ids=sel.get("image_ids"))
        for t in IOU_THRESHOLDS.tolist():
            for c in (0.0, lowest):  # cuts nothing
                s = detection_summary(matcher.match(t, confidence_threshold=c), **sel)
                got = coco_at_threshold(ev, t, c)
                assert got is not None
                for value, expected in zip(got, (s["mAP"], s["mAR"])):
                    assert (np.isnan(value) and np.isnan(expected)) or value == expected, (sel, t, c)
        assert coco_at_threshold(ev, 0.52) is None  # not one of the evaluation's thresholds
        assert coco_at_threshold(ev, 0.5, 0.4) is None  # the cut drops predictions the evaluation counts


@pytest.mark.parametrize("keys, values", [
    ([3, 1, 7], [0, 1, 2, 3, 7, 8, 100, -5]),  # absent ids below, between and above; a negative value
    ([0], [0, 0, 1]),
    ([-2, 5], [-2, 5, 4]),  # a negative id: no table
    ([10**12, 4], [4, 10**12, 5]),  # sparse ids: no table
    ([], [1, 2]),
])
def test_membership_and_positions_equal_isin_and_lookup(keys, values):
    from explorer.evaluation.layout import lookup
    from explorer.evaluation.tables import _member, _positions

    keys, values = np.asarray(keys, np.int64), np.asarray(values, np.int64)
    expected = np.isin(values, keys)
    np.testing.assert_array_equal(_member(keys, values), expected)
    np.testing.assert_array_equal(_member(np.r_[keys, keys], values), expected)  # duplicate ids
    np.testing.assert_array_equal(_positions(keys, values), lookup(keys, values))


@pytest.mark.parametrize("arrays", [([3, 1], [1, 7, 7], []), ([], []), ([-4, 2], [2]), ([10**9], [5, 5])])
def test_union_ids_equals_sorted_unique(arrays):
    from explorer.evaluation.layout import sorted_unique
    from explorer.evaluation.tables import _union_ids

    arrays = [np.asarray(a, np.int64) for a in arrays]
    got = _union_ids(*arrays)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, sorted_unique(*arrays))


@pytest.mark.parametrize("conf", [0.0, 0.4])
def test_rows_kept_across_iou_moves_equal_a_fresh_view(conf):
    """What a selection of a match's rows is at every IoU (``tables._Rows``) is kept per the match's orders: the
    tables after IoU moves — with predictions matched to a crowd (left out of the curves) at some IoUs — equal
    those of a match without orders (rows sorted afresh), bit for bit."""
    from dataclasses import replace

    from explorer.evaluation import tables

    gt, dt = random_coco(321, iou_type="bbox")
    for i, ann in enumerate(gt["annotations"][::5]):  # crowds: predictions over them are ignored at low IoUs
        ann["iscrowd"] = 1
    matcher = Matcher.from_coco(gt, dt)
    tables._ROWS.clear()
    ignored_somewhere = False
    for t in (0.3, 0.5, 0.7):
        m = matcher.match(t, confidence_threshold=conf)
        ignored_somewhere |= bool(m.predictions["ignored"].any())
        fresh_m = replace(m, score_order=None, class_score_order=None)
        for sel in _selections(gt):
            got, want = selection_tables(m, **sel), selection_tables(fresh_m, **sel)
            pd.testing.assert_frame_equal(got["summary"].pop("per_class"), want["summary"].pop("per_class"))
            assert got["summary"] == pytest.approx(want["summary"], nan_ok=True, rel=0, abs=0)
            for key in ("per_class", "pr_curves", "f1", "best_per_class"):
                pd.testing.assert_frame_equal(got[key], want[key], check_exact=True)
    assert ignored_somewhere
    # one entry per selection of the one order (and the all-class view of its images), bounded by bytes
    assert 0 < len(tables._ROWS) <= 2 * len(_selections(gt))
    assert sum(entry[2] for entry in tables._ROWS.values()) <= tables.ROWS_BYTES
