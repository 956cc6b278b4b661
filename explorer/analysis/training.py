"""Training curves: a training log's loss/accuracy series, the best epoch and the over-fitting signal.

A training log (extra table ``training_log``) has one row per logged step with the canonical columns
``step, epoch, timestamp`` (seconds since the Unix epoch) ``, train_loss, val_loss, train_accuracy,
val_accuracy`` — any of them may be NaN on a row (validation is usually logged less often than training) — plus
any other numeric series the log had.

Evaluation points: the validation loss is evaluated where it is defined. Rows are grouped by the x-axis value
(``epoch`` by default); per group the validation loss is its last defined value and the training loss the mean of
its defined values, so per-step training losses are averaged over the epoch they belong to.

Best epoch: the first evaluation point with the lowest validation loss.

Over-fitting onset (rule): with evaluation points ``i = 0..n-1`` in x order, validation losses ``v_i`` and
training losses ``t_i``, the onset is the first point ``i`` after the best point such that for ``patience``
consecutive points ``j = i, i+1, …, i+patience-1`` the validation loss rises (``v_j > v_{j-1}``) while the
training loss falls (``t_j < t_{j-1}``). ``None`` when there is no such run (or no training loss to compare).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.errors import UserError

TABLE = "training_log"
COLUMNS = ("step", "epoch", "timestamp", "train_loss", "val_loss", "train_accuracy", "val_accuracy")
AXES = ("step", "epoch", "time")


def training_log(project) -> pd.DataFrame:
    """The project's training log (``UserError`` when the project has none)."""
    log = project.extra.get(TABLE)
    if log is None:
        raise UserError(f"project {project.name!r} has no training log; import one with task='training'")
    return log


def available_axes(log: pd.DataFrame) -> list[str]:
    """The x-axes the log supports: ``step``, ``epoch``, ``time`` (elapsed seconds), those with any value."""
    have = {"step": "step", "epoch": "epoch", "time": "timestamp"}
    return [axis for axis in AXES if have[axis] in log and log[have[axis]].notna().any()]


def x_values(log: pd.DataFrame, axis: str) -> np.ndarray:
    """``(n_rows,)`` x value of each row: step, epoch, or elapsed seconds since the first timestamp."""
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, but got {axis!r}")
    if axis == "time":
        t = log["timestamp"].to_numpy(np.float64)
        return t - np.nanmin(t)
    return log[axis].to_numpy(np.float64)


def evaluation_points(log: pd.DataFrame, *, axis: str = "epoch") -> pd.DataFrame:
    """``x, train_loss, val_loss`` at every x where the validation loss is defined, in x order (module rule)."""
    if "val_loss" not in log:
        return pd.DataFrame({"x": [], "train_loss": [], "val_loss": []})
    x = x_values(log, axis)
    frame = pd.DataFrame({"x": x, "train_loss": log["train_loss"].to_numpy(np.float64) if "train_loss" in log else np.nan,
                          "val_loss": log["val_loss"].to_numpy(np.float64)})
    frame = frame.loc[np.isfinite(x)]
    grouped = frame.groupby("x", sort=True)
    points = pd.DataFrame({"train_loss": grouped["train_loss"].mean(), "val_loss": grouped["val_loss"].last()})
    return points.loc[points["val_loss"].notna()].reset_index()


def overfitting_onset(val_loss, train_loss, *, patience: int = 2) -> int | None:
    """Index of the over-fitting onset among evaluation points (module rule), or None.

    ``val_loss``, ``train_loss``: ``(n,)`` in x order. Vectorised: a point "diverges" when ``v_j > v_{j-1}``
    and ``t_j < t_{j-1}``; the onset is the first i after the best point starting ``patience`` diverging points.
    """
    if patience < 1:
        raise ValueError(f"patience must be at least 1, but got {patience}")
    v = np.asarray(val_loss, dtype=np.float64)
    t = np.asarray(train_loss, dtype=np.float64)
    n = len(v)
    if n < patience + 1 or np.isnan(v).all():
        return None
    best = int(np.nanargmin(v))
    diverging = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        diverging[1:] = (v[1:] > v[:-1]) & (t[1:] < t[:-1])  # NaN comparisons are False
    # run[i] = number of consecutive diverging points starting at i
    window = np.convolve(diverging.astype(np.int64), np.ones(patience, dtype=np.int64), mode="full")[patience - 1:]
    starts = np.flatnonzero((window[:n] == patience) & (np.arange(n) > best))
    return int(starts[0]) if len(starts) else None


@dataclass(frozen=True)
class TrainingSummary:
    """Best point and over-fitting onset of a log along one axis (x values in that axis' units)."""

    axis: str
    best_x: float  # NaN when there is no validation loss
    best_val_loss: float
    train_loss_at_best: float
    onset_x: float | None  # first x of the over-fitting run; None when there is none
    n_points: int
    patience: int

    def as_dict(self) -> dict:
        return {f"best_{self.axis}": self.best_x, "best_val_loss": self.best_val_loss,
                "train_loss_at_best": self.train_loss_at_best, f"overfitting_onset_{self.axis}": self.onset_x,
                "n_evaluations": self.n_points}


def summarize(log: pd.DataFrame, *, axis: str = "epoch", patience: int = 2) -> TrainingSummary:
    """Best point (lowest validation loss) and over-fitting onset along ``axis``."""
    points = evaluation_points(log, axis=axis)
    if len(points) == 0:
        return TrainingSummary(axis, float("nan"), float("nan"), float("nan"), None, 0, patience)
    best = int(np.argmin(points["val_loss"].to_numpy()))
    onset = overfitting_onset(points["val_loss"], points["train_loss"], patience=patience)
    return TrainingSummary(
        axis=axis,
        best_x=float(points["x"].iloc[best]),
        best_val_loss=float(points["val_loss"].iloc[best]),
        train_loss_at_best=float(points["train_loss"].iloc[best]),
        onset_x=None if onset is None else float(points["x"].iloc[onset]),
        n_points=len(points),
        patience=patience,
    )


def default_axis(log: pd.DataFrame) -> str:
    """``epoch`` when the log has epochs, else ``step``, else ``time``."""
    axes = available_axes(log)
    for axis in ("epoch", "step", "time"):
        if axis in axes:
            return axis
    raise UserError("the training log has no step, epoch or timestamp values")


RULE = ("best = first evaluation with the lowest validation loss; over-fitting onset = first evaluation after "
        "the best where the validation loss rises while the training loss falls for {patience} consecutive "
        "evaluations")


def export_summary(project, *, patience: int = 2) -> dict:
    """Everything the Training Curves page shows, as plain values: per axis the best point and the over-fitting
    onset, the rule, and the curves (every log column as a list; NaN where a series was not logged)."""
    log = training_log(project)
    axes = available_axes(log)
    return {
        "axes": axes,
        "default_axis": default_axis(log),
        "rule": RULE.format(patience=patience),
        "by_axis": {axis: summarize(log, axis=axis, patience=patience).as_dict() for axis in axes},
        "curves": {c: log[c].to_numpy(np.float64).tolist() for c in log.columns},
    }
