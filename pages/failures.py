"""Failure Explorer: the TPs, false detections and misses of a bucket, drawn on their images.

The bucket is ``st.session_state["failure_selection"]`` when the Performance by Metric page set one
(``{"label_ids": [...], "pred_ids": [...], "title": str}``); otherwise the whole sidebar selection, filtered here
by class, outcome and any metric range. Matching follows the sidebar's IoU and confidence thresholds.
"""
from __future__ import annotations

import streamlit as st

from explorer.ui import detection as det
from explorer.ui.buckets import bucket_source, show_bucket
from explorer.ui.state import selection
from explorer.ui.text import plain
from explorer.ui.persist import keep

st.title("Failure Explorer")
sel = selection()
project = sel.project
if not project.has_predictions:
    st.info("This project has no predictions, so there are no true positives, false detections or misses to show.")
    st.stop()

st.caption(f"Matched at IoU ≥ {sel.iou_threshold:.2f}, confidence ≥ {sel.confidence_threshold:.2f}. "
           "Green: true positive · red: false detection (FP) · orange: missed label (FN). Failures come first: "
           "missed labels, then false detections, then true positives.")
with st.spinner(f"Matching predictions to labels at IoU ≥ {sel.iou_threshold:.2f}…"):
    det.match(sel)
    source = bucket_source(sel)  # the match's rows as arrays, once per match
classes = None if sel.all_classes else list(sel.classes)
image_ids = None if sel.split is None else sel.image_ids
chosen = st.session_state.get("failure_selection")

if chosen:
    st.subheader(plain(chosen.get("title") or "Selected bucket"))  # names a metric (a plugin's title)
    if st.button("Clear this bucket and filter directly", key="failures:clear"):
        del st.session_state["failure_selection"]
        st.rerun()
    table = source.bucket(pred_ids=chosen.get("pred_ids") or [], label_ids=chosen.get("label_ids") or [],
                          classes=classes, image_ids=image_ids)
    asked = len(chosen.get("pred_ids") or []) + len(chosen.get("label_ids") or [])
    if asked > len(table):
        st.caption(f"{asked - len(table):,} item(s) of the bucket are outside the current selection "
                   "(other classes or split, or predictions below the confidence threshold).")
    show_bucket(project, table, key="failures", default_outcomes=None)
else:
    names = project.category_names
    options = ["all selected classes", *[names[c] for c in sel.classes]]
    one = st.selectbox("Class", options, **keep("failures:class"))
    if one != "all selected classes":
        classes = [c for c in sel.classes if names[c] == one]
    table = source.bucket(classes=classes, image_ids=image_ids)
    show_bucket(project, table, key="failures",
                default_outcomes=[c for c in ("FP · wrong class", "FP · localisation", "FP · duplicate",
                                              "FP · background", "FN (missed)")])
