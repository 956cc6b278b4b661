"""Wilson intervals against statsmodels, Newcombe's difference interval, and the image bootstrap of AP: a
hand-checked two-image case, exact agreement with a full re-evaluation of a resampled (duplicated) image list,
determinism, and the match's own numbers at weights 1."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from explorer.analysis.buckets import performance_by_metric
from explorer.analysis.intervals import (
    ap_sample,
    bootstrap_ap,
    paired_bootstrap_ap,
    percentile_interval,
    rate_difference_interval,
    resample_counts,
    weighted_ap,
    wilson_interval,
)
from explorer.evaluation import Matcher, detection_summary, per_class_table


# ---- Wilson ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
def test_wilson_equals_statsmodels_exactly(confidence):
    n = np.repeat(np.arange(1, 41), 41)
    k = np.tile(np.arange(41), 40)
    ok = k <= n
    k, n = k[ok], n[ok]
    lo, hi = wilson_interval(k, n, confidence=confidence)
    ref_lo, ref_hi = proportion_confint(k, n, alpha=round(1 - confidence, 2), method="wilson")
    np.testing.assert_array_equal(lo, ref_lo)
    np.testing.assert_array_equal(hi, ref_hi)


def test_wilson_known_values_and_empty():
    lo, hi = wilson_interval(np.array([8, 0, 5]), np.array([10, 0, 5]))
    # 8/10: centre (0.8 + 1.92/20)/(1 + 3.84/10) …, the textbook value [0.4902, 0.9433]
    assert round(lo[0], 4) == 0.4902 and round(hi[0], 4) == 0.9433
    assert np.isnan(lo[1]) and np.isnan(hi[1])
    assert hi[2] == 1.0 and round(lo[2], 4) == 0.5655  # 5/5: [n/(n+z²), 1]
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_newcombe_difference_equals_statsmodels():
    lo, hi = rate_difference_interval(np.array([30, 5, 0]), np.array([50, 40, 10]), np.array([20, 9, 3]),
                                      np.array([60, 41, 12]))
    for i, (a, na, b, nb) in enumerate([(30, 50, 20, 60), (5, 40, 9, 41), (0, 10, 3, 12)]):
        ref = confint_proportions_2indep(a, na, b, nb, method="newcomb", compare="diff")
        assert lo[i] == pytest.approx(ref[0], abs=1e-12) and hi[i] == pytest.approx(ref[1], abs=1e-12)


def test_bucket_rates_carry_wilson_bounds():
    perf = performance_by_metric(np.arange(20.0), np.arange(20) % 3 == 0, n_buckets=2, kind="labels")
    lo, hi = proportion_confint(perf["n_detected"].to_numpy(), perf["n_labels"].to_numpy(), method="wilson")
    np.testing.assert_array_equal(perf["true_positive_rate_lo"], lo)
    np.testing.assert_array_equal(perf["true_positive_rate_hi"], hi)
    np.testing.assert_array_equal(perf["false_negative_rate_lo"], 1 - hi)
    np.testing.assert_array_equal(perf["false_negative_rate_hi"], 1 - lo)
    pred = performance_by_metric(np.arange(4.0), np.array([True, True, False, True]), n_buckets=2, kind="predictions")
    assert {"precision_lo", "precision_hi", "false_discovery_rate_lo", "false_discovery_rate_hi"} <= set(pred.columns)


def test_percentile_interval_skips_undefined_replicates():
    lo, hi = percentile_interval(np.array([np.nan, 0.0, 1.0, 2.0, 3.0, 4.0]), confidence=0.5)
    assert (lo, hi) == (1.0, 3.0)
    lo2, hi2 = percentile_interval(np.array([[np.nan, 1.0], [np.nan, 3.0]]))
    assert np.isnan(lo2[0]) and lo2[1] == pytest.approx(1.05)


# ---- bootstrap of AP ------------------------------------------------------------------------------------------------
def _tables(boxes_l, boxes_p):
    """Project-style tables: ``boxes_l`` rows (image, class, x, y, w, h), ``boxes_p`` (image, class, x, y, w, h, score)."""
    lab = pd.DataFrame(boxes_l, columns=["image_id", "category_id", "x", "y", "w", "h"])
    lab.insert(0, "label_id", np.arange(1, len(lab) + 1))
    lab["area"], lab["iscrowd"], lab["segmentation"] = lab["w"] * lab["h"], 0, None
    pred = pd.DataFrame(boxes_p, columns=["image_id", "category_id", "x", "y", "w", "h", "score"])
    pred.insert(0, "pred_id", np.arange(1, len(pred) + 1))
    pred["area"], pred["segmentation"] = pred["w"] * pred["h"], None
    ids = np.union1d(lab["image_id"], pred["image_id"])
    images = pd.DataFrame({"image_id": ids, "width": 100, "height": 100})
    return lab, pred, images


def test_two_images_by_hand():
    # image 1: a label found by a 0.9 prediction; image 2: a label missed and a 0.8 false detection elsewhere
    lab, pred, images = _tables([(1, 1, 0, 0, 10, 10), (2, 1, 0, 0, 10, 10)],
                                [(1, 1, 0, 0, 10, 10, 0.9), (2, 1, 50, 50, 10, 10, 0.8)])
    m = Matcher(lab, pred, images=images).match(0.5)
    ap, ar = weighted_ap(ap_sample(m), np.array([[2, 0], [1, 1], [0, 2]]))
    # (1,1): recall 0.5 at precision 1 then an FP: the 51 recall points 0.00..0.50 have precision 1 -> 51/101
    np.testing.assert_allclose(ap[:, 0], [1.0, 51 / 101, 0.0], rtol=0, atol=1e-15)  # pycocotools' +eps
    np.testing.assert_array_equal(ar[:, 0], [1.0, 0.5, 0.0])
    assert ap[1, 0] == pytest.approx(detection_summary(m)["mAP"], abs=1e-15)


def test_weighted_ap_equals_coco_on_the_resampled_image_list():
    rng = np.random.default_rng(3)
    n_img = 30
    boxes_l, boxes_p = [], []
    for i in range(1, n_img + 1):
        for _ in range(rng.integers(0, 4)):
            c = int(rng.integers(1, 4))
            x, y = rng.uniform(0, 80, 2)
            boxes_l.append((i, c, x, y, 15.0, 15.0))
            if rng.random() < 0.7:  # a detection near the label, of the right class most of the time
                boxes_p.append((i, c if rng.random() < 0.8 else 1 + c % 3, x + rng.normal(0, 4), y + rng.normal(0, 4),
                                15.0, 15.0, float(rng.random())))
        for _ in range(rng.integers(0, 3)):  # background
            boxes_p.append((i, int(rng.integers(1, 4)), *rng.uniform(0, 80, 2), 12.0, 12.0, float(rng.random())))
    lab, pred, images = _tables(boxes_l, boxes_p)
    m = Matcher(lab, pred, images=images).match(0.5)
    sample = ap_sample(m)
    counts = next(resample_counts(sample.n_images, 3, seed=11))
    ap, ar = weighted_ap(sample, counts)
    for b in range(3):
        # the resampled data set: image i copied counts[b, i] times as new images (new ids)
        copies = np.repeat(sample.image_ids, counts[b])
        new_id = {(old, k): j + 1 for j, (old, k) in enumerate(
            (old, k) for old in np.unique(copies) for k in range(int((copies == old).sum())))}
        parts_l, parts_p = [], []
        for (old, k), new in new_id.items():
            parts_l.append(lab[lab["image_id"] == old].assign(image_id=new))
            parts_p.append(pred[pred["image_id"] == old].assign(image_id=new))
        lab_b = pd.concat(parts_l, ignore_index=True).assign(label_id=lambda d: np.arange(1, len(d) + 1))
        pred_b = pd.concat(parts_p, ignore_index=True).assign(pred_id=lambda d: np.arange(1, len(d) + 1))
        images_b = pd.DataFrame({"image_id": list(new_id.values()), "width": 100, "height": 100})
        table = per_class_table(Matcher(lab_b, pred_b, images=images_b).match(0.5))
        np.testing.assert_allclose(ap[b], table["ap"].to_numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(ar[b], table["ar"].to_numpy(), rtol=0, atol=1e-12)


def test_resample_counts_deterministic_and_chunk_free():
    a = np.concatenate(list(resample_counts(50, 60, seed=4, chunk=25)))
    b = np.concatenate(list(resample_counts(50, 60, seed=4, chunk=25)))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (60, 50) and (a.sum(axis=1) == 50).all()
    assert not np.array_equal(a, np.concatenate(list(resample_counts(50, 60, seed=5))))


def test_bootstrap_on_the_sample(detection_project):
    from explorer.analysis.outcomes import match
    from explorer.project.folder import Project
    from explorer.project.selection import Selection

    project = Project.load(detection_project)
    m = match(project, Selection(iou_threshold=0.5))
    b = bootstrap_ap(m, n_resamples=100, seed=0)
    again = bootstrap_ap(m, n_resamples=100, seed=0)
    np.testing.assert_array_equal(b.map_reps, again.map_reps)
    np.testing.assert_array_equal(b.ap_reps, again.ap_reps)
    summary = detection_summary(m)
    assert b.map == pytest.approx(summary["mAP"], abs=1e-12) and b.mar == pytest.approx(summary["mAR"], abs=1e-12)
    np.testing.assert_allclose(b.ap, per_class_table(m)["ap"].to_numpy(), rtol=0, atol=1e-12)
    h = b.headline()
    assert h["mAP_lo"] < h["mAP"] < h["mAP_hi"] and h["n_resamples"] == 100 and h["resampled"] == "images"
    assert 0.02 < h["mAP_hi"] - h["mAP_lo"] < 0.15  # 240 images: a few AP points either side
    table = b.per_class()
    assert (table["ap_lo"] <= table["ap"]).all() and (table["ap"] <= table["ap_hi"]).all()
    # paired with itself: every replicate difference is exactly 0
    a1, a2 = paired_bootstrap_ap(m, m, n_resamples=20)
    np.testing.assert_array_equal(a1.map_reps, a2.map_reps)


def _reference_weighted_ap(sample, weights):
    """The definition, point by point (every prediction a point, pycocotools' accumulate on the weighted counts):
    what the one-pass kernel must give bit for bit."""
    from explorer.evaluation.coco import REC_THRESHOLDS

    rec = np.asarray(REC_THRESHOLDS, np.float64)
    n_cat = len(sample.category_ids)
    ap = np.full((len(weights), n_cat), np.nan)
    ar = np.full((len(weights), n_cat), np.nan)
    for b, w in enumerate(np.asarray(weights, np.float64)):
        for k in range(n_cat):
            pos = w[sample.label_image[sample.label_class == k]].sum()
            if pos == 0:
                continue
            s = slice(sample.pred_start[k], sample.pred_start[k + 1])
            wj, hit = w[sample.pred_image[s]], sample.pred_tp[s]
            tp, fp = np.cumsum(wj * hit), np.cumsum(wj * ~hit)
            pr = tp / (fp + tp + np.spacing(1))
            rc = tp / pos
            env = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
            first = np.searchsorted(rc, rec, side="left")
            total = 0.0
            for i in first[first < len(pr)]:
                total += env[i]
            ap[b, k] = total / len(rec)
            ar[b, k] = rc[-1] if len(rc) else 0.0
    return ap, ar


def test_one_pass_kernel_is_the_point_by_point_definition_bit_for_bit():
    rng = np.random.default_rng(5)
    boxes_l, boxes_p = [], []
    for i in range(1, 61):
        for _ in range(rng.integers(0, 4)):
            c = int(rng.integers(1, 5))
            x, y = rng.uniform(0, 80, 2)
            boxes_l.append((i, c, x, y, 15.0, 15.0))
            for _ in range(rng.integers(0, 3)):  # duplicates and near misses
                boxes_p.append((i, c, x + rng.normal(0, 3), y + rng.normal(0, 3), 15.0, 15.0,
                                float(rng.choice([0.5, 0.7, rng.random()]))))  # tied scores across images
        for _ in range(rng.integers(0, 4)):
            boxes_p.append((i, int(rng.integers(1, 5)), *rng.uniform(0, 80, 2), 12.0, 12.0, float(rng.random())))
    lab, pred, images = _tables(boxes_l, boxes_p)
    for t in (0.3, 0.5, 0.8):
        m = Matcher(lab, pred, images=images).match(t)
        sample = ap_sample(m)
        counts = np.concatenate(list(resample_counts(sample.n_images, 40, seed=2)))
        counts[:5, :] = 0  # replicates without some classes' labels: undefined there
        counts[3, :10] = 7
        ap, ar = weighted_ap(sample, counts)
        ref_ap, ref_ar = _reference_weighted_ap(sample, counts)
        np.testing.assert_array_equal(ap, ref_ap)
        np.testing.assert_array_equal(ar, ref_ar)
    with pytest.raises(ValueError):
        weighted_ap(sample, np.full((1, sample.n_images), 0.5))  # counts are whole numbers


def test_bootstrap_is_kept_per_match_and_pairs_with_it(detection_project):
    from explorer.analysis.intervals import resampled_counts
    from explorer.analysis.outcomes import match
    from explorer.project.folder import Project
    from explorer.project.selection import Selection

    project = Project.load(detection_project)
    m = match(project, Selection(iou_threshold=0.6))
    b = bootstrap_ap(m, n_resamples=30)
    assert bootstrap_ap(m, n_resamples=30) is b  # kept: a page rerun or the Compare page costs nothing
    assert bootstrap_ap(m, n_resamples=30, seed=1) is not b
    counts = resampled_counts(b.n_images, 30, seed=0)
    assert counts.shape == (b.n_images, 30) and counts.dtype == np.uint8 and not counts.flags.writeable
    np.testing.assert_array_equal(counts.T, np.concatenate(list(resample_counts(b.n_images, 30, seed=0))))
    a1, a2 = paired_bootstrap_ap(m, m, n_resamples=30)
    assert a1 is b  # the images spelled out are the same key as None: Compare reuses the Metrics page's run A
    np.testing.assert_array_equal(a1.map_reps, b.map_reps)
    np.testing.assert_array_equal(a2.ap_reps, b.ap_reps)


def test_analysis_modules_import_without_numba():
    import subprocess
    import sys

    code = ("import sys; import explorer.analysis.intervals, explorer.analysis.slices, explorer.analysis.compare, "
            "explorer.commands.compare, explorer.commands.slices; print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
