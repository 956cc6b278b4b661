"""Training curves: a training log's series, smoothing as TensorBoard's, the best evaluation and over-fitting.

A training log (extra table ``training_log``, written by ``explorer.io.training_logs``) has one row per logged
record: ``run`` (several runs may share a project), ``phase`` (``train`` / ``val``, absent or None when a row
holds both), the axes ``step, epoch, timestamp`` (seconds since the Unix epoch), the canonical series
``train_loss, val_loss, train_accuracy, val_accuracy`` (derived at import from the logged ones) and every logged
series under its logged name (``coco/bbox_mAP``, ``loss_cls``, ``lr``). Any value may be NaN on a row
(validation is logged less often than training, on rows of its own).

**The rule** (``RULE``; parameters ``patience``, the monitored series and the axis), per run:

- *Evaluation points* ``k = 0..n-1`` are the x values (step, epoch or elapsed time) where the monitored
  validation series ``m`` is logged (``val_loss`` when the log has one, else its main validation metric —
  ``coco/bbox_mAP``, ``metrics/mAP50-95(B)``, ``val_accuracy``…, ``default_monitor``), in x order; a repeated x
  keeps its last value.
- *Training loss of an evaluation* ``t_k`` = the mean of every training-loss value logged in the validation
  interval ``x_{k-1} < x ≤ x_k`` (``x ≤ x_0`` for the first): a step-level log's noisy per-step losses are
  aggregated over what the model saw between two evaluations, instead of compared one step at a time.
- *Best* = the first evaluation with the best monitored value (lowest for a loss, highest for a metric).
- *Over-fitting onset* = the first evaluation ``i`` after the best such that for ``patience`` consecutive
  evaluations ``j = i … i+patience-1`` the monitored value gets worse (``m_j > m_{j-1}`` for a loss,
  ``<`` for a metric) while the training loss falls (``t_j < t_{j-1}``). None when there is no such run of
  evaluations, or no training loss to compare.

**Smoothing** (``ema``) is TensorBoard's debiased exponential moving average with weight ``w ∈ [0, 1)``:
``last_k = w·last_{k-1} + (1 − w)·y_k`` from ``last = 0``, shown as ``last_k / (1 − w^{n_k})`` with ``n_k`` the
number of finite values so far; non-finite values pass through and do not advance it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.errors import UserError

TABLE = "training_log"
COLUMNS = ("run", "phase", "step", "epoch", "timestamp", "train_loss", "val_loss", "train_accuracy", "val_accuracy")
ROLES = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")
AXES = ("step", "epoch", "time")
PATIENCE = 2  # the default number of consecutive evaluations
#: validation metrics tried, in order, as the monitored series when the log has no validation loss (higher = better)
MONITORS = ("coco/bbox_mAP", "metrics/mAP50-95(B)", "bbox_mAP", "coco/segm_mAP", "metrics/mAP50-95(M)",
            "segm_mAP", "val_accuracy")


def training_log(project) -> pd.DataFrame:
    """The project's training log (``UserError`` when the project has none)."""
    log = project.extra.get(TABLE)
    if log is None:
        raise UserError(f"project {project.name!r} has no training log; import one with task='training'")
    return log


def run_names(log: pd.DataFrame) -> list[str]:
    """The runs of the log in their order (one unnamed run, ``[""]``, for a log without a ``run`` column)."""
    if "run" not in log:
        return [""]
    return list(dict.fromkeys(log["run"].astype(str)))


def of_run(log: pd.DataFrame, run: str | None) -> pd.DataFrame:
    """The rows of one run (the whole log when it has no ``run`` column, or ``run`` is None)."""
    if run is None or "run" not in log:
        return log
    return log.loc[log["run"].astype(str).to_numpy() == str(run)].reset_index(drop=True)


def series_names(log: pd.DataFrame, derived=()) -> list[str]:
    """The logged series (numeric columns that are not axes, ``run``/``phase``, or canonical series the import
    derived from them, ``derived``), in log order."""
    skip = {"run", "phase", "step", "epoch", "timestamp", *derived}
    return [c for c in log.columns if c not in skip and pd.api.types.is_numeric_dtype(log[c]) and log[c].notna().any()]


def available_axes(log: pd.DataFrame) -> list[str]:
    """The x-axes the log supports: ``step``, ``epoch``, ``time`` (elapsed seconds), those with any value."""
    have = {"step": "step", "epoch": "epoch", "time": "timestamp"}
    return [axis for axis in AXES if have[axis] in log and log[have[axis]].notna().any()]


def x_values(log: pd.DataFrame, axis: str) -> np.ndarray:
    """``(n_rows,)`` x value of each row: step, epoch, or elapsed seconds since the run's first timestamp."""
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, but got {axis!r}")
    if axis == "time":
        t = log["timestamp"].to_numpy(np.float64)
        if "run" in log and len(t) and np.isfinite(t).any():
            first = pd.Series(t).groupby(log["run"].astype(str).to_numpy()).transform("min").to_numpy(np.float64)
            return t - first
        return t - np.nanmin(t) if np.isfinite(t).any() else t
    return log[axis].to_numpy(np.float64)


