"""Model Quality › Classification: accuracy, macro/weighted means and top-k; the per-class table; the confusion
matrix raw or row-normalised, ordered by "most confused"/"most common" with top-K folding; the misclassified images
per true class and, next to them, the images predicted as a class but of another class (its false positives).

Numbers come from ``explorer.evaluation.classification`` (equal to scikit-learn; NaN where undefined, shown as "—").
The sidebar's split and confidence threshold apply. The class filter selects **the images whose true class is
selected** (never by predicted class): accuracy, top-k and the misclassified gallery cover those images; the
per-class table and the confusion matrix count every prediction of the split, so a class's precision is the same
whatever the filter (a prediction of K on an image of an unselected class is still a false positive of K, shown in
the "predicted as K but wrong" gallery); the macro/weighted means average the selected classes' per-class values.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer.analysis import few_images_note
from explorer.errors import UserError
from explorer.evaluation.class_confusion import ORDERINGS
from explorer.drawing.tiles import Tile
from explorer.ui import classification as ui
from explorer.ui.gallery import show_gallery
from explorer.ui.splits_table import show_splits_table
from explorer.ui.state import selection
from explorer.ui.charts import show_chart
from explorer.ui.text import plain
from explorer.ui.persist import keep

ORDER_TITLES = {"most_confused": "most confused", "most_common": "most common", "labels": "class order"}
FILTER_RULE = ("The class filter selects the images whose **true class** is selected: accuracy, top-k and the "
               "misclassified images cover them. Per-class precision, recall and F1 and the confusion matrix count "
               "every prediction of the split, so a selected class's false positives on images of other classes "
               "still count (see *Predicted as … but wrong*); the macro and weighted means average the selected "
               "classes' per-class values.")


def fmt(value) -> str:
    """4 decimals; an em dash for an undefined (NaN) value."""
    return "—" if value is None or not np.isfinite(value) else f"{value:.4f}"


def filter_note(result, sel, n_images: int) -> None:
    """Say what the class filter selects (only when some classes are deselected)."""
    if not result.filtered:
        return
    names = sel.project.category_names
    chosen = ", ".join(plain(names[int(c)]) for c in result.classes)
    st.info(f"Class filter: {chosen} — {n_images:,} labelled image(s) of the split have a selected true class. "
            + FILTER_RULE)


def headline(result, n_unpredicted: int, n_classes: int) -> None:
    s = result.summary
    cols = st.columns(5)
    cols[0].metric("Accuracy", fmt(s["accuracy"]), help="correct / evaluated images whose true class is selected; "
                   f"exact value {float(s['accuracy'])!r}")
    cols[1].metric("Macro precision", fmt(s["macro_precision"]),
                   help="mean over the selected classes of TP / predicted (every prediction of the split); classes "
                        f"never predicted are undefined and left out; exact value {float(s['macro_precision'])!r}")
    cols[2].metric("Macro recall", fmt(s["macro_recall"]),
                   help=f"mean over the selected classes of TP / support; exact value {float(s['macro_recall'])!r}")
    cols[3].metric("Macro F1", fmt(s["macro_f1"]), help="mean over the selected classes of 2TP / (2TP + FP + FN); "
                   f"exact value {float(s['macro_f1'])!r}")
    cols[4].metric("Weighted F1", fmt(s["weighted_f1"]),
                   help=f"F1 per selected class weighted by its support; exact value {float(s['weighted_f1'])!r}")
    ks = ui.shown_top_k(s, n_classes)  # top-k with k ≥ the number of classes is 1 by construction: not shown
    if ks:
        cols = st.columns(len(ks))
        for k, col in zip(ks, cols):
            col.metric(f"Top-{k} accuracy", fmt(s[f"top_{k}_accuracy"]),
                       help="true class among the k highest scores (ties towards the later class), over the images "
                            f"whose true class is selected; exact value {float(s[f'top_{k}_accuracy'])!r}")
    n = s["n_samples"]
    left_out = (f"; {n_unpredicted:,} selected image(s) have no prediction (or one below the confidence threshold) "
                "and are left out") if n_unpredicted else ""
    per_class = (f"; the per-class numbers cover all {s['n_samples_all']:,} predicted images of the split"
                 if result.filtered else "")
    st.caption(f"{n:,} images evaluated{left_out}{per_class}")
    if n == 0:
        st.warning("No image of a selected class has a prediction: accuracy and top-k are undefined (—). The "
                   "per-class numbers below still count the selected classes' predictions on other images.")
        return
    note = few_images_note(n)
    if note:
        st.warning(note)


def class_table(result) -> None:
    per_class = result.per_class.copy()
    tp = np.diag(result.confusion.counts)  # confusion rows/columns are in per_class order
    per_class.insert(per_class.columns.get_loc("n_predicted") + 1, "false_positives",
                     per_class["n_predicted"].to_numpy() - tp)
    if result.filtered:
        selected = per_class.index.isin(result.classes)
        per_class.insert(1, "selected", selected)
        per_class = per_class.iloc[np.argsort(~selected, kind="stable")]  # the selected classes first
    st.dataframe(per_class.reset_index(drop=True), hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="%.4f") for c in ("precision", "recall", "f1")})
    st.caption("Every class, over every prediction of the split (the class filter changes none of these rows). "
               "precision = TP / predicted, recall = TP / support, F1 = 2TP / (2TP + FP + FN); false_positives = "
               "images predicted as the class but of another class; empty = undefined (a class never predicted has "
               "no precision, a class with no images no recall).")


def confusion(sel, result) -> None:
    n = len(result.confusion.names)
    n_shown = len(result.classes)
    a, b, c = st.columns(3)
    by = a.radio("Order", list(ORDER_TITLES), format_func=ORDER_TITLES.get, horizontal=True, **keep("cls_cm_order"))
    normalised = b.radio("Values", ["counts", "row-normalised"], horizontal=True, **keep("cls_cm_values")) != "counts"
    top_k = int(c.number_input("Top-K classes", min_value=1, max_value=max(n, 1), value=min(n, 20), **keep("cls_cm_top_k"),
                               help="the first K (selected) classes in this order; the other classes fold into one "
                                    "'other' row and column"))
    cm = result.selected_confusion(by=by if by in ORDERINGS else "labels", top_k=min(top_k, n_shown))
    if result.filtered:
        st.caption("Rows: true class, columns: predicted class, over every predicted image of the split. The selected "
                   "classes come first; 'other' folds the rest, so the 'other' row shows the selected classes' false "
                   "positives on images of unselected classes.")
    values = cm.normalized() if normalised else cm.frame()
    z = values.to_numpy(np.float64)
    text = [[("" if np.isnan(v) else (f"{v:.2f}" if normalised else f"{int(v)}")) for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=list(cm.names), y=list(cm.names), text=text, texttemplate="%{text}",
                               colorscale="Blues", hovertemplate="true %{y} → predicted %{x}: %{z}<extra></extra>"))
    # plotly reports no selection on heatmap cells: an invisible marker on every cell carries the click
    names = list(cm.names)
    xs, ys = np.meshgrid(np.arange(len(names)), np.arange(len(names)))
    fig.add_trace(go.Scatter(x=[names[i] for i in xs.ravel()], y=[names[j] for j in ys.ravel()], mode="markers",
                             marker=dict(symbol="square", size=22, color="rgba(0,0,0,0.01)"), hoverinfo="skip",
                             showlegend=False))
    # category axes: class names like "0".."9" would otherwise make a numeric axis and misplace the cells
    fig.update_layout(height=min(160 + 34 * len(cm.names), 900), margin=dict(l=10, r=10, t=30, b=10),
                      xaxis=dict(title="predicted", type="category"),
                      yaxis=dict(title="true", type="category", autorange="reversed"), clickmode="event+select")
    show_chart(fig, key="cls_confusion", on_select=partial(_cell_clicked, sel), selection_mode="points")
    st.caption("Click a cell (or pick it below) to see its images.")


CELL_KEY = "cls_cell"  # the confusion cell whose images are shown: "true_id:pred_id"


def _cell_clicked(sel) -> None:
    """``on_select`` of the matrix: the clicked cell becomes the picked cell (class names back to ids)."""
    import html

    event = st.session_state.get("cls_confusion")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if not points:
        return
    by_name = {n: c for c, n in reversed(list(sel.project.category_names.items()))}
    true = by_name.get(html.unescape(str(points[0].get("y"))))  # the chart shows escaped text (charts.escape_figure)
    pred = by_name.get(html.unescape(str(points[0].get("x"))))
    if true is not None and pred is not None:  # "other" folds several classes: not one cell of images
        st.session_state[CELL_KEY] = f"{true}:{pred}"


def cell_gallery(sel, result, sort) -> None:
    """The images of one confusion cell (clicked, or chosen in the picker), in the galleries' order."""
    names = sel.project.category_names
    ids = [int(c) for c in result.labels]  # the matrix's rows and columns, in category id order
    counts = result.confusion.counts
    cells = [(counts[i, j], i, j) for i in range(len(ids)) for j in range(len(ids)) if counts[i, j] > 0]
    cells.sort(key=lambda c: (c[1] == c[2], -c[0], c[1], c[2]))  # errors first, largest first
    options = [f"{ids[i]}:{ids[j]}" for _, i, j in cells]
    if not options:
        return
    n_of = {f"{ids[i]}:{ids[j]}": int(n) for n, i, j in cells}

    def title(option: str) -> str:
        t, p = (int(v) for v in option.split(":"))
        return f"true {names[t]} → predicted {names[p]} ({n_of[option]} images)"

    if st.session_state.get(CELL_KEY) not in options:  # a cell of another split or threshold
        st.session_state.pop(CELL_KEY, None)
    option = st.selectbox("Confusion cell", options, format_func=title, **keep(CELL_KEY, url=False))
    true_id, pred_id = (int(v) for v in option.split(":"))
    rows = ui.sorted_rows(sel, ui.cell_images(sel, true_id, pred_id), *sort)
    st.caption(f"{len(rows):,} image(s) of true class {plain(names[true_id])} predicted as {plain(names[pred_id])}")
    show_gallery(_tiles(sel, rows, sort), key="cls_cell_gallery", project=sel.project, columns=4, per_page=8)


