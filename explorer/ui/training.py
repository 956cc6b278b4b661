"""Training Curves helpers: cached summaries and the figures (canonical loss/accuracy with the best and over-fitting
markers; one chart per logged series), runs overlaid, TensorBoard-style EMA smoothing, linear or log y."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.analysis import training

AXIS_TITLES = {"step": "step", "epoch": "epoch", "time": "elapsed time (s)"}
PHASE_DASH = {"train": "solid", "val": "dash", "": "solid"}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22")
MAX_POINTS = 5000  # points per trace sent to the browser


@st.cache_resource(show_spinner=False, max_entries=64)
def summary(_project, fingerprint: str, axis: str, patience: int, run: str | None) -> training.TrainingSummary:
    """``training.summarize`` of one run, cached by the project's fingerprint and the controls."""
    return training.summarize(training.training_log(_project), axis=axis, patience=patience, run=run)


def derived(project) -> dict[str, str]:
    """``{canonical series: the logged series it was derived from}`` (the import's account)."""
    return dict((project.manifest.get("sources") or {}).get("derived") or {})


def run_meta(project) -> dict[str, dict]:
    """Per run: format, source, params, tags (MLflow), as the import recorded them."""
    return dict((project.manifest.get("sources") or {}).get("runs") or {})


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if len(x) > MAX_POINTS:
        keep = np.linspace(0, len(x) - 1, MAX_POINTS).astype(int)
        x, y = x[keep], y[keep]
    return x, y


def _traces(fig: go.Figure, log: pd.DataFrame, column: str, axis: str, runs: list[str], *, smoothing: float,
            label: str, colour_of: dict[str, str], dash: str | None = None) -> None:
    """One trace per run and phase of ``column``: the smoothed curve, the raw one faint behind it (TensorBoard)."""
    phases = log["phase"].fillna("").astype(str).to_numpy() if "phase" in log else np.full(len(log), "", dtype=object)
    run_of = log["run"].astype(str).to_numpy() if "run" in log else np.full(len(log), "", dtype=object)
    x_all = training.x_values(log, axis)
    y_all = log[column].to_numpy(np.float64)
    several_phases = len({p for p, y in zip(phases, y_all) if np.isfinite(y)}) > 1
    for run in runs:
        for phase in dict.fromkeys(phases):
            rows = (run_of == run) & (phases == phase)
            x, y = _thin(x_all[rows], y_all[rows])
            if not len(x):
                continue
            name = " · ".join(p for p in (run if len(runs) > 1 else "", label,
                                          phase if several_phases else "") if p)
            colour = colour_of.get(run, PALETTE[0]) if len(runs) > 1 else colour_of.get(label, PALETTE[0])
            line = dict(color=colour, dash=dash or PHASE_DASH.get(phase, "solid"))
            mode = "lines+markers" if len(x) <= 200 else "lines"
            if smoothing > 0:
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(line, width=1), opacity=0.25,
                                         showlegend=False, hoverinfo="skip", name=f"{name} (raw)"))
                y = training.ema(y, smoothing)
            fig.add_trace(go.Scatter(x=x, y=y, mode=mode, name=name or label, line=line, marker=dict(size=4)))


def curve_figure(log: pd.DataFrame, axis: str, kind: str, summary: training.TrainingSummary, *, runs: list[str],
                 smoothing: float = 0.0, log_y: bool = False, sources: dict | None = None) -> go.Figure | None:
    """Training and validation ``kind`` (``loss`` / ``accuracy``: the canonical series) of the ``runs``, with the
    best point and the over-fitting onset of the summary's run marked. ``sources``: what each canonical series
    was derived from (named in the legend, so the logged names stay visible)."""
    sources = sources or {}
    fig = go.Figure()
    colour_of = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(runs)}
    for i, split in enumerate(("train", "val")):
        column = f"{split}_{kind}"
        if column not in log or log[column].notna().sum() == 0:
            continue
        word = f"{'training' if split == 'train' else 'validation'} {kind}"
        label = f"{word} ({sources[column]})" if column in sources else word
        colour_of[label] = PALETTE[i]
        _traces(fig, log, column, axis, runs, smoothing=smoothing, label=label, colour_of=colour_of,
                dash="solid" if split == "train" else "dash")
    if not fig.data:
        return None
    if np.isfinite(summary.best_x) and kind == "loss":
        fig.add_vline(x=summary.best_x, line_dash="dash", line_color="green",
                      annotation_text=f"best {AXIS_TITLES[axis]} {summary.best_x:g}", annotation_position="top left")
    if summary.onset_x is not None and kind == "loss":
        fig.add_vrect(x0=summary.onset_x, x1=float(np.nanmax(training.x_values(log, axis))), fillcolor="orange",
                      opacity=0.12, line_width=0, annotation_text="over-fitting", annotation_position="top right")
    _layout(fig, axis, kind, kind.capitalize(), log_y)
    return fig


def series_figure(log: pd.DataFrame, axis: str, column: str, *, runs: list[str], smoothing: float = 0.0,
                  log_y: bool = False) -> go.Figure | None:
    """One logged series under its logged name (``coco/bbox_mAP``, ``lr``…) on its own y axis, per run/phase."""
    fig = go.Figure()
    colour_of = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(runs)}
    colour_of[column] = PALETTE[0]
    _traces(fig, log, column, axis, runs, smoothing=smoothing, label=column, colour_of=colour_of)
    if not fig.data:
        return None
    _layout(fig, axis, column, column, log_y, height=280)
    return fig


def _layout(fig: go.Figure, axis: str, y_title: str, title: str, log_y: bool, height: int = 360) -> None:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=AXIS_TITLES[axis],
                      yaxis_title=y_title, title=title, legend=dict(orientation="h"))
    if log_y:
        fig.update_yaxes(type="log")


def runs_table(log: pd.DataFrame, meta: dict[str, dict]) -> pd.DataFrame:
    """One row per run: its name, format, rows, steps/epochs logged, number of params and tags, source."""
    rows = []
    for run in training.run_names(log):
        part = training.of_run(log, run if "run" in log else None)
        m = meta.get(run, {})
        rows.append({"run": run, "format": m.get("format"), "rows": len(part),
                     "last step": float(part["step"].max()) if "step" in part else np.nan,
                     "last epoch": float(part["epoch"].max()) if "epoch" in part else np.nan,
                     "params": len(m.get("params") or {}), "tags": len(m.get("tags") or {}),
                     "source": m.get("source")})
    return pd.DataFrame(rows)


def summaries_table(project, axis: str, patience: int) -> pd.DataFrame:
    """Best point and onset of every run along ``axis`` (the page's table and the export's ``runs``)."""
    log = training.training_log(project)
    rows = []
    for run in training.run_names(log):
        s = summary(project, project.fingerprint, axis, patience, run if "run" in log else None)
        rows.append({"run": run, "monitored": s.monitor, f"best {AXIS_TITLES[axis]}": s.best_x,
                     "best value": s.best_value, "training loss there": s.train_loss_at_best,
                     f"over-fitting from {AXIS_TITLES[axis]}": s.onset_x, "evaluations": s.n_points})
    return pd.DataFrame(rows)
