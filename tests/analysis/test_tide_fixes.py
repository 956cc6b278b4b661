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
    state = _State(k=k, score=score, tp=tp, kind=kind, fix_k=fix_k, lab_k=lab_k,
                   lab_missed=rng.random(len(lab_k)) < 0.3, lab_fn=rng.random(len(lab_k)) < 0.5,
                   n_labels=n_labels, base=n_labels > 0, base_aps=None)
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
