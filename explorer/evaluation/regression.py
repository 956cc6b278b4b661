"""Regression evaluation — numbers equal to scikit-learn's — and a project's per-image errors.

With targets ``y`` and predictions ``ŷ`` of shape ``(n,)`` and residuals ``e = ŷ − y``:

* ``mse = mean(e²)``, ``rmse = √mse``, ``mae = mean(|e|)``, ``max_error = max(|e|)``
* ``mean_error = mean(e)`` (signed: > 0 means the model over-predicts on average)
* ``r2 = 1 − Σe² / Σ(y − ȳ)²``, ``explained_variance = 1 − var(e) / var(y)``

Undefined values follow scikit-learn's documented default, ``force_finite=True`` (``r2_score``,
``explained_variance_score``): for a fraction ``1 − num / den`` (R²: ``num = Σe²``, ``den = Σ(y − ȳ)²``;
explained variance: ``num = var(e)``, ``den = var(y)``)

* ``den = 0`` (constant target) and ``num = 0`` (perfect prediction) → **1.0**;
* ``den = 0`` and ``num ≠ 0`` (imperfect prediction of a constant target) → **0.0**;
* R² of fewer than two samples → NaN (scikit-learn: "not well-defined with less than two samples"); the
  explained variance of one sample has ``num = den = 0`` → 1.0.

"Constant" and "perfect" are decided exactly (every target equal; every residual zero — for explained variance
every residual equal), not from the rounded mean: ``mean([0.1, 0.1, 0.1])`` is ``0.10000000000000002``, which would
make ``den`` ≈ 1e-33 and R² ≈ −1.7e31 where the documented rule gives 0.0 (scikit-learn itself returns that
rounding artefact). Otherwise the expressions are scikit-learn's, so results agree to the last bits.

Example::

    >>> evaluate_regression([1.0, 2.0, 3.0], [1.5, 2.0, 2.0]).summary["mae"]
    0.5
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.errors import UserError

TABLE = "regression"  # extra table: image_id, target, prediction (NaN when the image has no prediction)


@dataclass(frozen=True)
class RegressionEvaluation:
    """``summary``: ``mse, rmse, mae, r2, explained_variance, max_error, mean_error, n_samples``."""

    summary: dict


def _explained_fraction(num: float, den: float) -> float:
    """``1 − num / den`` with scikit-learn's ``force_finite=True`` rule for ``den = 0``: 1.0 when ``num = 0``
    (perfect), else 0.0."""
    if den == 0:
        return 1.0 if num == 0 else 0.0
    return 1.0 - num / den


def evaluate_regression(y_true, y_pred) -> RegressionEvaluation:
    """Evaluate predictions ``y_pred`` of targets ``y_true`` (array-likes of shape ``(n,)``, finite floats)."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if y.ndim != 1 or p.shape != y.shape:
        raise UserError(f"y_true and y_pred must be 1-D and of equal length, but got shapes {y.shape} and {p.shape}")
    if len(y) == 0:
        raise UserError("cannot evaluate regression on 0 samples")
    for name, a in (("y_true", y), ("y_pred", p)):
        if not np.isfinite(a).all():
            raise UserError(f"{name}[{int(np.flatnonzero(~np.isfinite(a))[0])}] is not a finite number")
    # squares of values beyond ~1e154 overflow (R² would read inf / inf = NaN): scale by a power of two, which keeps
    # every bit, so the fractions are unchanged and the errors are divided back exactly; scale 1 leaves scikit-learn's
    # expressions verbatim
    largest = max(float(np.abs(y).max()), float(np.abs(p).max()))
    scale = 2.0 ** -int(np.frexp(largest)[1]) if largest > 2.0**500 else 1.0
    y, p = y * scale, p * scale
    e = p - y
    mean_sq = float(np.average(e**2))
    # the same expressions scikit-learn evaluates, so results agree to the last bits; a constant target or residual
    # gives an exact 0 (its rounded mean need not equal its values)
    constant_y = y.min() == y.max()
    d = y - p
    ss_res = float(np.sum(d**2))
    ss_tot = 0.0 if constant_y else float(np.sum((y - np.average(y)) ** 2))
    var_res = 0.0 if d.min() == d.max() else float(np.average((d - np.average(d)) ** 2))
    var_y = 0.0 if constant_y else float(np.average((y - np.average(y)) ** 2))
    with np.errstate(over="ignore"):  # an MSE beyond the float range is inf, which is its value
        mse = np.float64(mean_sq) / scale / scale  # scale**2 itself would underflow to 0
    summary = {
        "mse": float(mse),
        "rmse": float(np.sqrt(mean_sq)) / scale,
        "mae": float(np.average(np.abs(e))) / scale,
        "r2": _explained_fraction(ss_res, ss_tot) if len(y) >= 2 else float("nan"),
        "explained_variance": _explained_fraction(var_res, var_y),
        "max_error": float(np.max(np.abs(e))) / scale,
        "mean_error": float(np.mean(e)) / scale,
        "n_samples": int(len(y)),
    }
    return RegressionEvaluation(summary)


