"""Model Quality › Segmentation: aAcc / mIoU / mAcc, per-class IoU and accuracy, the pixel confusion matrix,
the per-image IoU distribution and by data-metric bucket, and label-vs-prediction mask overlays.

Definitions (MMSegmentation) are in ``explorer.evaluation.segmentation``; the class filter restricts the per-class
table and the means (mIoU, mAcc); aAcc is over every labelled pixel of the split.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer.analysis import few_bucket_items_note, few_images_note
from explorer.errors import UserError
from explorer.analysis.stats import histogram
from explorer.evaluation import segmentation as seg
from explorer.evaluation.class_confusion import ORDERINGS, ClassConfusion
from explorer.tasks.segmentation import miou_by_bucket, per_image
from explorer.ui import segmentation as ui
from explorer.ui.splits_table import show_splits_table
from explorer.ui.outcomes import metric_names, metrics_for_target
from explorer.ui.state import selection
from explorer.ui.charts import show_chart
from explorer.ui.text import html_text, plain
from explorer.ui.persist import keep, keyed


def fmt(value) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.4f}"


def headline(sel, result, summary) -> None:
    a, b, c, d = st.columns(4)
    a.metric("aAcc", fmt(summary["aAcc"]), help="correct pixels / labelled pixels (ignore index left out); "
             f"exact value {float(summary['aAcc'])!r}")
    b.metric("mIoU", fmt(summary["mIoU"]), help="mean over the selected classes of TP / (TP + FP + FN); a class "
             f"absent from label and prediction is left out; exact value {float(summary['mIoU'])!r}")
    c.metric("mAcc", fmt(summary["mAcc"]), help="mean over the selected classes of TP / labelled pixels of the "
             f"class; exact value {float(summary['mAcc'])!r}")
    d.metric("Images evaluated", f"{result.n_images:,}")
    note = few_images_note(result.n_images)
    if note:
        st.warning(note)
    images = sel.project.images
    images = images[images["image_id"].isin(sel.image_ids)]
    missing = int((images["label_mask"].notna() & images["pred_mask"].isna()).sum())
    unlabelled = int(images["label_mask"].isna().sum())
    if missing or unlabelled:
        st.info(f"Not evaluated: {missing} labelled image(s) without a prediction mask, {unlabelled} image(s) "
                "without a valid label mask (see the project's import report).")
    if result.invalid_predictions.sum():
        st.warning(f"{int(result.invalid_predictions.sum()):,} labelled pixels have a predicted value outside the "
                   "classes; they count as wrong.")


def class_table(result, chosen, colours) -> None:
    table = result.per_class
    table = table[table["class_index"].isin(chosen)]
    st.dataframe(table.rename(columns={"class_index": "class", "iou": "IoU", "acc": "Acc",
                                       "label_pixels": "labelled pixels", "pred_pixels": "predicted pixels"}),
                 hide_index=True, column_config={"IoU": st.column_config.NumberColumn(format="%.4f"),
                                                 "Acc": st.column_config.NumberColumn(format="%.4f")})
    fig = go.Figure(go.Bar(x=table["name"], y=table["iou"], marker_color=[_css(colours[i]) for i in table["class_index"]],
                           hovertemplate="%{x}: IoU %{y:.4f}<extra></extra>"))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10), title="IoU per class",
                      xaxis=dict(type="category"), yaxis=dict(range=[0, 1], title="IoU"))
    show_chart(fig, key="seg_iou_bar")


def confusion(result) -> None:
    left, mid, right = st.columns(3)
    order = left.selectbox("Order", ORDERINGS, **keep("seg_cm_order"),
                           format_func=lambda o: {"labels": "class index", "most_common": "most common",
                                                  "most_confused": "most confused"}[o])
    normalise = mid.toggle("Row-normalised", value=True, **keep("seg_cm_normalised"),
                           help="each row divided by the label class's pixels: the diagonal is the class accuracy")
    k = result.num_classes
    top_k = right.number_input("Classes shown (rest folded into 'other')", 1, max(k, 1), min(k, 20), **keep("seg_cm_top_k"))
    cm = ClassConfusion(result.confusion, result.class_names).arranged(by=order, top_k=int(top_k))
    values = cm.normalized() if normalise else cm.frame()
    z = values.to_numpy(np.float64)
    text = [["" if not np.isfinite(v) else (f"{v:.2f}" if normalise else f"{int(v):,}") for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=[str(c) for c in values.columns], y=[str(i) for i in values.index],
                               colorscale="Blues", text=text, texttemplate="%{text}",
                               hovertemplate="label %{y} → predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10), title="Pixel confusion (rows = label)",
                      xaxis=dict(title="predicted", type="category"),
                      yaxis=dict(title="label", type="category", autorange="reversed"))
    show_chart(fig, key="seg_confusion")


def iou_distribution(out) -> None:
    h = histogram(out["miou"].to_numpy(), bins=20, value_range=(0.0, 1.0))
    fig = go.Figure(go.Bar(x=h.centers, y=h.counts, width=h.widths, hovertemplate="mIoU %{x:.2f}: %{y} images<extra></extra>"))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10), title="Per-image mIoU", xaxis_title="mIoU",
                      yaxis_title="images")
    show_chart(fig, key="seg_miou_hist")


def by_metric(sel, out) -> None:
    frame = metrics_for_target(sel.project, "images")
    if frame is None:
        st.info("Data metrics were not computed for this project: run `explorer metrics PROJECT`.")
        return
    names = metric_names(sel.project, "images", numeric=True)
    if not names:
        st.info("No frame (F) metric is available for these images.")
        return
    left, right = st.columns([3, 1])
    metric = left.selectbox("Data metric", list(names), format_func=names.get, **keep("seg_metric"))
    n_buckets = right.number_input("Buckets", 2, 20, 5, **keep("seg_buckets"))
    values = frame[metric].reindex(out["image_id"].to_numpy()).to_numpy(np.float64)
    miou = out["miou"].to_numpy()
    table, buckets = miou_by_bucket(values, miou, n_buckets=int(n_buckets))
    counts, means, labels = table["n"].to_numpy(), table["mean_miou"].to_numpy(), list(table["range"])
    fig = go.Figure(go.Bar(x=labels, y=means, text=[f"n={c}" for c in counts], hovertemplate="%{x}: mean mIoU %{y:.4f}<extra></extra>"))
    fig.add_hline(y=float(np.nanmean(miou)), line_dash="dash", annotation_text="overall mean")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), title=f"Mean per-image mIoU by {names[metric]}",
                      yaxis=dict(range=[0, 1], title="mean mIoU"), xaxis_title=names[metric])
    show_chart(fig, key="seg_by_metric")
    if buckets.n_missing:
        st.caption(f"{buckets.n_missing:,} image(s) without a value for this metric are not in any bucket.")
    small = [few_bucket_items_note(int(c), "images") for c in counts]
    if any(small):
        st.caption(next(s for s in small if s))
    return metric, names[metric], values, table, buckets


def bucket_gallery(sel, out, metric: str, title: str, values, table, buckets, colours) -> None:
    """The images of one bucket of the by-metric chart, worst mIoU first."""
    if len(table) == 0 or not np.isfinite(buckets.edges).all():
        return
    pick = st.selectbox("Open the images of bucket", list(range(len(table))), key=keyed("seg_bucket_pick", metric, len(table)),
                        format_func=lambda i: f"{i + 1}: {table['range'].iloc[i]} ({int(table['n'].iloc[i])} images, "
                                              f"mean mIoU {fmt(table['mean_miou'].iloc[i])})")
    rows = out[buckets.index == pick].assign(metric_value=values[buckets.index == pick])
    rows = rows.merge(sel.project.images[["image_id", "file_name"]], on="image_id").sort_values(["miou", "image_id"])
    ui.mask_gallery(sel.project, rows, lambda r: f"{r.file_name} · mIoU {fmt(r.miou)} · {title} {r.metric_value:.4g}",
                    key="seg_bucket_gallery")


def worst_gallery(sel, rows) -> None:
    """Every evaluated image of the selection, lowest per-image mIoU first, the prediction drawn over it."""
    st.caption(f"{len(rows):,} evaluated image(s), lowest per-image mIoU first; the prediction mask is drawn in the "
               "class colours of the legend below.")
    ui.mask_gallery(sel.project, rows, lambda r: f"{r.file_name} · mIoU {fmt(r.miou)} · pixel accuracy "
                                                 f"{fmt(r.pixel_accuracy)}", key="seg_worst")


def _css(rgb) -> str:
    return f"rgb({int(rgb[0])},{int(rgb[1])},{int(rgb[2])})"


def legend(names, colours) -> None:
    # our constant markup; a class name enters it only through html_text (it may hold HTML or Markdown)
    chips = " ".join(f"<span style='background:{_css(colours[i])};padding:1px 8px;border-radius:3px;color:white'>"
                     f"{i:d} {html_text(n)}</span>" for i, n in enumerate(names))
    st.markdown(chips + " <span style='border:1px solid #ccc;padding:1px 8px'>ignore</span>", unsafe_allow_html=True)


def overlays(sel, out, colours) -> None:
    project = sel.project
    settings = seg.settings(project)
    ignore = int(settings.get("ignore_index", seg.IGNORE_INDEX))
    rows = out.sort_values(["miou", "image_id"]).merge(project.images, on="image_id")
    if len(rows) == 0:
        st.info("No evaluated image in the selection.")
        return
    choice = st.selectbox("Image (worst mIoU first)", range(len(rows)), **keep("seg_image", url=False),
                          format_func=lambda i: f"{rows['file_name'].iloc[i]} · mIoU {fmt(rows['miou'].iloc[i])}")
    row = rows.iloc[int(choice)]
    label = seg.read_mask(seg.mask_path(project, "label", row["label_mask"]))
    pred = seg.read_mask(seg.mask_path(project, "pred", row["pred_mask"]))
    image = ui.read_image(project, row["file_name"])
    alpha = st.slider("Mask opacity", 0.0, 1.0, 0.5, 0.05, **keep("seg_alpha"))
    a, b, c = st.columns(3)
    a.image(ui.overlay(image, label, colours, alpha=alpha, ignore_index=ignore), caption="label", width="stretch")
    b.image(ui.overlay(image, pred, colours, alpha=alpha, ignore_index=ignore), caption="prediction", width="stretch")
    c.image(ui.error_map(label, pred, ignore_index=ignore), caption="errors: green correct, red wrong, white ignored",
            width="stretch")
    legend(list(project.categories.sort_values("category_id")["name"].astype(str)), colours)


SPLIT_COLUMNS = {"n_images_evaluated": "images evaluated", "aAcc": "aAcc", "mIoU": "mIoU", "mAcc": "mAcc",
                 "n_images_without_prediction": "without prediction"}


def page(sel) -> None:
    st.title("Semantic Segmentation")
    project = sel.project
    seg.settings(project)
    pc = ui.confusions(project)
    result = pc.evaluate(sel.image_ids)
    chosen = [int(c) for c in sel.classes]
    summary = result.restricted(chosen)
    colours = ui.palette(result.num_classes)
    headline(sel, result, summary)
    if project.splits:
        with st.expander("Every split side by side", expanded=True):
            show_splits_table(sel, SPLIT_COLUMNS, key="seg_splits")
    st.subheader("Per class")
    class_table(result, chosen, colours)
    st.subheader("Confusion matrix")
    confusion(result)
    out = ui.outcomes(project)
    out = out[out["image_id"].isin(sel.image_ids)]
    st.subheader("Per-image IoU")
    target = float(sel.core.option("target_iou", ui.DEFAULT_GOOD_IOU))
    st.caption("Per-image mIoU = mean IoU over the classes present in the image's label or prediction. It is the "
               f"outcome of Metric Importance and Performance by Metric: Y = mIoU ≥ {target:.2f} (the target is set "
               f"on those pages); {int((out['miou'] >= target).sum()):,} of {len(out):,} image(s) reach it.")
    worst_gallery(sel, per_image(project, sel.core))
    left, right = st.columns(2)
    with left:
        iou_distribution(out)
    with right:
        chosen_metric = by_metric(sel, out)
    if chosen_metric is not None:
        bucket_gallery(sel, out, *chosen_metric, colours)
    st.subheader("Masks")
    overlays(sel, out, colours)


try:
    page(selection())
except UserError as e:
    st.error(plain(e))
