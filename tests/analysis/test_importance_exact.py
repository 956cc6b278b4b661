"""Importance, its permutation baseline and correlation give the very numbers of the implementation before the
per-buffer facts and the sort-free counting (commit a49e326, transcribed below as the reference, docstrings
dropped): on random outcome tables with per-row and per-image metrics, ties, missing values, constants, rows
without an outcome, subsampled or not, groups sorted or not, several outcomes over the same kept columns (an IoU
move), with and without ``kept`` — compared with ``check_exact``."""
from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest

from explorer.analysis import importance
from explorer.analysis.importance import (
    _sorted_quantiles,
    correlation_of_columns,
    importance_of_columns,
    outcome_values,
    stratified_subsample,
)

DEFAULT_MAX_SAMPLES = 200_000
MAX_BINS = 10
UNITS_PER_BIN = 25
N_SHUFFLES = 20
IMPORTANCE_COLUMNS = ["metric", "importance", "n_samples", "n_positive", "note", "baseline"]
CORRELATION_COLUMNS = ["metric", "correlation", "n_samples", "note"]


# ---- the reference: explorer/analysis/importance.py at a49e326 (names suffixed _ref) ------------------------------
def binary_entropy_ref(p: float) -> float:
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return float(-(p * np.log(p) + (1.0 - p) * np.log(1.0 - p)))


def stratified_subsample_ref(y: np.ndarray, max_samples: int, *, random_state: int=0) -> np.ndarray:
    n = len(y)
    if n <= max_samples:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    keep = []
    for cls in (False, True):
        idx = np.flatnonzero(y == cls)
        if len(idx) == 0:
            continue
        k = max(1, int(round(len(idx) * max_samples / n)))
        keep.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(keep))


def _units_ref(x, group, group_units=None):
    if group is None:
        return (np.arange(len(x)), x)
    if group_units is not None:
        values = np.empty(int(group_units.max()) + 1, dtype=np.float64)
        values[group_units] = x
        if np.array_equal(values[group_units], x):
            return (group_units, values)
    x_code = pd.factorize(x)[0]
    key = group.astype(np.int64) * (int(x_code.max()) + 1) + x_code
    unit = pd.factorize(key)[0]
    values = np.empty(int(unit.max()) + 1, dtype=np.float64)
    values[unit] = x
    return (unit, values)


def quantile_bins_ref(values: np.ndarray, n_bins: int) -> np.ndarray:
    ordered = np.sort(values)
    lowest = ordered[0]
    edges = np.unique(np.quantile(ordered, np.arange(1, n_bins) / n_bins))
    edges = edges[edges > lowest]
    if len(edges) == 0:
        edges = ordered[ordered > lowest][:1]
    bins = np.zeros(len(values), np.uint8)
    for edge in edges:
        bins += (values >= edge).view(np.uint8)
    present = np.bincount(bins, minlength=len(edges) + 1) > 0
    return (np.cumsum(present) - 1)[bins]


def _corrected_mi_ref(n_b: np.ndarray, k_b: np.ndarray, n: float, p: float, deff: float) -> np.ndarray:
    cells = np.stack([n_b - k_b, k_b], axis=-1)
    expected = n_b[..., None] * np.array([1.0 - p, p])
    with np.errstate(divide='ignore', invalid='ignore'):
        terms = np.where(cells > 0, cells / n * np.log(cells / expected), 0.0)
    mi = terms.sum(axis=(1, 2))
    bias = ((n_b > 0).sum(axis=1) - 1) * deff / (2.0 * n)
    return (mi - bias) / binary_entropy_ref(p)


