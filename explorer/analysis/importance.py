"""Which data metrics drive the model's outcome: normalised mutual information and correlation.

Both functions take a table of metrics ``X`` (one row per item — a prediction, a label, an image — one column per
metric) and the item's outcome ``y`` (detection: ``is_tp`` over predictions, ``detected`` over labels;
classification: ``correct``). Each metric is scored on its own: rows where that metric is missing (NaN/inf) are
dropped for that metric only, and the number of rows used is reported as ``n_samples``.

Importance is the normalised mutual information

    importance(X) = I(X; Y) / H(Y)                                    clipped to [0, 1]

with ``I`` estimated by scikit-learn's nearest-neighbour estimator (``mutual_info_classif``, Ross 2014,
``discrete_features=False``, fixed ``random_state``) and ``H(Y) = -p ln p - (1-p) ln(1-p)`` the entropy of the
binary outcome in nats (the unit ``mutual_info_classif`` uses). 0 means no dependency, 1 means the metric alone
predicts the outcome. Undefined cases follow one rule each:

* no value / outcome constant over the metric's rows → NaN with a note (H(Y) = 0, nothing to explain);
* metric constant over its rows → 0 with a note (a constant carries no information);
* above ``max_samples`` rows a deterministic stratified subsample (seeded by ``random_state``) is used;
* a metric shared by a group of rows (a frame metric joined to every label of its image) is scored on one row
  per group (``groups``/``grouped_metrics``, deterministic pick): the nearest-neighbour estimator assumes
  independent draws, and rows with the identical value of one image would otherwise make any image-unique metric
  act as an image id and inherit the within-image correlation of outcomes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_selection import mutual_info_classif

DEFAULT_MAX_SAMPLES = 5_000  # per metric; keeps the k-NN estimate well under 20 ms per metric

IMPORTANCE_COLUMNS = ["metric", "importance", "n_samples", "n_positive", "note"]
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


def one_per_group(groups: np.ndarray, *, random_state: int = 0) -> np.ndarray:
    """Sorted indices of one row per distinct value of ``groups`` (shape (n,)), chosen by a seeded permutation."""
    perm = np.random.default_rng(random_state).permutation(len(groups))
    _, first = np.unique(np.asarray(groups)[perm], return_index=True)
    return np.sort(perm[first])


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


def _numeric_columns(X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each column as float64 with non-finite values as NaN (booleans count as 0/1)."""
    out = {}
    for name in X.columns:
        values = pd.to_numeric(X[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        values[~np.isfinite(values)] = np.nan
        out[str(name)] = values
    return out


def metric_importance(
    X: pd.DataFrame,
    y,
    *,
    random_state: int = 0,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    n_neighbors: int = 3,
    groups=None,
    grouped_metrics=None,
) -> pd.DataFrame:
    """Normalised mutual information I(X;Y)/H(Y) of every column of ``X`` with the binary outcome ``y``.

    ``X``: DataFrame of shape (n, m), numeric metric columns; ``y``: bool (or 0/1) array of shape (n,).
    Returns a DataFrame with one row per metric, sorted by importance (descending, NaN last), columns
    ``metric, importance, n_samples, n_positive, note`` — ``n_samples`` rows used after dropping missing values
    and subsampling, ``n_positive`` of them with ``y`` true, ``note`` empty or why the value is 0/NaN or
    subsampled. ``groups``: optional array of shape (n,) (e.g. image ids); the metrics named in
    ``grouped_metrics`` (all of them when None) are then scored on one row per group.

    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0] * 10})
    >>> float(metric_importance(X, np.array([False, False, True, True] * 10))["importance"][0]) > 0.5
    True
    """
    y = _as_binary(y, len(X))
    if max_samples < 10:
        raise ValueError(f"max_samples must be at least 10, but got {max_samples}")
    per_group = None
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(f"groups must have shape {y.shape} like y, but got {groups.shape}")
        per_group = np.zeros(len(y), bool)
        per_group[one_per_group(groups, random_state=random_state)] = True
        grouped = set(X.columns) if grouped_metrics is None else set(grouped_metrics)
    rows = []
    for name, x in _numeric_columns(X).items():
        valid = ~np.isnan(x)
        n_missing = len(x) - int(valid.sum())
        note = "" if n_missing == 0 else f"{n_missing} rows without a value left out"
        if per_group is not None and name in grouped:
            valid &= per_group
            note = "; ".join(filter(None, [note, "one row per image (rows of an image share the value)"]))
        xv, yv = x[valid], y[valid]
        n_valid = int(valid.sum())
        if n_valid == 0:
            rows.append((name, np.nan, 0, 0, "no values"))
            continue
        p = float(yv.mean())
        if p in (0.0, 1.0):
            rows.append((name, np.nan, n_valid, int(yv.sum()),
                         "outcome is the same for every row: nothing to explain"))
            continue
        if np.ptp(xv) == 0.0:
            rows.append((name, 0.0, n_valid, int(yv.sum()), "metric is constant: carries no information"))
            continue
        if n_valid > max_samples:
            keep = stratified_subsample(yv, max_samples, random_state=random_state)
            xv, yv = xv[keep], yv[keep]
            note = "; ".join(filter(None, [note, f"deterministic subsample of {len(keep):,} of {n_valid:,} rows"]))
            p = float(yv.mean())
        mi = mutual_info_classif(xv.reshape(-1, 1), yv, discrete_features=False, n_neighbors=n_neighbors,
                                 random_state=random_state)[0]
        importance = float(np.clip(mi / binary_entropy(p), 0.0, 1.0))
        rows.append((name, importance, len(xv), int(yv.sum()), note))
    out = pd.DataFrame(rows, columns=IMPORTANCE_COLUMNS)
    return out.sort_values("importance", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def _rank(values: np.ndarray) -> np.ndarray:
    """Average ranks 1..n (ties share their mean rank), as ``scipy.stats.rankdata(method="average")``."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ordered)) + 1])
    ends = np.concatenate([starts[1:], [len(values)]])
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # mean of ranks start+1 .. end
    return ranks


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    xc = x - x.mean()
    yc = y - y.mean()
    denom = np.sqrt((xc @ xc) * (yc @ yc))
    return float(np.clip((xc @ yc) / denom, -1.0, 1.0))


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
    rows = []
    for name, x in _numeric_columns(X).items():
        valid = ~np.isnan(x) & np.isfinite(y)
        xv, yv = x[valid], y[valid]
        n = int(valid.sum())
        if n < 2:
            rows.append((name, np.nan, n, "fewer than 2 rows with a value"))
        elif np.ptp(xv) == 0.0:
            rows.append((name, np.nan, n, "metric is constant: correlation undefined"))
        elif np.ptp(yv) == 0.0:
            rows.append((name, np.nan, n, "outcome is the same for every row: correlation undefined"))
        else:
            if method == "spearman":
                xv, yv = _rank(xv), _rank(yv)
            rows.append((name, _pearson(xv, yv), n, ""))
    out = pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
    order = np.argsort(-np.abs(out["correlation"].to_numpy(np.float64)), kind="stable")  # NaN sorts last
    return out.iloc[order].reset_index(drop=True)
