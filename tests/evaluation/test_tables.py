"""AP/AR at one threshold equal pycocotools' precision[t]/recall[t]; per-class counts, curves, confusion matrix."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.evaluation import (Matcher, best_f1, detection_confusion_matrix, detection_summary, f1_by_confidence,
                                 per_class_table, pr_curves)
from explorer.evaluation.coco import IOU_THRESHOLDS
from random_coco import random_coco, run_pycocotools


@pytest.mark.parametrize("seed", range(5))
def test_ap_at_threshold_equals_pycocotools(seed):
    gt, dt = random_coco(seed, iou_type="bbox")
    ev = run_pycocotools(gt, dt, iou_type="bbox")
    matcher = Matcher.from_coco(gt, dt)
    for t_index in (0, 5, 9):
        s = detection_summary(matcher.match(IOU_THRESHOLDS[t_index]), classes=ev.params.catIds)
        p = ev.eval["precision"][t_index, :, :, 0, 2]
        r = ev.eval["recall"][t_index, :, 0, 2]
        assert s["mAP"] == np.mean(p[p > -1])  # same order, same bits
        assert s["mAR"] == np.mean(r[r > -1])
        table = s["per_class"]
        for k in range(p.shape[1]):
            col = p[:, k]
            assert table["ap"].iloc[k] == (np.mean(col) if (col > -1).all() else pytest.approx(np.nan, nan_ok=True))
    s50 = detection_summary(matcher.match(0.5))
    assert s50["mAP"] == ev.stats[1]


def test_selection_equals_pycocotools_selection():
    gt, dt = random_coco(7, iou_type="bbox")
    imgs = [im["id"] for im in gt["images"]][1:4]
    ev = run_pycocotools(gt, dt, iou_type="bbox", cat_ids=[3, 7], img_ids=imgs)
    s = detection_summary(Matcher.from_coco(gt, dt).match(0.5), classes=["class3", "class7"], image_ids=imgs)
    assert s["mAP"] == ev.stats[1]


def test_per_class_counts_by_hand():
    labels = pd.DataFrame({"label_id": [1, 2, 3], "image_id": [1, 1, 1], "category_id": [1, 1, 2],
                           "x": [0.0, 50, 0], "y": [0.0, 0, 50], "w": [10.0, 10, 10], "h": [10.0, 10, 10],
                           "area": [100.0, 100, 100], "iscrowd": [False] * 3, "segmentation": [None] * 3})
    preds = pd.DataFrame({"pred_id": [1, 2, 3], "image_id": [1, 1, 1], "category_id": [1, 1, 2],
                          "x": [0.0, 80, 0], "y": [0.0, 80, 50], "w": [10.0] * 3, "h": [10.0] * 3,
                          "area": [100.0] * 3, "score": [0.9, 0.8, 0.4], "segmentation": [None] * 3})
    m = Matcher(labels, preds)
    t = per_class_table(m.match(0.5)).set_index("category_id")
    assert t.loc[1, ["tp", "fp", "fn", "support", "n_predictions"]].tolist() == [1, 1, 1, 2, 2]
    assert t.loc[1, "precision"] == 0.5 and t.loc[1, "recall"] == 0.5 and t.loc[1, "f1"] == 0.5
    assert t.loc[2, "precision"] == 1.0 and t.loc[2, "recall"] == 1.0
    t2 = per_class_table(m.match(0.5, confidence_threshold=0.5)).set_index("category_id")
    assert np.isnan(t2.loc[2, "precision"]) and t2.loc[2, "recall"] == 0.0 and t2.loc[2, "f1"] == 0.0
    curve = f1_by_confidence(m.match(0.5))
    assert curve["threshold"].tolist() == [0.9, 0.8, 0.4]
    assert curve["tp"].tolist() == [1, 1, 2] and curve["recall"].tolist() == [1 / 3, 1 / 3, 2 / 3]
    best = best_f1(curve)
    assert best["threshold"] == 0.4 and best["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    pr = pr_curves(m.match(0.5))
    assert pr[pr["category_id"] == 1][["recall", "precision"]].values.tolist() == [[0.5, 1.0], [0.5, 0.5]]


@pytest.mark.parametrize("seed", range(3))
def test_f1_curve_equals_rematching_at_each_threshold(seed):
    gt, dt = random_coco(seed, iou_type="bbox")
    matcher = Matcher.from_coco(gt, dt)
    curve = f1_by_confidence(matcher.match(0.5))
    for row in curve.iloc[:: max(1, len(curve) // 6)].itertuples():
        s = detection_summary(matcher.match(0.5, confidence_threshold=row.threshold))
        assert row.precision == pytest.approx(s["precision"], abs=1e-15)
        assert row.recall == pytest.approx(s["recall"], abs=1e-15)
        assert row.f1 == pytest.approx(s["f1"], abs=1e-15)


def test_confusion_matrix_by_hand():
    labels = pd.DataFrame({"label_id": [1, 2, 3, 4], "image_id": [1, 1, 1, 1], "category_id": [1, 2, 2, 1],
                           "x": [0.0, 50, 100, 200], "y": [0.0] * 4, "w": [10.0] * 4, "h": [10.0] * 4,
                           "area": [100.0] * 4, "iscrowd": [False] * 4, "segmentation": [None] * 4})
    preds = pd.DataFrame({"pred_id": [1, 2, 3, 4], "image_id": [1] * 4, "category_id": [1, 1, 2, 2],
                          "x": [0.0, 50, 300, 200], "y": [0.0] * 4, "w": [10.0] * 4, "h": [10.0] * 4,
                          "area": [100.0] * 4, "score": [0.9, 0.8, 0.7, 0.6], "segmentation": [None] * 4})
    categories = pd.DataFrame({"category_id": [1, 2], "name": ["cat", "dog"], "supercategory": None})
    m = Matcher(labels, preds, categories=categories)
    cm = detection_confusion_matrix(m, 0.5)
    expected = pd.DataFrame([[1, 1, 0], [1, 0, 1], [0, 1, 0]], index=["cat", "dog", "background"],
                            columns=["cat", "dog", "background"])
    # cat label 1 <- cat pred 1 (TP); dog label 2 <- cat pred 2 (confused); cat label 4 <- dog pred 4 (confused);
    # dog pred 3 hits nothing (background row); dog label 3 missed (background column)
    pd.testing.assert_frame_equal(cm.matrix, expected)
    norm = cm.normalized()
    assert norm.loc["cat"].tolist() == [0.5, 0.5, 0.0] and norm.loc["background"].tolist() == [0.0, 1.0, 0.0]
    assert cm.matrix.to_numpy().sum() == 5
    folded = cm.order("most_common", top_k=1)
    assert list(folded.matrix.index) == ["cat", "other", "background"]
    assert folded.matrix.to_numpy().sum() == 5
    only_cat = detection_confusion_matrix(m, 0.5, classes=["cat"])
    assert only_cat.matrix.loc["cat", "cat"] == 1 and only_cat.matrix.loc["background", "cat"] == 1


@pytest.mark.parametrize("seed", range(3))
def test_confusion_matrix_totals(seed):
    gt, dt = random_coco(seed, iou_type="bbox")
    m = Matcher.from_coco(gt, dt)
    for t in (0.5, 0.75):
        cm = detection_confusion_matrix(m, t).matrix.to_numpy()
        r = m.match(t)
        p = r.predictions
        live = ~p["ignored"]
        assert cm[:, :-1].sum() == live.sum()  # every counted prediction lands in one column
        labels_counted = (~r.labels["ignored"]).sum()
        assert cm[:-1, :].sum() == labels_counted
        assert np.trace(cm[:-1, :-1]) >= p["is_tp"].sum()
        ordered = detection_confusion_matrix(m, t).order("most_confused", top_k=2).matrix
        assert ordered.to_numpy().sum() == cm.sum()


def test_tables_from_the_matchers_one_sort_equal_a_fresh_sort():
    """The Matcher sorts by score once (``score_order``/``class_score_order``); tables of any subset filtered
    from it equal the tables computed with their own sort."""
    import dataclasses

    gt, dt = random_coco(2, iou_type="bbox")
    m = Matcher.from_coco(gt, dt)
    images = sorted({d["image_id"] for d in dt})[::2]
    for r in (m.match(0.5), m.match(0.7, confidence_threshold=0.35)):
        fresh = dataclasses.replace(r, score_order=None, class_score_order=None)
        for options in ({}, {"classes": [3, 8]}, {"image_ids": images}):
            for f in (per_class_table, pr_curves, f1_by_confidence):
                pd.testing.assert_frame_equal(f(r, **options), f(fresh, **options))
            a, b = detection_summary(r, **options), detection_summary(fresh, **options)
            pd.testing.assert_frame_equal(a.pop("per_class"), b.pop("per_class"))
            assert repr(a) == repr(b)
