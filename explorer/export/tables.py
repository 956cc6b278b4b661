"""Per-image, per-label and per-prediction metric tables of a selection, as CSV and Parquet.

``metric_tables(project, ...)`` returns ``{"images": df, "labels": df, "predictions": df}``: for each target the
task's outcome table (``explorer.tasks.get(project.task).outcome_table``, i.e. ``explorer.analysis.outcomes``) of
the selection, with the id as first column — the same rows and numbers the app's pages read. Its row rule and
columns are documented in ``explorer.analysis.outcomes``; in short:

* detection — labels: ``detected, matched_pred_id, iou, ignored``; predictions (those scoring at or above the
  confidence threshold): ``is_tp, matched_label_id, iou, fp_reason, ignored``; images: ``n_labels, n_detected,
  n_predictions, n_tp``; crowd/ignored rows are kept with ``ignored`` true and an empty outcome;
* classification — images: ``true_id, pred_id, score, correct``;
* segmentation — images: ``miou, pixel_accuracy, good``;
* regression — images: ``target, prediction, error, abs_error, within_tolerance``;

then every computed data metric (own level plus the frame (F) metrics of the image). An undefined outcome or a
missing metric is empty (NaN / null; ``<NA>`` for matched ids and yes/no outcomes), never 0 or -1.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from explorer.errors import UserError
from explorer.export.common import TARGETS, as_project, class_ids, split_image_ids
from explorer.project.selection import Selection

FORMATS = ("csv", "parquet")


def selection_of(project, *, split: str | None = None, classes=None, iou_threshold: float = 0.5,
                 confidence_threshold: float = 0.0, options: dict | None = None) -> Selection:
    """The core ``Selection`` of export arguments (``UserError`` for an unknown split or class)."""
    split_image_ids(project, split)  # validates the split
    return Selection(split=None if split in (None, "all") else split, classes=class_ids(project, classes),
                     iou_threshold=iou_threshold, confidence_threshold=confidence_threshold,
                     run=getattr(project, "run", None), options=tuple((options or {}).items()))


def metric_tables(project, *, split: str | None = None, classes=None, iou_threshold: float = 0.5,
                  confidence_threshold: float = 0.0, options: dict | None = None) -> dict[str, pd.DataFrame]:
    """The selection's rows per target with outcomes and data metrics joined (module docstring)."""
    project = as_project(project)
    sel = selection_of(project, split=split, classes=classes, iou_threshold=iou_threshold,
                       confidence_threshold=confidence_threshold, options=options)
    return selection_tables(project, sel)


def selection_tables(project, sel: Selection) -> dict[str, pd.DataFrame]:
    """``{target: the task's outcome table of sel, id as first column}`` for every target (the export's tables)."""
    from explorer import tasks

    task = tasks.get(project.task)
    if not task.image_based:
        raise UserError(f"{task.title} projects have no per-image tables to export")
    return {target: task.outcome_table(project, sel, target).reset_index() for target in TARGETS}


def export_tables(project, out, *, formats=FORMATS, split: str | None = None, classes=None,
                  iou_threshold: float = 0.5, confidence_threshold: float = 0.0,
                  options: dict | None = None) -> list[Path]:
    """Write ``images``/``labels``/``predictions`` tables to folder ``out`` in each of ``formats``; return paths.

    Empty tables (e.g. no predictions) are written too, so the set of files is the same for every project.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise UserError(f"unknown table format(s) {bad}; expected {', '.join(FORMATS)}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    tables = metric_tables(project, split=split, classes=classes, iou_threshold=iou_threshold,
                           confidence_threshold=confidence_threshold, options=options)
    paths = []
    for target, df in tables.items():
        for fmt in formats:
            path = folder / f"{target}.{fmt}"
            if fmt == "csv":
                df.to_csv(path, index=False)
            else:
                _parquet_safe(df).to_parquet(path, index=False)
            paths.append(path)
    return paths


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns mixing types (e.g. None and str) as strings with nulls, which Parquet can store."""
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):  # fp_reason: written as plain strings, as before
            out[c] = out[c].astype(object)
        if out[c].dtype == object:
            values = out[c]
            out[c] = values.where(values.isna(), values.astype(str))
    return out


def table_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    """One table serialised in memory (for download buttons)."""
    if fmt == "csv":
        return df.to_csv(index=False).encode()
    if fmt == "parquet":
        import io

        buf = io.BytesIO()
        _parquet_safe(df).to_parquet(buf, index=False)
        return buf.getvalue()
    raise UserError(f"unknown table format {fmt!r}; expected {', '.join(FORMATS)}")

