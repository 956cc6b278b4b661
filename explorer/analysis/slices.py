"""Multi-metric slices: where the model is weakest, as conjunctions of at most two metric ranges.

Inputs are an outcome table's rows whose outcome is defined: ``X`` (n rows, one column per data metric) and a
bool outcome ``y`` (n,) — detected for labels (the rate is the TPR), true positive for predictions (precision).

* **Bins**: each metric is cut into ``n_bins`` quantile bins (``explorer.analysis.buckets.bucketize``,
  ``method="quantile"``: edges at the k/n_bins quantiles of its finite values, merged on ties; bin ``[lo, hi)``,
  the last closed). A missing value (NaN) is in no bin, so in no slice of that metric.
* **Heatmap** (``heatmap``): metric x × metric y, one cell per pair of bins, with its count ``n``, positives ``k``,
  rate ``k / n`` and Wilson 95% interval.
* **Slice search** (``weakest_slices``): every single bin ``m ∈ bin`` and every conjunction ``m₁ ∈ bin₁ ∧ m₂ ∈
  bin₂`` of two different metrics. With ``N, K`` the rows and positives in all and ``n, k`` those of a slice:

      rate = k / n        rest = (K − k) / (N − n)        gap = rate − rest

  A slice is kept when ``n ≥ min_support`` and ``N − n > 0``; a conjunction only when its gap is below both of its
  one-metric parents' (otherwise the second range adds nothing). Slices are ranked by ``gap`` (most negative
  first; ties: larger ``n`` first), each with the Wilson interval of its rate and Newcombe's hybrid score interval
  of the gap (``explorer.analysis.intervals``; it treats slice and rest as independent samples).

Counting: every (metric, bin) is a column; one compiled pass over the rows (numba, imported at the first search)
counts the rows of every column and every pair of columns of two metrics — O(n · m²) for m metrics — and one
over the positive rows counts those. The first part depends only on the metric values (``slice_bins``): a caller
that keeps it (the Slices page, per selection without the IoU) recounts only the positives after an IoU move.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.analysis.buckets import bucketize
from explorer.analysis.compiled import njit
from explorer.analysis.intervals import rate_difference_interval, wilson_interval

N_BINS = 4  # quartiles: a slice is about a quarter (one metric) or a sixteenth (two metrics) of the rows
MIN_SUPPORT = 30  # rows a slice needs before it is ranked (a rate on fewer is mostly noise)
MAX_RESULTS = 25
SLICE_COLUMNS = ["rank", "description", "metric_1", "lo_1", "hi_1", "closed_1", "metric_2", "lo_2", "hi_2",
                 "closed_2", "n", "positives", "rate", "rate_lo", "rate_hi", "rest_rate", "gap", "gap_lo", "gap_hi"]


EDGE_SAMPLE = 100_000  # values a metric's quantile edges are taken from (evenly strided above that)


def _codes(X: pd.DataFrame, n_bins: int) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Per usable metric (≥ 2 bins): its name, bin code of every row (int8, ``n_bins_m`` for missing) and edges.

    The bins are ``bucketize(values, n_buckets=n_bins, method="quantile")``'s; above ``EDGE_SAMPLE`` finite values
    the inner edges are the quantiles of every k-th value (k = ⌈count / EDGE_SAMPLE⌉; the outer edges stay the
    exact min and max), so the edges cost O(EDGE_SAMPLE) and only the assignment is over every row."""
    names, codes, edges = [], [], []
    matrix = X.to_numpy(np.float64, na_value=np.nan) if len(X.columns) else np.empty((len(X), 0))
    for m, name in enumerate(X.columns):
        x = matrix[:, m]
        finite = np.isfinite(x)
        values = x[finite]
        if len(values) == 0:
            continue
        sample = values[:: -(-len(values) // EDGE_SAMPLE)]
        e = np.unique(np.quantile(sample, np.linspace(0.0, 1.0, n_bins + 1)))
        e[0], e[-1] = values.min(), values.max()
        e = np.unique(e)
        if len(e) < 3:  # fewer than 2 bins: no slice to compare with the rest
            continue
        small = np.int8 if len(e) < 127 else np.int16  # codes of millions of rows, kept by the page: 1 byte each
        inner = np.zeros(len(values), small)
        for edge in e[1:-1]:  # a handful of edges: counting them beats a binary search per value
            inner += values >= edge  # = searchsorted(e[1:-1], values, side="right")
        code = np.full(len(x), len(e) - 1, small)
        code[finite] = inner
        names.append(str(name))
        codes.append(code)
        edges.append(e)
    return names, codes, edges


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _range_text(name: str, edges: np.ndarray, i: int, titles: dict) -> str:
    last = i == len(edges) - 2
    return f"{titles.get(name, name)} in [{_fmt(edges[i])}, {_fmt(edges[i + 1])}{']' if last else ')'}"


@dataclass(frozen=True)
class SliceBins:
    """The part of the slice search that depends only on the metric values of the rows, not on the outcome (an
    IoU move changes ``y`` only): per usable metric its ``names``, ``edges``; ``codes`` (m, n) int8 bin codes
    (``widths[a]`` = missing); the (metric, bin) columns (``offset``, ``col_metric``, ``col_bin``) and ``n_pair``
    (D, D) the rows in both columns i and j (upper triangle, the diagonal: rows in one bin)."""

    names: list
    edges: list
    codes: np.ndarray
    widths: np.ndarray
    offset: np.ndarray
    n_pair: np.ndarray

    @property
    def n_rows(self) -> int:
        return self.codes.shape[1]


def slice_bins(X: pd.DataFrame, *, n_bins: int = N_BINS) -> SliceBins:
    """``SliceBins`` of ``X`` (DataFrame (n, m), numeric metric columns): quantile bins (module docstring) and the
    row count of every pair of (metric, bin) columns, one compiled pass over the rows."""
    names, codes, edges = _codes(X, n_bins)
    widths = np.array([len(e) - 1 for e in edges], np.int64)
    offset = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    stacked = np.ascontiguousarray(np.stack(codes)) if codes else np.empty((0, len(X)), np.int8)
    d = int(offset[-1])
    n_pair = np.zeros((d, d), np.int64)
    _pair_counts(stacked, widths, offset, np.arange(len(X), dtype=np.int64), n_pair)
    return SliceBins(names, edges, stacked, widths, offset, n_pair)


def weakest_slices(X: pd.DataFrame, y, *, n_bins: int = N_BINS, min_support: int = MIN_SUPPORT,
                   max_results: int = MAX_RESULTS, titles: dict[str, str] | None = None,
                   confidence: float = 0.95, bins: SliceBins | None = None) -> pd.DataFrame:
    """The weakest slices (module docstring) of ``X`` (DataFrame (n, m), numeric metric columns) for the bool
    outcome ``y`` (n,): at most ``max_results`` rows, columns ``SLICE_COLUMNS`` — ``metric_2``/``lo_2``/``hi_2``
    empty for a one-metric slice, ``closed_i`` True when the range includes its upper edge (the last bin),
    ``description`` in words (``titles``: display names by column). Empty when nothing reaches ``min_support``
    or the outcome is constant. ``bins``: ``slice_bins(X, n_bins=n_bins)`` when the caller keeps it (the same
    rows); then only the positives are counted here and ``X`` only gives the rows (a frame without columns will
    do)."""
    y = np.asarray(y).astype(bool)
    if y.shape != (len(X),):
        raise ValueError(f"y must have shape ({len(X)},) like the rows of X, but got {y.shape}")
    if min_support < 1:
        raise ValueError(f"min_support must be at least 1, but got {min_support}")
    titles = titles or {}
    N, K = len(y), int(y.sum())
    if bins is None:
        bins = slice_bins(X, n_bins=n_bins)
    elif bins.n_rows != N:
        raise ValueError(f"bins were made for {bins.n_rows} rows, but X has {N}")
    names, edges, widths, offset = bins.names, bins.edges, bins.widths, bins.offset
    if not names or K in (0, N):
        return pd.DataFrame(columns=SLICE_COLUMNS)
    # one column per (metric, bin): rows of every pair of columns (kept), positives counted over the positives only
    col_metric = np.repeat(np.arange(len(names)), widths)
    col_bin = np.arange(offset[-1]) - offset[col_metric]
    n_pair = bins.n_pair
    k_pair = np.zeros_like(n_pair)
    _pair_counts(bins.codes, widths, offset, np.flatnonzero(y).astype(np.int64), k_pair)
    n1, k1 = np.diag(n_pair), np.diag(k_pair)
    gap1 = _gap(n1, k1, N, K)
    i, j = np.triu_indices(len(col_metric), k=1)
    two = col_metric[i] < col_metric[j]  # two different metrics
    i, j = i[two], j[two]
    n2, k2 = n_pair[i, j], k_pair[i, j]
    gap2 = _gap(n2, k2, N, K)
    keep2 = gap2 < np.minimum(gap1[i], gap1[j])  # NaN parents or a second range that adds nothing: dropped
    first = np.concatenate([np.arange(len(n1)), i[keep2]])
    second = np.concatenate([np.full(len(n1), -1), j[keep2]])
    n = np.concatenate([n1, n2[keep2]])
    k = np.concatenate([k1, k2[keep2]])
    gap = np.concatenate([gap1, gap2[keep2]])
    ok = (n >= min_support) & (n < N) & np.isfinite(gap)
    first, second, n, k, gap = (v[ok] for v in (first, second, n, k, gap))
    order = np.lexsort((-n, gap))[:max_results]
    first, second, n, k, gap = (v[order] for v in (first, second, n, k, gap))
    ma, ia = col_metric[first], col_bin[first]
    mb = np.where(second >= 0, col_metric[second], -1)
    ib = np.where(second >= 0, col_bin[second], -1)
    lo, hi = wilson_interval(k, n, confidence=confidence)
    g_lo, g_hi = rate_difference_interval(k, n, K - k, N - n, confidence=confidence)
    rows = []
    for r in range(len(n)):
        a, i, b, j = int(ma[r]), int(ia[r]), int(mb[r]), int(ib[r])
        text = _range_text(names[a], edges[a], i, titles)
        second = (None, np.nan, np.nan, False)
        if b >= 0:
            text += " and " + _range_text(names[b], edges[b], j, titles)
            second = (names[b], edges[b][j], edges[b][j + 1], j == len(edges[b]) - 2)
        rows.append((r + 1, text, names[a], edges[a][i], edges[a][i + 1], i == len(edges[a]) - 2, *second,
                     int(n[r]), int(k[r]), k[r] / n[r], lo[r], hi[r], (K - k[r]) / (N - n[r]), gap[r], g_lo[r],
                     g_hi[r]))
    return pd.DataFrame(rows, columns=SLICE_COLUMNS)


@njit()
def _pair_counts(codes, widths, offset, rows, out):
    """``out[i, j]`` += the rows among ``rows`` (positions) in columns i and j (i ≤ j; the diagonal: in column i);
    ``codes`` (m, n) small-int bin codes (``widths[a]`` = missing) — one pass, O(len(rows) · m²)."""
    m = codes.shape[0]
    for t in range(rows.shape[0]):
        r = rows[t]
        for a in range(m):
            ca = codes[a, r]
            if ca >= widths[a]:
                continue
            i = offset[a] + ca
            out[i, i] += 1
            for b in range(a + 1, m):
                cb = codes[b, r]
                if cb >= widths[b]:
                    continue
                out[i, offset[b] + cb] += 1


def _gap(n: np.ndarray, k: np.ndarray, N: int, K: int) -> np.ndarray:
    """``k/n − (K−k)/(N−n)``, NaN where either side is empty."""
    n, k = n.astype(np.float64), k.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n > 0) & (n < N), k / n - (K - k) / (N - n), np.nan)


