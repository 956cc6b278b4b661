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
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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
    rng = np.random.default_rng(random_state)
    keep = []
    for cls in (False, True):
        idx = np.flatnonzero(y == cls)
        if len(idx) == 0:
            continue
        k = max(1, int(round(len(idx) * max_samples / n)))
        keep.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(keep))


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


def numeric_values(column: pd.Series) -> np.ndarray:
    """``column`` as a float64 array of shape (n,) with missing and non-finite values as NaN (booleans count as
    0/1); a float64 column without infinities is returned as it is (read-only, not copied)."""
    if column.dtype == np.float64:
        values = column.to_numpy()
        if not np.isinf(values).any():
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
    ``groups`` the rows' ``image_id`` (or None), ``n`` / ``n_positive`` rows scored / with Y true."""

    columns: dict
    y: np.ndarray
    rows: np.ndarray
    groups: np.ndarray | None
    n: int
    n_positive: int


def outcome_values(table: pd.DataFrame, column: str, names, *, groups: bool = False) -> OutcomeValues:
    """``OutcomeValues`` of the metric columns ``names`` of ``table`` against its outcome ``column`` (a
    ``boolean`` column, ``<NA>`` = undefined: ``explorer.analysis.outcomes``); ``groups``: read ``image_id``."""
    outcome = table[column]
    rows = outcome.notna().to_numpy()
    y = outcome.to_numpy(dtype=bool, na_value=False)
    return OutcomeValues(columns={str(name): numeric_values(table[name]) for name in names}, y=y, rows=rows,
                         groups=table["image_id"].to_numpy() if groups else None, n=int(np.count_nonzero(rows)),
                         n_positive=int(np.count_nonzero(y & rows)))


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
        values[group_units] = x
        if np.array_equal(values[group_units], x):
            return group_units, values
    x_code = pd.factorize(x)[0]  # one int per distinct value (hashing; -0.0 and 0.0 are one value, as in a sort)
    key = group.astype(np.int64) * (int(x_code.max()) + 1) + x_code  # one int per (group, value)
    unit = pd.factorize(key)[0]  # numbered by first appearance: the same units whatever ints code the pairs
    values = np.empty(int(unit.max()) + 1, dtype=np.float64)
    values[unit] = x
    return unit, values


