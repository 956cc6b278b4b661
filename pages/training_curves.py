"""Model Quality › Training Curves: loss (and accuracy) over steps, epochs or time for training and validation,
the best epoch (lowest validation loss) and the over-fitting onset (validation loss rising while training loss
falls for ``patience`` consecutive evaluations — the rule is in ``explorer.analysis.training``)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer.errors import UserError
from explorer.analysis import training
from explorer.ui.state import selection
from explorer.ui.charts import show_chart
from explorer.ui.text import plain
from explorer.ui.persist import keep

AXIS_TITLES = {"step": "step", "epoch": "epoch", "time": "elapsed time (s)"}
SERIES = {"train": ("#1f77b4", "solid"), "val": ("#d62728", "solid")}
MAX_POINTS = 5000  # points per series sent to the browser


def fmt(value) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.4g}"


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) > MAX_POINTS:
        keep = np.linspace(0, len(x) - 1, MAX_POINTS).astype(int)
        x, y = x[keep], y[keep]
    return x, y


def curve_figure(log, axis: str, kind: str, summary: training.TrainingSummary) -> go.Figure | None:
    x = training.x_values(log, axis)
    fig = go.Figure()
    for split in ("train", "val"):
        column = f"{split}_{kind}"
        if column not in log or log[column].notna().sum() == 0:
            continue
        xs, ys = _thin(x, log[column].to_numpy(np.float64))
        colour, dash = SERIES[split]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers" if len(xs) <= 200 else "lines",
                                 name=f"{'training' if split == 'train' else 'validation'} {kind}",
                                 line=dict(color=colour, dash=dash), marker=dict(size=4)))
    if not fig.data:
        return None
    if np.isfinite(summary.best_x):
        fig.add_vline(x=summary.best_x, line_dash="dash", line_color="green",
                      annotation_text=f"best {AXIS_TITLES[axis]} {summary.best_x:g}", annotation_position="top left")
    if summary.onset_x is not None:
        fig.add_vrect(x0=summary.onset_x, x1=float(np.nanmax(x)), fillcolor="orange", opacity=0.12, line_width=0,
                      annotation_text="over-fitting", annotation_position="top right")
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=AXIS_TITLES[axis],
                      yaxis_title=kind, title=kind.capitalize(), legend=dict(orientation="h"))
    return fig


def main() -> None:
    st.title("Training Curves")
    sel = selection()
    log = training.training_log(sel.project)
    axes = training.available_axes(log)
    if not axes:
        st.error("The training log has no step, epoch or timestamp values to plot against.")
        return
    a, b = st.columns([2, 1])
    axis = a.radio("x axis", axes, index=axes.index(training.default_axis(log)), horizontal=True,
                   format_func=AXIS_TITLES.get, **keep("tc_axis"))
    patience = int(b.number_input("Patience (evaluations)", min_value=1, max_value=20, value=2, **keep("tc_patience"),
                                  help="consecutive evaluations with validation loss rising while training loss falls"))
    summary = training.summarize(log, axis=axis, patience=patience)
    cols = st.columns(4)
    unit = AXIS_TITLES[axis]
    cols[0].metric(f"Best {unit}", fmt(summary.best_x), help="first evaluation with the lowest validation loss")
    cols[1].metric("Best validation loss", fmt(summary.best_val_loss), help=f"exact value {float(summary.best_val_loss)!r}")
    cols[2].metric("Training loss there", fmt(summary.train_loss_at_best))
    cols[3].metric(f"Over-fitting from {unit}", "none" if summary.onset_x is None else fmt(summary.onset_x),
                   help=training.RULE.format(patience=patience))
    if summary.n_points == 0:
        st.info("The log has no validation loss: no best epoch or over-fitting signal can be given.")
    elif summary.onset_x is not None:
        st.warning(f"Over-fitting: from {unit} {summary.onset_x:g} the validation loss rises while the training loss "
                   f"falls ({patience} consecutive evaluations). The best model is at {unit} {summary.best_x:g}.")
    st.caption("Rule: " + training.RULE.format(patience=patience) + ".")
    for kind in ("loss", "accuracy"):
        fig = curve_figure(log, axis, kind, summary)
        if fig is not None:
            show_chart(fig, key=f"tc_{kind}")
    others = [c for c in log.columns if c not in training.COLUMNS]
    if others:
        with st.expander(f"Other logged series ({len(others):,})"):
            st.line_chart(log.set_index(training.x_values(log, axis))[others])
    with st.expander("Log table"):
        st.dataframe(log, hide_index=True)


try:
    main()
except UserError as e:
    st.error(plain(e))
