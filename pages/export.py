"""Project › Export: download the all-metrics JSON, the metric tables (CSV / Parquet) and the current selection
as COCO JSON. Everything is computed by ``explorer.export.all_metrics`` (the same as ``explorer export``), cached per
project fingerprint and sidebar selection; every download is built when its button is clicked (``st.download_button``
with a callable), so changing a control never waits for an export payload.
"""
from __future__ import annotations

import json
from functools import partial

import streamlit as st

from explorer import tasks
from explorer.errors import UserError
from explorer.export.all_metrics import coco_selection, export_all_metrics, to_jsonable
from explorer.export.common import TARGETS
from explorer.export.tables import FORMATS, selection_tables, table_bytes
from explorer.ui.outcomes import metrics_stamp
from explorer.ui.state import selection
from explorer.ui.text import plain
from explorer.ui.persist import keep

MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def _options(sel) -> dict:
    return {"classes": None if sel.all_classes else tuple(sorted(int(c) for c in sel.classes)),
            "iou_threshold": round(sel.iou_threshold, 4), "confidence_threshold": round(sel.confidence_threshold, 4)}


@st.cache_resource(show_spinner="Collecting every metric…", max_entries=8)
def _all_metrics(path: str, fingerprint: str, classes, iou_threshold: float, confidence_threshold: float,
                 _project, options: tuple = (), stamp: float = 0.0) -> bytes:
    # options: the task's outcome options set on its pages (tolerance, target IoU); stamp: the data metrics' run
    doc = export_all_metrics(_project, classes=classes, iou_threshold=iou_threshold,
                             confidence_threshold=confidence_threshold, options=dict(options))
    return json.dumps(doc, indent=1, allow_nan=False).encode()


@st.cache_resource(show_spinner="Building metric tables…", max_entries=8)
def _tables(path: str, fingerprint: str, core, _project):
    # the same outcome tables (and options: tolerance, target IoU) as the pages of this selection
    return selection_tables(_project, core)


@st.cache_resource(show_spinner="Building the COCO subset…", max_entries=8)
def _coco(path: str, fingerprint: str, split, classes, _project) -> bytes:
    return json.dumps(to_jsonable(coco_selection(_project, split=split, classes=classes))).encode()


def page(sel) -> None:
    project = sel.project
    task = tasks.get(project.task)
    st.title("Export")
    opts = _options(sel)
    where = (f"split **{plain(sel.split)}**, " if sel.split else "all splits, ") + ("all classes" if opts["classes"] is None
                                                 else f"{len(opts['classes']):,} selected class(es)")
    if "iou_threshold" in task.controls:
        where += f", IoU ≥ {sel.iou_threshold:.2f}, confidence ≥ {sel.confidence_threshold:.2f}"
    if sel.run:  # the tables and JSON are built from this run's predictions (on click: say which)
        where += f", run **{plain(sel.run)}**"
    st.caption(f"Current selection: {where}. Undefined numbers (NaN) are written as JSON null.")
    key = (str(project.root), project.fingerprint)
    stem = project.root.name

    st.subheader("All metrics (JSON)")
    st.caption("Every headline number, per-class table, confusion matrix and curve of this project's pages, for "
               "each split and for all images, plus dataset statistics and data-metric summaries.")
    stamp = metrics_stamp(project)

    def all_metrics() -> bytes:  # built when the button is clicked (then cached), not on every rerun
        return _all_metrics(*key, opts["classes"], opts["iou_threshold"], opts["confidence_threshold"], project,
                            sel.core.options, stamp)

    st.download_button("Download all metrics (JSON)", all_metrics, file_name=f"{stem}_all_metrics.json",
                       mime="application/json", key="export_json", on_click="ignore")
    st.caption("Built when you click (a few seconds on a large project); the page does not wait for it.")

    if task.image_based:
        st.subheader("Metric tables")
        st.caption("One row per image, per label and per prediction of the selection, with the model outcome and "
                   "every data metric (CSV or Parquet). Each table is built when you click its button (the "
                   "selection's outcome tables; a few seconds on a large project); the page does not wait for it.")
        fmt = st.radio("Format", FORMATS, horizontal=True, **keep("export_format"),
                       format_func=lambda f: {"csv": "CSV", "parquet": "Parquet"}.get(f, f.upper()))

        def table_of(target: str) -> bytes:  # on click: the selection's tables (cached), then one file
            return table_bytes(_tables(*key, sel.core, project)[target], fmt)

        columns = st.columns(len(TARGETS))
        for col, target in zip(columns, TARGETS):
            col.download_button(f"{target} table ({plain(fmt.upper())})", partial(table_of, target),
                                file_name=f"{stem}_{target}.{fmt}", mime=MIME[fmt], key=f"export_table_{target}",
                                on_click="ignore")
        with st.expander("Preview: images table"):
            if st.button("Build the images table of this selection", key="export_preview"):
                with st.spinner("Building the metric tables of this selection…"):
                    images = _tables(*key, sel.core, project)["images"]
                st.caption(f"images: {len(images):,} rows (the first 50 shown)")
                st.dataframe(images.head(50), hide_index=True)

    if task.coco_subset:
        st.subheader("Selection as COCO JSON")
        st.caption("The images of the selected split with their labels and predictions (of the selected classes) "
                   "as one COCO file: ground truth plus a \"predictions\" key holding the results; ids preserved.")
        st.download_button("Download selection (COCO JSON)", lambda: _coco(*key, sel.split, opts["classes"], project),
                           file_name=f"{stem}_{sel.split or 'all'}_coco.json", mime="application/json",
                           key="export_coco", on_click="ignore")  # built on click


try:
    page(selection())
except UserError as e:
    st.error(plain(e))
