"""Which data metrics drive the model's outcome: normalised mutual information and correlation.

Both functions take a table of metrics ``X`` (one row per item — a prediction, a label, an image — one column per
metric) and the item's outcome ``y`` (detection: ``is_tp`` over predictions, ``detected`` over labels;
classification: ``correct``). Each metric is scored on its own: rows where that metric is missing (NaN/inf) are
dropped for that metric only, and the number of rows used is reported as ``n_samples``.

Importance is a bias-corrected plug-in estimate of the normalised mutual information over **every** row:

    importance(X) = clip( (Î − bias) / H(Y), 0, 1 )

    Î    = Σ_b Σ_c (n_bc / N) ln( N n_bc / (n_b n_c) )      plug-in MI (nats) of the B×2 table of counts
    bias = (B' − 1) · deff / (2 N)                           Miller–Madow, with a cluster design effect
    deff = Σ_u (s_u − p m_u)² / (N p (1 − p))
    H(Y) = −p ln p − (1 − p) ln(1 − p)

* ``b``: quantile bin of X — B = clip(⌊U / 25⌋, 2, 10) bins with edges at the k/B quantiles of the values of
  the U *units* (below), equal values always in the same bin; ``B'`` the bins that hold rows;
  ``n_bc`` rows of bin b with outcome c, ``n_b``/``n_c`` the margins, ``N`` rows, ``p`` the share with Y true.
* units: with ``groups`` (e.g. the image id of each row) the rows of one group that share the metric's value
  form one unit ``u`` with ``m_u`` rows of which ``s_u`` have Y true; without groups every row is a unit. A frame
  (F) metric joined to the labels of an image is one unit per image, so (i) each bin spans ≥ ~25 images and a
  value unique to an image cannot act as an image id, and (ii) ``deff`` — the variance of the units' outcome
  residuals over the binomial variance — is the factor by which outcomes that cluster by image inflate the
  plug-in MI of a value shared by the image. With one row per unit ``deff = 1`` exactly and the correction is
  Miller–Madow's ``(B' − 1)/(2N)``. ``bias`` is the first-order expectation of ``Î`` when the units' values
  are shuffled among units (χ² approximation of ``Î``), so a metric unrelated to Y scores ≈ 0 (negative
  estimates are clipped to 0).

The estimate uses no random numbers: it does not depend on ``random_state`` (up to ``max_samples`` rows).
0 means no dependency, 1 means the metric alone predicts the outcome. ``baseline`` is the permutation
baseline: the mean importance (same estimator, clipped) over 20 shuffles of the units' values (drawn exactly
as multivariate hypergeometric deals of the unit types into the bins), seeded by ``random_state`` — what a metric unrelated to Y scores on these
rows. Undefined cases follow one rule each:

* no value / outcome constant over the metric's rows → NaN with a note (H(Y) = 0, nothing to explain);
* metric constant over its rows → 0 with a note (a constant carries no information);
* above ``max_samples`` rows a deterministic stratified subsample (seeded by ``random_state``) is used.

At scale (the app, ``kept=True``): the subsample is stratified by Y, so an IoU move draws new rows and every
metric's bins are recomputed; what depends on the metric columns alone is kept per column buffer (missing values
and infinities, extremes, the group codes, whether a metric takes one value per image, a correlation's centred
column over a row set that comes back), and each importance table per (columns, outcome, rows, parameters), so a
selection seen before is a look-up. An IoU move or a class change then costs: the draw (both classes' rows in one
compiled pass, NumPy's ``choice`` of positions, a merge), the group units of the sampled rows (one pass); per
per-row metric one gather and sort of the sampled values; per frame metric one read per image unit and a sort of
those values; bins counted below each edge in one compiled pass; and the 20 shuffles' multivariate hypergeometric
deals, drawn by compiled kernels that make NumPy's own draws from the generator's bit stream (the same algorithm
and arithmetic: ``tests/analysis/test_importance_deals.py``). The correlation costs one gather, centring and two
BLAS dot products per metric (one when the rows are unchanged, as for labels). The numbers are those of the plain
computation, bit for bit (``tests/analysis/test_importance_exact.py``; at 100k ``test_importance_scale.py``).
"""
from __future__ import annotations

import functools
import hashlib
import math
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.analysis.compiled import next_double, next_uint32, next_uint64, njit
from explorer.analysis.outcomes import _LOCK, _Bounded, _remember, _store

DEFAULT_MAX_SAMPLES = 200_000  # per metric; the binned estimate is O(n log n): ~0.25 s per metric at this size
MAX_BINS = 10
UNITS_PER_BIN = 25  # at least this many units (images, for a frame metric) per quantile bin on average
N_SHUFFLES = 20  # permutations behind the baseline column

IMPORTANCE_COLUMNS = ["metric", "importance", "n_samples", "n_positive", "note", "baseline"]
CORRELATION_COLUMNS = ["metric", "correlation", "n_samples", "note"]


def binary_entropy(p: float) -> float:
    """Entropy in nats of a Bernoulli(p) outcome; 0 for p in {0, 1}."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return float(-(p * np.log(p) + (1.0 - p) * np.log(1.0 - p)))


def stratified_subsample(y: np.ndarray, max_samples: int, *, random_state: int = 0) -> np.ndarray:
    """Sorted row indices of a deterministic subsample of at most ``max_samples`` rows keeping the class ratio.

    ``y``: bool array of shape (n,). Each class keeps ``round(n_class * max_samples / n)`` rows (at least one
    when the class is present), drawn without replacement by ``numpy.random.default_rng(random_state)``.
    Returns all indices when ``n <= max_samples``.
    """
    n = len(y)
    if n <= max_samples:
        return np.arange(n)
    return _stratified_rows(None, y, n, max_samples, random_state)


def _stratified_rows(valid: np.ndarray | None, y: np.ndarray, n: int, max_samples: int, random_state: int,
                     n_pos: int | None = None) -> np.ndarray:
    """``at[stratified_subsample(y[at], max_samples)]`` for ``at = np.flatnonzero(valid)`` (``n`` = its length,
    ``n_pos`` of them with ``y`` true when known; ``valid`` None = every row), without gathering ``y``: the rows
    of each class in order (one compiled pass for both), each class's draw of positions among them
    (``rng.choice``, the same stream), and the two sorted picks merged."""
    if n_pos is None:
        n_pos = int(np.count_nonzero(y if valid is None else y & valid))
    kind = np.int32 if len(y) < 2 ** 31 else np.int64  # row numbers: half the bytes written below 2^31 rows
    rows = (np.empty(n - n_pos + 1, kind), np.empty(n_pos + 1, kind))
    _class_rows(y, np.zeros(0, bool) if valid is None else valid, *rows)
    rng = np.random.default_rng(random_state)
    picked = []
    for of_class, size in zip(rows, (n - n_pos, n_pos)):  # the rows with y false, then true
        k = max(1, int(round(size * max_samples / n))) if size else 0
        picked.append(of_class[np.sort(rng.choice(size, size=min(k, size), replace=False))] if size
                      else of_class[:0])
    out = np.empty(len(picked[0]) + len(picked[1]), np.int64)
    _merge(*picked, out)
    return out


@njit()
def _class_rows(y, valid, rows_false, rows_true):
    """``rows_false`` / ``rows_true`` = the rows (``valid``; empty = all) with ``y`` false / true, in order (each
    array one longer than its rows: every row is stored, and kept by moving on — no branch per row)."""
    every = valid.shape[0] == 0
    f = t = 0
    for i in range(y.shape[0]):
        member = every or valid[i]
        rows_false[f] = i
        rows_true[t] = i
        f += member & (not y[i])
        t += member & y[i]


@njit()
def _merge(a, b, out):
    """``out`` = the sorted union of the sorted, disjoint ``a`` and ``b`` (ints)."""
    i = j = 0
    for k in range(out.shape[0]):
        take_a = j >= b.shape[0] or (i < a.shape[0] and a[i] < b[j])
        if take_a:
            out[k] = a[i]
            i += 1
        else:
            out[k] = b[j]
            j += 1


# ---- facts about a kept column -------------------------------------------------------------------------------
# The core's outcome tables are never written, and an IoU move rebuilds only their outcome columns: the metric
# columns of the next table are views of the same buffers. What depends on a metric column alone (missing values,
# its extremes, its centred form over an unchanged row set, its stable order) is remembered per buffer, so a
# control change recomputes only what the outcome changes. An entry holds a weak reference to the array owning
# the buffer (never the data): once that array is gone, its id no longer matches the entry.
_KEPT = _Bounded(max_bytes=300_000_000)  # group codes, centred columns, stable orders (~16 MB each at 2M rows)
_KEPT_ENTRIES = 256
# importance tables per (kept columns, outcome, rows): a selection that comes back — an IoU seen before, another
# session's — is a look-up (a few kB each)
_RESULTS = _Bounded(max_bytes=20_000_000)
_RESULT_ENTRIES = 64


def _owner(x: np.ndarray) -> np.ndarray:
    """The array owning ``x``'s buffer (the last ndarray of its ``.base`` chain)."""
    while isinstance(x.base, np.ndarray):
        x = x.base
    return x