def ema(values, weight: float) -> np.ndarray:
    """TensorBoard's debiased EMA of ``values`` (``(n,)``) with smoothing ``weight`` in [0, 1) (module docstring).

    ``weight = 0`` returns the values; NaN/inf stay where they are and do not count."""
    y = np.asarray(values, dtype=np.float64)
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1), but got {weight}")
    out = y.copy()
    finite = np.isfinite(y)
    if weight == 0 or not finite.any():
        return out
    from scipy.signal import lfilter  # scipy comes with scikit-learn

    v = y[finite]
    n = np.arange(1, len(v) + 1, dtype=np.float64)
    last = lfilter([1 - weight], [1, -weight], v)  # last_k = w·last_{k-1} + (1 − w)·v_k, last_{-1} = 0
    out[finite] = last / (1 - weight ** n)
    return out


def default_monitor(log: pd.DataFrame) -> str | None:
    """The validation series best and over-fitting are judged on: ``val_loss`` when logged, else the first of
    ``MONITORS`` present, else any validation series whose name has ``mAP`` or ``acc``; None without one."""
    def has(c):
        return c in log and pd.api.types.is_numeric_dtype(log[c]) and log[c].notna().any()

    if has("val_loss"):
        return "val_loss"
    for name in MONITORS:
        if has(name):
            return name
    return next((c for c in log.columns if has(c) and re.search(r"map|acc", c, re.IGNORECASE)
                 and c not in ROLES[:1]), None)


def lower_is_better(name: str) -> bool:
    """Losses and errors go down; metrics (mAP, accuracy, precision, recall, F1) go up."""
    return bool(re.search(r"loss|err|mse|mae|rmse|perplexity", name, re.IGNORECASE))


def evaluation_points(log: pd.DataFrame, *, axis: str = "epoch", monitor: str | None = None) -> pd.DataFrame:
    """``x, train_loss, value`` (and ``val_loss``, the value when the monitor is the validation loss) at every
    evaluation of one run's log, in x order; ``train_loss`` aggregated over each validation interval (module
    rule)."""
    monitor = monitor or default_monitor(log)
    if monitor is None or monitor not in log:
        return pd.DataFrame({"x": [], "train_loss": [], "value": [], "val_loss": []})
    x = x_values(log, axis)
    m = log[monitor].to_numpy(np.float64)
    ev = np.isfinite(x) & np.isfinite(m)
    points = pd.DataFrame({"x": x[ev], "value": m[ev]}).groupby("x", sort=True)["value"].last().reset_index()
    xs = points["x"].to_numpy(np.float64)
    t = log["train_loss"].to_numpy(np.float64) if "train_loss" in log else np.full(len(log), np.nan)
    tr = np.isfinite(x) & np.isfinite(t)
    k = np.searchsorted(xs, x[tr], side="left")  # interval k: x_{k-1} < x <= x_k
    inside = k < len(xs)
    sums = np.bincount(k[inside], weights=t[tr][inside], minlength=len(xs))
    counts = np.bincount(k[inside], minlength=len(xs))
    with np.errstate(invalid="ignore", divide="ignore"):
        points["train_loss"] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    points["val_loss"] = points["value"] if monitor == "val_loss" else np.nan
    return points[["x", "train_loss", "value", "val_loss"]]


def overfitting_onset(val_loss, train_loss, *, patience: int = PATIENCE, lower_better: bool = True) -> int | None:
    """Index of the over-fitting onset among evaluation points (module rule), or None.

    ``val_loss`` (the monitored values), ``train_loss``: ``(n,)`` in x order. Vectorised: a point "diverges"
    when the monitored value gets worse than the previous point's and ``t_j < t_{j-1}``; the onset is the first
    ``i`` after the best point starting ``patience`` diverging points.
    """
    if patience < 1:
        raise ValueError(f"patience must be at least 1, but got {patience}")
    v = np.asarray(val_loss, dtype=np.float64)
    v = v if lower_better else -v
    t = np.asarray(train_loss, dtype=np.float64)
    n = len(v)
    if n < patience + 1 or np.isnan(v).all():
        return None
    best = int(np.nanargmin(v))
    diverging = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        diverging[1:] = (v[1:] > v[:-1]) & (t[1:] < t[:-1])  # NaN comparisons are False
    # window[i] = number of diverging points among i .. i+patience-1
    window = np.convolve(diverging.astype(np.int64), np.ones(patience, dtype=np.int64), mode="full")[patience - 1:]
    starts = np.flatnonzero((window[:n] == patience) & (np.arange(n) > best))
    return int(starts[0]) if len(starts) else None


