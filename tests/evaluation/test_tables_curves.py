"""The PR points and the F1-by-confidence curve of ``selection_tables`` come from two compiled passes
(``tables._class_curves``, ``tables._pooled_f1``): the same columns, dtypes and bits as the NumPy formulas they
replaced (written out here), compiled or run as Python, with crowd-ignored rows, tied scores and subsets."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.evaluation import Matcher
from explorer.evaluation import tables
from explorer.evaluation.tables import selection_tables
from random_coco import random_coco


def _ratio(num, den):
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _reference(m, classes, image_ids):
    """The former NumPy version: live rows in per-class order, cumulative counts within each class; the pooled
    curve at the last row of each tied score."""
    v = tables._View(m, classes, image_ids)
    live = ~v.ignored[v.by_class]
    rows, k = v.by_class[live], v.k[live]
    start = np.searchsorted(k, np.arange(len(v.cats) + 1), "left")[k]
    tp = v.is_tp[rows].astype(np.int64)
    csum = np.cumsum(tp)
    tp_cum = csum - np.where(start > 0, csum[np.maximum(start - 1, 0)], 0)
    n_seen = np.arange(len(k)) - start + 1
    pr = pd.DataFrame({"category_id": v.cats[k], "score": v.score[rows], "recall": _ratio(tp_cum, v.npig[k]),
                       "precision": tp_cum / n_seen})
    order = v.pooled()
    order = order[~v.ignored[order]]
    score, t = v.score[order], v.is_tp[order].astype(np.int64)
    n_pos = int(v.npig.sum())
    tc, nc = np.cumsum(t), np.arange(1, len(t) + 1)
    last = np.r_[score[1:] != score[:-1], True] if len(score) else np.zeros(0, bool)
    tc, nc = tc[last], nc[last]
    fc = nc - tc
    f1 = pd.DataFrame({"threshold": score[last], "precision": tc / nc, "recall": _ratio(tc, np.full(len(tc), n_pos)),
                       "f1": _ratio(2 * tc, 2 * tc + fc + (n_pos - tc)), "tp": tc, "fp": fc})
    counts = (np.bincount(k, weights=tp, minlength=len(v.cats)).astype(np.int64), np.bincount(k, minlength=len(v.cats)))
    return pr, f1, counts


@pytest.mark.parametrize("mode", ["python", "numba"])
@pytest.mark.parametrize("seed", range(3))
def test_curves_equal_the_numpy_formulas(monkeypatch, mode, seed):
    monkeypatch.setenv("EXPLORER_KERNELS", mode)
    gt, dt = random_coco(700 + seed, iou_type="bbox")
    for d in dt[::5]:
        d["score"] = 0.25  # ties
    matcher = Matcher.from_coco(gt, dt)
    imgs = [im["id"] for im in gt["images"]]
    n_ignored = 0
    for t in (0.3, 0.6):
        m = matcher.match(t)
        n_ignored += int(m.predictions["ignored"].sum())
        for classes, image_ids in [(None, None), ([3, 42], None), (None, imgs[::2]), ([8], [])]:
            got = selection_tables(m, classes=classes, image_ids=image_ids)
            pr, f1, (tp, n) = _reference(m, classes, image_ids)
            pd.testing.assert_frame_equal(got["pr_curves"], pr, check_exact=True)
            pd.testing.assert_frame_equal(got["f1"], f1, check_exact=True)
            table = got["per_class"]
            np.testing.assert_array_equal(table["tp"].to_numpy(), tp)
            np.testing.assert_array_equal(table["n_predictions"].to_numpy(), n)
    assert n_ignored > 0  # crowd-matched rows were skipped somewhere
