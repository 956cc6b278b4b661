"""Model Quality › Suspected label errors (detection): the ranked queue of labels the model's errors suggest are
wrong (``explorer.analysis.suspects``), at the sidebar's IoU and confidence thresholds.

Filters (reason, label class, a data metric's bucket) narrow the table and the gallery (label and detection drawn
on the image); "Compute mAP if fixed" re-evaluates with the shown suspects fixed; "Open in Failure Explorer" sends
them there. Heavy work is cached in ``explorer.ui.suspects``.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.analysis.suspects import REASONS
from explorer.resources import pages_dir
from explorer.ui import suspects as ui
from explorer.ui.gallery import show_gallery
from explorer.ui.persist import bounded, keep, keyed, switch_page
from explorer.ui.state import selection
from explorer.ui.text import plain

TABLE_ROWS = 1000  # rows of the queue's table sent to the browser

st.title("Suspected label errors")
sel = selection()
project = sel.project
if not project.has_predictions:
    st.info("This project has no predictions: the queue is read off a model's errors, so import predictions first.")
    st.stop()
st.caption(f"Read off run {plain(sel.run)} at IoU {sel.iou_threshold:.2f}: confident detections where no label is, "
           "of another class on a label, or loosely on one; duplicate labels; labels nothing detects while their "
           "class is found elsewhere. Best first; a score is the evidence in [0, 1] (docs/evaluation.md).")

q = ui.queue(sel)  # the selection's queue as NumPy columns: filters are masks, only shown rows become tables
names = project.category_names
c1, c2 = st.columns(2)
codes = list(REASONS)
chosen_reasons = c1.multiselect("Reasons", codes, default=codes, format_func=lambda c: ui.SHORT[c], **keep("sq_reasons"))
class_ids = [int(c) for c in q.classes]
# keyed by its options (the queue's classes: the sidebar's classes change them), so a choice made among other
# options never hides the classes a wider sidebar selection brings back
chosen_classes = c2.multiselect("Label classes", class_ids, default=class_ids,
                                format_func=lambda c: plain(names.get(c, str(c))),
                                **keep(keyed("sq_classes", ui.rows_key(q.classes)[1][:12]), url=False))
keep_rows = q.mask(reasons=chosen_reasons, classes=chosen_classes)  # None: every row (the default)

from explorer.ui.performance import metric_options  # noqa: E402  (the catalogue, once metrics exist)

metrics = {}
for entry in metric_options(project):
    metrics.setdefault(entry.name, entry.display_name)
if metrics and len(q):
    m1, m2 = st.columns([3, 1])
    metric = m1.selectbox("Metric", ["(any)", *metrics], format_func=lambda n: plain(metrics.get(n, n)),
                          **keep("sq_metric"))
    if metric != "(any)":
        index, ranges = ui.bucket_of(sel, metric, 5)
        pick = m2.selectbox("Bucket", list(range(len(ranges))), format_func=lambda i: ranges[i], **keep("sq_bucket", url=False))
        keep_rows = (index == pick) if keep_rows is None else keep_rows & (index == pick)
n_shown = len(q) if keep_rows is None else int(np.count_nonzero(keep_rows))

st.metric("Suspects shown", f"{n_shown:,}", help=f"of {len(q):,} in the queue")
if not n_shown:
    st.info("No suspected label errors for these filters.")
    st.stop()
# the best TABLE_ROWS only: the browser gets a readable table, not the whole queue (the export has every row)
head = q.frame(q.best(TABLE_ROWS, keep_rows))
if n_shown > TABLE_ROWS:
    st.caption(f"The {TABLE_ROWS:,} best of {n_shown:,} shown; `explorer suspects PROJECT --out suspects.csv` and "
               "the export write them all.")
st.dataframe(head[["image_id", "file_name", "label_id", "pred_id", "reason", "score"]].assign(
    file_name=head["file_name"].map(plain), label_class=head["category_id"].map(lambda c: plain(names.get(int(c), str(c))))),
    hide_index=True, column_config={"score": st.column_config.NumberColumn(format="%.3f")})

left, right = st.columns(2)
top = left.slider("Suspects to fix (best first among those shown)", 1, n_shown, min(n_shown, 50),
                  **keep(bounded("sq_top", 1, n_shown), url=False))
fix_rows = q.best(top, keep_rows)
if left.button("Compute mAP if fixed", key="sq_fix"):
    st.session_state["sq_fixed_for"] = (project.fingerprint, sel.core, ui.rows_key(fix_rows))
done = st.session_state.get("sq_fixed_for")
if done is not None and done[0] == project.fingerprint and done[1] == sel.core and done[2] == ui.rows_key(fix_rows):
    numbers = ui.if_fixed(sel, fix_rows)
    a, b = right.columns(2)
    a.metric("mAP if these were fixed", f"{numbers['map_fixed']:.4f}", f"{numbers['map_fixed'] - numbers['map']:+.4f}",
             help=f"COCO mAP (IoU 0.50:0.95) now {numbers['map']:.4f}, with the {numbers['n_fixed']:d} suspects fixed on a copy of the labels")
    b.metric(f"AP @ {sel.iou_threshold:.2f} if fixed", f"{numbers['ap_t_fixed']:.4f}",
             f"{numbers['ap_t_fixed'] - numbers['ap_t']:+.4f}", help=f"now {numbers['ap_t']:.4f}")
if right.button("Open in Failure Explorer", key="sq_open_failures"):
    rows = q.best(None, keep_rows)  # every suspect shown, best first
    lab, pred = q.label_id[rows], q.pred_id[rows]
    st.session_state["failure_selection"] = {
        "label_ids": lab[lab >= 0].tolist(), "pred_ids": pred[pred >= 0].tolist(), "title": "suspected label errors"}
    switch_page(st.Page(pages_dir() / "failures.py", url_path="failures"))

st.subheader("Gallery")
st.caption("Blue: the label; violet: the detection that questions it. “View” opens the full image.")
show_gallery(ui.gallery_pages(project, q, keep_rows), key="suspects_gallery", project=project)
