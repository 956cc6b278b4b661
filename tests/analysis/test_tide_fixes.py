"""The oracle fixes' fast path (``_State``: one compiled pass over the true positives and the fix's points) gives
the same bits as re-accumulating the edited points with ``class_aps`` (``kernels.accumulate``); the duplicate
label pairs equal a brute-force pairing."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from explorer.analysis.suspects import _box_iou, duplicate_labels
from explorer.analysis.tide import _State, class_aps


def random_state(seed: int, n: int = 3000, n_cat: int = 5):
    rng = np.random.default_rng(seed)
    k = rng.integers(0, n_cat, n)
    score = np.round(rng.random(n), 2)  # many ties: the tie order matters
    tp = rng.random(n) < 0.4
    kind = np.where(tp, 0, rng.integers(1, 6, n))
    # a fix makes some errors a TP of some class (classification / localisation), the others are removed
    fix_k = np.where((kind == 1) | (kind == 2), rng.integers(-1, n_cat, n), -1)
    fix_k = np.where(kind == 2, np.where(fix_k >= 0, k, -1), fix_k)  # localisation: its own class
    n_labels = rng.integers(0, 400, n_cat)
    n_labels[n_cat - 1] = 0  # a class with predictions but no labels
    lab_k = np.repeat(np.arange(n_cat), n_labels)
    state = _State.from_points(k=k, score=score, tp=tp, kind=kind, fix_k=fix_k, lab_k=lab_k,
                               lab_missed=rng.random(len(lab_k)) < 0.3, lab_fn=rng.random(len(lab_k)) < 0.5,
                               n_labels=n_labels)
    return state, (k, score, tp, fix_k, n_labels, lab_k)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fixed_aps_equal_reaccumulating_the_edited_points(seed):
    state, (k, score, tp, fix_k, n_labels, lab_k) = random_state(seed)
    rng = np.random.default_rng(100 + seed)
    order = state.by_class
    np.testing.assert_array_equal(state.fixed_aps(), class_aps(k, score, tp, n_labels))
    for _ in range(6):
        fix = (rng.random(len(k)) < 0.3) & ~tp  # errors only, as every oracle fix
        remove = (rng.random(len(k)) < 0.2) & ~tp
        drop = rng.random(len(lab_k)) < 0.2
        # by hand: fixed points become TPs of fix_k (or leave), removed points leave, dropped labels uncount
        moved = fix & (fix_k >= 0)
        k2 = np.where(moved, fix_k, k)
        tp2 = tp | moved
        keep = ~(fix & ~moved) & ~remove
        n2 = n_labels - np.bincount(lab_k[drop], minlength=len(n_labels))
        expected = class_aps(k2, score, tp2, n2, keep=keep)
        got = state.fixed_aps(fix_dp=fix[order], remove_dp=remove[order], drop_labels=drop)
        np.testing.assert_array_equal(got, expected)


def test_duplicate_labels_equal_brute_force():
    rng = np.random.default_rng(7)
    n = 300
    labels = pd.DataFrame({"label_id": rng.permutation(n) + 10, "image_id": rng.integers(0, 20, n),
                           "category_id": rng.integers(0, 3, n), "x": rng.integers(0, 4, n) * 2.0,
                           "y": rng.integers(0, 4, n) * 2.0, "w": 10.0 + rng.integers(0, 3, n),
                           "h": 10.0 + rng.integers(0, 3, n), "iscrowd": rng.random(n) < 0.1})
    got = duplicate_labels(labels, iou=0.6)
    rows = labels[~labels["iscrowd"]].to_dict("records")
    expected = set()
    for a, b in itertools.combinations(rows, 2):
        if (a["image_id"], a["category_id"]) != (b["image_id"], b["category_id"]):
            continue
        hi, lo = (a, b) if a["label_id"] > b["label_id"] else (b, a)
        v = _box_iou(np.array([[hi["x"], hi["y"], hi["w"], hi["h"]]]), np.array([[lo["x"], lo["y"], lo["w"], lo["h"]]]))[0]
        if v >= 0.6:
            expected.add((hi["label_id"], lo["label_id"], v))
    assert len(expected) > 20
    assert set(zip(got["label_id"], got["other_label_id"], got["iou"])) == expected
    assert len(got) == len(expected)


def _crowded_set(seed: int = 0, n_img: int = 40):
    """Random boxes of 3 classes with a crowd region per image and predictions inside it (ignored at low IoUs)."""
    rng = np.random.default_rng(seed)
    images, labels, preds = [], [], []
    for i in range(1, n_img + 1):
        images.append({"id": i, "width": 200, "height": 200})
        for _ in range(rng.integers(1, 6)):
            x, y, w, h = rng.integers(0, 150, 2).tolist() + rng.integers(8, 50, 2).tolist()
            labels.append({"id": len(labels) + 1, "image_id": i, "category_id": int(rng.integers(1, 4)),
                           "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
            for _ in range(rng.integers(0, 3)):  # jittered detections, some of another class
                j = rng.normal(0, 4, 4)
                preds.append({"image_id": i, "category_id": int(rng.integers(1, 4)), "score": float(rng.random()),
                              "bbox": [x + j[0], y + j[1], max(w + j[2], 2), max(h + j[3], 2)]})
        labels.append({"id": len(labels) + 1, "image_id": i, "category_id": 1, "bbox": [120, 120, 60, 60],
                       "area": 3600, "iscrowd": 1})
        for _ in range(rng.integers(1, 4)):  # inside the crowd: matched to it (ignored) while IoU(crowd) >= t
            s = float(rng.uniform(0.5, 1.0))
            preds.append({"image_id": i, "category_id": 1, "score": float(rng.random()),
                          "bbox": [125, 125, 50 * s, 50 * s]})
        for _ in range(rng.integers(0, 4)):  # background
            preds.append({"image_id": i, "category_id": int(rng.integers(1, 4)), "score": float(rng.random()),
                          "bbox": [float(rng.integers(0, 60)), 180.0, 10.0, 10.0]})
    gt = {"images": images, "categories": [{"id": c, "name": f"c{c}"} for c in (1, 2, 3)], "annotations": labels}
    return gt, preds


@pytest.mark.parametrize("classes, confidence", [([1, 3], 0.0), (None, 0.0), (None, 0.4), ([2], 0.4)])
def test_selection_kept_across_iou_moves_with_crowds(classes, confidence):
    """An IoU move reuses the selection's rows and score orders even when predictions match crowds (fewer data
    points at higher IoUs): one kept selection for three IoUs, and each cost equals the one whose points are
    sorted afresh (a match without orders) — for a class subset, every row, and a confidence cut."""
    from dataclasses import replace

    from explorer.analysis import tide
    from explorer.evaluation import Matcher

    gt, dt = _crowded_set()
    matcher = Matcher.from_coco(gt, dt)
    tide._BASE.clear()
    costs = {}
    for t in (0.3, 0.5, 0.7):
        m = matcher.match(t, confidence_threshold=confidence)
        assert m.predictions["ignored"].any()  # some predictions are matched to a crowd at every IoU here
        costs[t] = tide.error_cost_from_matcher(matcher, t, classes=classes, match=m, confidence_threshold=confidence)
    assert len({k for k in tide._BASE if k[1] == "selected"}) == 1
    assert len({k for k in tide._BASE if k[1] == "best"}) == 1
    for t, cost in costs.items():
        tide._BASE.clear()
        m = replace(matcher.match(t, confidence_threshold=confidence), score_order=None, class_score_order=None)
        fresh = tide.error_cost_from_matcher(matcher, t, classes=classes, match=m, confidence_threshold=confidence)
        assert (fresh.ap, fresh.delta_ap, fresh.counts) == (cost.ap, cost.delta_ap, cost.counts)
        pd.testing.assert_frame_equal(fresh.per_class, cost.per_class)
        pd.testing.assert_frame_equal(fresh.errors, cost.errors)
        buckets = [tide.error_cost_by_bucket(c, np.linspace(0, 1, len(c.state.pred_ids)),
                                             np.linspace(1, 0, len(c.state.label_ids)), n_buckets=3)
                   for c in (fresh, cost)]
        pd.testing.assert_frame_equal(*buckets)
    tide._BASE.clear()


def test_every_row_selected_keeps_no_copy_of_the_rows():
    """With no confidence cut and every row selected, a kept selection holds no ``arange`` (layout rows, points
    and columns are the identity) and its per-class order is the Matcher's own array; a subset keeps its rows."""
    from explorer.analysis import tide
    from explorer.evaluation import Matcher

    gt, dt = _crowded_set(seed=3)
    matcher = Matcher.from_coco(gt, dt)
    m = matcher.match(0.5)
    every = tide._selected(matcher, m, None, None, 0.0)
    assert every.kept is None and every.cand is None and every.sel_rows is None
    assert every.by_class is m.class_score_order and every.n == len(m.predictions)
    np.testing.assert_array_equal(every.layout_rows(np.arange(5)), np.arange(5))
    subset = tide._selected(matcher, m, [2], None, 0.0)
    rows = np.flatnonzero(m.predictions["category_id"].to_numpy() == 2)
    np.testing.assert_array_equal(subset.cand, rows)
    np.testing.assert_array_equal(subset.layout_rows(np.arange(subset.n)), rows)
    np.testing.assert_array_equal(subset.column(rows), np.arange(len(rows)))  # every row of class 2 is selected
    cut = tide._selected(matcher, matcher.match(0.5, confidence_threshold=0.5), None, None, 0.5)
    assert cut.n == int((m.predictions["score"] >= 0.5).sum()) and cut.kept is not None
