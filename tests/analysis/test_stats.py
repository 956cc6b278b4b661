"""explorer.analysis.stats on hand-checkable arrays: exact histogram counts, summary values, Tukey fences, NaN rule."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.analysis.stats import INLIER, MISSING, MODERATE, SEVERE, histogram, in_range, iqr_outliers, summarize

# sorted defined values: -40, 10..17, 30, 50 (n = 11) -> Q1 = 11.5, Q3 = 16.5, IQR = 5
# moderate fences (4, 24), severe fences (-3.5, 31.5): 30 is moderate, 50 and -40 are severe
VALUES = np.array([10, 11, 12, 13, 14, 15, 16, 17, 30, 50, -40, np.nan], dtype=float)


def test_histogram_counts_and_edges_by_hand():
    h = histogram([0.0, 0.5, 1.0, 1.5, 2.0, np.nan, np.inf], bins=2)
    assert h.edges.tolist() == [0.0, 1.0, 2.0]
    assert h.counts.tolist() == [2, 3]  # the last bin includes its right edge
    assert h.n_missing == 2  # NaN and inf are missing, not binned
    assert h.centers.tolist() == [0.5, 1.5]
    assert h.widths.tolist() == [1.0, 1.0]


def test_histogram_range_excludes_values_outside():
    h = histogram([0.0, 0.5, 1.0, 1.5, 2.0], bins=2, value_range=(0.0, 1.0))
    assert h.edges.tolist() == [0.0, 0.5, 1.0]
    assert h.counts.tolist() == [1, 2]


def test_histogram_single_value_and_empty():
    h = histogram([3.0, 3.0, 3.0], bins=1)
    assert h.edges.tolist() == [2.5, 3.5]
    assert h.counts.tolist() == [3]
    empty = histogram([np.nan, np.nan], bins=5)
    assert empty.counts.size == 0 and empty.edges.size == 0 and empty.n_missing == 2
    with pytest.raises(ValueError, match="bins must be >= 1"):
        histogram([1.0], bins=0)


def test_histogram_equals_numpy_on_random_data():
    rng = np.random.default_rng(0)
    v = rng.normal(size=1000)
    v[::17] = np.nan
    h = histogram(v, bins=13)
    counts, edges = np.histogram(v[~np.isnan(v)], bins=13)
    assert h.counts.tolist() == counts.tolist()
    np.testing.assert_array_equal(h.edges, edges)
    assert h.n_missing == int(np.isnan(v).sum())


def test_summary_by_hand():
    s = summarize(VALUES)
    assert s.count == 11 and s.n_missing == 1
    assert s.mean == pytest.approx(148 / 11, rel=0, abs=1e-12)
    assert (s.min, s.q1, s.median, s.q3, s.max) == (-40.0, 11.5, 14.0, 16.5, 50.0)
    defined = VALUES[~np.isnan(VALUES)]
    expected_std = np.sqrt(((defined - 148 / 11) ** 2).sum() / 10)  # ddof = 1
    assert s.std == pytest.approx(expected_std, rel=1e-12)
    assert s.std == pytest.approx(pd.Series(VALUES).std(), rel=1e-12)
    assert list(s.as_dict()) == ["count", "missing", "mean", "std", "min", "25%", "50%", "75%", "max"]


def test_summary_matches_pandas_describe():
    rng = np.random.default_rng(1)
    v = rng.gamma(2.0, size=257)
    d = pd.Series(v).describe()
    s = summarize(v)
    for ours, theirs in [(s.mean, "mean"), (s.std, "std"), (s.min, "min"), (s.q1, "25%"), (s.median, "50%"), (s.q3, "75%"), (s.max, "max")]:
        assert ours == pytest.approx(d[theirs], rel=1e-12)


def test_summary_undefined_values_are_nan():
    s = summarize([np.nan, np.inf])
    assert s.count == 0 and s.n_missing == 2
    assert all(np.isnan(x) for x in (s.mean, s.std, s.min, s.q1, s.median, s.q3, s.max))
    one = summarize([5.0])
    assert one.mean == 5.0 and np.isnan(one.std)  # std of one value is undefined, not 0


def test_summary_pandas_nullable_missing():
    s = summarize(pd.Series([1.0, None, 3.0], dtype="Float64"))
    assert s.count == 2 and s.n_missing == 1 and s.mean == 2.0


def test_iqr_outliers_by_hand():
    o = iqr_outliers(VALUES)
    assert (o.q1, o.q3, o.iqr) == (11.5, 16.5, 5.0)
    assert o.moderate_fences == (4.0, 24.0)
    assert o.severe_fences == (-3.5, 31.5)
    expected = [INLIER] * 8 + [MODERATE, SEVERE, SEVERE, MISSING]
    assert o.severity.tolist() == expected
    assert (o.n_moderate, o.n_severe, o.n_outliers) == (1, 2, 3)
    assert o.mask("any").tolist() == [False] * 8 + [True, True, True, False]
    assert np.flatnonzero(o.mask("severe")).tolist() == [9, 10]
    assert np.flatnonzero(o.mask("moderate")).tolist() == [8]
    with pytest.raises(ValueError, match="kind must be"):
        o.mask("mild")


def test_iqr_fences_are_strict():
    # Q1 = 0, Q3 = 1, IQR = 1: moderate fence 2.5, severe fence 4
    on_moderate_fence = iqr_outliers([0, 0, 0, 1, 1, 1, 2.5])
    assert on_moderate_fence.n_outliers == 0
    on_severe_fence = iqr_outliers([0, 0, 0, 1, 1, 1, 4])
    assert on_severe_fence.severity.tolist() == [0, 0, 0, 0, 0, 0, MODERATE]


def test_iqr_outliers_all_missing_and_constant():
    o = iqr_outliers([np.nan, np.nan])
    assert o.severity.tolist() == [MISSING, MISSING] and np.isnan(o.iqr) and o.n_outliers == 0
    c = iqr_outliers([2.0, 2.0, 2.0, 7.0, 2.0, 2.0, 2.0, 2.0])  # IQR 0: anything off the constant is severe
    assert c.iqr == 0.0 and c.severity.tolist() == [0, 0, 0, SEVERE, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="moderate <= severe"):
        iqr_outliers([1.0], moderate=3.0, severe=1.5)


def test_iqr_counts_equal_direct_count_on_random_data():
    rng = np.random.default_rng(2)
    v = rng.standard_t(2, size=2000)
    q1, q3 = np.percentile(v, [25, 75])
    iqr = q3 - q1
    n_severe = int(((v < q1 - 3 * iqr) | (v > q3 + 3 * iqr)).sum())
    n_any = int(((v < q1 - 1.5 * iqr) | (v > q3 + 1.5 * iqr)).sum())
    o = iqr_outliers(v)
    assert o.n_severe == n_severe and o.n_moderate == n_any - n_severe


def test_in_range_excludes_missing():
    assert in_range([0.0, 1.0, np.nan, 2.0, 3.0], 1.0, 2.0).tolist() == [False, True, False, True, False]
