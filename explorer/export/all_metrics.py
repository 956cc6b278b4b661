"""Export all metrics: one JSON per project, per-image/label/prediction metric tables, a COCO subset.

``export_all_metrics(project, out=None)`` returns (and writes, when ``out`` is given) one JSON document::

    {"format": "cv-explorer/all-metrics", "format_version": 1, "explorer_version": ...,
     "project":  {name, task, fingerprint, run, runs, n_images, n_labels, n_predictions, splits, classes},
     "settings": {the task's own controls (detection: iou_threshold, confidence_threshold; classification:
                  confidence_threshold), classes (when the task has classes), options (the outcome options in
                  force: tolerance, target_iou), undefined: "null"},
     "splits_side_by_side": [{split, images, <headline numbers>}, ...],   # explorer.analysis.splits_summary
     "splits": {"all": SECTION, "<split>": SECTION, ...},
     "training": {...}           # a task that is not image-based (training logs): one section under its name
    }
    SECTION = {"dataset": {n_images, n_labels, n_predictions, per_class: [...]},
               "evaluation": {... the task's headline numbers, per-class tables, confusion matrix, curves ...},
               "analyses": {outcomes: {target: {counts, fp_reasons, importance, correlation}},
                            performance_by_metric: {metric: {target: {buckets, overall, n_missing}}}},
               "data_metrics": {"images": {metric: stats}, "labels": ..., "predictions": ...} | {"available": false}}

Only what the task's pages show is written: no thresholds of another task's controls, no per-class rows for a
task without classes, no data-metric summary of a target without rows or of a metric without a value.

Undefined numbers (NaN: a class absent from a split, a zero denominator) are written as JSON ``null``.
The evaluation section of each split is the task's ``export_section`` (``explorer.tasks``); a task that is not
image-based (training logs) has one section for the whole project under its name instead. ``export_coco`` writes
the selection as COCO JSON via ``explorer.export.subset``; the per-row metric tables are ``explorer.export.tables``.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from explorer import __version__, tasks
from explorer.errors import UserError
from explorer.export.common import as_project, class_ids, load_metric_tables, split_image_ids
from explorer.project.selection import Selection

FORMAT = "cv-explorer/all-metrics"
FORMAT_VERSION = 1
METRICS_FILE = "all_metrics.json"


def to_jsonable(value):
    """Plain JSON values: NumPy scalars/arrays to Python, NaN/inf to None, DataFrames to records, keys to str."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="records"))
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, (int, str)):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


# ---- dataset statistics and metric summaries ----------------------------------------------------------------
def dataset_statistics(project, image_ids=None, classes=None) -> dict:
    """Images, labels and predictions in the selection, in total and per class.

    per class: ``images`` (images with at least one label of the class), ``labels``, ``predictions``.
    """
    images, labels, preds = project.images, project.labels, project.predictions
    if image_ids is not None:
        images = images[images["image_id"].isin(image_ids)]
        labels = labels[labels["image_id"].isin(image_ids)]
        preds = preds[preds["image_id"].isin(image_ids)]
    cats = project.categories[["category_id", "name"]].copy()
    if classes is not None:
        cats = cats[cats["category_id"].isin(classes)]
        labels = labels[labels["category_id"].isin(classes)]
        preds = preds[preds["category_id"].isin(classes)]
    per_class = cats.set_index("category_id")
    per_class["images"] = labels.groupby("category_id")["image_id"].nunique()
    per_class["labels"] = labels.groupby("category_id").size()
    per_class["predictions"] = preds.groupby("category_id").size()
    per_class[["images", "labels", "predictions"]] = per_class[["images", "labels", "predictions"]].fillna(0).astype(int)
    return {"n_images": len(images), "n_labels": len(labels), "n_predictions": len(preds),
            "per_class": per_class.reset_index().to_dict(orient="records")}


def metric_summaries(tables: dict[str, pd.DataFrame] | None, project, image_ids=None, classes=None) -> dict:
    """Count, missing, mean, std, min, quartiles, max of every numeric data metric per target in the selection.

    A target without rows in the selection (classification has no boxes) and a metric without a single value
    there (a box metric of box-less labels) are left out rather than written as empty summaries."""
    from explorer.analysis.stats import summarize

    if tables is None:
        return {"available": False, "reason": "data metrics were not computed (run 'explorer metrics PROJECT')"}
    out = {"available": True}
    for target, df in tables.items():
        df = _select_rows(df, target, project, image_ids, classes)
        if df is None or len(df) == 0:
            continue
        stats = {c: summarize(df[c].to_numpy(np.float64)).as_dict()
                 for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])}
        stats = {c: v for c, v in stats.items() if v.get("count")}
        if stats:
            out[target] = stats
    return out


def _select_rows(df: pd.DataFrame, target: str, project, image_ids, classes) -> pd.DataFrame:
    """Rows of a metric table (indexed by ``image_id`` / ``label_id`` / ``pred_id``) within the selection: the ids
    of ``explorer.analysis.outcomes.selected_rows``, the one rule of which rows a selection holds."""
    if df is None or len(df) == 0:
        return df
    from explorer.analysis.outcomes import selected_rows

    split_ids = None if image_ids is None else np.asarray(image_ids)
    sel = Selection(classes=None if classes is None else tuple(classes))
    rows = selected_rows(project, sel, target)
    if split_ids is not None:
        rows = rows[(rows.index if target == "images" else rows["image_id"]).isin(split_ids)]
    return df[df.index.isin(rows.index)]


