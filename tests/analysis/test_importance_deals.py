"""The baseline's compiled deals draw NumPy's very numbers: each univariate and multivariate hypergeometric draw
equals ``numpy.random.Generator``'s from the same seed (both of its algorithms: one item at a time for small
samples, ratio of uniforms otherwise; urns up to millions), and leaves the generator in the same state, so the
draws after it (the next bin, the next shuffle, the next metric) agree too."""
from __future__ import annotations

import math

import numpy as np

from explorer.analysis.importance import (
    _deal,
    _few_types,
    _hypergeometric,
    _log_factorials,
    _shuffled_tables,
    _unit_types,
)


def _cases(seed: int, n: int):
    g = np.random.default_rng(seed)
    for case in range(n):
        scale = [5, 40, 1_000, 200_000, 3_000_000][case % 5]
        good, bad = (int(v) for v in g.integers(0, scale + 1, 2))
        if case % 7 == 0:
            good = 0 if case % 2 else good
            bad = 0 if not case % 2 else bad
        total = good + bad
        sample = int(g.integers(0, total + 1)) if total else 0
        if case % 11 == 0 and total:
            sample = [0, total, min(10, total), max(total - 10, 0), total // 2][case % 5]
        yield case, good, bad, sample


def test_univariate_draws_and_states_equal_numpy_s():
    table = _log_factorials()
    bit_streams = 0
    for case, good, bad, sample in _cases(1, 3_000):
        a, b = np.random.default_rng(case), np.random.default_rng(case)
        if case % 3 == 0:  # a 32-bit half left in the generator's buffer first
            a.integers(0, 2 ** 32, dtype=np.uint32), b.integers(0, 2 ** 32, dtype=np.uint32)
        for _ in range(3):
            assert _hypergeometric(b.bit_generator, good, bad, sample, table) == a.hypergeometric(good, bad, sample), \
                (case, good, bad, sample)
        assert a.bit_generator.state == b.bit_generator.state
        bit_streams += 1
    assert bit_streams == 3_000


def test_multivariate_draws_equal_numpy_s_and_a_whole_baseline_deal_too():
    g = np.random.default_rng(2)
    for case in range(600):
        colors = g.integers(0, [3, 60, 5_000, 400_000][case % 4], g.integers(1, 60)).astype(np.int64)
        n = int(g.integers(0, colors.sum() + 1)) if colors.sum() else 0
        a, b = np.random.default_rng(case), np.random.default_rng(case)
        np.testing.assert_array_equal(_few_types(b, colors, n), a.multivariate_hypergeometric(colors, n))
        assert a.bit_generator.state == b.bit_generator.state
    # a baseline: units of (m, s) types dealt into bins of fixed capacity, shuffle after shuffle
    m_u = g.integers(1, 9, 3_000).astype(float)
    s_u = np.floor(m_u * g.random(3_000))
    kinds = _unit_types(m_u, s_u, float(m_u.sum()), float(s_u.sum() / m_u.sum()))
    capacity = np.bincount(g.integers(0, 10, 3_000))
    n_b, k_b = _shuffled_tables(capacity, kinds, 20, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    for r in range(20):
        left = kinds.counts.copy()
        for b, c in enumerate(capacity):
            drawn = rng.multivariate_hypergeometric(left, int(c)) if b < len(capacity) - 1 else left.copy()
            left -= drawn
            assert (n_b[r, b], k_b[r, b]) == (drawn @ kinds.rows, drawn @ kinds.positives)
    assert n_b.sum() == 20 * m_u.sum() and k_b.sum() == 20 * s_u.sum()
    assert _deal.py_func is not None


def test_log_factorials_are_the_nearest_doubles():
    table = _log_factorials()
    assert table[0] == table[1] == 0.0 and table[2] == math.log(2.0)
    np.testing.assert_allclose(table, [math.lgamma(k + 1) for k in range(126)], rtol=1e-15, atol=0)