@dataclass(frozen=True)
class TrainingSummary:
    """Best point and over-fitting onset of one run's log along one axis (x values in that axis' units)."""

    axis: str
    best_x: float  # NaN when there is no monitored validation series
    best_val_loss: float  # the validation loss there (NaN when the log has none)
    train_loss_at_best: float  # aggregated over the validation interval ending there
    onset_x: float | None  # first x of the over-fitting run; None when there is none
    n_points: int
    patience: int
    monitor: str | None = "val_loss"
    best_value: float = float("nan")  # the monitored value at the best point
    lower_better: bool = True

    def as_dict(self) -> dict:
        return {f"best_{self.axis}": self.best_x, "best_val_loss": self.best_val_loss,
                "train_loss_at_best": self.train_loss_at_best, f"overfitting_onset_{self.axis}": self.onset_x,
                "n_evaluations": self.n_points, "monitor": self.monitor, "best_value": self.best_value,
                "monitor_direction": "min" if self.lower_better else "max"}


def summarize(log: pd.DataFrame, *, axis: str = "epoch", patience: int = PATIENCE, monitor: str | None = None,
              run: str | None = None) -> TrainingSummary:
    """Best point and over-fitting onset along ``axis`` for one run (``run``; default: the log's first run)."""
    if run is None and "run" in log:
        run = run_names(log)[0]
    log = of_run(log, run)
    monitor = monitor or default_monitor(log)
    lower = lower_is_better(monitor) if monitor else True
    points = evaluation_points(log, axis=axis, monitor=monitor)
    if len(points) == 0:
        return TrainingSummary(axis, float("nan"), float("nan"), float("nan"), None, 0, patience, monitor,
                               float("nan"), lower)
    values = points["value"].to_numpy(np.float64)
    best = int(np.argmin(values) if lower else np.argmax(values))
    onset = overfitting_onset(values, points["train_loss"], patience=patience, lower_better=lower)
    return TrainingSummary(
        axis=axis,
        best_x=float(points["x"].iloc[best]),
        best_val_loss=float(points["val_loss"].iloc[best]),
        train_loss_at_best=float(points["train_loss"].iloc[best]),
        onset_x=None if onset is None else float(points["x"].iloc[onset]),
        n_points=len(points),
        patience=patience,
        monitor=monitor,
        best_value=float(values[best]),
        lower_better=lower,
    )


def default_axis(log: pd.DataFrame) -> str:
    """``epoch`` when the log has epochs, else ``step``, else ``time``."""
    axes = available_axes(log)
    for axis in ("epoch", "step", "time"):
        if axis in axes:
            return axis
    raise UserError("the training log has no step, epoch or timestamp values")


RULE = ("best = first evaluation with the best validation value ({monitor}); over-fitting onset = first evaluation "
        "after the best where the validation value gets worse while the training loss — averaged over each "
        "validation interval — falls, for {patience} consecutive evaluations")


def rule_text(*, patience: int = PATIENCE, monitor: str | None = "val_loss") -> str:
    """The rule with its parameters, as the page and the export state it."""
    return RULE.format(patience=patience, monitor=monitor or "none logged")


def rule_parameters(*, patience: int, monitor: str | None, axis: str) -> dict:
    return {"patience": patience, "monitor": monitor,
            "monitor_direction": None if monitor is None else ("min" if lower_is_better(monitor) else "max"),
            "axis": axis, "train_loss": "mean over each validation interval (x_{k-1}, x_k]"}


def _plain(value):
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def export_summary(project, *, patience: int = PATIENCE) -> dict:
    """Everything the Training Curves page shows, as plain values: per run and axis the best point and the
    over-fitting onset with the rule and its parameters, each run's format, params and tags, what the canonical
    series were derived from, and the curves (every log column as a list; NaN where a series was not logged).
    ``by_axis`` is the first run's (the page's default run)."""
    log = training_log(project)
    axes = available_axes(log)
    axis = default_axis(log)
    sources = project.manifest.get("sources") or {}
    meta = sources.get("runs") or {}
    runs = {}
    for run in run_names(log):
        part = of_run(log, run if "run" in log else None)
        monitor = default_monitor(part)
        runs[run] = {
            "monitor": monitor,
            "by_axis": {a: summarize(part, axis=a, patience=patience, monitor=monitor).as_dict()
                        for a in available_axes(part)},
            **{k: meta.get(run, {}).get(k) for k in ("format", "source", "params", "tags") if k in meta.get(run, {})},
        }
    first = next(iter(runs.values()))
    return {
        "axes": axes,
        "default_axis": axis,
        "rule": rule_text(patience=patience, monitor=first["monitor"]),
        "rule_parameters": rule_parameters(patience=patience, monitor=first["monitor"], axis=axis),
        "by_axis": first["by_axis"],
        "runs": runs,
        "derived": sources.get("derived") or {},
        "series": series_names(log, (sources.get("derived") or {}).keys()),
        "curves": {c: ([_plain(v) for v in log[c].tolist()] if not pd.api.types.is_numeric_dtype(log[c])
                       else log[c].to_numpy(np.float64).tolist()) for c in log.columns},
    }