def in_range(values, lo: float, hi: float, closed: bool) -> np.ndarray:
    """``lo ≤ v < hi`` (``≤ hi`` when ``closed``), False for a missing value: the rows of one slice range."""
    v = pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return (v >= lo) & ((v <= hi) if closed else (v < hi))


def slice_mask(X: pd.DataFrame, row) -> np.ndarray:
    """Bool (n,): the rows of ``X`` in slice ``row`` (a row of ``weakest_slices``: a dict or a named tuple)."""
    get = row.get if isinstance(row, dict) else (lambda k: getattr(row, k))
    mask = in_range(X[get("metric_1")], get("lo_1"), get("hi_1"), bool(get("closed_1")))
    if get("metric_2") is not None and isinstance(get("metric_2"), str):
        mask &= in_range(X[get("metric_2")], get("lo_2"), get("hi_2"), bool(get("closed_2")))
    return mask


HEATMAP_COLUMNS = ["x_bin", "y_bin", "x_range", "y_range", "n", "positives", "rate", "rate_lo", "rate_hi"]


@dataclass(frozen=True)
class HeatmapBins:
    """The part of a heatmap that depends on the two metrics' values alone (an IoU move changes only the outcome):
    ``cell`` (n,) int32 the cell ``x_bin * ny + y_bin`` of every row, -1 for a row missing either value (or for
    every row when a metric has no finite value: ``usable`` False); ``nx``, ``ny`` the bins of each metric and
    their range ``x_labels`` / ``y_labels``; ``n`` (nx * ny,) the rows per cell."""

    cell: np.ndarray
    nx: int
    ny: int
    x_labels: tuple
    y_labels: tuple
    n: np.ndarray
    usable: bool


