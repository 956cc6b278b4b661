"""The one-pass re-match (``match_kernels.rematch``) equals greedy assignment (``kernels.greedy_match``, via
``Matcher.assign``) followed by the outcome rules written here in NumPy: every column bit for bit, same dtypes,
at random IoU and confidence thresholds, as plain Python and compiled."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.evaluation import Matcher, match_kernels
from explorer.evaluation.layout import MAX_DETS
from explorer.evaluation.matcher import FP_REASONS
from tests.evaluation.greedy_reference import greedy_assign
from random_coco import random_coco


def _bulk_coco(seeds) -> tuple[dict, list]:
    """Several ``random_coco`` sets side by side (image and label ids offset): crowds, the 100-prediction cut,
    images with only labels or only predictions, exact IoU ties, repeated scores — enough groups to compile.
    Label ids start at 0: pycocotools' id-0 rule (a label with id 0 never counts as matched) is exercised."""
    images, anns, results = [], [], []
    for i, seed in enumerate(seeds):
        gt, dt = random_coco(seed, iou_type="bbox")
        shift = 1000 * (i + 1)
        images += [dict(im, id=im["id"] + shift) for im in gt["images"]]
        anns += [dict(a, id=len(anns) + j, image_id=a["image_id"] + shift) for j, a in enumerate(gt["annotations"])]
        results += [dict(r, image_id=r["image_id"] + shift) for r in dt]
    return {"images": images, "annotations": anns, "categories": gt["categories"]}, results


