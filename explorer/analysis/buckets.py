"""Performance by metric: split a metric's range into buckets and count the outcome in each.

Rates (SPEC §3), each over the items of one bucket:

* over labels (``kind="labels"``, outcome = detected):
  ``true_positive_rate = detected / labels`` and ``false_negative_rate = 1 - true_positive_rate``;
* over predictions (``kind="predictions"``, outcome = true positive):
  ``precision = TP / (TP + FP)`` and ``false_discovery_rate = 1 - precision``;
* over any other items with a yes/no outcome (``kind="items"``, e.g. classification's correct):
  ``outcome_rate = positives / items`` and ``complement_rate = 1 - outcome_rate``.

Precision is never called "TPR". An empty bucket has NaN rates (0/0), never 0.

Every rate comes with its Wilson 95% score interval (``explorer.analysis.intervals.wilson_interval``):
``<rate>_lo`` and ``<rate>_hi`` columns (the complement's bounds are ``1 − hi`` and ``1 − lo``); NaN for an empty
bucket.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.analysis.intervals import wilson_interval
from explorer.analysis.small_samples import MIN_BUCKET_ITEMS

METHODS = ("quantile", "width")
KINDS = ("labels", "predictions", "items")
RATE_COLUMNS = {
    "labels": ("true_positive_rate", "false_negative_rate"),
    "predictions": ("precision", "false_discovery_rate"),
    "items": ("outcome_rate", "complement_rate"),
}
COUNT_COLUMNS = {"labels": ("n_labels", "n_detected"), "predictions": ("n_predictions", "n_true_positive"),
                 "items": ("n_items", "n_positive")}


@dataclass(frozen=True)
class Buckets:
    """Bucket assignment of a metric's values.

    ``edges``: float array of shape (n_buckets + 1,), increasing; bucket ``i`` is ``[edges[i], edges[i+1])``,
    the last one also holds ``edges[-1]``. ``index``: int array of shape (n_values,), the bucket of every value,
    -1 for a missing (NaN/inf) value. ``method``: ``"quantile"`` or ``"width"``.
    """

    edges: np.ndarray
    index: np.ndarray
    method: str

    @property
    def n_buckets(self) -> int:
        return len(self.edges) - 1

    @property
    def counts(self) -> np.ndarray:
        """Items per bucket, shape (n_buckets,)."""
        return np.bincount(self.index[self.index >= 0], minlength=self.n_buckets)

    @property
    def n_missing(self) -> int:
        """Values without a bucket because they are missing."""
        return int((self.index < 0).sum())

    def means(self, values) -> np.ndarray:
        """Mean of ``values`` (shape (n_values,), e.g. the per-image mIoU) over each bucket's items, shape
        (n_buckets,): ``Σ values / n`` per bucket, NaN for an empty bucket (0/0)."""
        values = np.asarray(values, dtype=np.float64)
        inside = self.index >= 0
        sums = np.bincount(self.index[inside], weights=values[inside], minlength=self.n_buckets)
        n = self.counts
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, sums / np.maximum(n, 1), np.nan)

    def labels(self, *, precision: int = 3) -> list[str]:
        """Human-readable ranges: ``"[0.1, 0.2)"``, the last closed ``"[0.9, 1]"``."""
        fmt = f"{{:.{precision}g}}"
        out = []
        for i in range(self.n_buckets):
            lo, hi = fmt.format(self.edges[i]), fmt.format(self.edges[i + 1])
            out.append(f"[{lo}, {hi}]" if i == self.n_buckets - 1 else f"[{lo}, {hi})")
        return out


def bucketize(values, *, n_buckets: int = 10, method: str = "quantile", edges=None) -> Buckets:
    """Assign every value to a bucket.

    ``values``: array of shape (n,); NaN/inf values get bucket -1. ``method="quantile"`` puts edges at the
    ``k / n_buckets`` quantiles of the finite values (equal counts up to ties); coinciding edges are merged, so
    there may be fewer buckets than asked. ``method="width"`` splits ``[min, max]`` into equal widths. Explicit
    ``edges`` (increasing) override both. A metric with one distinct value gives one bucket ``[v, v]``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, but got {method!r}")
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be at least 1, but got {n_buckets}")
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":  # already numbers: no coercion pass
        x = values.astype(np.float64, copy=False).ravel()
    else:
        x = pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    finite = np.isfinite(x)
    if edges is not None:
        edges = np.asarray(edges, dtype=np.float64)
        if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"edges must be a strictly increasing 1-D array of at least 2 values, but got {edges}")
    elif not finite.any():
        edges = np.array([np.nan, np.nan])
    elif method == "quantile":
        edges = np.unique(np.quantile(x[finite], np.linspace(0.0, 1.0, n_buckets + 1)))
    else:
        lo, hi = float(x[finite].min()), float(x[finite].max())
        edges = np.unique(np.linspace(lo, hi, n_buckets + 1))
    if len(edges) == 1:  # one distinct value: one closed bucket [v, v]
        edges = np.array([edges[0], edges[0]])
    index = np.full(len(x), -1, dtype=np.int64)
    if np.isfinite(edges).all():
        inside = finite & (x >= edges[0]) & (x <= edges[-1])
        index[inside] = np.searchsorted(edges[1:-1], x[inside], side="right")
    return Buckets(edges=edges, index=index, method=method)


