"""Descriptive statistics of one metric column: server-side histogram, summary, IQR outliers.

Pure NumPy (no Streamlit): the Data Quality page bins here and sends only the bin counts to the browser.

Undefined values follow one rule everywhere in this module: a value that is NaN or ±inf is *missing*. It is
counted in ``n_missing``, never binned, never an outlier, and never silently replaced by 0. A statistic of an
empty set (or a standard deviation of fewer than two values) is NaN.

Example::

    >>> import numpy as np
    >>> from explorer.analysis.stats import histogram, summarize, iqr_outliers
    >>> v = np.array([1.0, 2.0, 3.0, 4.0, 100.0, np.nan])
    >>> histogram(v, bins=2).counts.tolist()
    [4, 1]
    >>> summarize(v).n_missing
    1
    >>> iqr_outliers(v).n_severe
    1
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODERATE_FACTOR = 1.5  # Tukey's inner fence: beyond Q1 - 1.5·IQR or Q3 + 1.5·IQR
SEVERE_FACTOR = 3.0  # Tukey's outer fence: beyond Q1 - 3·IQR or Q3 + 3·IQR

# outlier severity codes, one per value (int8)
MISSING = -1
INLIER = 0
MODERATE = 1
SEVERE = 2


def _as_float(values) -> np.ndarray:
    """``values`` (1-D array-like; pandas nullable dtypes included) as float64 with NaN for missing (pd.NA, None)."""
    if hasattr(values, "to_numpy"):  # pandas Series/Index/ExtensionArray: turn pd.NA into NaN explicitly
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        out = np.asarray(values, dtype=np.float64)
    if out.ndim != 1:
        raise ValueError(f"values must be 1-D, but got shape {out.shape}")
    return out


def finite_mask(values) -> np.ndarray:
    """Boolean array, True where a value is defined (finite)."""
    return np.isfinite(_as_float(values))


# ---- histogram -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Histogram:
    """Counts of the defined values in ``bins`` equal-width bins.

    ``edges``: shape ``(n_bins + 1,)``, increasing; bin ``i`` is ``[edges[i], edges[i+1])``, the last bin also
    includes its right edge (NumPy's convention). ``counts``: shape ``(n_bins,)``, int64, ``counts.sum()`` equals
    the number of finite values inside ``edges``. ``n_missing``: NaN/inf values, not binned. When no value is
    defined, ``edges`` and ``counts`` are empty.
    """

    edges: np.ndarray
    counts: np.ndarray
    n_missing: int

    @property
    def centers(self) -> np.ndarray:
        """Bin centres, shape ``(n_bins,)``: ``(edges[:-1] + edges[1:]) / 2``."""
        return (self.edges[:-1] + self.edges[1:]) / 2

    @property
    def widths(self) -> np.ndarray:
        """Bin widths, shape ``(n_bins,)``."""
        return np.diff(self.edges)


def histogram(values, *, bins: int = 30, value_range: tuple[float, float] | None = None) -> Histogram:
    """Bin the defined values of ``values`` into ``bins`` equal-width bins with ``numpy.histogram``.

    ``value_range`` (lo, hi) restricts the bins (values outside are not counted); by default it is the
    (min, max) of the defined values (NumPy widens a single repeated value to ``v ± 0.5``).
    """
    if int(bins) < 1:
        raise ValueError(f"bins must be >= 1, but got {bins}")
    v = _as_float(values)
    ok = np.isfinite(v)
    defined = v[ok]
    n_missing = int(v.size - defined.size)
    if defined.size == 0:
        return Histogram(np.empty(0), np.empty(0, dtype=np.int64), n_missing)
    counts, edges = np.histogram(defined, bins=int(bins), range=value_range)
    return Histogram(edges.astype(np.float64), counts.astype(np.int64), n_missing)


# ---- summary ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    """Summary statistics of the defined values.

    ``std`` is the sample standard deviation (``ddof=1``, as ``pandas.Series.std``); quartiles use linear
    interpolation (``numpy.quantile``'s default, as ``pandas.Series.quantile``).
    """

    count: int
    n_missing: int
    mean: float
    std: float
    min: float
    q1: float
    median: float
    q3: float
    max: float

    def as_dict(self) -> dict[str, float]:
        """Ordered ``{statistic: value}`` for display (count, missing, mean, std, min, 25%, 50%, 75%, max)."""
        return {
            "count": self.count,
            "missing": self.n_missing,
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "25%": self.q1,
            "50%": self.median,
            "75%": self.q3,
            "max": self.max,
        }


def summarize(values) -> Summary:
    """Count, missing, mean, std (ddof=1), min, quartiles and max of the defined values (NaN where undefined)."""
    v = _as_float(values)
    defined = v[np.isfinite(v)]
    n = int(defined.size)
    if n == 0:
        nan = float("nan")
        return Summary(0, int(v.size), nan, nan, nan, nan, nan, nan, nan)
    q1, med, q3 = np.quantile(defined, [0.25, 0.5, 0.75])
    return Summary(
        count=n,
        n_missing=int(v.size - n),
        mean=float(defined.mean()),
        std=float(defined.std(ddof=1)) if n >= 2 else float("nan"),
        min=float(defined.min()),
        q1=float(q1),
        median=float(med),
        q3=float(q3),
        max=float(defined.max()),
    )


# ---- IQR outliers ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outliers:
    """Tukey outliers of one column.

    ``severity``: shape ``(n,)`` int8, one code per input value: ``SEVERE`` (2) beyond ``Q1 − 3·IQR`` or
    ``Q3 + 3·IQR``; ``MODERATE`` (1) beyond ``Q1 − 1.5·IQR`` or ``Q3 + 1.5·IQR`` but not severe; ``INLIER`` (0);
    ``MISSING`` (−1) for NaN/inf. "Beyond" is strict: a value on a fence is not an outlier. With fewer than one
    defined value the fences are NaN and nothing is an outlier.
    """

    severity: np.ndarray
    q1: float
    q3: float
    iqr: float
    moderate_fences: tuple[float, float]
    severe_fences: tuple[float, float]

    @property
    def n_moderate(self) -> int:
        return int(np.count_nonzero(self.severity == MODERATE))

    @property
    def n_severe(self) -> int:
        return int(np.count_nonzero(self.severity == SEVERE))

    @property
    def n_outliers(self) -> int:
        return self.n_moderate + self.n_severe

    def mask(self, kind: str = "any") -> np.ndarray:
        """Boolean mask of shape ``(n,)``: ``"any"`` (moderate or severe), ``"moderate"``, ``"severe"`` or ``"inlier"``."""
        if kind == "any":
            return self.severity >= MODERATE
        codes = {"moderate": MODERATE, "severe": SEVERE, "inlier": INLIER}
        if kind not in codes:
            raise ValueError(f"kind must be 'any', 'moderate', 'severe' or 'inlier', but got {kind!r}")
        return self.severity == codes[kind]


def iqr_outliers(values, *, moderate: float = MODERATE_FACTOR, severe: float = SEVERE_FACTOR) -> Outliers:
    """Classify every value as inlier, moderate or severe outlier by Tukey's fences.

    ``IQR = Q3 − Q1`` (linear-interpolated quartiles of the defined values). A value ``x`` is severe when
    ``x < Q1 − severe·IQR`` or ``x > Q3 + severe·IQR``, else moderate when ``x < Q1 − moderate·IQR`` or
    ``x > Q3 + moderate·IQR``. NaN/inf values get ``MISSING``.
    """
    if not 0 <= moderate <= severe:
        raise ValueError(f"need 0 <= moderate <= severe, but got moderate={moderate}, severe={severe}")
    v = _as_float(values)
    ok = np.isfinite(v)
    severity = np.full(v.shape, MISSING, dtype=np.int8)
    if not ok.any():
        nan = float("nan")
        return Outliers(severity, nan, nan, nan, (nan, nan), (nan, nan))
    q1, q3 = (float(q) for q in np.quantile(v[ok], [0.25, 0.75]))
    iqr = q3 - q1
    mod_lo, mod_hi = q1 - moderate * iqr, q3 + moderate * iqr
    sev_lo, sev_hi = q1 - severe * iqr, q3 + severe * iqr
    severity[ok] = INLIER
    severity[ok & ((v < mod_lo) | (v > mod_hi))] = MODERATE
    severity[ok & ((v < sev_lo) | (v > sev_hi))] = SEVERE
    return Outliers(severity, q1, q3, iqr, (mod_lo, mod_hi), (sev_lo, sev_hi))


def in_range(values, lo: float, hi: float) -> np.ndarray:
    """Boolean mask of shape ``(n,)``: defined values with ``lo <= x <= hi`` (missing values are never in range)."""
    v = _as_float(values)
    with np.errstate(invalid="ignore"):
        return np.isfinite(v) & (v >= lo) & (v <= hi)