def _expected(matcher: Matcher, t: float, c: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The match at (t, c) from ``greedy_assign`` and the rules of ``explorer.evaluation.matcher`` (module docstring)."""
    m, iou, ignored = greedy_assign(matcher, t)
    thr = min(t, 1 - 1e-10)
    lay, dt, gt = matcher.layout, matcher._dt_cols, matcher._gt_cols
    ignored = ignored | (lay.dt_rank >= MAX_DETS)
    matched = m >= 0
    at = np.where(matched, m, 0)
    counted = matched & matcher.gt_counts[at]
    tp = counted & ~ignored
    bs, bo = matcher.best_same, matcher.best_other
    reason = np.select([bs >= thr, bo >= thr, bs > 0], [1, 2, 3], 4)
    code = np.where(~tp & ~ignored, reason, 0)
    keep = dt["score"] >= c
    rows = np.flatnonzero(keep)
    preds = pd.DataFrame({
        **{k: dt[k][rows] for k in ("pred_id", "image_id", "category_id", "score")},
        "is_tp": tp[rows],
        "label_id": pd.arrays.IntegerArray(np.where(matched, gt["label_id"][at], 0)[rows], ~matched[rows]),
        "iou": iou[rows], "fp_reason": pd.Categorical(np.array([None, *FP_REASONS], dtype=object)[code[rows]], categories=FP_REASONS),
        "ignored": (ignored | (matched & matcher.gt_crowd[at]))[rows], "rank": lay.dt_rank[rows],
        "max_iou_same_class": bs[rows], "max_iou_other_class": bo[rows]})
    # each label: the last kept row (lowest score) matched to it
    last = np.full(len(gt["label_id"]), -1)
    hit = rows[matched[rows]]
    np.maximum.at(last, m[hit], hit)
    has = last >= 0
    labels = pd.DataFrame({**gt, "detected": has & matcher.gt_counts,
                           "pred_id": pd.arrays.IntegerArray(np.where(has, dt["pred_id"][last], 0), ~has),
                           "iou": np.where(has, iou[last], np.nan), "ignored": matcher.gt_ignore[0]})
    return preds, labels


def _assert_same_bits(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    for name in want.columns:
        a, b = got[name].array, want[name].array
        assert a.dtype == b.dtype, name
        if isinstance(b, pd.arrays.IntegerArray):
            np.testing.assert_array_equal(a._mask, b._mask, err_msg=name)
            np.testing.assert_array_equal(a._data, b._data, err_msg=name)  # 0 under the mask, as before
        elif isinstance(b, pd.Categorical):  # fp_reason: the same categories and codes
            assert list(a.categories) == list(b.categories), name
            np.testing.assert_array_equal(a.codes, b.codes, err_msg=name)
        else:
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), name


_THRESHOLDS = [(0.0, 0.0), (0.5, 0.0), (0.75, 0.3), (1.0, 0.0), (0.5, 2.0)]


@pytest.mark.parametrize("mode", ["python", "numba"])
@pytest.mark.parametrize("seeds", [[0], [3], list(range(10, 50))], ids=["seed0", "seed3", "bulk"])
def test_rematch_equals_assignment_then_rules(mode, seeds, monkeypatch):
    if mode == "python":  # the kernels' Python functions, whether or not this process compiled them already
        for name in ("rematch", "pair_ious"):
            monkeypatch.setattr(match_kernels, name, match_kernels._kernel.functions[name][0])
    else:
        monkeypatch.setenv("EXPLORER_KERNELS", "numba")
    gt, dt = _bulk_coco(seeds)
    matcher = Matcher.from_coco(gt, dt)
    rng = np.random.default_rng(len(seeds))
    scores = np.unique(matcher._dt_cols["score"])
    cases = _THRESHOLDS + [(float(rng.random()), float(rng.choice(scores))) for _ in range(4)]  # c at a score
    cases += [(float(rng.random()), float(rng.random())) for _ in range(4)]
    assert not matcher.gt_counts.all()  # the label with id 0
    for t, c in cases:
        got = matcher.match(t, confidence_threshold=c)
        want_preds, want_labels = _expected(matcher, t, c)
        _assert_same_bits(got.predictions, want_preds)
        _assert_same_bits(got.labels, want_labels)
        keep = matcher._dt_cols["score"] >= c
        pos = np.cumsum(keep) - 1
        order = matcher._score_order
        np.testing.assert_array_equal(got.score_order, pos[order[keep[order]]])
    if seeds == list(range(10, 50)):
        assert len(matcher._rematch.d0) >= 300  # enough labelled groups to run compiled in "auto" mode too


def test_rows_in_classes_without_labels_and_past_the_cut():
    """Rows outside labelled groups are unmatched FPs (or ignored past the 100 cut); the lanes cover every row
    once: the outputs are all written (checked on a project where most groups have no label)."""
    gt, dt = _bulk_coco([4])
    matcher = Matcher.from_coco(gt, dt)
    rem = matcher._rematch
    assert rem.lane_r0[0] == 0 and rem.lane_r0[-1] == len(matcher.layout.dt_rows)
    assert (np.diff(rem.lane_r0) >= 0).all()
    p = matcher.match(0.5).predictions
    cut = p["rank"] >= MAX_DETS
    assert cut.sum() > 0 and p.loc[cut, "ignored"].all() and p.loc[cut, "fp_reason"].isna().all()
    no_label = ~pd.Series(list(zip(p["image_id"], p["category_id"]))).isin(
        set(zip(matcher._gt_cols["image_id"], matcher._gt_cols["category_id"]))).to_numpy()
    assert no_label.sum() > 0 and p.loc[no_label, "label_id"].isna().all()
    assert set(p.loc[no_label & ~cut.to_numpy(), "fp_reason"]) <= {"wrong_class", "background"}


@pytest.mark.parametrize("mode", ["python", "numba"])
@pytest.mark.parametrize("with_code", [True, False])
def test_outcome_columns_are_the_gathers_of_the_match_columns(mode, with_code, monkeypatch):
    """``outcome_columns`` (the outcome tables' one pass) equals NumPy's takes at ``r`` with the fill of a row the
    match does not hold (ignored, outcome undefined but True under its mask, no id, NaN IoU, code 0)."""
    monkeypatch.setenv("EXPLORER_KERNELS", mode)
    rng = np.random.default_rng(3)
    m, n = 700, 500
    ignored, hit, id_na = (rng.random(m) < 0.3), (rng.random(m) < 0.5), (rng.random(m) < 0.4)
    ids = rng.integers(-5, 10**12, m)
    iou = np.where(rng.random(m) < 0.2, np.nan, rng.random(m))
    code = rng.integers(0, 5, m).astype(np.int8) if with_code else np.zeros(0, np.int8)
    r = rng.integers(0, m, n).astype(np.int32)
    present = rng.random(n) < 0.9
    r[~present] = 0
    out = (np.empty(n, bool), np.empty(n, bool), np.empty(n, bool), np.empty(n, np.int64), np.empty(n, bool),
           np.empty(n), np.empty(n, np.int8))
    match_kernels.outcome_columns(r, present, ignored, hit, id_na, ids, iou, code, *out)
    fill = ~present
    expected = (ignored[r] | fill, hit[r] | fill, ignored[r] | fill, np.where(fill, 0, ids[r]), id_na[r] | fill,
                np.where(fill, np.nan, iou[r]), np.where(fill, 0, code[r]) if with_code else np.zeros(n, np.int8))
    for got, want in zip(out, expected):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype or (got.dtype == np.int8 and want.dtype.kind == "i")