# ---- a project's regression results --------------------------------------------------------------------------
def regression_table(project, *, image_ids=None) -> pd.DataFrame:
    """``image_id, split, target, prediction`` for the images in the selection (all when ``image_ids`` is None)."""
    table = project.extra.get(TABLE)
    if table is None:
        raise UserError(f"project {project.name!r} has no regression table; import it with task='regression'")
    table = table.merge(project.images[["image_id", "split"]], on="image_id", how="left")
    if image_ids is not None:
        table = table.loc[table["image_id"].isin(np.asarray(image_ids))]
    return table[["image_id", "split", "target", "prediction"]].reset_index(drop=True)


def outcomes(project, *, image_ids=None) -> pd.DataFrame:
    """Per-image outcome for performance by metric: ``image_id, target, prediction, error, abs_error``.

    ``error = prediction − target``; images without a prediction are left out.
    """
    table = regression_table(project, image_ids=image_ids)
    table = table.loc[table["prediction"].notna()].reset_index(drop=True)
    table["error"] = table["prediction"] - table["target"]
    table["abs_error"] = table["error"].abs()
    return table[["image_id", "target", "prediction", "error", "abs_error"]]


def evaluate_project(project, *, image_ids=None) -> RegressionEvaluation | None:
    """``evaluate_regression`` over the selected images that have a prediction; None when there are none."""
    table = outcomes(project, image_ids=image_ids)
    if len(table) == 0:
        return None
    return evaluate_regression(table["target"].to_numpy(), table["prediction"].to_numpy())


def error_by_bucket(values, abs_error, *, n_buckets: int = 5) -> pd.DataFrame:
    """Mean absolute error per quantile bucket of a data metric.

    ``values``, ``abs_error``: ``(n,)``. Edges are the ``n_buckets`` quantiles of the defined values (duplicates
    merged, so there may be fewer buckets); a NaN metric value is counted in no bucket (``n_missing`` in
    ``DataFrame.attrs``). Returns ``bucket, lo, hi, n, mae, rmse`` (bucket i holds ``lo <= v < hi``, the last
    bucket includes its upper edge); ``attrs["index"]``: ``(n,)`` the bucket of every value, -1 when missing
    (which images a bucket opens).
    """
    values = np.asarray(values, dtype=np.float64)
    abs_error = np.asarray(abs_error, dtype=np.float64)
    defined = np.isfinite(values)
    v, a = values[defined], abs_error[defined]
    if len(v) == 0:
        out = pd.DataFrame(columns=["bucket", "lo", "hi", "n", "mae", "rmse"])
        out.attrs["n_missing"] = int((~defined).sum())
        out.attrs["index"] = np.full(len(values), -1, np.int64)
        return out
    edges = np.unique(np.quantile(v, np.linspace(0, 1, n_buckets + 1)))
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    index = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(edges) - 2)
    k = len(edges) - 1
    n = np.bincount(index, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mae = np.bincount(index, weights=a, minlength=k) / n
        rmse = np.sqrt(np.bincount(index, weights=a**2, minlength=k) / n)
    out = pd.DataFrame({"bucket": np.arange(k), "lo": edges[:-1], "hi": edges[1:], "n": n, "mae": mae, "rmse": rmse})
    out.attrs["n_missing"] = int((~defined).sum())
    full = np.full(len(values), -1, np.int64)
    full[defined] = index
    out.attrs["index"] = full
    return out