def sort_control(sel) -> tuple[str, bool]:
    """The galleries' order: the score or a frame (F) data metric, descending or ascending."""
    from explorer.ui.outcomes import metric_names

    metrics = metric_names(sel.project, "images", numeric=True)
    titles = {ui.SCORE: "score", **metrics}
    a, b = st.columns([3, 1])
    by = a.selectbox("Sort the galleries by", list(titles), format_func=titles.get, **keep("cls_sort"))
    ascending = b.radio("Order", ["descending", "ascending"], horizontal=True, **keep("cls_sort_order")) == "ascending"
    return by, ascending


def _tiles(sel, rows, sort) -> list[Tile]:
    """Tiles in ``rows``' order (``ui.sorted_rows``), captioned with file name, true and predicted class, score
    and the sort metric's value."""
    names = sel.project.category_names
    by = sort[0]
    title = None
    if by != ui.SCORE:
        from explorer.ui.outcomes import metric_names

        title = metric_names(sel.project, "images").get(by, by)

    def caption(r) -> str:
        text = (f"{r.file_name} · true {names[int(r.true_id)]} · predicted {names[int(r.pred_id)]}"
                + ("" if np.isnan(r.score) else f" · score {r.score:.3f}"))
        return text + ("" if title is None else
                       f" · {title} {'—' if np.isnan(r.sort_value) else format(r.sort_value, '.4g')}")

    return [Tile(int(r.image_id), caption=caption(r), key=f"img:{int(r.image_id)}") for r in rows.itertuples()]