def quantile_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index (0..B'-1, consecutive) of each of ``values`` (shape (n,), finite, not constant): edges at the
    k/n_bins quantiles (k = 1..n_bins-1, linear interpolation), bins ``[e_k, e_{k+1})`` so equal values share a
    bin; edges at the minimum are dropped (they would leave the first bin empty), and when ties leave no edge
    the minimum's ties form one bin and the rest the other."""
    ordered = np.sort(values)  # the same order statistics, so the same quantiles; a sort beats the selections
    lowest = ordered[0]
    edges = np.unique(np.quantile(ordered, np.arange(1, n_bins) / n_bins))
    edges = edges[edges > lowest]
    if len(edges) == 0:
        edges = ordered[ordered > lowest][:1]
    bins = np.zeros(len(values), np.uint8)  # = searchsorted(edges, values, "right"): edges ≤ each value (≤ 9)
    for edge in edges:
        bins += (values >= edge).view(np.uint8)
    present = np.bincount(bins, minlength=len(edges) + 1) > 0
    return (np.cumsum(present) - 1)[bins]  # bins that hold values renumbered 0..B'-1 in order


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


def _shuffled_bin_tables(unit_codes: np.ndarray, m_u: np.ndarray, s_u: np.ndarray, n_shuffles: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Bin tables ``(n_b, k_b)`` of shape (n_shuffles, B) after shuffling the units' bins, drawn exactly.

    Shuffling the bin codes among units keeps each bin's number of units and deals the units out at random.
    Units with the same ``(m_u, s_u)`` are interchangeable, so a shuffle is a multivariate hypergeometric draw
    of the unit *types* into bins of fixed capacity — the same distribution as permuting U codes, at
    O(B·T) per shuffle for T types instead of O(U)."""
    m_int, s_int = m_u.astype(np.int64), s_u.astype(np.int64)  # row counts: whole numbers
    key = m_int * (int(s_int.max()) + 1) + s_int  # one small int per (m, s) type
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
            draws[r, b] = _few_types(rng, remaining, int(c)) if few else rng.multivariate_hypergeometric(remaining, int(c))
            remaining -= draws[r, b]
        draws[r, -1] = remaining
    return draws @ types[:, 0], draws @ types[:, 1]


def _few_types(rng: np.random.Generator, colors: np.ndarray, nsample: int) -> list[int]:
    """``rng.multivariate_hypergeometric(colors, nsample)`` (method "marginals"), the same draws from the same
    stream, as NumPy's C loop makes them: one univariate ``hypergeometric`` per colour but the last, on the
    smaller side of the urn. Without the per-call array checks it is ~5× faster for the 2–3 types of a
    per-row metric (one unit per row: types (1, 0) and (1, 1))."""
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


def binned_importance(x: np.ndarray, y: np.ndarray, group: np.ndarray | None = None, *, random_state: int = 0,
                      n_shuffles: int = N_SHUFFLES, group_units: np.ndarray | None = None) -> tuple[float, float, float]:
    """``(importance, baseline, deff)`` of one metric: ``x`` float array of shape (n,) (finite, not constant),
    ``y`` bool array of shape (n,) (not constant), ``group`` optional int array of shape (n,). Formula in the
    module docstring; ``baseline`` = mean clipped importance over ``n_shuffles`` permutations of the units'
    bins (``numpy.random.default_rng(random_state)``); ``group_units``: ``_units``."""
    unit, unit_values = _units(x, group, group_units)
    n_units = len(unit_values)
    n_bins = int(np.clip(n_units // UNITS_PER_BIN, 2, MAX_BINS))
    unit_codes = quantile_bins(unit_values, n_bins)
    m_u = np.bincount(unit, minlength=n_units).astype(np.float64)
    s_u = np.bincount(unit, weights=y.astype(np.float64), minlength=n_units)
    n, p = float(len(x)), float(y.mean())
    deff = float(np.sum((s_u - p * m_u) ** 2) / (n * p * (1.0 - p)))
    width = int(unit_codes.max()) + 1
    n_b = np.bincount(unit_codes, weights=m_u, minlength=width)[None, :]
    k_b = np.bincount(unit_codes, weights=s_u, minlength=width)[None, :]
    value = float(np.clip(_corrected_mi(n_b, k_b, n, p, deff)[0], 0.0, 1.0))
    shuffled_n, shuffled_k = _shuffled_bin_tables(unit_codes, m_u, s_u, n_shuffles, np.random.default_rng(random_state))
    baseline = float(np.clip(_corrected_mi(shuffled_n.astype(np.float64), shuffled_k.astype(np.float64), n, p, deff),
                             0.0, 1.0).mean())
    return value, baseline, deff


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


def _no_nan(x: np.ndarray) -> bool:
    """True when ``x`` surely holds no NaN (one pass: a NaN makes the sum NaN; a NaN sum from overflowing
    partial sums only sends the caller down the general path)."""
    return not np.isnan(np.sum(x))


class _RowSet:
    """The rows one metric is scored over: ``valid`` (bool, shape (n,)), their count ``n``, ``n_pos`` with ``y``
    true, and (``sample``) the deterministic stratified subsample of them, drawn once."""

    def __init__(self, valid: np.ndarray, y: np.ndarray):
        self.valid, self.y = valid, y
        self.all = bool(valid.all())
        self.n = len(valid) if self.all else int(np.count_nonzero(valid))
        self.n_pos = int(np.count_nonzero(y if self.all else y & valid))
        self._sample = {}
        self._groups = None

    def sample(self, max_samples: int, random_state: int) -> np.ndarray | None:
        """Row indices scored (sorted; None = every row): all valid rows up to ``max_samples``, else
        ``stratified_subsample`` of them."""
        key = (max_samples, random_state)
        if key not in self._sample:
            at = None if self.all else np.flatnonzero(self.valid)
            if self.n > max_samples:
                keep = stratified_subsample(self.y if at is None else self.y[at], max_samples, random_state=random_state)
                at = keep if at is None else at[keep]
            self._sample[key] = at
        return self._sample[key]

    def groups(self, codes: np.ndarray, at: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``codes`` at the rows ``at`` (``sample``) and their ``pd.factorize`` (made once)."""
        if self._groups is None or self._groups[0] is not at:
            gv = codes if at is None else codes[at]
            self._groups = (at, gv, pd.factorize(gv)[0])
        return self._groups[1], self._groups[2]

    def constant(self, x: np.ndarray) -> bool:
        """``x`` takes one value over the valid rows."""
        if self.all:
            return bool(np.ptp(x) == 0.0)
        return bool(np.min(x, where=self.valid, initial=np.inf) == np.max(x, where=self.valid, initial=-np.inf))


def importance_of_columns(columns: dict[str, np.ndarray], y: np.ndarray, *, rows: np.ndarray | None = None,
                          random_state: int = 0, max_samples: int = DEFAULT_MAX_SAMPLES, groups=None,
                          grouped_metrics=None) -> pd.DataFrame:
    """``metric_importance`` over arrays: ``columns`` ``{metric: float64 array of shape (n,)}`` (NaN = missing;
    ``numeric_values``), ``y`` bool array of shape (n,), ``rows`` optional bool array of shape (n,): the rows
    scored (the others are not counted anywhere, as if absent). With ``rows`` a caller hands in an outcome
    table's columns as they are: only each metric's (sub)sample of rows is ever gathered."""
    y = np.asarray(y, bool)
    if max_samples < 10:
        raise ValueError(f"max_samples must be at least 10, but got {max_samples}")
    n_rows = len(y) if rows is None else int(np.count_nonzero(rows))
    group_codes = None
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(f"groups must have shape {y.shape} like y, but got {groups.shape}")
        group_codes = pd.factorize(groups, use_na_sentinel=False)[0]  # only which rows share a group matters
        grouped = set(columns) if grouped_metrics is None else set(map(str, grouped_metrics))
    every = np.ones(len(y), bool) if rows is None else rows
    shared = _RowSet(every, y)  # the rows of a metric without missing values: one count, one subsample for all
    out = []
    for name, x in columns.items():
        rs = shared if _no_nan(x) else _RowSet(every & ~np.isnan(x), y)
        note = "" if rs.n == n_rows else f"{n_rows - rs.n} rows without a value left out"
        if rs.n == 0:
            out.append((name, np.nan, 0, 0, "no values", np.nan))
            continue
        if rs.n_pos in (0, rs.n):
            out.append((name, np.nan, rs.n, rs.n_pos, "outcome is the same for every row: nothing to explain", np.nan))
            continue
        at = rs.sample(max_samples, random_state)  # drawn from y alone: x is read at these rows only
        xv, yv = (x, y) if at is None else (x[at], y[at])
        if np.ptp(xv) == 0.0 and (rs.n <= max_samples or rs.constant(x)):  # a sample of varying values varies
            out.append((name, 0.0, rs.n, rs.n_pos, "metric is constant: carries no information", 0.0))
            continue
        gv = gu = None
        if group_codes is not None and name in grouped:
            gv, gu = rs.groups(group_codes, at)
        if rs.n > max_samples:
            note = "; ".join(filter(None, [note, f"deterministic subsample of {len(xv):,} of {rs.n:,} rows"]))
            if np.ptp(xv) == 0.0 or yv.all() or not yv.any():
                out.append((name, np.nan, len(xv), int(yv.sum()), note + "; subsample is constant", np.nan))
                continue
        value, baseline, deff = binned_importance(xv, yv, gv, random_state=random_state, group_units=gu)
        if gv is not None and deff != 1.0:
            # says why a shared value is corrected more than a per-row one (outcomes cluster by group)
            note = "; ".join(filter(None, [note, f"rows of an image sharing the value count as one (design effect {deff:.2f})"]))
        out.append((name, value, len(xv), int(yv.sum()), note, baseline))
    table = pd.DataFrame(out, columns=IMPORTANCE_COLUMNS)
    return table.sort_values("importance", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def _rank(values: np.ndarray) -> np.ndarray:
    """Average ranks 1..n (ties share their mean rank), as ``scipy.stats.rankdata(method="average")``."""
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
        self._centred = self._ranks = None

    def take(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x) if self.all else x[self.valid]  # all rows: no copy

    def centred(self) -> tuple[np.ndarray, float]:
        if self._centred is None:
            yc = self.yv - self.yv.mean()
            self._centred = (yc, yc @ yc)
        return self._centred

    def ranks(self) -> np.ndarray:
        if self._ranks is None:
            self._ranks = _rank(self.yv)
        return self._ranks


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


def correlation_of_columns(columns: dict[str, np.ndarray], y: np.ndarray, *, rows: np.ndarray | None = None,
                           method: str = "pearson") -> pd.DataFrame:
    """``metric_correlation`` over arrays: ``columns`` ``{metric: float64 array of shape (n,)}`` (NaN =
    missing), ``y`` float64 array of shape (n,) (NaN = missing), ``rows`` optional bool array of shape (n,): the
    rows used (``importance_of_columns``)."""
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', but got {method!r}")
    y = np.asarray(y, np.float64)
    y_ok = np.isfinite(y) if rows is None else rows & np.isfinite(y)
    common = _Centred(y_ok, y)  # the rows of a metric without missing values: y gathered and centred once
    out = []
    for name, x in columns.items():
        c = common if _no_nan(x) else _Centred(y_ok & ~np.isnan(x), y)
        n = c.n
        if n < 2:
            out.append((name, np.nan, n, "fewer than 2 rows with a value"))
            continue
        xv = c.take(x)
        if np.ptp(xv) == 0.0:
            out.append((name, np.nan, n, "metric is constant: correlation undefined"))
        elif c.y_constant:
            out.append((name, np.nan, n, "outcome is the same for every row: correlation undefined"))
        elif method == "spearman":
            out.append((name, _pearson(_rank(xv), c.ranks()), n, ""))
        else:
            out.append((name, _pearson(xv, c.yv, c.centred()), n, ""))
    out = pd.DataFrame(out, columns=CORRELATION_COLUMNS)
    order = np.argsort(-np.abs(out["correlation"].to_numpy(np.float64)), kind="stable")  # NaN sorts last
    return out.iloc[order].reset_index(drop=True)