# ---- the all-metrics JSON -----------------------------------------------------------------------------------
def export_all_metrics(project, out=None, *, classes=None, iou_threshold: float = 0.5,
                       confidence_threshold: float = 0.0, splits=None, run: str | None = None,
                       options: dict | None = None, analyses: bool = True) -> dict:
    """Every number of the project's pages, per split and for ``"all"`` (module docstring).

    project: a ``Project`` (its viewed run) or a project folder. out: a ``.json`` file, or a folder
    (``all_metrics.json`` in it), or None (nothing written). classes: names or ids (None = all). splits: which
    splits besides ``"all"`` (None = every split of the project). run: the run to export (None: the project's
    viewed run, the first for a folder; ``UserError`` naming the runs when unknown). options: the task's outcome
    options (``Selection.options``: ``{"tolerance": 0.5}``, ``{"target_iou": 0.75}``; None = the task's
    defaults). analyses: include importance, correlation and Performance-by-Metric tables (``"analyses"``).
    Returns the JSON-ready dict.
    """
    project = as_project(project)
    if run is not None:
        project = project.for_run(run)
    task = tasks.get(project.task)
    chosen = class_ids(project, classes)
    split_names = ["all", *(project.splits if splits is None else [s for s in splits if s != "all"])]
    unknown = set(options or {}) - set(task.option_defaults)
    if unknown:
        raise UserError(f"{task.name} projects have no option {', '.join(sorted(map(repr, unknown)))}; options: "
                        f"{', '.join(task.option_defaults) or 'none'}")
    options = {k: v for k, v in (options or {}).items() if v is not None}
    settings = {c: v for c, v in (("iou_threshold", iou_threshold), ("confidence_threshold", confidence_threshold))
                if c in task.controls}
    if task.has_classes:
        settings["classes"] = chosen if chosen is not None else sorted(project.category_names)
    if task.option_defaults:
        settings["options"] = {**{k: v for k, v in task.option_defaults.items() if v is not None}, **options}
    settings["undefined"] = "null (NaN: e.g. a class absent from a split)"
    doc = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "explorer_version": __version__,
        "project": {"name": project.name, "task": project.task, "fingerprint": project.fingerprint,
                    "run": project.run, "runs": project.runs, "n_images": len(project.images), "n_labels": len(project.labels),
                    "n_predictions": len(project.predictions), "splits": project.splits,
                    "classes": project.category_names},
        "settings": settings,
        "splits": {},
    }
    if "counts" in task.extras:
        doc["project"].update(task.extras["counts"](project, None))
    if not task.image_based:  # nothing per image: the counts of boxes and classes mean nothing here
        doc["project"] = {k: v for k, v in doc["project"].items() if k not in ("n_labels", "n_predictions", "classes")}
    metric_tables = load_metric_tables(project) if task.image_based else None
    base = Selection(classes=chosen, iou_threshold=iou_threshold, confidence_threshold=confidence_threshold,
                     run=project.run, options=tuple(options.items()))
    if task.image_based and project.splits:
        from explorer.analysis.splits_summary import splits_summary

        doc["splits_side_by_side"] = splits_summary(project, base).reset_index().to_dict(orient="records")
    for split in split_names:
        ids = split_image_ids(project, split)  # validates the split name
        entry = {"dataset": dataset_statistics(project, ids, chosen)}
        if "counts" in task.extras:  # labels and predictions kept outside the box tables (regression)
            entry["dataset"].update(task.extras["counts"](project, ids))
        if not task.has_classes:
            entry["dataset"].pop("per_class")
        if task.image_based:
            sel = replace(base, split=None if ids is None else split)
            entry["evaluation"] = task.export_section(project, sel)
            if analyses and task.outcomes:
                from explorer.export.sections import outcome_analyses

                entry["analyses"] = outcome_analyses(project, sel)
            entry["data_metrics"] = metric_summaries(metric_tables, project, ids, chosen)
        doc["splits"][split] = entry
    if not task.image_based:  # e.g. a training log: one section for the whole project, under the task's name
        doc[task.name] = task.export_section(project, Selection())
    doc = to_jsonable(doc)
    if out is not None:
        path = Path(out)
        if path.suffix.lower() != ".json":
            path.mkdir(parents=True, exist_ok=True)
            path = path / METRICS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1, allow_nan=False))
    return doc


# ---- COCO subset --------------------------------------------------------------------------------------------
def coco_selection(project, *, split: str | None = None, classes=None) -> dict:
    """The selection (split, classes) as one COCO JSON document (ground truth + ``"predictions"``).

    With all classes: the split's images with all their labels and predictions. With a class filter: the labels
    and predictions of those classes in the split, and the images they lie on.
    """
    from explorer.export import subset

    project = as_project(project)
    if not tasks.get(project.task).coco_subset:
        raise UserError(f"a COCO subset needs boxes or masks; project {project.name!r} is a {project.task} project")
    ids = split_image_ids(project, split)
    chosen = class_ids(project, classes)
    image_ids = project.images["image_id"].to_numpy() if ids is None else ids
    if chosen is None:
        result = subset.coco_subset(project, image_ids=image_ids)
    else:
        labels, preds = project.labels, project.predictions
        lab = labels.loc[labels["image_id"].isin(image_ids) & labels["category_id"].isin(chosen), "label_id"]
        prd = preds.loc[preds["image_id"].isin(image_ids) & preds["category_id"].isin(chosen), "pred_id"]
        result = subset.coco_subset(project, label_ids=lab.to_numpy(), pred_ids=prd.to_numpy())
    return result.to_dict()


def export_coco(project, out, *, split: str | None = None, classes=None) -> Path:
    """Write ``coco_selection`` to ``out`` (a ``.json`` file, or ``<folder>/coco_subset.json``); return the path."""
    doc = coco_selection(project, split=split, classes=classes)
    path = Path(out)
    if path.suffix.lower() != ".json":
        path.mkdir(parents=True, exist_ok=True)
        path = path / "coco_subset.json"
    path.write_text(json.dumps(to_jsonable(doc)))
    return path