def _pick_class(sel, rows, *, by: str, label: str, word: str, key: str):
    """``(class id, its rows)``: one selected class chosen by the column ``by`` (``true_id`` or ``pred_id``), the
    picker saying how many rows each class has (``word``: "misclassified", "wrong")."""
    names = sel.project.category_names
    counts = rows[by].value_counts()
    options = [int(c) for c in sel.classes if c in counts.index]
    chosen = st.selectbox(label, options, **keep(key, url=False), format_func=lambda c: f"{names[c]} ({int(counts[c])} {word})")
    return chosen, rows[rows[by] == chosen]


def misclassified(sel, sort) -> None:
    """Images whose true class is selected and whose prediction is another class, per true class."""
    st.markdown("**Misclassified** — true class selected, predicted as another class")
    out = ui.outcomes(sel)
    wrong = out[~out["correct"]]
    if len(wrong) == 0:
        st.info("No misclassified image in this selection.")
        return
    names = sel.project.category_names
    _, rows = _pick_class(sel, wrong, by="true_id", label="True class", word="misclassified", key="cls_gallery_class")
    show_gallery(_tiles(sel, ui.sorted_rows(sel, rows, *sort), sort), key="cls_gallery", project=sel.project,
                 columns=2, per_page=8)


def predicted_wrong(sel, sort) -> None:
    """Images predicted as a selected class whose true class is another one: the class's false positives."""
    st.markdown("**Predicted as … but wrong** — false positives of a selected class, on images of any class")
    fp = ui.false_positives(sel)
    if len(fp) == 0:
        st.info("No image of the split is predicted as a selected class but of another class.")
        return
    names = sel.project.category_names
    pred_id, rows = _pick_class(sel, fp, by="pred_id", label="Predicted class", word="wrong", key="cls_fp_class")
    st.caption(f"{len(rows):,} image(s) predicted as {plain(names[pred_id])} but of another class")
    show_gallery(_tiles(sel, ui.sorted_rows(sel, rows, *sort), sort), key="cls_fp_gallery", project=sel.project,
                 columns=2, per_page=8)


