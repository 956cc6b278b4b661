"""Regression evaluation — numbers equal to scikit-learn's — and a project's per-image errors.

With targets ``y`` and predictions ``ŷ`` of shape ``(n,)`` and residuals ``e = ŷ − y``:

* ``mse = mean(e²)``, ``rmse = √mse``, ``mae = mean(|e|)``, ``max_error = max(|e|)``
* ``mean_error = mean(e)`` (signed: > 0 means the model over-predicts on average)
* ``r2 = 1 − Σe² / Σ(y − ȳ)²``, ``explained_variance = 1 − var(e) / var(y)``

Undefined values: with constant targets (``var(y) = 0``) R² and explained variance are NaN — scikit-learn's
``force_finite=False`` — instead of scikit-learn's default substitute of 1.0 (perfect) or 0.0.

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
    e = p - y
    mse = float(np.average(e**2))
    # the same expressions scikit-learn evaluates, so results agree to the last bits
    ss_res = float(np.sum((y - p) ** 2))
    ss_tot = float(np.sum((y - np.average(y)) ** 2))
    var_res = float(np.average((y - p - np.average(y - p)) ** 2))
    var_y = float(np.average((y - np.average(y)) ** 2))
    summary = {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.average(np.abs(e))),
        "r2": 1.0 - ss_res / ss_tot if ss_tot != 0 else float("nan"),
        "explained_variance": 1.0 - var_res / var_y if var_y != 0 else float("nan"),
        "max_error": float(np.max(np.abs(e))),
        "mean_error": float(np.mean(e)),
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
    bucket includes its upper edge).
    """
    values = np.asarray(values, dtype=np.float64)
    abs_error = np.asarray(abs_error, dtype=np.float64)
    defined = np.isfinite(values)
    v, a = values[defined], abs_error[defined]
    if len(v) == 0:
        out = pd.DataFrame(columns=["bucket", "lo", "hi", "n", "mae", "rmse"])
        out.attrs["n_missing"] = int((~defined).sum())
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
    return out
