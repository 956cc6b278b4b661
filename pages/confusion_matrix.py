"""Confusion Matrix (detection): true class × predicted class with an "unmatched predictions" row and a "missed
labels" column (the engine's background row and column, named for what they hold).

Counts are the engine's ``detection_confusion_matrix`` at the sidebar's IoU and confidence thresholds (cell
examples from the same assignment's records, ``explorer.evaluation.confusion.confusion_cells``); raw or row-normalised;
classes ordered by "most confused" or "most common", the top K shown and the rest folded into "other". Choosing a
cell (from the list beside the chart or by clicking it) opens the gallery of its examples.
"""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer.evaluation.confusion import BACKGROUND, OTHER, confusion_assignment, confusion_cells
from explorer.evaluation import detection_confusion_matrix
from explorer.tasks.detection import iou_type
from explorer.ui import detection as det
from explorer.ui.buckets import bucket_source, show_bucket
from explorer.ui.state import selection
from explorer.ui.charts import show_chart
from explorer.ui.text import plain
from explorer.ui.persist import bounded, keep


@st.cache_resource(show_spinner=False, max_entries=3)  # ~18 bytes per prediction each
def _matrix(path: str, fingerprint: str, iou_threshold: float, confidence_threshold: float, classes, image_ids_key,
            _matcher, _match, _image_ids):
    """(matrix, cells) of one selection: the shared match's assignment plus the cross-class pass, per (thresholds,
    classes, split); its cells as one matrix position per row (``confusion.ConfusionCells``: a chosen cell is two
    gathers over them)."""
    a = confusion_assignment(_matcher, iou_threshold, confidence_threshold=confidence_threshold, classes=classes,
                             image_ids=_image_ids, match=_match)
    cells = confusion_cells(_matcher, a)
    engine = detection_confusion_matrix(_matcher, iou_threshold, confidence_threshold=confidence_threshold,
                                        cells=cells)
    return engine, cells


st.title("Confusion Matrix")
sel = selection()
project = sel.project
if not project.has_predictions:
    st.info("This project has no predictions, so there is no confusion matrix to show.")
    st.stop()

classes = None if sel.all_classes else list(sel.classes)
image_ids = None if sel.split is None else sel.image_ids
with st.status(f"Confusion matrix at IoU ≥ {sel.iou_threshold:.2f}…", expanded=False) as status:
    status.update(label=f"Matching predictions to labels at IoU ≥ {sel.iou_threshold:.2f}…")
    match = det.match(sel)
    source = bucket_source(sel)
    matcher = det.matcher(project)
    status.update(label="Counting true class × predicted class and collecting each cell's examples…")
    engine, records = _matrix(str(project.root), project.fingerprint, float(sel.iou_threshold),
                            float(sel.confidence_threshold), None if classes is None else tuple(classes),
                            sel.split, matcher, match, image_ids)
    status.update(label=f"Confusion matrix at IoU ≥ {sel.iou_threshold:.2f}", state="complete")

n_classes = len(engine.classes)
c1, c2, c3 = st.columns(3)
ordering = c1.radio("Order classes by", ["most confused", "most common"], **keep("cm:order"), horizontal=True)
normalise = c2.radio("Values", ["raw counts", "row-normalised"], **keep("cm:values"), horizontal=True)
top_k = c3.slider("Classes shown (the rest fold into 'other')", 1, max(n_classes, 2), min(n_classes, 10),
                  **keep(bounded("cm:top_k", 1, max(n_classes, 2))), disabled=n_classes <= 1)

arranged = engine.order(ordering.replace(" ", "_"), top_k=top_k if top_k < n_classes else None)
order = list(arranged.matrix.index)
# each matrix position as shown: a class outside the top K reads "other" (confusion_cells.fold's rule)
allowed = {c for c in order if c != OTHER} | {BACKGROUND}
shown_names = [n if n in allowed else OTHER for n in records.names]
counts = arranged.matrix
normalised = arranged.normalized().to_numpy()  # an empty row is NaN (undefined), shown as n/a
values = normalised if normalise == "row-normalised" else counts.to_numpy()