def _kept_key(arrays: tuple, what: tuple) -> tuple[tuple, tuple]:
    """The owners of ``arrays``' buffers and the cache key of (``what``, those buffers)."""
    owners = tuple(_owner(a) for a in arrays)
    return owners, (what, *((id(o), a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)
                            for o, a in zip(owners, arrays)))


def _kept(arrays: tuple, what: tuple, make, cache: _Bounded = _KEPT, size: int = _KEPT_ENTRIES):
    """``make()`` remembered (in ``cache``, at most ``size`` entries) for the buffers of ``arrays`` (views of data
    never written) and ``what``."""
    owners, key = _kept_key(arrays, what)
    refs, value = _remember(cache, key, lambda: (tuple(map(weakref.ref, owners)), make()), size=size)
    if any(r() is not o for r, o in zip(refs, owners)):  # the key's buffers are gone and their ids reused
        refs, value = tuple(map(weakref.ref, owners)), make()
        with _LOCK:
            _store(cache, key, (refs, value), size)
    return value


def _kept_replace(arrays: tuple, what: tuple, value) -> None:
    """Remember ``value`` for (``arrays``' buffers, ``what``) in place of what was kept."""
    owners, key = _kept_key(arrays, what)
    with _LOCK:
        _store(_KEPT, key, (tuple(map(weakref.ref, owners)), value), _KEPT_ENTRIES)


def _fact(x: np.ndarray, name: str, make, kept: bool):
    """``make()``, remembered per buffer of ``x`` when ``kept``."""
    return _kept((x,), (name,), make) if kept else make()


def _as_binary(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) like the rows of X, but got {y.shape}")
    if y.dtype != bool:
        values = np.unique(y[~pd.isna(y)]) if y.dtype == object else np.unique(y)
        if not np.isin(values, [0, 1]).all():
            raise ValueError(f"y must be a binary outcome (bool or 0/1), but got values {values[:5].tolist()}…")
        y = y.astype(bool)
    return y


def numeric_values(column: pd.Series, *, kept: bool = False) -> np.ndarray:
    """``column`` as a float64 array of shape (n,) with missing and non-finite values as NaN (booleans count as
    0/1); a float64 column without infinities is returned as it is (read-only, not copied). ``kept``: the column
    is never written (a core outcome table's), so whether it holds infinities is remembered."""
    if column.dtype == np.float64:
        values = column.to_numpy()
        if not _nonfinite(values, kept)[1]:
            return values
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


