"""Model Quality › Training Curves: training and validation loss (and accuracy) over steps, epochs or time, one
chart per logged series under its logged name, several runs overlaid, TensorBoard-style smoothing and a log
scale; the best evaluation and the over-fitting onset (the rule and its parameters are stated on the page; see
``explorer.analysis.training``); each run's format, params and tags."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.errors import UserError
from explorer.analysis import training
from explorer.ui import training as ui
from explorer.ui.state import selection
from explorer.ui.charts import show_chart
from explorer.ui.text import number, plain
from explorer.ui.persist import keep

AXIS_TITLES = ui.AXIS_TITLES


def fmt(value) -> str:
    return number(value, ".4g")


def _summary_cards(s: training.TrainingSummary, unit: str, patience: int) -> None:
    rule = training.rule_text(patience=patience, monitor=s.monitor)
    cols = st.columns(4)
    cols[0].metric(f"Best {unit}", fmt(s.best_x), help="first evaluation with the best monitored validation value")
    if s.monitor == "val_loss" or s.monitor is None:
        cols[1].metric("Best validation loss", fmt(s.best_val_loss), help=f"exact value {float(s.best_val_loss)!r}")
    else:
        cols[1].metric(f"Best {plain(s.monitor)}", fmt(s.best_value), help=f"exact value {float(s.best_value)!r}")
    cols[2].metric("Training loss there", fmt(s.train_loss_at_best),
                   help="mean training loss over the validation interval ending at the best evaluation")
    cols[3].metric(f"Over-fitting from {unit}", "none" if s.onset_x is None else fmt(s.onset_x), help=plain(rule))


def _runs_section(project, log: pd.DataFrame) -> None:
    meta = ui.run_meta(project)
    with st.expander(f"Runs ({len(training.run_names(log)):,}): format, params and tags"):
        st.dataframe(ui.runs_table(log, meta), hide_index=True)
        for run, m in meta.items():
            params, tags = m.get("params") or {}, m.get("tags") or {}
            if params or tags:
                st.markdown(f"**{plain(run)}**")
                a, b = st.columns(2)
                a.dataframe(pd.DataFrame({"param": list(params), "value": list(params.values())}), hide_index=True)
                b.dataframe(pd.DataFrame({"tag": list(tags), "value": list(tags.values())}), hide_index=True)


def main() -> None:
    st.title("Training Curves")
    sel = selection()
    project = sel.project
    log = training.training_log(project)
    axes = training.available_axes(log)
    if not axes:
        st.error("The training log has no step, epoch or timestamp values to plot against.")
        return
    runs = training.run_names(log)
    a, b, c = st.columns([2, 1, 1])
    axis = a.radio("x axis", axes, index=axes.index(training.default_axis(log)), horizontal=True,
                   format_func=AXIS_TITLES.get, **keep("tc_axis"))
    patience = int(b.number_input("Patience (evaluations)", min_value=1, max_value=20, value=training.PATIENCE,
                                  **keep("tc_patience"),
                                  help="consecutive evaluations with the validation value getting worse while "
                                       "the training loss falls"))
    smoothing = float(c.slider("Smoothing", min_value=0.0, max_value=0.99, value=0.0, step=0.01, **keep("tc_smooth"),
                               help="TensorBoard's debiased exponential moving average; the raw curve stays faint"))
    d, e = st.columns([3, 1])
    shown = runs
    if len(runs) > 1:
        shown = d.multiselect("Runs", runs, default=runs, **keep("tc_runs")) or runs
    log_y = e.toggle("Log scale", value=False, **keep("tc_log"))
    judged = runs[0]
    if len(shown) > 1:
        judged = st.selectbox("Best and over-fitting of run", shown, **keep("tc_run"))
    elif shown:
        judged = shown[0]
    run_key = judged if "run" in log else None
    summary = ui.summary(project, project.fingerprint, axis, patience, run_key)
    unit = AXIS_TITLES[axis]
    _summary_cards(summary, unit, patience)
    if summary.n_points == 0:
        st.info("The log has no validation loss or validation metric: no best epoch or over-fitting signal can be "
                "given. Log a validation loss (or mAP / accuracy) to get them.")
    elif summary.onset_x is not None:
        st.warning(f"Over-fitting: from {unit} {summary.onset_x:g} the validation value gets worse while the training "
                   f"loss falls ({patience} consecutive evaluations). The best model is at {unit} {summary.best_x:g}.")
    rule = training.rule_text(patience=patience, monitor=summary.monitor)
    st.caption("Rule: " + plain(rule) + f". Parameters: patience {patience}, axis {unit}; the training loss of "
               "an evaluation is the mean over its validation interval. The export states the same rule.")
    if len(shown) > 1:
        st.dataframe(ui.summaries_table(project, axis, patience), hide_index=True)
    view = log if "run" not in log else log.loc[log["run"].astype(str).isin(shown)]
    sources = ui.derived(project)
    for kind in ("loss", "accuracy"):
        fig = ui.curve_figure(view, axis, kind, summary, runs=shown, smoothing=smoothing, log_y=log_y,
                              sources=sources)
        if fig is not None:
            show_chart(fig, key=f"tc_{kind}")
    logged = [s for s in training.series_names(log, sources) if s not in training.ROLES]
    if logged:
        st.subheader("Logged series")
        picked = st.multiselect("Series", logged, default=logged, **keep("tc_series"),
                                help="one chart per series, under the name the training logged it with")
        for name in picked:
            fig = ui.series_figure(view, axis, name, runs=shown, smoothing=smoothing, log_y=log_y)
            if fig is not None:
                show_chart(fig, key=f"tc_series_{name}")
    _runs_section(project, log)
    with st.expander("Log table"):
        st.dataframe(view, hide_index=True)


try:
    main()
except UserError as e:
    st.error(plain(e))
