"""Layout helpers: sorted unique ids, id positions and id lookups (−1 when absent) equal NumPy's ``unique`` / ``searchsorted``; group ranks."""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from explorer.evaluation import layout


def test_sorted_unique_equals_numpy_unique():
    rng = np.random.default_rng(0)
    a, b = rng.integers(-50, 50, 300), rng.integers(0, 10**12, 40)
    np.testing.assert_array_equal(layout.sorted_unique(a, b), np.unique(np.concatenate([a, b])))
    assert layout.sorted_unique(np.array([], np.int64)).tolist() == []
    assert layout.sorted_unique(np.array([3, 1, 3]), np.array([2])).tolist() == [1, 2, 3]


def test_positions_by_table_and_by_search_equal_searchsorted():
    rng = np.random.default_rng(1)
    for keys in (np.array([0, 2, 5, 9]), np.array([-4, 7, 10**15]), np.arange(1000) * 3 + 1):
        values = rng.choice(keys, 500)
        np.testing.assert_array_equal(layout.positions(keys, values), np.searchsorted(keys, values))
    assert layout.positions(np.array([1, 2]), np.array([], np.int64)).tolist() == []


def test_rank_is_position_by_score_within_each_group():
    # image 0: class 1 scores .9 .3 .5 (ranks 0 2 1), class 0 .2 (0); image 1: class 1 .7 .7 (ties: input order)
    img = np.array([0, 0, 0, 0, 1, 1])
    cat = np.array([1, 1, 1, 0, 1, 1])
    score = np.array([.9, .3, .5, .2, .7, .7])
    lay = layout.build(img, cat, score, np.array([0]), np.array([1]), n_img=2, n_cat=2, block="image")
    assert lay.dt_rows.tolist() == [3, 0, 2, 1, 4, 5]
    assert lay.dt_rank.tolist() == [0, 0, 1, 2, 0, 1]
    lay = layout.build(img, cat, score, np.array([0]), np.array([1]), n_img=2, n_cat=2, block="image", max_dets=2)
    assert (lay.grp_d1 - lay.grp_d0).tolist() == [1, 2, 2]  # the cut keeps the 2 highest of a group


@pytest.mark.parametrize("keys", [np.array([5, 0, 3, 9]), np.array([-7, 2, 10**15, 4]), np.array([], np.int64),
                                  np.arange(50_000)[::-1] * 3])
def test_lookup_equals_a_dictionary_with_minus_one_for_absent(keys):
    rng = np.random.default_rng(0)
    values = np.concatenate([keys, rng.integers(-20, 200_000, 500), [-(2**62), 2**62]])
    rng.shuffle(values)
    where = {int(k): i for i, k in enumerate(keys)}
    expected = np.array([where.get(int(v), -1) for v in values], np.int64)
    assert_array_equal(layout.lookup(keys, values), expected)
    assert layout.lookup(keys, values, dtype=np.int32).dtype == np.int32
