"""The kept bootstrap (threshold-free layout, every class's replicates sliced per class selection) against the
direct computation, bit for bit, on random matches with crowds, a confidence threshold and tied scores: the sample
against the plain NumPy construction it replaced, and ``bootstrap_ap`` of any class selection against a pass over
those classes alone."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.analysis.intervals import (
    ApSample,
    ap_sample,
    bootstrap_ap,
    paired_bootstrap_ap,
    resampled_counts,
    weighted_ap,
)
from explorer.evaluation import Matcher
from explorer.evaluation.layout import lookup, sorted_unique
from explorer.evaluation.tables import resolve_classes


def _reference_sample(match, classes=None, image_ids=None) -> ApSample:
    """The sample as NumPy builds it row by row (the construction before the layout): non-ignored selected rows
    by (class, descending score, row); an FP counts in its class's totals when it sorts at or before the last TP."""
    cats = resolve_classes(classes, match.category_names)
    images = sorted_unique(match.image_ids if image_ids is None else list(image_ids))
    p, lab = match.predictions, match.labels
    p_k = lookup(cats, p["category_id"].to_numpy(np.int64), dtype=np.int32)
    p_i = lookup(images, p["image_id"].to_numpy(np.int64), dtype=np.int32)
    keep = ~p["ignored"].to_numpy(bool) & (p_k >= 0) & (p_i >= 0)
    l_k = lookup(cats, lab["category_id"].to_numpy(np.int64), dtype=np.int32)
    l_i = lookup(images, lab["image_id"].to_numpy(np.int64), dtype=np.int32)
    keep_l = ~lab["ignored"].to_numpy(bool) & (l_k >= 0) & (l_i >= 0)
    tp = p["is_tp"].to_numpy(bool)
    score = p["score"].to_numpy(np.float64)
    order = np.lexsort((-score, p_k))
    s_rows = order[keep[order]]
    k_sorted = p_k[s_rows]
    pred_start = np.searchsorted(k_sorted, np.arange(len(cats) + 1), "left").astype(np.int64)
    tp_at = np.flatnonzero(tp[s_rows])
    last_row = np.full(len(cats), -1, np.int64)
    last_row[k_sorted[tp_at]] = s_rows[tp_at]
    last_score = np.append(score, np.inf)[np.where(last_row >= 0, last_row, len(score))]
    rows = np.flatnonzero(keep)
    rk = p_k[rows]
    rs, ls = score[rows], last_score[rk]
    before = (rs > ls) | ((rs == ls) & (rows <= last_row[rk]))
    slot = np.where(tp[rows], 2 * rk, np.where(before, 2 * rk + 1, -1)).astype(np.int32)
    return ApSample(category_ids=cats, image_ids=images, pred_start=pred_start, pred_image=p_i[s_rows],
                    pred_tp=tp[s_rows], label_class=l_k[keep_l], label_image=l_i[keep_l], row_image=p_i[rows],
                    row_slot=slot)


def _matcher(seed: int) -> Matcher:
    """A random project: 50 images, 5 classes, crowd labels (their matches are ignored), near-duplicate
    detections with tied scores across images, background detections, more than 100 detections in one image."""
    rng = np.random.default_rng(seed)
    lab, pred = [], []
    for i in range(1, 51):
        for _ in range(rng.integers(0, 5)):
            c = int(rng.integers(1, 6))
            x, y = rng.uniform(0, 80, 2)
            lab.append((i, c, x, y, 15.0, 15.0, int(rng.random() < 0.15)))
            for _ in range(rng.integers(0, 3)):
                pred.append((i, c if rng.random() < 0.85 else 1 + c % 5, x + rng.normal(0, 3), y + rng.normal(0, 3),
                             15.0, 15.0, float(rng.choice([0.5, 0.9, rng.random()]))))
        for _ in range(rng.integers(0, 4) + (110 if i == 7 else 0)):  # image 7: beyond maxDets
            pred.append((i, int(rng.integers(1, 6)), *rng.uniform(0, 80, 2), 12.0, 12.0, float(rng.random())))
    labels = pd.DataFrame(lab, columns=["image_id", "category_id", "x", "y", "w", "h", "iscrowd"])
    labels.insert(0, "label_id", np.arange(1, len(labels) + 1))
    labels["area"], labels["segmentation"] = labels["w"] * labels["h"], None
    preds = pd.DataFrame(pred, columns=["image_id", "category_id", "x", "y", "w", "h", "score"])
    preds.insert(0, "pred_id", np.arange(1, len(preds) + 1))
    preds["area"], preds["segmentation"] = preds["w"] * preds["h"], None
    images = pd.DataFrame({"image_id": np.arange(1, 53), "width": 100, "height": 100})  # 51, 52: empty
    return Matcher(labels, preds, images=images)


