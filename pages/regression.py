"""Model Quality › Regression: MSE, RMSE, MAE, R², explained variance, max error and mean (signed) error, in the
target's unit, with the counts of images, targets and predictions; every split side by side; the
predicted-vs-true scatter (at most ``MAX_POINTS`` points drawn); the residual histogram; the worst errors as a
gallery; and the mean absolute error per bucket of a data metric, each bucket opening its images.

Numbers come from ``explorer.evaluation.regression`` (equal to scikit-learn; NaN where undefined, shown as "—").
The sidebar's split applies. The error tolerance (the yes/no outcome of Metric Importance and Performance by
Metric) is set on those pages (``explorer.ui.regression.tolerance_control``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.analysis import few_images_note
from explorer.errors import UserError
from explorer.analysis.stats import histogram
from explorer.drawing.tiles import Tile
from explorer.evaluation import regression as reg
from explorer.tasks.regression import worst_errors
from explorer.ui import regression as ui
from explorer.ui.gallery import show_gallery
from explorer.ui.persist import keep
from explorer.ui.splits_table import show_splits_table
from explorer.ui.outcomes import metric_names, metrics_for_target
from explorer.ui.state import selection
from explorer.ui.charts import show_chart
from explorer.ui.text import plain

MAX_POINTS = 5000  # scatter points sent to the browser (a deterministic evenly spaced subsample beyond)


def fmt(value) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.4g}"


def headline(summary: dict, n_unpredicted: int, unit: str = "") -> None:
    u = f" ({plain(unit)})" if unit else ""
    u2 = f" ({plain(unit)}²)" if unit else ""
    cols = st.columns(4)
    cols[0].metric(f"MAE{u}", fmt(summary["mae"]), help=f"mean |prediction − target|; exact value {float(summary['mae'])!r}")
    cols[1].metric(f"RMSE{u}", fmt(summary["rmse"]), help=f"√MSE; exact value {float(summary['rmse'])!r}")
    cols[2].metric(f"MSE{u2}", fmt(summary["mse"]), help=f"mean (prediction − target)²; exact value {float(summary['mse'])!r}")
    cols[3].metric("R²", fmt(summary["r2"]), help="1 − Σ residual² / Σ (target − mean target)²; constant targets: 0.0, "
                   f"or 1.0 when every prediction is exact (scikit-learn's force_finite default); undefined (—) for "
                   f"one image; exact value {float(summary['r2'])!r}")
    cols = st.columns(4)
    cols[0].metric("Explained variance", fmt(summary["explained_variance"]),
                   help="1 − var(residual) / var(target); constant targets: 0.0, or 1.0 when the residuals are "
                        "constant (scikit-learn's force_finite default)")
    cols[1].metric(f"Max error{u}", fmt(summary["max_error"]),
                   help=f"largest |prediction − target|; exact value {float(summary['max_error'])!r}")
    cols[2].metric(f"Mean error{u}", fmt(summary["mean_error"]),
                   help="mean (prediction − target): > 0 means over-predicting on average; exact value "
                        f"{float(summary['mean_error'])!r}")
    cols[3].metric("Images evaluated", f"{summary['n_samples']:,}")
    if n_unpredicted:
        st.caption(f"{n_unpredicted:,} image(s) of the selection have a target but no prediction and are left out.")
    note = few_images_note(summary["n_samples"])
    if note:
        st.warning(note)


def scatter(out, name: str = "target", unit: str = "") -> None:
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
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=ui.with_unit(f"true {name}", unit),
                      yaxis_title=ui.with_unit(f"predicted {name}", unit), title="Predicted vs true")
    show_chart(fig, key="reg_scatter")


def residuals(out, unit: str = "") -> None:
    h = histogram(out["error"].to_numpy(np.float64), bins=30)
    edges, counts = np.asarray(h.edges), np.asarray(h.counts)
    fig = go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges),
                           hovertemplate="residual %{x:.4g}: %{y} images<extra></extra>"))
    fig.add_vline(x=0, line_dash="dash", line_color="grey")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=ui.with_unit("residual (prediction − target)", unit),
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
    table.attrs = {}  # the per-value bucket index stays with ``buckets`` (Arrow cannot carry it)
    table["note"] = np.where(table["n"] < 10, "fewer than 10 images: unreliable", "")
    st.dataframe(table, hide_index=True)
    if buckets.attrs.get("n_missing"):
        st.caption(f"{buckets.attrs['n_missing']:,} image(s) have no value for this metric and are in no bucket.")
    return column, names[column], values, buckets, labels


def _tiles(rows, names, *, metric: str | None = None, title: str = "") -> list[Tile]:
    """Tiles captioned with file name, true and predicted value, |error| (the order) and the bucket's metric."""
    def caption(r) -> str:
        text = (f"{names.get(int(r.image_id), r.image_id)} · true {r.target:.4g} · predicted {r.prediction:.4g} · "
                f"|error| {r.abs_error:.4g}")
        return text + (f" · {title} {getattr(r, metric):.4g}" if metric is not None else "")
    return [Tile(int(r.image_id), caption=caption(r), key=f"img:{int(r.image_id)}") for r in rows.itertuples()]


