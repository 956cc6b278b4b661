"""Import a regression project: images plus a CSV ``image,target,prediction``.

The predictions may also come in a separate CSV ``image,prediction`` (``predictions=``); giving predictions in both
files is a ``UserError`` (one source, nothing overwritten). ``image`` values are paths relative to the image folder
(a unique base name, or a unique path without extension, is accepted too); without an image folder the CSV's
images are the project's images.

Every bad record is a ``Problem`` naming file and line, and the valid rows are kept: unknown image, empty image,
non-numeric or non-finite target (row skipped), non-numeric or non-finite prediction (the target is kept, the image
has no prediction), duplicate image (first valid row kept), a prediction for an image without a target.

Tables: extra ``regression`` (image_id, target, prediction — NaN when the image has none); ``labels``,
``predictions`` and ``categories`` are empty (a regression target is not a class).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from explorer.errors import ProblemReport, UserError
from explorer.project.folder import Project
from explorer.project.schema import DEFAULT_RUN
from explorer.evaluation.regression import TABLE
from explorer.io.images import image_folder, images_table, scan_images_inside
from explorer.io.scan import natural_key
from explorer.io.table_files import drop_duplicates, drop_empty, read_csv, report_rows, resolve_images


def _numbers(report, path, table: pd.DataFrame, column: str, *, skip: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Parse ``table[column]`` as finite floats; a bad value is a ``bad_<column>`` problem and the row is
    dropped (``skip``) or kept with NaN."""
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(np.float64, copy=True)
    bad = ~np.isfinite(values)
    action = "row skipped" if skip else "kept without a prediction"
    report_rows(report, path, table, bad, lambda r: f"{column} {r[column]!r} is not a finite number; {action}",
                f"bad_{column}")
    if skip:
        return table.loc[~bad].reset_index(drop=True), values[~bad]
    values[bad] = np.nan
    return table, values


def _rows(path, required, known_images, report) -> pd.DataFrame:
    table = read_csv(path, required=required, report=report, what="regression")
    return resolve_images(drop_empty(report, path, table, ("image",)), known_images, report, path)


def import_project(out, *, images=None, labels=None, predictions=None, splits=None,
                   name=None, run=None) -> tuple[Project, ProblemReport]:
    """Build a regression project in ``out``; return it with the report of skipped records."""
    if labels is None:
        raise UserError("a regression project needs labels: a CSV 'image,target[,prediction]'")
    report = ProblemReport()
    known_images = scan_images_inside(image_folder(images), report) if images is not None else None

    rows = _rows(labels, ("image", "target"), known_images, report)
    rows, target = _numbers(report, labels, rows, "target", skip=True)
    rows = rows.assign(target=target)
    has_inline = "prediction" in rows.columns
    if has_inline and predictions is not None:
        raise UserError(f"{labels} has a 'prediction' column and predictions={predictions} was given too; "
                        "give the predictions in one place")
    if has_inline:
        rows, pred = _numbers(report, labels, rows, "prediction", skip=False)
        rows = rows.assign(prediction=pred)
    rows = drop_duplicates(report, labels, rows)

    if known_images is None:
        known_images = sorted(set(rows["file_name"]), key=natural_key)
    image_table = images_table(known_images, images_root=images, splits=splits, report=report)
    image_id = dict(zip(image_table["file_name"], image_table["image_id"]))
    table = pd.DataFrame({"image_id": rows["file_name"].map(image_id).to_numpy(np.int64),
                          "target": rows["target"].to_numpy(np.float64),
                          "prediction": rows["prediction"].to_numpy(np.float64) if has_inline else np.nan})

    if predictions is not None:
        preds = _rows(predictions, ("image", "prediction"), known_images, report)
        preds, value = _numbers(report, predictions, preds, "prediction", skip=True)
        preds = drop_duplicates(report, predictions, preds.assign(prediction=value))
        ids = preds["file_name"].map(image_id).to_numpy(np.int64)
        has_target = np.isin(ids, table["image_id"].to_numpy())
        report_rows(report, predictions, preds, ~has_target,
                    lambda r: f"image {r['image']!r} has no target; prediction ignored", "no_target")
        lookup = pd.Series(preds["prediction"].to_numpy()[has_target], index=ids[has_target])
        table["prediction"] = table["image_id"].map(lookup).to_numpy(np.float64)

    n_pred = int(table["prediction"].notna().sum())
    report.kept.update({"images": len(image_table), "targets": len(table), "predictions": n_pred})
    sources = {k: str(v) for k, v in {"images": images, "labels": labels, "predictions": predictions,
                                      "splits": splits}.items() if v is not None}
    categories = pd.DataFrame({"category_id": pd.Series(dtype="int64"), "name": pd.Series(dtype=object),
                               "supercategory": pd.Series(dtype=object)})
    project = Project.create(out, task="regression", images=image_table, categories=categories,
                             images_root=images, name=name, sources=sources, report=report, extra={TABLE: table},
                             runs=[run or DEFAULT_RUN] if n_pred else None)  # its predictions are a column of TABLE
    return project, report