CASES = [(seed, t, c) for seed in (1, 2) for t, c in ((0.3, 0.0), (0.5, 0.2), (0.8, 0.0))]


@pytest.mark.parametrize("seed,t,c", CASES)
def test_sample_is_the_numpy_construction(seed, t, c):
    m = _matcher(seed).match(t, confidence_threshold=c)
    assert m.predictions["ignored"].any()  # crowd matches and maxDets: the skipped rows are exercised
    for classes, images in ((None, None), ([2, 4], None), (None, np.arange(1, 53, 2)), ([5, 1, 3], [3, 7, 8, 52])):
        got, ref = ap_sample(m, classes=classes, image_ids=images), _reference_sample(m, classes, images)
        for field in ApSample.__dataclass_fields__:
            a, b = getattr(got, field), getattr(ref, field)
            assert a.dtype == b.dtype, field
            np.testing.assert_array_equal(a, b, err_msg=field)


@pytest.mark.parametrize("seed,t,c", CASES)
def test_any_class_selection_is_its_own_pass_bit_for_bit(seed, t, c):
    matcher = _matcher(seed)
    m = matcher.match(t, confidence_threshold=c)
    source = ("test", f"kept-{seed}", "bbox")
    for classes, images in ((None, None), ([3], None), ([1, 2, 5], None), ([4, 2], np.arange(1, 40)),
                            ([2, 99], None)):  # 99: a class the match does not name (its own pass)
        b = bootstrap_ap(m, classes=classes, image_ids=images, n_resamples=40, seed=3, source=source)
        sample = ap_sample(m, classes=classes, image_ids=images)
        counts = resampled_counts(sample.n_images, 40, seed=3).T
        ap, ar = weighted_ap(sample, counts)
        ap0, ar0 = weighted_ap(sample, np.ones((1, sample.n_images)))
        np.testing.assert_array_equal(b.category_ids, sample.category_ids)
        np.testing.assert_array_equal(b.ap_reps, ap)
        np.testing.assert_array_equal(b.ar_reps, ar)
        np.testing.assert_array_equal(b.ap, ap0[0])
        np.testing.assert_array_equal(b.ar, ar0[0])
        finite = np.isfinite(ap)
        with np.errstate(invalid="ignore"):
            means = np.where(finite, ap, 0.0).sum(axis=1) / np.where(finite.any(axis=1), finite.sum(axis=1), np.nan)
        np.testing.assert_array_equal(b.map_reps, means)
        assert b.ap_reps.flags.c_contiguous
    # a new match object of the same source and thresholds is served the kept numbers; other thresholds are not
    again = matcher.match(t, confidence_threshold=c)
    assert again is not m
    assert bootstrap_ap(again, classes=[1, 2, 5], n_resamples=40, seed=3, source=source) is \
        bootstrap_ap(m, classes=[1, 2, 5], n_resamples=40, seed=3, source=source)
    other = matcher.match(min(t + 0.1, 0.95), confidence_threshold=c)
    direct = weighted_ap(ap_sample(other), resampled_counts(52, 40, seed=3).T)[0]
    np.testing.assert_array_equal(bootstrap_ap(other, n_resamples=40, seed=3, source=source).ap_reps, direct)


def test_paired_runs_share_the_draws():
    ma, mb = _matcher(1).match(0.5), _matcher(2).match(0.5)
    a, b = paired_bootstrap_ap(ma, mb, classes=[1, 3], n_resamples=30, sources=(("t", "a", "bbox"), ("t", "b", "bbox")))
    images = np.union1d(ma.image_ids, mb.image_ids)
    counts = resampled_counts(len(images), 30, seed=0).T
    np.testing.assert_array_equal(a.ap_reps, weighted_ap(ap_sample(ma, classes=[1, 3], image_ids=images), counts)[0])
    np.testing.assert_array_equal(b.ap_reps, weighted_ap(ap_sample(mb, classes=[1, 3], image_ids=images), counts)[0])