def worst_gallery(sel, out) -> None:
    """Every predicted image of the selection, largest |error| first."""
    rows = worst_errors(sel.project, out)
    names = dict(zip(rows["image_id"], rows["file_name"]))
    st.caption(f"{len(rows):,} predicted image(s), largest |prediction − target| first.")
    show_gallery(_tiles(rows, names), key="reg_worst", project=sel.project, columns=4, per_page=8)


def bucket_gallery(sel, out, column: str, title: str, values, buckets, labels) -> None:
    """The images of one bucket of the error-by-metric chart, largest |error| first."""
    if len(buckets) == 0:
        return
    pick = st.selectbox("Open the images of bucket", list(range(len(buckets))),
                        key=f"reg_bucket_pick.{column}.{len(buckets)}",
                        format_func=lambda i: f"{i + 1}: {labels[i]} ({int(buckets['n'].iloc[i])} images, MAE "
                                              f"{buckets['mae'].iloc[i]:.4g})")
    inside = buckets.attrs["index"] == pick
    rows = worst_errors(sel.project, out[inside])
    rows["metric_value"] = pd.Series(values, index=out["image_id"].to_numpy()).reindex(rows["image_id"]).to_numpy()
    names = dict(zip(rows["image_id"], rows["file_name"]))
    show_gallery(_tiles(rows, names, metric="metric_value", title=title), key="reg_bucket_gallery",
                 project=sel.project, columns=4, per_page=8)


SPLIT_COLUMNS = {"n_samples": "images evaluated", "mae": "MAE", "rmse": "RMSE", "mse": "MSE", "r2": "R²",
                 "explained_variance": "explained variance", "max_error": "max error", "mean_error": "mean error"}


def counts_line(sel, table, out, name: str, unit: str) -> None:
    """What the project holds: images, targets (the labels) and predictions of the selection."""
    n_images = len(sel.image_ids)
    st.caption(f"Target: **{plain(name)}**" + (f" in {plain(unit)}" if unit else "") + f" · {n_images:,} image(s) in "
               f"the selection · {len(table):,} with a target (label) · {len(out):,} with a prediction")


def main() -> None:
    st.title("Regression")
    sel = selection()
    name, unit = ui.target_words(sel.project)
    table = reg.regression_table(sel.project, image_ids=sel.image_ids)
    out = ui.outcomes(sel)
    counts_line(sel, table, out, name, unit)
    if len(out) == 0:
        st.info(f"No image in this selection has a prediction ({len(table):,} image(s) with a target).")
        return
    summary = reg.evaluate_regression(out["target"], out["prediction"]).summary
    headline(summary, len(table) - len(out), unit)
    if sel.project.splits:
        with st.expander("Every split side by side", expanded=True):
            show_splits_table(sel, SPLIT_COLUMNS, key="reg_splits")
    left, right = st.columns(2)
    with left:
        scatter(out, name, unit)
    with right:
        residuals(out, unit)
    st.subheader("Worst errors")
    worst_gallery(sel, out)
    st.subheader("Absolute error by data metric")
    chosen = error_by_metric(sel, out)
    if chosen is not None:
        bucket_gallery(sel, out, *chosen)
    st.caption("The error tolerance (Y = |error| ≤ tolerance) of Metric Importance and Performance by Metric is "
               "set on those pages.")

try:
    main()
except UserError as e:
    st.error(plain(e))