def heatmap_bins(x_values, y_values, *, n_bins: int = 5) -> HeatmapBins:
    """``HeatmapBins`` of quantile bins (``bucketize``) of ``x_values`` × ``y_values`` ((n,) each)."""
    bx = bucketize(x_values, n_buckets=n_bins, method="quantile")
    by = bucketize(y_values, n_buckets=n_bins, method="quantile")
    usable = bool(np.isfinite(bx.edges).all() and np.isfinite(by.edges).all())
    cell = np.full(len(bx.index), -1, np.int32)
    if usable:
        inside = (bx.index >= 0) & (by.index >= 0)
        cell[inside] = bx.index[inside] * by.n_buckets + by.index[inside]
    size = bx.n_buckets * by.n_buckets
    return HeatmapBins(cell=cell, nx=bx.n_buckets, ny=by.n_buckets, x_labels=tuple(bx.labels()),
                       y_labels=tuple(by.labels()), n=np.bincount(cell[cell >= 0], minlength=size) if usable else
                       np.zeros(0, np.int64), usable=usable)


def heatmap(x_values, y_values, outcome, *, n_bins: int = 5, confidence: float = 0.95,
            bins: HeatmapBins | None = None) -> pd.DataFrame:
    """Rate of ``outcome`` (bool (n,)) in every cell of quantile bins of ``x_values`` × ``y_values`` ((n,) each):
    one row per cell, ``x_bin, y_bin, x_range, y_range, n, positives, rate, rate_lo, rate_hi`` (rate NaN in an
    empty cell). Rows missing either value are in no cell. ``bins``: ``heatmap_bins(x_values, y_values,
    n_bins=n_bins)`` when the caller keeps it (the same rows): then only the positives are counted here (the
    values are not read)."""
    y = np.asarray(outcome).astype(bool)
    if bins is None:
        bins = heatmap_bins(x_values, y_values, n_bins=n_bins)
    elif len(bins.cell) != len(y):
        raise ValueError(f"bins were made for {len(bins.cell)} rows, but the outcome has {len(y)}")
    if not bins.usable:
        return pd.DataFrame(columns=HEATMAP_COLUMNS)
    inside = bins.cell >= 0
    cell = bins.cell[inside]
    size = bins.nx * bins.ny
    n = bins.n
    k = np.bincount(cell, weights=y[inside], minlength=size).astype(np.int64)
    lo, hi = wilson_interval(k, n, confidence=confidence)
    xi, yi = np.divmod(np.arange(size), bins.ny)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    return pd.DataFrame({"x_bin": xi, "y_bin": yi, "x_range": np.asarray(bins.x_labels)[xi],
                         "y_range": np.asarray(bins.y_labels)[yi], "n": n, "positives": k, "rate": rate,
                         "rate_lo": lo, "rate_hi": hi})
