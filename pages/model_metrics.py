"""Model Quality › Metrics (detection) / Metric Importance (other tasks): which data metrics drive the model's
outcome (importance and correlation), for every outcome the task defines (registry: ``explorer.tasks.get(task)
.outcomes`` over the task's outcome table). A task whose outcomes are over labels and predictions (matching:
detection) gets the headline first: mAP/mAR at the slider's IoU, COCO summary, per-class table, PR and F1 curves.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer import tasks
from explorer.analysis import few_images_note
from explorer.errors import UserError
from explorer.evaluation import best_f1
from explorer.tasks.detection import iou_type
from explorer.ui import detection
from explorer.ui.charts import (f1_confidence_figure, figure_once, pr_curve_figure, show_chart, table_height,
                                table_once)
from explorer.ui.error_cost import error_cost_section
from explorer.ui.error_cost import prefetch as error_cost_work
from explorer.ui.importance import CORRELATION_KEY, CORRELATION_METHODS, render_task_importance
from explorer.ui.importance import prefetch as importance_work
from explorer.ui.intervals import prefetch as intervals_work
from explorer.ui.intervals import render_headline_intervals
from explorer.ui.headline import best_f1_cards, n_kept_predictions
from explorer.ui.state import selection
from explorer.ui.outcome_options import outcome_controls
from explorer.ui.splits_table import show_splits_table
from explorer.ui.text import number, plain
from explorer.ui.persist import keep

PAGE_FILE = "model_metrics.py"

COCO_NAMES = {
    "mAP": "AP @[IoU=0.50:0.95 | area=all | maxDets=100]",
    "mAP_50": "AP @[IoU=0.50 | area=all | maxDets=100]",
    "mAP_75": "AP @[IoU=0.75 | area=all | maxDets=100]",
    "mAP_s": "AP @[IoU=0.50:0.95 | area=small | maxDets=100]",
    "mAP_m": "AP @[IoU=0.50:0.95 | area=medium | maxDets=100]",
    "mAP_l": "AP @[IoU=0.50:0.95 | area=large | maxDets=100]",
    "mAR_1": "AR @[IoU=0.50:0.95 | area=all | maxDets=1]",
    "mAR_10": "AR @[IoU=0.50:0.95 | area=all | maxDets=10]",
    "mAR_100": "AR @[IoU=0.50:0.95 | area=all | maxDets=100]",
    "mAR_s": "AR @[IoU=0.50:0.95 | area=small | maxDets=100]",
    "mAR_m": "AR @[IoU=0.50:0.95 | area=medium | maxDets=100]",
    "mAR_l": "AR @[IoU=0.50:0.95 | area=large | maxDets=100]",
}


def fmt(value: float) -> str:
    """Headline format: 4 decimals, an em dash for an undefined (NaN) value."""
    return "—" if value is None or not np.isfinite(value) else f"{value:.4f}"


def correlation_method() -> str:
    label = st.radio("Correlation", list(CORRELATION_METHODS), horizontal=True, **keep(CORRELATION_KEY))
    return CORRELATION_METHODS[label]


def headline(sel) -> None:
    s = detection.summary(sel)
    n_images = len(sel.image_ids)
    t = sel.iou_threshold
    kind = "mask IoU" if iou_type(sel.project) == "segm" else "IoU"  # what the matching compares
    a, b, c = st.columns(3)
    if n_kept_predictions(sel) == 0:  # not "mAP 0.0000": there is nothing to score
        why = f"no predictions at confidence ≥ {sel.confidence_threshold:.2f}"
        a.metric(f"mAP @ {kind} {t:.2f}", number(None), help=why)
        b.metric(f"mAR @ {kind} {t:.2f}", number(None), help=why)
        st.warning(f"No predictions at confidence ≥ {sel.confidence_threshold:.2f} in this selection: lower the "
                   "confidence threshold in the sidebar (or choose other classes or another split).")
    else:
        a.metric(f"mAP @ {kind} {t:.2f}", fmt(s["mAP"]), help=f"COCO 101-point AP at {kind} {t:.2f}, mean over the "
                 f"selected classes that have labels; exact value {float(s['mAP'])!r}")
        b.metric(f"mAR @ {kind} {t:.2f}", fmt(s["mAR"]), help=f"recall at {kind} {t:.2f} (max 100 detections per "
                 f"image), mean over the selected classes; exact value {float(s['mAR'])!r}")
    c.metric("Images in selection", f"{n_images:,}")
    render_headline_intervals(sel)
    for message in empty_state_notes(sel):
        st.info(message)
    note = few_images_note(n_images)
    if note:
        st.warning(note)
    if sel.confidence_threshold > 0:
        st.caption(f"Predictions scoring below {sel.confidence_threshold:.2f} are left out of every number on this page.")


def empty_state_notes(sel) -> list[str]:
    """Why a headline number is undefined or zero, in words: no images, no labels, no predictions (kept)."""
    if len(sel.image_ids) == 0:
        return ["The selected split has no images: every number here is undefined (—). Choose another split."]
    table = detection.per_class(sel)
    n_labels = int(table["support"].sum()) if "support" in table else 0
    n_preds = int(table["n_predictions"].sum()) if "n_predictions" in table else 0
    notes = []
    if n_labels == 0:
        notes.append("The selection holds no labels of the selected classes, so AP and recall are undefined (—; "
                     "pycocotools prints -1). Every prediction here is a false detection: see the Failure Explorer.")
    if n_preds == 0:
        why = (f" at confidence ≥ {sel.confidence_threshold:.2f}: lower the confidence threshold"
               if sel.confidence_threshold > 0 else ": this run predicts none of the selected classes here")
        notes.append("No predictions are left" + why + ". AP is 0 for classes with labels (nothing was detected).")
    return notes


def coco_table(sel) -> None:
    def rows():
        out = []
        for key, value in detection.coco_summary(sel).items():
            short = key.split("_", 1)[1] if "_" in key else key
            out.append({"metric": key, "definition": COCO_NAMES.get(short, ""),
                        "value": np.nan if value == -1.0 else float(value)})
        return pd.DataFrame(out)

    # tables shown are kept in st.dataframe's form per data key, for every session's rerun (charts.table_once)
    st.dataframe(table_once(("coco summary", *detection.selection_key(sel)), rows), hide_index=True, column_config={
        "value": st.column_config.NumberColumn(format="%.4f", help="empty = undefined (no labels in that range)")})


PROTOCOLS = {"COCO only": None, "Pascal VOC2007 (11-point)": "voc07", "Pascal VOC2010+ (all-point)": "voc12"}


def voc_table(sel) -> None:
    """Pascal VOC AP beside the COCO summary, when the user picks a VOC protocol (devkit rules, IoU 0.50)."""
    label = st.radio("Protocol", list(PROTOCOLS), horizontal=True, **keep("mq_protocol"),
                     help="Pascal VOC AP follows the devkit: IoU ≥ 0.50, difficult labels neither TP nor FN, "
                          "every confidence; like the COCO summary it follows the class and split filter.")
    protocol = PROTOCOLS[label]
    if protocol is None:
        return
    result = detection.voc_evaluation(sel, protocol)
    st.metric(f"{plain(label.split(' (')[0])} mAP @ IoU 0.50", fmt(result.mAP),
              help=f"mean AP over the selected classes with non-difficult labels; exact value {float(result.mAP)!r}")
    names = sel.project.category_names
    table = result.per_class.copy()
    table["class"] = table["category_id"].map(lambda c: names.get(int(c), str(c)))
    cols = [c for c in ["class", "ap", "n_labels", "n_difficult", "n_predictions", "n_tp", "n_fp", "n_ignored"]
            if c in table]
    st.dataframe(table[cols], hide_index=True, column_config={
        "ap": st.column_config.NumberColumn("AP", format="%.4f"), "n_labels": "labels", "n_difficult": "difficult",
        "n_predictions": "predictions", "n_tp": "TP", "n_fp": "FP", "n_ignored": "ignored"})


def class_table(sel, names: dict[int, str]) -> None:
    def shown():
        table = detection.per_class(sel).copy()
        table["class"] = table["category_id"].map(lambda c: names.get(int(c), str(c)))
        return table[[c for c in ["class", "ap", "ar", "precision", "recall", "f1", "support", "n_predictions", "tp",
                                  "fp", "fn"] if c in table]]

    table = table_once(("per class", *detection.selection_key(sel), tuple(names.items())), shown)
    titles = {"ap": ("AP", f"COCO 101-point AP at IoU {sel.iou_threshold:.2f}"),
              "ar": ("AR", f"recall at IoU {sel.iou_threshold:.2f} (max 100 detections per image)"),
              "precision": ("precision", "TP / (TP + FP) at the confidence threshold"),
              "recall": ("recall", "TP / labels at the confidence threshold"), "f1": ("F1", None)}
    config = {c: st.column_config.NumberColumn(label, format="%.4f", help=help) for c, (label, help) in titles.items()}
    config.update({"support": st.column_config.NumberColumn("labels", help="non-crowd labels of the class"),
                   "n_predictions": st.column_config.NumberColumn("predictions"),
                   "tp": "TP", "fp": "FP", "fn": "FN"})
    st.dataframe(table, hide_index=True, column_config=config, height=table_height(table.num_rows))


def curves(sel, names: dict[int, str]) -> None:
    left, right = st.columns(2)
    # the figures are built once per selection and shared (a revisited threshold, other sessions)
    key = (*detection.selection_key(sel), tuple(names.items()))
    with left:
        show_chart(figure_once(("pr_curves", *key), lambda: pr_curve_figure(detection.pr_curves(sel), names)),
                   key="pr_curves")
    f1 = detection.f1_curve(sel)
    raw = best_f1(f1) if len(f1) else dict.fromkeys(("threshold", "precision", "recall", "f1"), np.nan)
    best = raw if np.isfinite(raw["f1"]) else None
    with right:
        if len(f1):
            show_chart(figure_once(("f1_confidence", *key), lambda: f1_confidence_figure(f1, best)),
                       key="f1_confidence")
        else:
            st.info("No F1 curve: no prediction of the selected classes is left at this confidence threshold.")
    best_f1_cards(sel, raw)


def matching_headline(sel) -> None:
    names = sel.project.category_names
    headline(sel)
    show_splits_table(sel, {"mAP": f"mAP @ IoU {sel.iou_threshold:.2f}", "mAR": f"mAR @ IoU {sel.iou_threshold:.2f}",
                            "mAP_50": "mAP @ 0.50", "mAP_75": "mAP @ 0.75"}, key="mq_splits")  # every split side by side
    with st.expander("COCO summary (12 numbers, IoU 0.50:0.95; follows the class and split filter, not the sliders)"):
        coco_table(sel)
        voc_table(sel)
    st.subheader("Per class")
    class_table(sel, names)
    curves(sel, names)
    error_cost_section(sel)  # what each error type costs (TIDE ΔAP): explorer/ui/error_cost.py
    st.subheader("Metric importance and correlation")
    st.caption("Which data metrics go with the model's outcome. Y is “true positive” for predictions and "
               "“detected” for labels, at the IoU and confidence thresholds of the sidebar.")


def page(sel) -> None:
    task = tasks.get(sel.project.task)
    entry = next((p for p in task.pages if p.file == PAGE_FILE), None)
    st.title(plain(entry.title) if entry is not None else "Metric Importance")
    matching = "predictions" in task.outcome_targets
    if matching and not sel.project.has_predictions:
        st.info("This project has no predictions: import a model's predictions to see model quality.")
        return
    if not task.outcomes:
        st.info(f"Metric importance needs a per-item outcome, which {plain(task.title)} projects do not define.")
        return
    if matching:
        # the independent heavy sections start in worker threads (core calls only: explorer/ui/detection.py start);
        # each is drawn in its place, from the core's caches (waiting there if its worker is not done)
        detection.start(intervals_work(sel), error_cost_work(sel), importance_work(sel))
        matching_headline(sel)
    outcome_controls(sel)  # the task's outcome options (target IoU, tolerance): one key shared with Performance by Metric
    render_task_importance(sel, method=correlation_method())


try:
    page(selection())
except UserError as e:
    st.error(plain(e))