# the engine's "background" row holds predictions without a label, its column labels without a prediction: named
# for what they hold (not the false-detection reason "background", which is a subset of that row)
ROW_NAMES = {BACKGROUND: "unmatched predictions"}
COL_NAMES = {BACKGROUND: "missed labels"}
y_names = [ROW_NAMES.get(c, c) for c in order]
x_names = [COL_NAMES.get(c, c) for c in order]
# the colour scale spans the class × class cells: the (much larger) background row and column saturate instead of
# washing every other cell out
inner = [i for i, c in enumerate(order) if c != BACKGROUND]
zmax = None
if normalise != "row-normalised" and inner:
    block = counts.to_numpy()[np.ix_(inner, inner)]
    zmax = float(block.max()) if block.size and block.max() > 0 else None

chart, side = st.columns([3, 1])
fig = go.Figure(go.Heatmap(
    z=values, x=x_names, y=y_names, colorscale="Blues", hoverongaps=False, zmin=0, zmax=zmax,
    text=[[f"{v:.2f}" if normalise == "row-normalised" and np.isfinite(v) else (f"{int(c):,}" if normalise != "row-normalised" else "—")
           for v, c in zip(vr, cr)] for vr, cr in zip(normalised, counts.to_numpy())],
    texttemplate="%{text}", hovertemplate="true %{y} → predicted %{x}: %{text}<extra></extra>"))
fig.update_layout(xaxis=dict(title="predicted", type="category"),  # numeric class names stay categories
                  yaxis=dict(title="true", type="category", autorange="reversed"),
                  height=min(max(320, 160 + 30 * len(order)), 1400), margin=dict(l=10, r=10, t=10, b=10))
event = show_chart(fig, where=chart, key="cm:chart", on_select="rerun", selection_mode="points")
kind = "mask IoU" if iou_type(project) == "segm" else "IoU"
st.caption(f"{kind} ≥ {sel.iou_threshold:.2f}, confidence ≥ {sel.confidence_threshold:.2f}. Rows: true class; the "
           f"*unmatched predictions* row holds predictions that matched no label (every false-detection reason: "
           f"background, localisation, duplicate). Columns: predicted class; the *missed labels* column holds labels "
           f"no prediction matched. A false detection paired with an unmatched label of another class counts once, in "
           f"that label's row. Row-normalised values divide by the row total (— for an empty row)."
           + (f" Colours span 0–{zmax:,.0f} (the class cells); larger cells show the darkest blue." if zmax else ""))

cells = [(t, p) for t in order for p in order if counts.loc[t, p] > 0]
points = (event or {}).get("selection", {}).get("points", []) if event else []
if points and "x" in points[0] and "y" in points[0]:
    # the chart shows HTML-escaped display names (explorer.ui.charts.escape_figure): back to the engine's names
    by_y = dict(zip(y_names, order))
    by_x = dict(zip(x_names, order))
    clicked = (by_y.get(html.unescape(str(points[0]["y"]))), by_x.get(html.unescape(str(points[0]["x"]))))
    # the chart keeps its selection between reruns: apply a click once, so the cell picker stays usable
    if clicked in cells and st.session_state.get("cm:clicked") != clicked:
        st.session_state["cm:cell"] = clicked
    st.session_state["cm:clicked"] = clicked
if not cells:
    st.info("No labels or predictions in the selection: widen the split or class filter in the sidebar, or lower "
            "the confidence threshold.")
    st.stop()
if st.session_state.get("cm:cell") not in cells:
    diag = [c for c in cells if c[0] != c[1]]
    st.session_state["cm:cell"] = max(diag or cells, key=lambda c: counts.loc[c[0], c[1]])
cell = side.selectbox("Cell (true → predicted)", cells, **keep("cm:cell", url=False),
                      format_func=lambda c: f"{ROW_NAMES.get(c[0], c[0])} → {COL_NAMES.get(c[1], c[1])} "
                                            f"({counts.loc[c[0], c[1]]:,})")

pred_ids, label_ids = records.cell_ids(shown_names, shown_names, cell)
st.subheader(f"Examples: true {plain(ROW_NAMES.get(cell[0], cell[0]))} → predicted {plain(COL_NAMES.get(cell[1], cell[1]))}")
table = source.bucket(pred_ids=pred_ids, label_ids=label_ids)
show_bucket(project, table, key="confusion", default_outcomes=None, metric_range=False)