def _shuffled_bin_tables_ref(unit_codes, m_u, s_u, n_shuffles, rng):
    m_int, s_int = (m_u.astype(np.int64), s_u.astype(np.int64))
    key = m_int * (int(s_int.max()) + 1) + s_int
    counts = np.bincount(key)
    present = np.flatnonzero(counts)
    type_counts = counts[present]
    types = np.stack([present // (int(s_int.max()) + 1), present % (int(s_int.max()) + 1)], axis=1).astype(np.float64)
    capacity = np.bincount(unit_codes)
    draws = np.empty((n_shuffles, len(capacity), len(types)), dtype=np.int64)
    few = len(types) <= 3
    for r in range(n_shuffles):
        remaining = type_counts.copy()
        for b, c in enumerate(capacity[:-1]):
            draws[r, b] = (_few_types_ref(rng, remaining, int(c)) if few
                           else rng.multivariate_hypergeometric(remaining, int(c)))
            remaining -= draws[r, b]
        draws[r, -1] = remaining
    return (draws @ types[:, 0], draws @ types[:, 1])


def _few_types_ref(rng: np.random.Generator, colors: np.ndarray, nsample: int) -> list[int]:
    colors = [int(c) for c in colors]
    total = sum(colors)
    out = [0] * len(colors)
    if total == 0 or nsample == 0:
        return out
    flip = nsample > total // 2
    left = total - nsample if flip else nsample
    rest = total
    for j in range(len(colors) - 1):
        if left <= 0:
            break
        rest -= colors[j]
        out[j] = int(rng.hypergeometric(colors[j], rest, left))
        left -= out[j]
    if left > 0:
        out[-1] = left
    return [c - o for c, o in zip(colors, out)] if flip else out


def binned_importance_ref(x, y, group=None, *, random_state=0, n_shuffles=N_SHUFFLES, group_units=None):
    unit, unit_values = _units_ref(x, group, group_units)
    n_units = len(unit_values)
    n_bins = int(np.clip(n_units // UNITS_PER_BIN, 2, MAX_BINS))
    unit_codes = quantile_bins_ref(unit_values, n_bins)
    m_u = np.bincount(unit, minlength=n_units).astype(np.float64)
    s_u = np.bincount(unit, weights=y.astype(np.float64), minlength=n_units)
    n, p = (float(len(x)), float(y.mean()))
    deff = float(np.sum((s_u - p * m_u) ** 2) / (n * p * (1.0 - p)))
    width = int(unit_codes.max()) + 1
    n_b = np.bincount(unit_codes, weights=m_u, minlength=width)[None, :]
    k_b = np.bincount(unit_codes, weights=s_u, minlength=width)[None, :]
    value = float(np.clip(_corrected_mi_ref(n_b, k_b, n, p, deff)[0], 0.0, 1.0))
    rng = np.random.default_rng(random_state)
    shuffled_n, shuffled_k = _shuffled_bin_tables_ref(unit_codes, m_u, s_u, n_shuffles, rng)
    baseline = float(np.clip(_corrected_mi_ref(shuffled_n.astype(np.float64), shuffled_k.astype(np.float64), n, p,
                                               deff), 0.0, 1.0).mean())
    return (value, baseline, deff)


def _no_nan_ref(x: np.ndarray) -> bool:
    return not np.isnan(np.sum(x))


class _RowSet_ref:

    def __init__(self, valid: np.ndarray, y: np.ndarray):
        self.valid, self.y = (valid, y)
        self.all = bool(valid.all())
        self.n = len(valid) if self.all else int(np.count_nonzero(valid))
        self.n_pos = int(np.count_nonzero(y if self.all else y & valid))
        self._sample = {}
        self._groups = None

    def sample(self, max_samples: int, random_state: int) -> np.ndarray | None:
        key = (max_samples, random_state)
        if key not in self._sample:
            at = None if self.all else np.flatnonzero(self.valid)
            if self.n > max_samples:
                keep = stratified_subsample_ref(self.y if at is None else self.y[at], max_samples,
                                            random_state=random_state)
                at = keep if at is None else at[keep]
            self._sample[key] = at
        return self._sample[key]

    def groups(self, codes: np.ndarray, at: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if self._groups is None or self._groups[0] is not at:
            gv = codes if at is None else codes[at]
            self._groups = (at, gv, pd.factorize(gv)[0])
        return (self._groups[1], self._groups[2])

    def constant(self, x: np.ndarray) -> bool:
        if self.all:
            return bool(np.ptp(x) == 0.0)
        return bool(np.min(x, where=self.valid, initial=np.inf) == np.max(x, where=self.valid, initial=-np.inf))


def importance_of_columns_ref(columns, y, *, rows=None, random_state=0, max_samples=DEFAULT_MAX_SAMPLES, groups=None,
                          grouped_metrics=None):
    y = np.asarray(y, bool)
    if max_samples < 10:
        raise ValueError(f'max_samples must be at least 10, but got {max_samples}')
    n_rows = len(y) if rows is None else int(np.count_nonzero(rows))
    group_codes = None
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(f'groups must have shape {y.shape} like y, but got {groups.shape}')
        group_codes = pd.factorize(groups, use_na_sentinel=False)[0]
        grouped = set(columns) if grouped_metrics is None else set(map(str, grouped_metrics))
    every = np.ones(len(y), bool) if rows is None else rows
    shared = _RowSet_ref(every, y)
    out = []
    for name, x in columns.items():
        rs = shared if _no_nan_ref(x) else _RowSet_ref(every & ~np.isnan(x), y)
        note = '' if rs.n == n_rows else f'{n_rows - rs.n} rows without a value left out'
        if rs.n == 0:
            out.append((name, np.nan, 0, 0, 'no values', np.nan))
            continue
        if rs.n_pos in (0, rs.n):
            out.append((name, np.nan, rs.n, rs.n_pos, 'outcome is the same for every row: nothing to explain', np.nan))
            continue
        at = rs.sample(max_samples, random_state)
        xv, yv = (x, y) if at is None else (x[at], y[at])
        if np.ptp(xv) == 0.0 and (rs.n <= max_samples or rs.constant(x)):
            out.append((name, 0.0, rs.n, rs.n_pos, 'metric is constant: carries no information', 0.0))
            continue
        gv = gu = None
        if group_codes is not None and name in grouped:
            gv, gu = rs.groups(group_codes, at)
        if rs.n > max_samples:
            note = '; '.join(filter(None, [note, f'deterministic subsample of {len(xv):,} of {rs.n:,} rows']))
            if np.ptp(xv) == 0.0 or yv.all() or (not yv.any()):
                out.append((name, np.nan, len(xv), int(yv.sum()), note + '; subsample is constant', np.nan))
                continue
        value, baseline, deff = binned_importance_ref(xv, yv, gv, random_state=random_state, group_units=gu)
        if gv is not None and deff != 1.0:
            note = '; '.join(filter(None, [note, 'rows of an image sharing the value count as one '
                                                 f'(design effect {deff:.2f})']))
        out.append((name, value, len(xv), int(yv.sum()), note, baseline))
    table = pd.DataFrame(out, columns=IMPORTANCE_COLUMNS)
    return table.sort_values('importance', ascending=False, na_position='last', kind='stable').reset_index(drop=True)


def _rank_ref(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind='stable')
    ordered = values[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ordered)) + 1])
    ends = np.concatenate([starts[1:], [len(values)]])
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _pearson_ref(x: np.ndarray, y: np.ndarray, y_centred: tuple[np.ndarray, float] | None=None) -> float:
    xc = x - x.mean()
    yc, yy = y_centred if y_centred is not None else (y - y.mean(), None)
    if yy is None:
        yy = yc @ yc
    denom = np.sqrt(xc @ xc * yy)
    return float(np.clip(xc @ yc / denom, -1.0, 1.0))


class _Centred_ref:

    def __init__(self, valid: np.ndarray, y: np.ndarray):
        self.valid = valid
        self.all = bool(valid.all())
        self.n = len(valid) if self.all else int(np.count_nonzero(valid))
        self.yv = self.take(y)
        self.y_constant = self.n >= 2 and bool(np.ptp(self.yv) == 0.0)
        self._centred = self._ranks = None

    def take(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x) if self.all else x[self.valid]

    def centred(self) -> tuple[np.ndarray, float]:
        if self._centred is None:
            yc = self.yv - self.yv.mean()
            self._centred = (yc, yc @ yc)
        return self._centred

    def ranks(self) -> np.ndarray:
        if self._ranks is None:
            self._ranks = _rank_ref(self.yv)
        return self._ranks


def correlation_of_columns_ref(columns, y, *, rows=None, method='pearson'):
    if method not in ('pearson', 'spearman'):
        raise ValueError(f"method must be 'pearson' or 'spearman', but got {method!r}")
    y = np.asarray(y, np.float64)
    y_ok = np.isfinite(y) if rows is None else rows & np.isfinite(y)
    common = _Centred_ref(y_ok, y)
    out = []
    for name, x in columns.items():
        c = common if _no_nan_ref(x) else _Centred_ref(y_ok & ~np.isnan(x), y)
        n = c.n
        if n < 2:
            out.append((name, np.nan, n, 'fewer than 2 rows with a value'))
            continue
        xv = c.take(x)
        if np.ptp(xv) == 0.0:
            out.append((name, np.nan, n, 'metric is constant: correlation undefined'))
        elif c.y_constant:
            out.append((name, np.nan, n, 'outcome is the same for every row: correlation undefined'))
        elif method == 'spearman':
            out.append((name, _pearson_ref(_rank_ref(xv), c.ranks()), n, ''))
        else:
            out.append((name, _pearson_ref(xv, c.yv, c.centred()), n, ''))
    out = pd.DataFrame(out, columns=CORRELATION_COLUMNS)
    order = np.argsort(-np.abs(out['correlation'].to_numpy(np.float64)), kind='stable')
    return out.iloc[order].reset_index(drop=True)


# ---- the tests ---------------------------------------------------------------------------------------------------
def outcome_table(seed: int, n: int = 9_000, n_images: int = 450, sorted_groups: bool = True) -> pd.DataFrame:
    """A random outcome table: image ids (sorted or shuffled), per-row metrics (continuous, rounded: ties, with
    missing values, constant, boolean, constant but one row), per-image metrics (continuous, few values, with a
    missing value on some images, a few rows off). Under 10k rows: one BLAS thread per dot product (quick on a
    loaded machine; tests/analysis/test_importance_scale.py checks a 100k project)."""
    rng = np.random.default_rng(seed)
    image = np.sort(rng.integers(0, n_images, n)) if sorted_groups else rng.integers(0, n_images, n)
    per_image, few = rng.random(n_images), rng.integers(0, 4, n_images).astype(float)
    gappy = np.where(rng.random(n_images) < 0.1, np.nan, rng.random(n_images))
    table = pd.DataFrame({
        "image_id": image * 7 + 3,
        "area": rng.lognormal(size=n), "rounded": rng.random(n).round(2), "missing": np.where(rng.random(n) < 0.15,
                                                                                             np.nan, rng.random(n)),
        "one": np.ones(n), "flag": (rng.random(n) < 0.2).astype(float), "almost": np.r_[np.zeros(n - 1), 1.0],
        "frame": per_image[image], "count": few[image], "frame_gap": gappy[image],
        "mixed": per_image[image] + (rng.random(n) < 0.01),  # per image but a few rows
    })
    return table


METRICS = ["area", "rounded", "missing", "one", "flag", "almost", "frame", "count", "frame_gap", "mixed"]
FRAME = ["frame", "count", "frame_gap", "mixed"]


def outcomes(table: pd.DataFrame, seed: int, k: int):
    """``k`` outcomes over the table's rows (as IoU moves give them): Y depends on the frame and area metrics,
    some rows undefined (a different set each time)."""
    rng = np.random.default_rng(seed)
    f, a = table["frame"].to_numpy(), np.log(table["area"].to_numpy())
    for t in np.linspace(0.2, 0.8, k):
        y = rng.random(len(table)) < np.clip(0.2 + 0.4 * f * t + 0.05 * a, 0.02, 0.98)
        defined = rng.random(len(table)) > 0.03 * (1 + t)
        yield y, defined


@pytest.mark.parametrize("sorted_groups", [True, False])
@pytest.mark.parametrize("max_samples", [2_000, DEFAULT_MAX_SAMPLES])
def test_importance_and_correlation_equal_the_reference_bit_for_bit(sorted_groups, max_samples):
    table = outcome_table(3, sorted_groups=sorted_groups)
    for y, defined in outcomes(table, 4, 3):
        table["y"] = pd.arrays.BooleanArray(y, ~defined)
        for kept in (True, False):
            values = outcome_values(table, "y", METRICS, groups=True, kept=kept)
            assert values.kept is kept
            expected = importance_of_columns_ref(values.columns, values.y, rows=values.rows, groups=values.groups,
                                                 grouped_metrics=FRAME, max_samples=max_samples, random_state=2)
            got = importance_of_columns(values.columns, values.y, rows=values.rows, groups=values.groups,
                                        grouped_metrics=FRAME, max_samples=max_samples, random_state=2, kept=kept)
            pd.testing.assert_frame_equal(got, expected, check_exact=True)
            for method in ("pearson", "spearman"):
                expected = correlation_of_columns_ref(values.columns, values.y.astype(float), rows=values.rows,
                                                      method=method)
                for _ in range(2):  # the second time from the kept centred columns
                    got = correlation_of_columns(values.columns, values.y.astype(float), rows=values.rows,
                                                 method=method, kept=kept)
                    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    got = importance_of_columns(values.columns, values.y, rows=values.rows, groups=values.groups, kept=True)
    expected = importance_of_columns_ref(values.columns, values.y, rows=values.rows, groups=values.groups)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)  # every metric grouped
    assert got.set_index("metric").loc["frame", "importance"] > 0.01


def test_every_row_scored_and_no_groups_equal_the_reference():
    table = outcome_table(5, n=6_000)
    columns = {name: table[name].to_numpy() for name in METRICS}
    for y, _ in outcomes(table, 6, 2):
        for max_samples in (1_000, 10_000):
            pd.testing.assert_frame_equal(
                importance_of_columns(columns, y, max_samples=max_samples, random_state=7, kept=True),
                importance_of_columns_ref(columns, y, max_samples=max_samples, random_state=7), check_exact=True)
        pd.testing.assert_frame_equal(correlation_of_columns(columns, y.astype(float), kept=True),
                                      correlation_of_columns_ref(columns, y.astype(float)), check_exact=True)


def test_stratified_subsample_and_sorted_quantiles_equal_numpy_s():
    rng = np.random.default_rng(9)
    for n, share, m in ((50_000, 0.3, 7_000), (20_000, 0.001, 600), (30_000, 0.9, 29_999), (100, 0.5, 10)):
        y = rng.random(n) < share
        for seed in (0, 1):
            np.testing.assert_array_equal(stratified_subsample(y, m, random_state=seed),
                                          stratified_subsample_ref(y, m, random_state=seed))
    for case in range(300):
        n = int(rng.integers(2, 3_000))
        values = np.sort(rng.normal(size=n).round(int(rng.integers(0, 4))) * 10.0 ** rng.integers(-30, 30))
        n_bins = int(rng.integers(2, 11))
        q = np.arange(1, n_bins) / n_bins
        np.testing.assert_array_equal(_sorted_quantiles(values, q), np.quantile(values, q))


def test_kept_facts_follow_the_buffer_not_the_array_object():
    """Views of one buffer share the kept facts; another buffer (even one at the same address once the first is
    freed) never sees them."""
    made = []
    x = np.arange(10.0)
    x.flags.writeable = False
    for view in (x, x[:], np.asarray(x)):
        assert importance._kept((view,), ("test",), lambda: made.append(1) or len(made)) == 1
    assert importance._kept((x[1:],), ("test",), lambda: made.append(1) or len(made)) == 2  # another view
    for _ in range(5):
        del x
        gc.collect()
        x = np.arange(10.0) + len(made)  # often the freed address and id again
        assert importance._kept((x,), ("test",), lambda: made.append(1) or len(made)) == len(made)


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_more_random_tables_equal_the_reference(seed):
    """Random shapes: rare or common positives (the draws' small-sample and ratio-of-uniforms branches), many rows
    per image (many unit types), image ids that are small, huge or negative (a table or a hash numbers the
    groups), subsampled or not; each outcome computed twice (the second a look-up of the first) — both equal the
    reference."""
    rng = np.random.default_rng(seed)
    n, n_images = int(rng.integers(3_000, 9_000)), int(rng.integers(40, 600))
    table = outcome_table(seed, n=n, n_images=n_images, sorted_groups=bool(seed % 2))
    table["image_id"] = table["image_id"] * [1, 10 ** 12, -3, 1][seed % 4]
    f = table["frame"].to_numpy()
    for share in (0.004, 0.3, 0.97):
        y = rng.random(n) < np.clip(share * (0.5 + f), 0.0, 1.0)
        table["y"] = pd.arrays.BooleanArray(y, rng.random(n) < 0.05)
        values = outcome_values(table, "y", METRICS, groups=True, kept=True)
        for max_samples in (int(rng.integers(500, 3_000)), DEFAULT_MAX_SAMPLES):
            expected = importance_of_columns_ref(values.columns, values.y, rows=values.rows, groups=values.groups,
                                                 grouped_metrics=FRAME, max_samples=max_samples, random_state=seed)
            for _ in range(2):
                got = importance_of_columns(values.columns, values.y, rows=values.rows, groups=values.groups,
                                            grouped_metrics=FRAME, max_samples=max_samples, random_state=seed,
                                            kept=True)
                pd.testing.assert_frame_equal(got, expected, check_exact=True)
                got.loc[0, "importance"] = -1.0  # a caller's copy: what is kept stays as it was
