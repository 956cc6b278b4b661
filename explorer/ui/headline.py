"""Headline cards of the detection Metrics page that say what a number is: best-F1 operating points.

* ``best_f1_cards(sel)``: the pooled best F1 over every selected class (``explorer.evaluation.best_f1`` of the
  pooled F1-by-confidence curve) as four cards — F1, precision and recall at that threshold, the threshold — and,
  under them, each class at **its own** best threshold (``per_class_best_f1``).
* ``n_kept_predictions(sel)``: predictions left after the confidence threshold, so a headline can say "no
  predictions at confidence ≥ 1.00" instead of showing mAP 0.0000.

Undefined values are rendered by ``explorer.ui.text.number`` ("—").
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.ui.charts import table_height, table_once
from explorer.ui.text import number, plain


def per_class_best_f1(sel) -> pd.DataFrame:
    """``category_id, threshold, precision, recall, f1``: each selected class (all: the project's categories, in
    their order) at the confidence threshold that maximises its own F1 (NaN where the class has no prediction or
    no label); one vectorised pass with the page's other tables (``explorer.ui.detection.best_per_class``)."""
    from explorer.ui import detection

    table = detection.best_per_class(sel)
    classes = sel.core.class_list() or [int(c) for c in sel.project.categories["category_id"]]
    return table.set_index("category_id").reindex(classes).rename_axis("category_id").reset_index()


def n_kept_predictions(sel) -> int:
    """Predictions of the selected classes and split scoring at least the confidence threshold."""
    from explorer.ui import detection

    table = detection.per_class(sel)
    return int(table["n_predictions"].sum()) if "n_predictions" in table else 0


def best_f1_cards(sel, best: dict) -> None:
    """Four cards for the pooled best-F1 point ``best`` (``best_f1``), then the per-class table."""
    a, b, c, d = st.columns(4)
    why = "undefined: no prediction (or no label) in the selection"
    a.metric("Best F1 (pooled)", number(best["f1"]), help="highest F1 over confidence thresholds, all selected classes "
             "pooled" + ("" if np.isfinite(best["f1"]) else f"; {why}"))
    b.metric("Precision at best F1", number(best["precision"]), help="TP / (TP + FP) at that threshold")
    c.metric("Recall at best F1", number(best["recall"]), help="TP / labels at that threshold")
    d.metric("Best-F1 threshold", number(best["threshold"], ".3f"), help="confidence ≥ this gives the best F1; the "
             "sidebar's confidence threshold applies first")
    from explorer.ui import detection

    def build():
        table = per_class_best_f1(sel)
        names = sel.project.category_names
        return pd.DataFrame({"class": [names.get(int(c), str(c)) for c in table["category_id"]],
                             "best-F1 threshold": table["threshold"], "precision": table["precision"],
                             "recall": table["recall"], "F1": table["f1"]})

    # kept in st.dataframe's form per selection, for every session's rerun (charts.table_once)
    shown = table_once(("best F1 per class", *detection.selection_key(sel)), build)
    if shown.num_rows <= 1:
        return
    with st.expander(f"Best F1 per class ({shown.num_rows:,} classes, each at its own threshold)"):
        st.dataframe(shown, hide_index=True, height=table_height(shown.num_rows),
                     column_config={c: st.column_config.NumberColumn(format="%.4f") for c in
                                    ("best-F1 threshold", "precision", "recall", "F1")})
        st.caption("Each class at the confidence threshold that maximises its own F1 (empty = undefined: the class has "
                   "no prediction or no label here). " + plain("A per-class threshold can beat the pooled one."))
