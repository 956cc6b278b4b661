"""Per-image, per-label and per-prediction metric tables of a selection, as CSV and Parquet.

``metric_tables(project, ...)`` returns ``{"images": df, "labels": df, "predictions": df}``: the project's rows
(geometry and ids, without the bulky ``segmentation`` JSON) with the task's outcome and every computed data
metric joined in (``metrics_for``: own-level metrics plus the frame (F) metrics of the image):

* detection — labels: ``detected, matched_pred_id, iou``; predictions: ``is_tp, matched_label_id, iou,
  fp_reason`` at the given IoU and confidence thresholds; images: ``n_labels, n_detected, n_predictions, n_tp``;
* classification — images: ``true_id, pred_id, score, correct``;
* segmentation — images: ``miou, pixel_accuracy`` (per-image IoU over the classes present);
* regression — images: the engine's per-image ``outcomes`` when it provides them.

A missing outcome is NaN (e.g. an image without a prediction mask), never 0.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from explorer.errors import UserError
from explorer.export.all_metrics import TARGETS, _as_project, _metric_tables, class_ids, split_image_ids
from explorer.export.sections import _iou_type, engine

FORMATS = ("csv", "parquet")
ID = {"images": "image_id", "labels": "label_id", "predictions": "pred_id"}


def _detection_outcomes(project, iou_threshold, confidence_threshold) -> dict[str, pd.DataFrame]:
    ev = engine("explorer.evaluation", "detection outcomes", ("Matcher",))
    if not project.has_predictions:
        return {}
    match = ev.Matcher.from_project(project, iou_type=_iou_type(project)).match(
        iou_threshold, confidence_threshold=confidence_threshold)
    labels = match.labels.set_index("label_id")[["detected", "pred_id", "iou", "ignored"]]
    labels = labels.rename(columns={"pred_id": "matched_pred_id"})
    preds = match.predictions.set_index("pred_id")[["is_tp", "label_id", "iou", "fp_reason", "ignored"]]
    preds = preds.rename(columns={"label_id": "matched_label_id"})
    counted = match.labels[~match.labels["ignored"].astype(bool)]
    kept = match.predictions[~match.predictions["ignored"].astype(bool)]
    images = pd.DataFrame({
        "n_labels": counted.groupby("image_id").size(),
        "n_detected": counted.groupby("image_id")["detected"].sum(),
        "n_predictions": kept.groupby("image_id").size(),
        "n_tp": kept.groupby("image_id")["is_tp"].sum(),
    })
    return {"images": images, "labels": labels, "predictions": preds}


def _image_outcomes(project, *, image_ids, classes, iou_threshold, confidence_threshold) -> dict[str, pd.DataFrame]:
    task = project.task
    if task == "detection":
        return _detection_outcomes(project, iou_threshold, confidence_threshold)
    if task == "classification":
        cls = engine("explorer.evaluation.classification", "classification outcomes")
        out = cls.outcomes(project, image_ids=image_ids, classes=classes, confidence_threshold=confidence_threshold)
        return {"images": out.set_index("image_id")}
    if task == "segmentation":
        seg = engine("explorer.evaluation.segmentation", "segmentation outcomes")
        return {"images": seg.outcomes(project).set_index("image_id")}
    if task == "regression":
        reg = engine("explorer.evaluation.regression", "regression outcomes")
        if hasattr(reg, "outcomes"):
            return {"images": reg.outcomes(project).set_index("image_id")}
    return {}


def metric_tables(project, *, split: str | None = None, classes=None, iou_threshold: float = 0.5,
                  confidence_threshold: float = 0.0) -> dict[str, pd.DataFrame]:
    """The selection's rows per target with outcomes and data metrics joined (module docstring)."""
    project = _as_project(project)
    ids = split_image_ids(project, split)
    chosen = class_ids(project, classes)
    outcomes = _image_outcomes(project, image_ids=ids, classes=chosen, iou_threshold=iou_threshold,
                               confidence_threshold=confidence_threshold)
    metrics = _metric_tables(project) or {}
    out = {}
    for target in TARGETS:
        base = getattr(project, target)
        base = base.drop(columns=[c for c in ("segmentation",) if c in base.columns])
        if ids is not None:
            base = base[base["image_id"].isin(ids)]
        if target != "images" and chosen is not None:
            base = base[base["category_id"].isin(chosen)]
        if target == "images" and project.task == "classification" and chosen is not None:
            labelled = project.labels.loc[project.labels["category_id"].isin(chosen), "image_id"]
            base = base[base["image_id"].isin(labelled)]
        table = base.set_index(ID[target])
        if target in outcomes:
            extra = outcomes[target]
            table = table.join(extra[[c for c in extra.columns if c not in table.columns]], how="left")
        if metrics.get(target) is not None:
            m = metrics[target]
            table = table.join(m[[c for c in m.columns if c not in table.columns]], how="left")
        out[target] = table.reset_index()
    return out


def export_tables(project, out, *, formats=FORMATS, split: str | None = None, classes=None,
                  iou_threshold: float = 0.5, confidence_threshold: float = 0.0) -> list[Path]:
    """Write ``images``/``labels``/``predictions`` tables to folder ``out`` in each of ``formats``; return paths.

    Empty tables (e.g. no predictions) are written too, so the set of files is the same for every project.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise UserError(f"unknown table format(s) {bad}; expected {', '.join(FORMATS)}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    tables = metric_tables(project, split=split, classes=classes, iou_threshold=iou_threshold,
                           confidence_threshold=confidence_threshold)
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

