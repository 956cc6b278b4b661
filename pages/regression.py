"""Model Quality › Regression: MSE, RMSE, MAE, R², explained variance, max error and mean (signed) error; the
predicted-vs-true scatter (at most ``MAX_POINTS`` points drawn); the residual histogram; and the mean absolute
error per bucket of a data metric.

Numbers come from ``explorer.evaluation.regression`` (equal to scikit-learn; NaN where undefined, shown as "—").
The sidebar's split applies. The error tolerance set here is the yes/no outcome of Performance by Metric.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer.analysis import few_images_note
from explorer.errors import UserError
from explorer.analysis.stats import histogram
from explorer.evaluation import regression as reg
from explorer.ui import regression as ui
from explorer.ui.outcomes import metric_names, metrics_for_target
from explorer.ui.state import selection
from explorer.ui.charts import show_chart
from explorer.ui.text import plain
from explorer.ui.persist import keep

MAX_POINTS = 5000  # scatter points sent to the browser (a deterministic evenly spaced subsample beyond)


def fmt(value) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.4g}"


def headline(summary: dict, n_unpredicted: int) -> None:
    cols = st.columns(4)
    cols[0].metric("MAE", fmt(summary["mae"]), help=f"mean |prediction − target|; exact value {float(summary['mae'])!r}")
    cols[1].metric("RMSE", fmt(summary["rmse"]), help=f"√MSE; exact value {float(summary['rmse'])!r}")
    cols[2].metric("MSE", fmt(summary["mse"]), help="mean (prediction − target)²")
    cols[3].metric("R²", fmt(summary["r2"]), help="1 − Σ residual² / Σ (target − mean target)²; constant targets: 0.0, "
                   f"or 1.0 when every prediction is exact (scikit-learn's force_finite default); undefined (—) for "
                   f"one image; exact value {float(summary['r2'])!r}")
    cols = st.columns(4)
    cols[0].metric("Explained variance", fmt(summary["explained_variance"]),
                   help="1 − var(residual) / var(target); constant targets: 0.0, or 1.0 when the residuals are "
                        "constant (scikit-learn's force_finite default)")
    cols[1].metric("Max error", fmt(summary["max_error"]), help="largest |prediction − target|")
    cols[2].metric("Mean error", fmt(summary["mean_error"]),
                   help="mean (prediction − target): > 0 means over-predicting on average")
    cols[3].metric("Images evaluated", f"{summary['n_samples']:,}")
    if n_unpredicted:
        st.caption(f"{n_unpredicted:,} image(s) of the selection have a target but no prediction and are left out.")
    note = few_images_note(summary["n_samples"])
    if note:
        st.warning(note)


def scatter(out) -> None:
    rows = out
    if len(out) > MAX_POINTS:
        rows = out.iloc[np.linspace(0, len(out) - 1, MAX_POINTS).astype(int)]
        st.caption(f"Showing {MAX_POINTS:,} of {len(out):,} points (evenly spaced subsample).")
    lo = float(min(out["target"].min(), out["prediction"].min()))
    hi = float(max(out["target"].max(), out["prediction"].max()))
    fig = go.Figure()
    fig.add_trace(go.Scattergl(x=rows["target"], y=rows["prediction"], mode="markers", name="images",
                               marker=dict(size=5, opacity=0.6), customdata=rows["image_id"],
                               hovertemplate="image %{customdata}: target %{x:.4g}, predicted %{y:.4g}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="prediction = target",
                             line=dict(dash="dash", color="grey")))
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="target", yaxis_title="prediction",
                      title="Predicted vs true")
    show_chart(fig, key="reg_scatter")


def residuals(out) -> None:
    h = histogram(out["error"].to_numpy(np.float64), bins=30)
    edges, counts = np.asarray(h.edges), np.asarray(h.counts)
    fig = go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges),
                           hovertemplate="residual %{x:.4g}: %{y} images<extra></extra>"))
    fig.add_vline(x=0, line_dash="dash", line_color="grey")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="residual (prediction − target)",
                      yaxis_title="images", title="Residuals")
    show_chart(fig, key="reg_residuals")


def error_by_metric(sel, out) -> None:
    frame = metrics_for_target(sel.project, "images")
    if frame is None:
        st.info("No data metrics yet: compute them with `explorer metrics PROJECT` to see the error by metric.")
        return
    names = metric_names(sel.project, "images", numeric=True)
    if not names:
        st.info("The project has no numeric frame metrics.")
        return
    a, b = st.columns([3, 1])
    default = list(names).index("brightness") if "brightness" in names else 0
    column = a.selectbox("Metric", list(names), index=default, format_func=names.get, **keep("reg_metric"))
    n_buckets = int(b.number_input("Buckets", min_value=2, max_value=30, value=5, **keep("reg_buckets")))
    values = frame[column].reindex(out["image_id"].to_numpy()).to_numpy(np.float64)
    buckets = reg.error_by_bucket(values, out["abs_error"].to_numpy(), n_buckets=n_buckets)
    labels = [f"{lo:.4g} – {hi:.4g}" for lo, hi in zip(buckets["lo"], buckets["hi"])]
    fig = go.Figure(go.Bar(x=labels, y=buckets["mae"], customdata=buckets["n"],
                           hovertemplate="%{x}: MAE %{y:.4g} over %{customdata} images<extra></extra>"))
    fig.add_hline(y=float(out["abs_error"].mean()), line_dash="dash", annotation_text="overall MAE")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=names[column],
                      yaxis_title="mean absolute error", title=f"Absolute error by {names[column]}")
    show_chart(fig, key="reg_error_by_metric")
    table = buckets.assign(range=labels)[["range", "n", "mae", "rmse"]]
    table["note"] = np.where(table["n"] < 10, "fewer than 10 images: unreliable", "")
    st.dataframe(table, hide_index=True)
    if buckets.attrs.get("n_missing"):
        st.caption(f"{buckets.attrs['n_missing']:,} image(s) have no value for this metric and are in no bucket.")


def main() -> None:
    st.title("Regression")
    sel = selection()
    table = reg.regression_table(sel.project, image_ids=sel.image_ids)
    out = ui.outcomes(sel)
    if len(out) == 0:
        st.info(f"No image in this selection has a prediction ({len(table):,} image(s) with a target).")
        return
    summary = reg.evaluate_regression(out["target"], out["prediction"]).summary
    headline(summary, len(table) - len(out))
    left, right = st.columns(2)
    with left:
        scatter(out)
    with right:
        residuals(out)
    st.subheader("Absolute error by data metric")
    error_by_metric(sel, out)
    st.number_input("Error tolerance for Performance by Metric (absolute error ≤ tolerance counts as good)",
                    min_value=0.0, value=float(np.median(out["abs_error"])), format="%.4g", **keep(ui.TOLERANCE_KEY))


try:
    main()
except UserError as e:
    st.error(plain(e))