def shared_buckets(values: dict[str, np.ndarray], *, n_buckets: int = 10,
                   method: str = "quantile") -> dict[str, Buckets]:
    """One metric bucketed over several targets with one set of edges, computed from all their values together
    (so a bucket means the same images on every chart): ``{target: Buckets}`` for ``values[target]`` (shape
    ``(n_t,)``). When the values give no such edges (none finite, or one distinct value) each target is bucketed
    on its own. Each target's index is its slice of the bucketing of all values, which is what
    ``bucketize(v, edges=shared.edges)`` gives: the shared edges span every finite value."""
    names = list(values)
    arrays = [np.asarray(values[t]).ravel() for t in names]
    shared = bucketize(np.concatenate(arrays) if arrays else np.empty(0), n_buckets=n_buckets, method=method)
    if not (np.isfinite(shared.edges).all() and shared.edges[0] < shared.edges[-1]):
        return {t: bucketize(v, n_buckets=n_buckets, method=method) for t, v in zip(names, arrays)}
    ends = np.cumsum([len(v) for v in arrays])
    return {t: Buckets(edges=shared.edges, index=shared.index[end - len(v):end], method=method)
            for t, v, end in zip(names, arrays, ends)}


def _rates(n: np.ndarray, positive: np.ndarray, kind: str) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, positive / np.maximum(n, 1), np.nan)
    first, second = RATE_COLUMNS[kind]
    count, hits = COUNT_COLUMNS[kind]
    lo, hi = wilson_interval(positive, n)
    return {count: n.astype(np.int64), hits: positive.astype(np.int64), first: rate, second: 1.0 - rate,
            f"{first}_lo": lo, f"{first}_hi": hi, f"{second}_lo": 1.0 - hi, f"{second}_hi": 1.0 - lo}


def _check(outcome, n: int, kind: str) -> np.ndarray:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, but got {kind!r}")
    outcome = np.asarray(outcome)
    if outcome.shape != (n,):
        raise ValueError(f"outcome must have shape ({n},) like the bucket index, but got {outcome.shape}")
    return outcome.astype(bool)


def performance_by_metric(values=None, outcome=None, *, buckets: Buckets | None = None, kind: str = "labels",
                          groups=None, n_buckets: int = 10, method: str = "quantile") -> pd.DataFrame:
    """Outcome rates per bucket of a metric.

    ``values``: metric values of shape (n,) (ignored when ``buckets`` is given; then ``buckets.index`` has
    shape (n,)); ``outcome``: bool of shape (n,) — detected (labels) or true positive (predictions);
    ``groups``: optional int array of shape (n,) (e.g. category ids) for a breakdown per group.

    Returns one row per bucket (per group and bucket with ``groups``): ``[group,] bucket, lo, hi, range``, the
    counts (``n_labels, n_detected`` or ``n_predictions, n_true_positive``), the two rates
    (``true_positive_rate, false_negative_rate`` or ``precision, false_discovery_rate``; NaN for an empty
    bucket), their Wilson 95% bounds ``<rate>_lo, <rate>_hi`` and ``few_samples`` (fewer than
    ``MIN_BUCKET_ITEMS`` items). Items with a missing value are in no
    bucket; count them with ``buckets.n_missing``.
    """
    if buckets is None:
        if values is None:
            raise ValueError("give either values or buckets")
        buckets = bucketize(values, n_buckets=n_buckets, method=method)
    outcome = _check(outcome, len(buckets.index), kind)
    k = buckets.n_buckets
    has = buckets.index >= 0
    ranges = buckets.labels()
    base = {"bucket": np.arange(k), "lo": buckets.edges[:-1], "hi": buckets.edges[1:], "range": ranges}
    if groups is None:
        n = np.bincount(buckets.index[has], minlength=k)
        pos = np.bincount(buckets.index[has], weights=outcome[has], minlength=k)
        out = pd.DataFrame({**base, **_rates(n, pos, kind)})
    else:
        groups = np.asarray(groups)
        if groups.shape != outcome.shape:
            raise ValueError(f"groups must have shape {outcome.shape}, but got {groups.shape}")
        uniq, g = np.unique(groups[has], return_inverse=True)
        flat = g * k + buckets.index[has]
        n = np.bincount(flat, minlength=len(uniq) * k)
        pos = np.bincount(flat, weights=outcome[has], minlength=len(uniq) * k)
        out = pd.DataFrame({"group": np.repeat(uniq, k), **{c: np.tile(np.asarray(v), len(uniq)) for c, v in base.items()},
                            **_rates(n, pos, kind)})
    out["few_samples"] = out[COUNT_COLUMNS[kind][0]] < MIN_BUCKET_ITEMS
    return out


def overall_performance(outcome, *, kind: str = "labels", groups=None) -> pd.DataFrame:
    """The same counts and rates over all items (one row, or one row per group): the dashed average lines."""
    outcome = np.asarray(outcome).astype(bool)
    if groups is None:
        out = pd.DataFrame(_rates(np.array([len(outcome)]), np.array([outcome.sum()]), kind))
    else:
        uniq, g = np.unique(np.asarray(groups), return_inverse=True)
        n = np.bincount(g, minlength=len(uniq))
        pos = np.bincount(g, weights=outcome, minlength=len(uniq))
        out = pd.DataFrame({"group": uniq, **_rates(n, pos, kind)})
    out["few_samples"] = out[COUNT_COLUMNS[kind][0]] < MIN_BUCKET_ITEMS
    return out