def main() -> None:
    st.title("Classification")
    sel = selection()
    if not sel.project.has_predictions:
        st.info("This project has no predictions: import them to see model quality.")
        return
    result = ui.evaluate(sel)
    if result.evaluation is None:
        st.info(f"No image of this split has a prediction ({result.n_images:,} labelled image(s) selected).")
        return
    filter_note(result.evaluation, sel, result.n_images)
    n_classes = len(sel.project.categories)
    headline(result.evaluation, result.n_unpredicted, n_classes)
    if sel.project.splits:
        with st.expander("Every split side by side", expanded=True):
            columns = {"n_samples": "images evaluated", "accuracy": "accuracy", "macro_precision": "macro precision",
                       "macro_recall": "macro recall", "macro_f1": "macro F1", "weighted_f1": "weighted F1",
                       **{f"top_{k}_accuracy": f"top-{k}" for k in ui.shown_top_k(result.evaluation.summary, n_classes)
                          if k > 1}}
            show_splits_table(sel, columns, key="cls_splits")
    st.subheader("Per class")
    class_table(result.evaluation)
    st.subheader("Confusion matrix")
    confusion(sel, result.evaluation)
    sort = sort_control(sel)
    cell_gallery(sel, result.evaluation, sort)
    st.subheader("Wrong predictions")
    left, right = st.columns(2)
    with left:
        misclassified(sel, sort)
    with right:
        predicted_wrong(sel, sort)


try:
    main()
except UserError as e:
    st.error(plain(e))