def _numeric_columns(X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each column as ``numeric_values``."""
    return {str(name): numeric_values(X[name]) for name in X.columns}


@dataclass(frozen=True)
class OutcomeValues:
    """An outcome table's columns as ``importance_of_columns`` / ``correlation_of_columns`` read them, over all of
    its n rows (nothing gathered): ``columns`` ``{metric: float64 array (n,)}`` (``numeric_values``), ``y`` bool
    array (n,) (False where undefined), ``rows`` bool array (n,): the outcome is defined (the rows scored),
    ``groups`` the rows' ``image_id`` (or None), ``n`` / ``n_positive`` rows scored / with Y true, ``kept``: the
    columns are views of a table that is never written (pass it on to the two functions)."""

    columns: dict
    y: np.ndarray
    rows: np.ndarray
    groups: np.ndarray | None
    n: int
    n_positive: int
    kept: bool = False


def outcome_values(table: pd.DataFrame, column: str, names, *, groups: bool = False,
                   kept: bool = False) -> OutcomeValues:
    """``OutcomeValues`` of the metric columns ``names`` of ``table`` against its outcome ``column`` (a
    ``boolean`` column, ``<NA>`` = undefined: ``explorer.analysis.outcomes``); ``groups``: read ``image_id``;
    ``kept``: ``table`` is never written (a core outcome table), so facts about its columns are remembered."""
    outcome = table[column]
    if isinstance(outcome.array, pd.arrays.BooleanArray):  # the core's tables: its data and mask as they are
        rows = ~outcome.array._mask
        y = outcome.array._data & rows
    else:
        rows = outcome.notna().to_numpy()
        y = outcome.to_numpy(dtype=bool, na_value=False)
    return OutcomeValues(columns={str(name): numeric_values(table[name], kept=kept) for name in names}, y=y,
                         rows=rows, groups=table["image_id"].to_numpy() if groups else None,
                         n=int(np.count_nonzero(rows)), n_positive=int(np.count_nonzero(y & rows)), kept=kept)


def _units(x: np.ndarray, group: np.ndarray | None,
           group_units: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unit index of each row (shape (n,), 0..U-1) and each unit's value (shape (U,)): rows of one group with
    the same value of ``x`` are one unit; without groups every row is its own unit. ``group``: int codes;
    ``group_units`` (optional): ``pd.factorize(group)[0]``, shared by the metrics scored on the same rows."""
    if group is None:
        return np.arange(len(x)), x
    if group_units is not None:
        # a frame metric takes one value per group: its units are the groups, numbered alike (first appearance)
        values = np.empty(int(group_units.max()) + 1, dtype=np.float64)
        if _unit_values(x, group_units, values):
            return group_units, values
    x_code = pd.factorize(x)[0]  # one int per distinct value (hashing; -0.0 and 0.0 are one value, as in a sort)
    key = group.astype(np.int64) * (int(x_code.max()) + 1) + x_code  # one int per (group, value)
    unit = pd.factorize(key)[0]  # numbered by first appearance: the same units whatever ints code the pairs
    values = np.empty(int(unit.max()) + 1, dtype=np.float64)
    values[unit] = x
    return unit, values


def _sorted_quantiles(ordered: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(ordered, q)`` (method "linear") of a sorted array of shape (n,), n >= 2, q in [0, 1):
    virtual index v = (n − 1) q, the order statistics at ⌊v⌋ and ⌊v⌋ + 1 interpolated by γ = v − ⌊v⌋ with
    NumPy's own two-sided formula (a + (b − a) γ, or b − (b − a)(1 − γ) for γ ≥ 0.5) — the same numbers
    without copying and partitioning an array that is already sorted."""
    virtual = (len(ordered) - 1) * q
    previous = np.floor(virtual)
    gamma = virtual - previous
    at = previous.astype(np.intp)
    a, b = ordered[at], ordered[at + 1]
    diff = b - a
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)


def _edges(ordered: np.ndarray, n_bins: int) -> np.ndarray:
    """The inner quantile edges of sorted values (shape (n,), not constant): unique k/n_bins quantiles above the
    minimum; when ties leave none, the smallest value above the minimum (``quantile_bins``)."""
    lowest = ordered[0]
    edges = np.unique(_sorted_quantiles(ordered, np.arange(1, n_bins) / n_bins))
    edges = edges[edges > lowest]
    if len(edges) == 0:
        first = int(np.searchsorted(ordered, lowest, side="right"))
        edges = ordered[first:first + 1]
    return edges


def quantile_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index (0..B'-1, consecutive) of each of ``values`` (shape (n,), finite, not constant): edges at the
    k/n_bins quantiles (k = 1..n_bins-1, linear interpolation), bins ``[e_k, e_{k+1})`` so equal values share a
    bin; edges at the minimum are dropped (they would leave the first bin empty), and when ties leave no edge
    the minimum's ties form one bin and the rest the other."""
    edges = _edges(np.sort(values), n_bins)  # the same order statistics, so the same quantiles
    bins = np.zeros(len(values), np.uint8)  # = searchsorted(edges, values, "right"): edges ≤ each value (≤ 9)
    for edge in edges:
        bins += (values >= edge).view(np.uint8)
    present = np.bincount(bins, minlength=len(edges) + 1) > 0
    return (np.cumsum(present) - 1)[bins]  # bins that hold values renumbered 0..B'-1 in order


def _row_tables(x: np.ndarray, y: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and rows with Y true per bin of ``quantile_bins(x, n_bins)`` (int64 arrays of shape (B',)), for one
    unit per row: the edges from the sorted values, then the rows (and rows with Y true) below each edge counted
    in one compiled pass, with no bin code per row."""
    edges = _edges(np.sort(x), n_bins)
    below, below_true = np.empty(len(edges) + 1, np.int64), np.empty(len(edges) + 1, np.int64)
    _count_below(x, y, edges, below, below_true)
    n_b, k_b = np.diff(below, prepend=0), np.diff(below_true, prepend=0)
    present = n_b > 0
    return n_b[present], k_b[present]


def _unit_tables(values: np.ndarray, m_u: np.ndarray, s_u: np.ndarray,
                 n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(n_b, k_b, capacity)`` of units with ``values`` (float (U,), finite, not constant), ``m_u`` rows and
    ``s_u`` rows with Y true (float (U,), whole numbers) in the bins of ``quantile_bins(values, n_bins)``: rows
    (float (B',)), rows with Y true (float) and units (int64) per bin — the weighted bincounts of the bin codes,
    from the units, rows and rows with Y true below each edge (one compiled pass; whole numbers: exact)."""
    edges = _edges(np.sort(values), n_bins)
    below = np.empty((3, len(edges) + 1), np.int64)
    _count_units_below(values, m_u, s_u, edges, below)
    capacity, n_b, k_b = np.diff(below, prepend=0, axis=1)
    present = capacity > 0
    return n_b[present].astype(np.float64), k_b[present].astype(np.float64), capacity[present]


# ---- compiled kernels --------------------------------------------------------------------------------------------
@njit()
def _count_below(x, y, edges, below, below_true):
    """``below[j]`` rows of ``x`` (float (n,), finite) under ``edges[j]`` and ``below_true[j]`` of them with ``y``
    (bool (n,)) true, for j < E; ``below[E]``/``below_true[E]`` all rows / rows with ``y`` true. One counting loop
    per edge (vectorised: no branch per row)."""
    for j in range(edges.shape[0] + 1):
        edge = edges[j] if j < edges.shape[0] else np.inf
        rows = 0
        positives = 0
        for i in range(x.shape[0]):
            under = x[i] < edge
            rows += under
            positives += under & y[i]
        below[j] = rows
        below_true[j] = positives


@njit()
def _count_units_below(values, m_u, s_u, edges, below):
    """Units of ``values`` (float (U,), finite) under ``edges[j]`` (``below[0, j]``), their rows ``m_u``
    (``below[1, j]``) and rows with Y true ``s_u`` (``below[2, j]``; floats holding whole numbers, summed as
    ints); column E: all units."""
    for j in range(edges.shape[0] + 1):
        edge = edges[j] if j < edges.shape[0] else np.inf
        units = 0
        rows = 0
        positives = 0
        for u in range(values.shape[0]):
            under = np.int64(values[u] < edge)
            units += under
            rows += under * np.int64(m_u[u])
            positives += under * np.int64(s_u[u])
        below[0, j] = units
        below[1, j] = rows
        below[2, j] = positives


@njit()
def _group_units(codes, at, y, first, gu, m_u, s_u, last):
    """The group units of the rows ``at`` (int (n,)) of group ``codes`` (int, 0..G-1): ``gu[i]`` the unit of row
    ``at[i]`` numbered by first appearance (``pd.factorize`` of ``codes[at]``; ``first``: int (G,) all -1), each
    unit's rows ``m_u`` and rows with ``y`` (bool (n,)) true ``s_u`` (float, zeroed, length ≥ units) and its last
    row ``last``. Returns the number of units."""
    n_units = 0
    for i in range(at.shape[0]):
        c = codes[at[i]]
        if first[c] < 0:
            first[c] = n_units
            n_units += 1
        u = first[c]
        gu[i] = u
        m_u[u] += 1.0
        if y[i]:
            s_u[u] += 1.0
        last[u] = at[i]
    return n_units


@njit()
def _one_per_group(x, codes, seen):
    """Whether ``x`` (float (n,)) takes one value in each group of ``codes`` (int (n,), 0..G-1) over its rows with
    a value (``seen``: float (G,) all NaN; -0.0 and 0.0 are one value). Selects, not branches, per row."""
    differs = False
    for i in range(x.shape[0]):
        v = x[i]
        c = codes[i]
        s = seen[c]
        differs |= (s == s) & (v == v) & (s != v)
        seen[c] = s if v != v else v
    return not differs


@njit()
def _unit_values(x, gu, values):
    """``values[gu] = x`` then ``values[gu] == x`` everywhere: whether ``x`` (float (n,)) takes one value per unit
    ``gu`` (int (n,)), and that value per unit in ``values`` (the last row's, as NumPy's assignment)."""
    for i in range(x.shape[0]):
        values[gu[i]] = x[i]
    for i in range(x.shape[0]):
        if values[gu[i]] != x[i]:
            return False
    return True


# The baseline's shuffles are multivariate hypergeometric deals. NumPy's Generator draws them in C (method
# "marginals": one univariate hypergeometric per colour; the ratio-of-uniforms algorithm HRUA of Stadlober (1989)
# for samples of at least 10 from either side, else one item at a time); the kernels below make the same draws
# with the same arithmetic in the same order from the generator's own bit stream, so a deal costs nanoseconds
# instead of a Python call per bin (tests/analysis/test_importance_deals.py: draws and final states equal NumPy's).
_HRUA_D1 = 1.7155277699214135  # 2 sqrt(2/e)
_HRUA_D2 = 0.8989161620588988  # 3 - 2 sqrt(3/e)
_HALF_LN_2PI = 0.9189385332046728


@functools.cache
def _log_factorials() -> np.ndarray:
    """ln(k!) for k = 0..125, each the double nearest the exact value (the table behind NumPy's draws)."""
    from decimal import Decimal, localcontext

    with localcontext() as context:
        context.prec = 40
        return np.array([float(Decimal(math.factorial(k)).ln()) for k in range(126)])


@njit()
def _log_factorial(k, table):
    """ln(k!): ``table[k]`` below its length, else Stirling's series to the 1/k³ term."""
    if k < table.shape[0]:
        return table[k]
    return (k + 0.5) * math.log(k) - k + (_HALF_LN_2PI + (1.0 / k) * (1 / 12.0 - 1 / (360.0 * k * k)))


@njit()
def _random_interval(bitgen, top):
    """A uniform integer in [0, ``top``]: random bits under the smallest all-ones mask ≥ ``top`` until ≤ ``top``
    (32 bits when ``top`` fits in them, else 64)."""
    if top == 0:
        return 0
    mask = top
    for shift in (1, 2, 4, 8, 16, 32):
        mask |= mask >> shift
    if top <= 0xFFFFFFFF:
        while True:
            value = np.int64(next_uint32(bitgen)) & mask
            if value <= top:
                return value
    while True:
        value = np.int64(next_uint64(bitgen) & np.uint64(mask))
        if value <= top:
            return value


@njit()
def _hypergeometric(bitgen, good, bad, sample, table):
    """Good items among ``sample`` drawn without replacement from ``good`` good and ``bad`` bad ones (all ≥ 0,
    ``sample`` ≤ ``good + bad``), as ``Generator.hypergeometric`` draws it (comment above)."""
    total = good + bad
    if sample >= 10 and sample <= total - 10:
        return _hypergeometric_hrua(bitgen, good, bad, sample, table)
    # one item at a time, on the smaller side of the sample; stop once only good ones are left
    flip = sample > total // 2
    todo = total - sample if flip else sample
    left, left_good = total, good
    while todo > 0 and left_good > 0 and left > left_good:
        left -= 1
        if _random_interval(bitgen, left) < left_good:
            left_good -= 1
        todo -= 1
    if left == left_good:
        left_good -= todo
    return left_good if flip else good - left_good


@njit()
def _hypergeometric_hrua(bitgen, good, bad, sample, table):
    """``_hypergeometric`` by ratio of uniforms (HRUA): ``a``, ``c``, ``h``, ``g``, ``b``, ``m``, ``K``, ``T``
    named as in Stadlober's algorithm; the sample is the smaller side, the count of the smaller colour."""
    total = good + bad
    n = min(sample, total - sample)
    small, large = min(good, bad), max(good, bad)
    p = small / total
    q = large / total
    a = n * p + 0.5
    c = math.sqrt(float(total - n) * n * p * q / (total - 1) + 0.5)
    h = _HRUA_D1 * c + _HRUA_D2
    m = np.int64(math.floor(float(n + 1) * (small + 1) / (total + 2)))
    g = (_log_factorial(m, table) + _log_factorial(small - m, table) + _log_factorial(n - m, table)
         + _log_factorial(large - n + m, table))
    b = float(min(n, small) + 1)
    top = math.floor(a + 16 * c)
    if top < b:
        b = top
    k = np.int64(0)
    while True:
        u = next_double(bitgen)
        v = next_double(bitgen)
        x = a + h * (v - 0.5) / u
        if x < 0.0 or x >= b:
            continue
        k = np.int64(math.floor(x))
        t = g - (_log_factorial(k, table) + _log_factorial(small - k, table) + _log_factorial(n - k, table)
                 + _log_factorial(large - n + k, table))
        if u * (4.0 - u) - 3.0 <= t:
            break
        if u * (u - t) >= 1:
            continue
        if 2.0 * math.log(u) <= t:
            break
    if good > bad:
        k = n - k
    if n < sample:
        k = good - k
    return k


@njit()
def _marginals(bitgen, colors, nsample, out, table):
    """``out`` (int (T,)) = ``rng.multivariate_hypergeometric(colors, nsample)`` (method "marginals"): a
    univariate draw per colour but the last while items are left to draw, on the smaller side of the urn."""
    total = np.int64(0)
    for j in range(colors.shape[0]):
        total += colors[j]
        out[j] = 0
    if total == 0 or nsample == 0:
        return
    flip = nsample > total // 2
    left = total - nsample if flip else nsample
    rest = total
    for j in range(colors.shape[0] - 1):
        if left <= 0:
            break
        rest -= colors[j]
        out[j] = _hypergeometric(bitgen, colors[j], rest, left, table)
        left -= out[j]
    if left > 0:
        out[colors.shape[0] - 1] = left
    if flip:
        for j in range(colors.shape[0]):
            out[j] = colors[j] - out[j]


@njit()
def _deal(capacity, counts, m_type, s_type, bitgen, table, n_b, k_b):
    """``n_shuffles`` = ``n_b.shape[0]`` deals of the unit types (``counts`` (T,) units of m ``m_type`` rows, s
    ``s_type`` with Y true) into bins holding ``capacity`` (B,) units, bin after bin, each bin's units a
    ``_marginals`` draw from those left (the last bin takes the rest): rows ``n_b`` and rows with Y true ``k_b``
    (int (R, B)) per shuffle and bin."""
    n_types = counts.shape[0]
    left = np.empty(n_types, np.int64)
    drawn = np.empty(n_types, np.int64)
    for r in range(n_b.shape[0]):
        left[:] = counts
        for b in range(capacity.shape[0]):
            if b < capacity.shape[0] - 1:
                _marginals(bitgen, left, capacity[b], drawn, table)
            else:
                drawn[:] = left
            rows = np.int64(0)
            positives = np.int64(0)
            for t in range(n_types):
                left[t] -= drawn[t]
                rows += drawn[t] * m_type[t]
                positives += drawn[t] * s_type[t]
            n_b[r, b] = rows
            k_b[r, b] = positives


def _corrected_mi(n_b: np.ndarray, k_b: np.ndarray, n: float, p: float, deff: float) -> np.ndarray:
    """(Î − bias) / H(Y) (unclipped) of each row of the bin tables ``n_b`` (rows per bin) and ``k_b`` (rows with
    Y true per bin), both of shape (R, B) for R assignments of the units to B bins; ``n`` rows in all, ``p`` the
    share with Y true. Formula in the module docstring."""
    cells = np.stack([n_b - k_b, k_b], axis=-1)  # (R, B, 2): rows with Y false / true per bin
    expected = n_b[..., None] * np.array([1.0 - p, p])  # n_b n_c / N, times N
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(cells > 0, cells / n * np.log(cells / expected), 0.0)
    mi = terms.sum(axis=(1, 2))
    bias = ((n_b > 0).sum(axis=1) - 1) * deff / (2.0 * n)
    return (mi - bias) / binary_entropy(p)


@dataclass(frozen=True)
class _UnitTypes:
    """The units of one scored row set as the baseline deals them: ``counts`` (T,) units of each (m, s) type,
    ``rows`` / ``positives`` (T,) its m rows and s of them with Y true (int64, increasing (m, s) order), and
    ``deff``."""

    counts: np.ndarray
    rows: np.ndarray
    positives: np.ndarray
    deff: float


def _unit_types(m_u: np.ndarray, s_u: np.ndarray, n: float, p: float) -> _UnitTypes:
    """``_UnitTypes`` of units with ``m_u`` rows and ``s_u`` rows with Y true (float arrays of shape (U,)) among
    ``n`` rows, a share ``p`` with Y true (``deff``: module docstring)."""
    deff = float(np.sum((s_u - p * m_u) ** 2) / (n * p * (1.0 - p)))
    m_int, s_int = m_u.astype(np.int64), s_u.astype(np.int64)  # row counts: whole numbers
    width = int(s_int.max()) + 1
    counts = np.bincount(m_int * width + s_int)  # one small int per (m, s) type
    present = np.flatnonzero(counts)
    return _UnitTypes(counts[present], present // width, present % width, deff)


def _shuffled_tables(capacity: np.ndarray, kinds: _UnitTypes, n_shuffles: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Bin tables ``(n_b, k_b)`` (int64, shape (n_shuffles, B)) after shuffling the units' bins, drawn exactly.

    Shuffling the bin codes among units keeps each bin's number of units (``capacity``, int (B,)) and deals the
    units out at random. Units with the same ``(m_u, s_u)`` are interchangeable, so a shuffle is a multivariate
    hypergeometric draw of the unit *types* into bins of fixed capacity — the same distribution as permuting U
    codes, at O(B·T) per shuffle for T types instead of O(U). The draws are ``rng``'s own: for each shuffle and
    each bin but the last, ``rng.multivariate_hypergeometric(units left, capacity[b])``, made by ``_deal``."""
    n_b = np.empty((n_shuffles, len(capacity)), np.int64)
    k_b = np.empty((n_shuffles, len(capacity)), np.int64)
    _deal(np.ascontiguousarray(capacity, np.int64), kinds.counts, kinds.rows, kinds.positives, rng.bit_generator,
          _log_factorials(), n_b, k_b)
    return n_b, k_b


def _shuffled_bin_tables(unit_codes: np.ndarray, m_u: np.ndarray, s_u: np.ndarray, n_shuffles: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``_shuffled_tables`` of units with bin ``unit_codes`` (int (U,), 0..B-1 all present), ``m_u`` rows and
    ``s_u`` rows with Y true each (float (U,))."""
    return _shuffled_tables(np.bincount(unit_codes), _unit_types(m_u, s_u, 1.0, 0.5), n_shuffles, rng)


def _few_types(rng: np.random.Generator, colors, nsample: int) -> np.ndarray:
    """``rng.multivariate_hypergeometric(colors, nsample)`` (method "marginals"): the same draws from the same
    stream, made by the compiled deal (``_marginals``)."""
    colors = np.array(colors, np.int64)
    out = np.zeros(len(colors), np.int64)
    _marginals(rng.bit_generator, colors, int(nsample), out, _log_factorials())
    return out


def _score(n_b: np.ndarray, k_b: np.ndarray, capacity: np.ndarray, kinds: _UnitTypes, n: float, p: float,
           random_state: int, n_shuffles: int) -> tuple[float, float]:
    """``(importance, baseline)`` of one metric's bin tables ``n_b``/``k_b`` (float (B,)) whose bins hold
    ``capacity`` (int (B,)) units of ``kinds``; ``n`` rows, a share ``p`` with Y true."""
    value = float(np.clip(_corrected_mi(n_b[None, :], k_b[None, :], n, p, kinds.deff)[0], 0.0, 1.0))
    shuffled_n, shuffled_k = _shuffled_tables(capacity, kinds, n_shuffles, np.random.default_rng(random_state))
    baseline = float(np.clip(_corrected_mi(shuffled_n.astype(np.float64), shuffled_k.astype(np.float64), n, p,
                                           kinds.deff), 0.0, 1.0).mean())
    return value, baseline


def _unit_score(unit: np.ndarray, unit_values: np.ndarray, y: np.ndarray, kinds: _UnitTypes | None,
                m_u: np.ndarray | None, s_u: np.ndarray | None, *, random_state: int,
                n_shuffles: int) -> tuple[float, float, float]:
    """``(importance, baseline, deff)`` from each row's ``unit`` (int (n,)) and the units' values (float (U,));
    ``kinds``/``m_u``/``s_u`` when already known for these units (shared by the metrics with the same units)."""
    n_units = len(unit_values)
    n, p = float(len(y)), float(y.mean())
    if kinds is None:
        m_u = np.bincount(unit, minlength=n_units).astype(np.float64)
        s_u = np.bincount(unit, weights=y.astype(np.float64), minlength=n_units)
        kinds = _unit_types(m_u, s_u, n, p)
    n_b, k_b, capacity = _unit_tables(unit_values, m_u, s_u, int(np.clip(n_units // UNITS_PER_BIN, 2, MAX_BINS)))
    return (*_score(n_b, k_b, capacity, kinds, n, p, random_state, n_shuffles), kinds.deff)


def binned_importance(x: np.ndarray, y: np.ndarray, group: np.ndarray | None = None, *, random_state: int = 0,
                      n_shuffles: int = N_SHUFFLES, group_units: np.ndarray | None = None) -> tuple[float, float, float]:
    """``(importance, baseline, deff)`` of one metric: ``x`` float array of shape (n,) (finite, not constant),
    ``y`` bool array of shape (n,) (not constant), ``group`` optional int array of shape (n,). Formula in the
    module docstring; ``baseline`` = mean clipped importance over ``n_shuffles`` permutations of the units'
    bins (``numpy.random.default_rng(random_state)``); ``group_units``: ``_units``."""
    if group is None:
        n, p = float(len(x)), float(y.mean())
        n_b, k_b = _row_tables(x, y, int(np.clip(len(x) // UNITS_PER_BIN, 2, MAX_BINS)))
        kinds = _unit_types(np.ones(len(y)), y.astype(np.float64), n, p)
        return (*_score(n_b.astype(np.float64), k_b.astype(np.float64), n_b, kinds, n, p, random_state,
                        n_shuffles), kinds.deff)
    unit, unit_values = _units(x, group, group_units)
    return _unit_score(unit, unit_values, y, None, None, None, random_state=random_state, n_shuffles=n_shuffles)


def metric_importance(
    X: pd.DataFrame,
    y,
    *,
    random_state: int = 0,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    groups=None,
    grouped_metrics=None,
) -> pd.DataFrame:
    """Bias-corrected normalised mutual information I(X;Y)/H(Y) of every column of ``X`` with the binary ``y``.

    ``X``: DataFrame of shape (n, m), numeric metric columns; ``y``: bool (or 0/1) array of shape (n,).
    Returns a DataFrame with one row per metric, sorted by importance (descending, NaN last), columns
    ``metric, importance, n_samples, n_positive, note, baseline`` — ``n_samples`` rows used after dropping
    missing values (and subsampling above ``max_samples``), ``n_positive`` of them with ``y`` true, ``note``
    empty or why the value is 0/NaN or subsampled, ``baseline`` the permutation baseline (module docstring).
    ``groups``: optional array of shape (n,) (e.g. image ids): rows of a group sharing a metric's value count as
    one unit for the metrics named in ``grouped_metrics`` (all of them when None). ``importance`` does not
    depend on ``random_state`` (only ``baseline`` and a subsample do).

    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0] * 10})
    >>> float(metric_importance(X, np.array([False, False, True, True] * 10))["importance"][0]) > 0.5
    True
    """
    y = _as_binary(y, len(X))
    return importance_of_columns(_numeric_columns(X), y, random_state=random_state, max_samples=max_samples,
                                 groups=groups, grouped_metrics=grouped_metrics)


def _nonfinite(x: np.ndarray, kept: bool) -> tuple[bool, bool]:
    """``(x holds a NaN, x holds ±inf)`` of a float64 array (one compiled pass), remembered per buffer when
    ``kept``."""
    return _fact(x, "nonfinite", lambda: tuple(map(bool, _count_nonfinite(x))), kept)


def _no_nan(x: np.ndarray, kept: bool = False) -> bool:
    """True when ``x`` (float64) holds no NaN."""
    return not _nonfinite(x, kept)[0]


@njit()
def _count_nonfinite(x):
    """``(NaNs, infinities)`` in ``x`` (float (n,)), counted without a branch per value."""
    nan = 0
    inf = 0
    for i in range(x.shape[0]):
        nan += x[i] != x[i]
        inf += abs(x[i]) == np.inf
    return nan, inf


def _group_codes(groups: np.ndarray) -> np.ndarray:
    """``pd.factorize(groups, use_na_sentinel=False)[0]`` (int64, numbered by first appearance); small
    non-negative integer ids (image ids) through a table in one compiled pass instead of a hash table."""
    if groups.dtype.kind in "iu" and len(groups):
        lo, hi = int(groups.min()), int(groups.max())
        if lo >= 0 and hi < max(64 * len(groups), 1 << 22):
            codes = np.empty(len(groups), np.int64)
            _first_codes(groups, np.full(hi + 1, -1, np.int64), codes)
            return codes
    return pd.factorize(groups, use_na_sentinel=False)[0]


@njit()
def _first_codes(ids, table, codes):
    """``codes[i]``: the number of distinct ids (non-negative ints < ``len(table)``, ``table`` all -1) seen before
    ``ids[i]``'s first appearance."""
    n = 0
    for i in range(ids.shape[0]):
        g = ids[i]
        if table[g] < 0:
            table[g] = n
            n += 1
        codes[i] = table[g]


def _digest(mask: np.ndarray) -> bytes:
    """A fingerprint of a bool array (its packed bits, hashed): equal row sets share their work."""
    return hashlib.blake2b(np.packbits(mask).data, digest_size=16).digest() + len(mask).to_bytes(8, "little")


class _Groups:
    """The rows' groups (e.g. image ids, shape (n,)) as ``codes`` (``pd.factorize``: 0..size-1)."""

    def __init__(self, groups: np.ndarray):
        self.codes = _group_codes(groups)  # only which rows share a group matters
        self.size = int(self.codes.max()) + 1 if len(self.codes) else 0

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes

    def units(self, at: np.ndarray | None, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                    np.ndarray]:
        """``(gu, m_u, s_u, last)`` of the rows ``at`` (sorted; None = all) whose outcome is ``y`` (bool, one per
        row of ``at``): each row's unit, ``pd.factorize(codes[at])`` (first appearance), each unit's rows and rows
        with Y true (float) — bincounts of ``gu`` — and last row, in one compiled pass."""
        at = np.arange(len(self.codes)) if at is None else at
        gu = np.empty(len(at), np.int64)
        m_u, s_u, last = np.zeros(self.size), np.zeros(self.size), np.empty(self.size, np.int64)
        n_units = _group_units(self.codes, at, y, np.full(self.size, -1, np.int64), gu, m_u, s_u, last)
        return gu, m_u[:n_units], s_u[:n_units], last[:n_units]

    def one_value(self, x: np.ndarray, kept: bool) -> bool:
        """Whether ``x`` takes one value per group over all its rows with a value (so on any of them: a frame
        metric), remembered per buffer of ``x`` and of the codes when ``kept``."""
        make = lambda: bool(_one_per_group(x, self.codes, np.full(self.size, np.nan)))  # noqa: E731
        return _kept((x, self.codes), ("one value per group",), make) if kept else make()


class _Scored:
    """The rows one metric is scored on (``at``, sorted row indices or None = all rows) and what every metric
    scored on them shares: the outcome ``y`` there, ``n``, ``p``, the per-row unit types and, with groups, the
    group units (first appearance), their rows ``m_u`` / rows with Y true ``s_u`` and types."""

    def __init__(self, at: np.ndarray | None, y: np.ndarray):
        self.at = at
        self.y = y if at is None else y[at]
        self.n, self.p = float(len(self.y)), float(self.y.mean())
        self._rows = self._groups = None

    def per_row(self) -> _UnitTypes:
        if self._rows is None:  # one unit per row: m_u = 1, s_u = y (what bincounts over arange(n) give)
            self._rows = _unit_types(np.ones(len(self.y)), self.y.astype(np.float64), self.n, self.p)
        return self._rows

    def per_group(self, groups: _Groups):
        """``(gu, m_u, s_u, kinds, last)`` of the group units (``_Groups.units``) and their types."""
        if self._groups is None:
            gu, m_u, s_u, last = groups.units(self.at, self.y)
            self._groups = (gu, m_u, s_u, _unit_types(m_u, s_u, self.n, self.p), last)
        return self._groups


class _RowSet:
    """The rows one metric is scored over: ``valid`` (bool, shape (n,)), their count ``n``, ``n_pos`` with ``y``
    true, and (``scored``) the deterministic stratified subsample of them, drawn once."""

    def __init__(self, valid: np.ndarray, y: np.ndarray):
        self.valid, self.y = valid, y
        self.all = bool(valid.all())
        self.n = len(valid) if self.all else int(np.count_nonzero(valid))
        self.n_pos = int(np.count_nonzero(y if self.all else y & valid))
        self._scored = {}

    def scored(self, max_samples: int, random_state: int) -> _Scored:
        """The rows scored: all valid rows up to ``max_samples``, else ``stratified_subsample`` of them."""
        key = (max_samples, random_state)
        if key not in self._scored:
            if self.n > max_samples:
                at = _stratified_rows(None if self.all else self.valid, self.y, self.n, max_samples, random_state,
                                       self.n_pos)
            else:
                at = None if self.all else np.flatnonzero(self.valid)
            self._scored[key] = _Scored(at, self.y)
        return self._scored[key]

    def constant(self, x: np.ndarray) -> bool:
        """``x`` takes one value over the valid rows."""
        if self.all:
            return bool(np.ptp(x) == 0.0)
        return bool(np.min(x, where=self.valid, initial=np.inf) == np.max(x, where=self.valid, initial=-np.inf))


def importance_of_columns(columns: dict[str, np.ndarray], y: np.ndarray, *, rows: np.ndarray | None = None,
                          random_state: int = 0, max_samples: int = DEFAULT_MAX_SAMPLES, groups=None,
                          grouped_metrics=None, kept: bool = False) -> pd.DataFrame:
    """``metric_importance`` over arrays: ``columns`` ``{metric: float64 array of shape (n,)}`` (NaN = missing;
    ``numeric_values``), ``y`` bool array of shape (n,), ``rows`` optional bool array of shape (n,): the rows
    scored (the others are not counted anywhere, as if absent). With ``rows`` a caller hands in an outcome
    table's columns as they are: only each metric's (sub)sample of rows is ever gathered.

    ``kept``: ``columns`` and ``groups`` are views of data that is never written (a core outcome table's
    columns, ``outcome_values(..., kept=True)``): what depends on them alone — missing values, the group codes —
    is remembered per buffer, so the next call with another outcome
    (an IoU move) only does the work the outcome changes: draw the subsample, sort each metric's sampled values,
    count the bins and deal the baseline's shuffles. The numbers are the same either way."""
    y = np.asarray(y, bool)
    if max_samples < 10:
        raise ValueError(f"max_samples must be at least 10, but got {max_samples}")
    if kept:  # one table per (columns, groups, outcome, rows, parameters): a selection seen before is a look-up
        arrays = (*columns.values(), *(() if groups is None else (np.asarray(groups),)))
        what = ("importance", tuple(columns), _digest(y), None if rows is None else _digest(rows), max_samples,
                random_state, groups is None, None if grouped_metrics is None else frozenset(map(str, grouped_metrics)))
        return _kept(arrays, what, lambda: _importance_of_columns(columns, y, rows, random_state, max_samples, groups,
                                                                  grouped_metrics, kept),
                     _RESULTS, _RESULT_ENTRIES).copy()
    return _importance_of_columns(columns, y, rows, random_state, max_samples, groups, grouped_metrics, kept)


def _importance_of_columns(columns: dict, y: np.ndarray, rows: np.ndarray | None, random_state: int,
                           max_samples: int, groups, grouped_metrics, kept: bool) -> pd.DataFrame:
    """``importance_of_columns`` computed."""
    n_rows = len(y) if rows is None else int(np.count_nonzero(rows))
    group = None
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(f"groups must have shape {y.shape} like y, but got {groups.shape}")
        group = _fact(groups, "groups", lambda: _Groups(groups), kept)
        grouped = set(columns) if grouped_metrics is None else set(map(str, grouped_metrics))
    every = np.ones(len(y), bool) if rows is None else rows
    shared = _RowSet(every, y)  # the rows of a metric without missing values: one count, one subsample for all
    row_sets = {}  # the other row sets by fingerprint: metrics missing on the same rows share one
    out = []
    for name, x in columns.items():
        if _no_nan(x, kept):
            rs = shared
        else:
            valid = every & ~np.isnan(x)
            key = _digest(valid)
            rs = row_sets.get(key) or row_sets.setdefault(key, _RowSet(valid, y))
        note = "" if rs.n == n_rows else f"{n_rows - rs.n} rows without a value left out"
        if rs.n == 0:
            out.append((name, np.nan, 0, 0, "no values", np.nan))
            continue
        if rs.n_pos in (0, rs.n):
            out.append((name, np.nan, rs.n, rs.n_pos, "outcome is the same for every row: nothing to explain", np.nan))
            continue
        scored = rs.scored(max_samples, random_state)  # drawn from y alone: x is read at these rows only
        yv, n_scored = scored.y, len(scored.y)
        xv = unit_values = None
        if group is not None and name in grouped and group.one_value(x, kept):
            # a frame metric: one value per group unit (its last row's), read at one row per unit
            unit_values = x.take(scored.per_group(group)[4])
            constant = np.ptp(unit_values) == 0.0  # the same values as the scored rows'
        else:
            xv = x if scored.at is None else x.take(scored.at)
            constant = np.ptp(xv) == 0.0
        if constant and (rs.n <= max_samples or rs.constant(x)):  # a sample of varying values varies
            out.append((name, 0.0, rs.n, rs.n_pos, "metric is constant: carries no information", 0.0))
            continue
        if rs.n > max_samples:
            note = "; ".join(filter(None, [note, f"deterministic subsample of {n_scored:,} of {rs.n:,} rows"]))
            if constant or yv.all() or not yv.any():
                out.append((name, np.nan, n_scored, int(yv.sum()), note + "; subsample is constant", np.nan))
                continue
        if group is not None and name in grouped:
            if unit_values is not None:
                gu, m_u, s_u, kinds = scored.per_group(group)[:4]
                value, baseline, deff = _unit_score(gu, unit_values, yv, kinds, m_u, s_u, random_state=random_state,
                                                    n_shuffles=N_SHUFFLES)
            else:
                value, baseline, deff = _grouped_score(x, xv, scored, group, random_state, kept)
            if deff != 1.0:
                # says why a shared value is corrected more than a per-row one (outcomes cluster by group)
                note = "; ".join(filter(None, [note, f"rows of an image sharing the value count as one (design effect {deff:.2f})"]))
        else:
            kinds = scored.per_row()
            n_b, k_b = _row_tables(xv, yv, int(np.clip(len(xv) // UNITS_PER_BIN, 2, MAX_BINS)))
            value, baseline = _score(n_b.astype(np.float64), k_b.astype(np.float64), n_b, kinds, scored.n,
                                     scored.p, random_state, N_SHUFFLES)
        out.append((name, value, n_scored, int(yv.sum()), note, baseline))
    table = pd.DataFrame(out, columns=IMPORTANCE_COLUMNS)
    return table.sort_values("importance", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def _grouped_score(x: np.ndarray, xv: np.ndarray, scored: _Scored, group: _Groups, random_state: int,
                   kept: bool) -> tuple[float, float, float]:
    """``binned_importance`` of a grouped metric: ``x`` all rows, ``xv`` the scored rows. A metric with one value
    per group on the scored rows (a frame metric) has the group units, shared by every such metric (their rows,
    rows with Y true, types); any other has units per (group, value)."""
    gu, m_u, s_u, kinds = scored.per_group(group)[:4]
    unit_values = np.empty(len(m_u))
    if _unit_values(xv, gu, unit_values):  # checked on the scored rows: O(sample), cheaper than once per column
        return _unit_score(gu, unit_values, scored.y, kinds, m_u, s_u, random_state=random_state,
                           n_shuffles=N_SHUFFLES)
    # values differ within a group: units per (group, value)
    gv = group.codes if scored.at is None else group.codes[scored.at]
    unit, unit_values = _units(xv, gv)
    return _unit_score(unit, unit_values, scored.y, None, None, None, random_state=random_state,
                       n_shuffles=N_SHUFFLES)


def _rank(values: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """Average ranks 1..n (ties share their mean rank), as ``scipy.stats.rankdata(method="average")``;
    ``order``: ``np.argsort(values, kind="stable")`` when already known."""
    if order is None:
        order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ordered)) + 1])
    ends = np.concatenate([starts[1:], [len(values)]])
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # mean of ranks start+1 .. end
    return ranks


def _pearson(x: np.ndarray, y: np.ndarray, y_centred: tuple[np.ndarray, float] | None = None) -> float:
    """Pearson correlation of ``x`` and ``y`` (same shape): Σ xc·yc / sqrt(Σ xc² · Σ yc²) with xc = x − mean x;
    ``y_centred``: ``(yc, Σ yc²)`` when already known (the same numbers)."""
    xc = x - x.mean()
    yc, yy = y_centred if y_centred is not None else (y - y.mean(), None)
    if yy is None:
        yy = yc @ yc
    denom = np.sqrt((xc @ xc) * yy)
    return float(np.clip((xc @ yc) / denom, -1.0, 1.0))


class _Centred:
    """The outcome over one set of rows (``valid``, bool (n,)), gathered, centred and ranked at most once."""

    def __init__(self, valid: np.ndarray, y: np.ndarray):
        self.valid = valid
        self.all = bool(valid.all())
        self.n = len(valid) if self.all else int(np.count_nonzero(valid))
        self.yv = self.take(y)
        self.y_constant = self.n >= 2 and bool(np.ptp(self.yv) == 0.0)
        self._centred = self._ranks = self._digest = self._at = None

    def take(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x) if self.all else x[self.valid]  # all rows: no copy

    def digest(self) -> bytes:
        if self._digest is None:
            self._digest = _digest(self.valid)
        return self._digest

    def centred(self, method: str) -> tuple[np.ndarray, float]:
        """``(yc, Σ yc²)`` of the outcome (pearson) or of its average ranks (spearman)."""
        if self._centred is None or self._centred[0] != method:
            y = self.yv if method == "pearson" else self.ranks()
            yc = y - y.mean()
            self._centred = (method, yc, yc @ yc)
        return self._centred[1], self._centred[2]

    def ranks(self) -> np.ndarray:
        if self._ranks is None:
            y = self.yv
            zero, one = y == 0.0, y == 1.0
            if (zero | one).all():  # a yes/no outcome: two ties, ranks (1 + n0)/2 and (n0 + 1 + n)/2 as _rank
                n0 = int(np.count_nonzero(zero))
                self._ranks = np.where(one, (n0 + len(y) + 1) / 2.0, (0 + n0 + 1) / 2.0)
            else:
                self._ranks = _rank(y)
        return self._ranks

    def order_of(self, x: np.ndarray, kept: bool) -> np.ndarray | None:
        """``np.argsort(self.take(x), kind="stable")`` from the stable order of all of ``x``'s rows, remembered
        per buffer (a stable order restricted to a subset is the subset's stable order); None unless ``kept``."""
        if not kept:
            return None
        order = _kept((x,), ("order",), lambda: np.argsort(x, kind="stable"))
        if self.all:
            return order
        if self._at is None:
            self._at = np.cumsum(self.valid) - 1  # each valid row's position among the valid rows
        return self._at[order[self.valid[order]]]


class _XSide:
    """One metric over one row set: ``constant`` (it takes one value there), the centred values (pearson) or
    centred average ranks (spearman) ``xc`` and ``xx`` = Σ xc² — what a correlation needs from the metric."""

    __slots__ = ("constant", "xc", "xx")

    def __init__(self, x: np.ndarray, c: _Centred, method: str, kept: bool):
        xv = c.take(x)
        self.constant, self.xc, self.xx = _constant_over(x, xv, c, kept), None, None
        if self.constant:
            return
        if method == "spearman":
            xv = _rank(xv, c.order_of(x, kept))
        if method == "spearman" or not c.all:  # a fresh array: centred in place (the same numbers as x − mean)
            self.xc = np.subtract(xv, xv.mean(), out=xv)
        else:
            self.xc = xv - xv.mean()
        self.xx = self.xc @ self.xc

    @property
    def nbytes(self) -> int:
        return 0 if self.xc is None else self.xc.nbytes

    def light(self) -> "_XSide":
        """The same without the centred column (kept for a row set seen once)."""
        out = object.__new__(_XSide)
        out.constant, out.xc, out.xx = self.constant, None, self.xx
        return out


def _constant_over(x: np.ndarray, xv: np.ndarray, c: _Centred, kept: bool) -> bool:
    """``np.ptp(xv) == 0.0`` (``xv`` = ``x`` on ``c``'s rows); for a kept column first from its remembered extremes:
    if a row holding its minimum and one holding its (different, finite) maximum are both among the rows, the
    metric varies there."""
    if kept:
        lo, hi, at_lo, at_hi = _fact(x, "extremes", lambda: _extremes(x), kept)
        if np.isfinite(lo) and np.isfinite(hi) and lo < hi and (c.all or (c.valid[at_lo] and c.valid[at_hi])):
            return False
    return bool(np.ptp(xv) == 0.0)


def _extremes(x: np.ndarray) -> tuple[float, float, int, int]:
    """``(min, max, a row holding the min, a row holding the max)`` of ``x`` ignoring NaN (not all NaN)."""
    at_lo, at_hi = int(np.argmin(x)), int(np.argmax(x))  # the first NaN when there is one
    if np.isnan(x[at_lo]):
        at_lo, at_hi = int(np.nanargmin(x)), int(np.nanargmax(x))
    return float(x[at_lo]), float(x[at_hi]), at_lo, at_hi


def metric_correlation(X: pd.DataFrame, y, *, method: str = "pearson") -> pd.DataFrame:
    """Correlation in [-1, 1] between every column of ``X`` and the outcome ``y``.

    ``X``: DataFrame of shape (n, m); ``y``: array of shape (n,), bool or numeric (True = 1). ``method``:
    ``"pearson"`` (linear) or ``"spearman"`` (Pearson of average ranks, monotone). Rows where the metric or
    ``y`` is missing are left out for that metric. NaN with a note when fewer than 2 rows remain or either side
    is constant (the correlation's denominator is 0). Returns ``metric, correlation, n_samples, note`` sorted
    by |correlation| (descending, NaN last).
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', but got {method!r}")
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(f"y must have shape ({len(X)},) like the rows of X, but got {y.shape}")
    y = pd.to_numeric(pd.Series(y), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    return correlation_of_columns(_numeric_columns(X), y, method=method)


def _x_side(x: np.ndarray, c: _Centred, method: str, kept: bool) -> _XSide:
    """``_XSide(x, c, method)``; for a kept column remembered per (buffer, row set, method): the first time
    without its centred column (an IoU move changes the predictions' rows: that row set may not come back),
    from the second time with it (the labels' rows stay: the next call only takes one dot product)."""
    if not kept:
        return _XSide(x, c, method, kept)
    what = ("x side", method, c.digest())
    fresh = []
    side = _kept((x,), what, lambda: fresh.append(_XSide(x, c, method, kept)) or fresh[0].light())
    if fresh:
        return fresh[0]
    if side.xc is None and not side.constant:
        side = _XSide(x, c, method, kept)
        _kept_replace((x,), what, side)
    return side


def correlation_of_columns(columns: dict[str, np.ndarray], y: np.ndarray, *, rows: np.ndarray | None = None,
                           method: str = "pearson", kept: bool = False) -> pd.DataFrame:
    """``metric_correlation`` over arrays: ``columns`` ``{metric: float64 array of shape (n,)}`` (NaN =
    missing), ``y`` float64 array of shape (n,) (NaN = missing), ``rows`` optional bool array of shape (n,): the
    rows used (``importance_of_columns``). ``kept`` (``importance_of_columns``): what depends on a column and
    the row set alone (its centred values and their sum of squares, its stable order for ranks) is remembered,
    so an outcome that keeps the row set costs one dot product per metric. The numbers are the same either way."""
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', but got {method!r}")
    y = np.asarray(y, np.float64)
    y_ok = np.isfinite(y) if rows is None else rows & np.isfinite(y)
    common = _Centred(y_ok, y)  # the rows of a metric without missing values: y gathered and centred once
    out = []
    for name, x in columns.items():
        c = common if _no_nan(x, kept) else _Centred(y_ok & ~np.isnan(x), y)
        n = c.n
        if n < 2:
            out.append((name, np.nan, n, "fewer than 2 rows with a value"))
            continue
        side = _x_side(x, c, method, kept)
        if side.constant:
            out.append((name, np.nan, n, "metric is constant: correlation undefined"))
        elif c.y_constant:
            out.append((name, np.nan, n, "outcome is the same for every row: correlation undefined"))
        else:
            yc, yy = c.centred(method)
            out.append((name, float(np.clip((side.xc @ yc) / np.sqrt(side.xx * yy), -1.0, 1.0)), n, ""))
    out = pd.DataFrame(out, columns=CORRELATION_COLUMNS)
    order = np.argsort(-np.abs(out["correlation"].to_numpy(np.float64)), kind="stable")  # NaN sorts last
    return out.iloc[order].reset_index(drop=True)
