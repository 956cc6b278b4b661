"""Model Quality › Classification: accuracy, macro/weighted means and top-k; the per-class table; the confusion
matrix raw or row-normalised, ordered by "most confused"/"most common" with top-K folding; and the misclassified
images per true class.

Numbers come from ``explorer.evaluation.classification`` (equal to scikit-learn; NaN where undefined, shown as "—").
The sidebar's split, classes (images whose true class is selected) and confidence threshold apply.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer.analysis import few_images_note
from explorer.errors import UserError
from explorer.evaluation.class_confusion import ORDERINGS
from explorer.drawing.tiles import Tile
from explorer.ui import classification as ui
from explorer.ui.gallery import show_gallery
from explorer.ui.state import selection

ORDER_TITLES = {"most_confused": "most confused", "most_common": "most common", "labels": "class order"}


def fmt(value) -> str:
    """4 decimals; an em dash for an undefined (NaN) value."""
    return "—" if value is None or not np.isfinite(value) else f"{value:.4f}"


def headline(result, n_unpredicted: int) -> None:
    s = result.summary
    cols = st.columns(5)
    cols[0].metric("Accuracy", fmt(s["accuracy"]), help=f"correct / evaluated images; exact value {s['accuracy']!r}")
    cols[1].metric("Macro precision", fmt(s["macro_precision"]),
                   help="mean over classes of TP / predicted; classes never predicted are undefined and left out")
    cols[2].metric("Macro recall", fmt(s["macro_recall"]), help="mean over classes of TP / support")
    cols[3].metric("Macro F1", fmt(s["macro_f1"]), help=f"mean over classes of 2TP / (2TP + FP + FN); exact value {s['macro_f1']!r}")
    cols[4].metric("Weighted F1", fmt(s["weighted_f1"]), help="F1 per class weighted by its support")
    if "top_1_accuracy" in s:
        cols = st.columns(5)
        for k, col in enumerate(cols, start=1):
            col.metric(f"Top-{k} accuracy", fmt(s[f"top_{k}_accuracy"]),
                       help="true class among the k highest scores (ties towards the later class)")
    n = s["n_samples"]
    left_out = (f"; {n_unpredicted:,} selected image(s) have no prediction (or one below the confidence threshold) "
                "and are left out") if n_unpredicted else ""
    st.caption(f"{n:,} images evaluated{left_out}")
    note = few_images_note(n)
    if note:
        st.warning(note)


def class_table(result, sel) -> None:
    per_class = result.per_class
    shown = per_class[per_class.index.isin(sel.classes) | (per_class["n_predicted"] > 0)]
    st.dataframe(shown.reset_index(drop=True), hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="%.4f") for c in ("precision", "recall", "f1")})
    st.caption("precision = TP / predicted, recall = TP / support, F1 = 2TP / (2TP + FP + FN); empty = undefined "
               "(a class never predicted has no precision, a class with no images no recall).")


def confusion(result) -> None:
    n = len(result.confusion.names)
    a, b, c = st.columns(3)
    by = a.radio("Order", list(ORDER_TITLES), format_func=ORDER_TITLES.get, horizontal=True, key="cls_cm_order")
    normalised = b.radio("Values", ["counts", "row-normalised"], horizontal=True, key="cls_cm_values") != "counts"
    top_k = int(c.number_input("Top-K classes", min_value=1, max_value=max(n, 1), value=min(n, 20), key="cls_cm_top_k",
                               help="the other classes fold into one 'other' row and column"))
    cm = result.confusion.arranged(by=by if by in ORDERINGS else "labels", top_k=top_k)
    values = cm.normalized() if normalised else cm.frame()
    z = values.to_numpy(np.float64)
    text = [[("" if np.isnan(v) else (f"{v:.2f}" if normalised else f"{int(v)}")) for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=list(cm.names), y=list(cm.names), text=text, texttemplate="%{text}",
                               colorscale="Blues", hovertemplate="true %{y} → predicted %{x}: %{z}<extra></extra>"))
    # category axes: class names like "0".."9" would otherwise make a numeric axis and misplace the cells
    fig.update_layout(height=min(160 + 34 * len(cm.names), 900), margin=dict(l=10, r=10, t=30, b=10),
                      xaxis=dict(title="predicted", type="category"),
                      yaxis=dict(title="true", type="category", autorange="reversed"))
    st.plotly_chart(fig, key="cls_confusion")


def misclassified(sel) -> None:
    out = ui.outcomes(sel)
    wrong = out[~out["correct"]]
    names = sel.project.category_names
    if len(wrong) == 0:
        st.info("No misclassified image in this selection.")
        return
    counts = wrong["true_id"].value_counts()
    options = [int(c) for c in sel.classes if c in counts.index]
    true_id = st.selectbox("True class", options, key="cls_gallery_class",
                           format_func=lambda c: f"{names[c]} ({int(counts[c])} misclassified)")
    rows = wrong[wrong["true_id"] == true_id].sort_values("score", ascending=False, na_position="last")
    tiles = [Tile(int(r.image_id), caption=f"predicted {names[int(r.pred_id)]}"
                  + ("" if np.isnan(r.score) else f" ({r.score:.2f})"), key=f"img:{int(r.image_id)}")
             for r in rows.itertuples()]
    show_gallery(tiles, key="cls_gallery", project=sel.project)


def main() -> None:
    st.title("Classification")
    sel = selection()
    if not sel.project.has_predictions:
        st.info("This project has no predictions: import them to see model quality.")
        return
    result = ui.evaluate(sel)
    if result.evaluation is None:
        st.info(f"No image in this selection has a prediction ({result.n_images} labelled image(s) selected).")
        return
    headline(result.evaluation, result.n_unpredicted)
    st.subheader("Per class")
    class_table(result.evaluation, sel)
    st.subheader("Confusion matrix")
    confusion(result.evaluation)
    st.subheader("Misclassified images")
    misclassified(sel)


try:
    main()
except UserError as e:
    st.error(str(e))
