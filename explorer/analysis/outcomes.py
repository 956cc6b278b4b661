"""The outcome tables: the model's outcome per image, label or prediction of a selection, with every data metric
joined — the one table that metric importance, performance by metric, the galleries and the metric-table export
all read (the tasks' ``outcome_table``, ``explorer.tasks.get(project.task).outcome_table(project, sel, target)``).

``detection_outcomes``, ``classification_outcomes``, ``segmentation_outcomes`` and ``regression_outcomes`` take a
project (a run's view: ``Project.for_run``), a core ``Selection`` and a target (``"images"``, ``"labels"`` or
``"predictions"``) and return a DataFrame by one rule:

* **Rows**: one per row of the target in the selection — images of the split; labels and predictions of the split
  whose class is selected; for detection, predictions scoring at or above the confidence threshold (the others
  are not matched, so not in the selection). Classification images with a class filter: the images whose label
  is of a selected class.
* **Index**: the target id (``image_id`` / ``label_id`` / ``pred_id``). **Columns**: the project's row (without
  the bulky ``segmentation`` JSON), then the outcome columns, then every data-metric column
  (``explorer.datametrics.tables.metrics_for``: the target's own level plus the frame (F) metrics of its image;
  a metric named like a row column is not joined — the row's value wins). No metrics computed: no metric columns.
* **Undefined is missing, never 0 or -1**: boolean outcomes are pandas ``boolean`` with ``<NA>`` where the
  outcome is undefined, matched ids are ``Int64`` with ``<NA>`` for "none", numbers NaN. Detection keeps the rows
  COCO evaluation ignores (crowd labels; predictions matched to a crowd label or beyond the 100 best of their
  image) with ``ignored = True`` and the outcome ``<NA>``; a classification image without a prediction at the
  confidence threshold, a segmentation image without a mask pair and a regression image without a prediction
  have the outcome ``<NA>``. A rate is the share of True among the rows whose outcome is defined: ``rated(table,
  column)`` gives those rows (and ``table[column].mean()`` already skips ``<NA>``).
* A target the task defines no outcome for (detection images carry counts; classification labels…) gets the rows
  and the metrics only, so the export writes every target through the same function.

Outcome columns:

* detection — labels: ``detected, matched_pred_id, iou, ignored``; predictions: ``is_tp, matched_label_id, iou,
  fp_reason, ignored``; images: ``n_labels, n_detected, n_predictions, n_tp`` (over the selected classes, ignored
  rows left out; ``n_detected``/``n_tp`` ``<NA>`` when the run has no predictions);
* classification — images: ``true_id, pred_id`` (predicted class), ``score, correct``;
* segmentation — images: ``miou, pixel_accuracy`` (``explorer.evaluation.segmentation.outcomes``) and ``good`` =
  ``miou >= target_iou`` (selection option ``target_iou``, default the task's);
* regression — images: ``target, prediction, error, abs_error`` and ``within_tolerance`` = ``abs_error <=
  tolerance`` (option ``tolerance``; default the median absolute error of the selection's predicted images).
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pandas as pd

from explorer.project.selection import Selection
from explorer.tasks.base import TARGET_ID, TARGETS

__all__ = ["detection_outcomes", "classification_outcomes", "segmentation_outcomes", "regression_outcomes",
           "rated", "selected_rows", "with_metrics", "matcher", "match", "tolerance_of"]


# ---- shared row rule --------------------------------------------------------------------------------------------
def _check_target(target: str) -> None:
    if target not in TARGETS:
        from explorer.errors import UserError

        raise UserError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")


def selected_rows(project, sel: Selection, target: str) -> pd.DataFrame:
    """The project's ``target`` rows in the split (and, for labels/predictions, the selected classes), index = the
    target id, without the ``segmentation`` column."""
    _check_target(target)
    table = getattr(project, target)
    keep = np.ones(len(table), bool)
    ids = sel.image_ids(project)
    if ids is not None:
        keep &= np.isin(table["image_id"].to_numpy(), ids)
    if target != "images" and sel.classes is not None:
        keep &= np.isin(table["category_id"].to_numpy(), np.asarray(sel.classes))
    rows = table.loc[keep]
    return rows.drop(columns=[c for c in ("segmentation",) if c in rows.columns]).set_index(TARGET_ID[target])


def with_metrics(table: pd.DataFrame, project, target: str) -> pd.DataFrame:
    """``table`` (index = target id) with the target's data metrics joined by id (NaN where a row has none)."""
    catalog = project.metrics_dir / "catalog.json"
    if not catalog.is_file():
        return table
    from explorer.datametrics.tables import metrics_for

    # read once per project view and metrics run (a slider move re-matches, the metric tables stay the same);
    # the kept frame is only read here (reindex copies), never handed out
    key = (str(project.root), project.fingerprint, catalog.stat().st_mtime_ns, target)
    metrics = _remember(_METRICS, key, lambda: metrics_for(project, target), size=6)
    metrics = metrics[[c for c in metrics.columns if c not in table.columns]].reindex(table.index)
    return pd.concat([table, metrics], axis=1)


def rated(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows whose outcome ``column`` is defined (not ``<NA>``): the rows every rate is computed over; there
    ``table[column].to_numpy(bool)`` is the yes/no outcome."""
    return table[table[column].notna().to_numpy()]


def _boolean(values: np.ndarray, defined: np.ndarray) -> pd.arrays.BooleanArray:
    """``values`` as a pandas ``boolean`` array with ``<NA>`` where not ``defined``."""
    return pd.arrays.BooleanArray(np.asarray(values, bool), ~np.asarray(defined, bool))


def _ids(values) -> pd.arrays.IntegerArray:
    """Matched ids as ``Int64`` with ``<NA>`` for "none" (as the matcher gives them)."""
    return pd.array(values, dtype="Int64")


# ---- detection ----------------------------------------------------------------------------------------------------
# One Matcher (every IoU of the project) per project view and IoU type, and the last matches: moving a threshold
# re-matches without recomputing IoUs, for the pages and the export alike. Keyed by fingerprint, which names the run.
_MATCHERS: OrderedDict = OrderedDict()
_MATCHES: OrderedDict = OrderedDict()
_METRICS: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


def _remember(cache: OrderedDict, key, make, size: int):
    with _LOCK:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = make()
    with _LOCK:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)
    return value


def matcher(project, *, iou_type: str | None = None):
    """The project's ``explorer.evaluation.Matcher`` (IoUs computed once per project fingerprint and IoU type;
    ``iou_type`` None = ``explorer.tasks.detection.iou_type(project)``: masks when all carry one)."""
    from explorer.evaluation import Matcher
    from explorer.tasks.detection import iou_type as iou_type_of

    kind = iou_type or iou_type_of(project)
    return _remember(_MATCHERS, (str(project.root), project.fingerprint, kind),
                     lambda: Matcher.from_project(project, iou_type=kind), size=4)


def match(project, sel: Selection, *, iou_type: str | None = None):
    """``MatchResult`` of the whole project at the selection's IoU and confidence thresholds (kept for reuse)."""
    from explorer.tasks.detection import iou_type as iou_type_of

    kind = iou_type or iou_type_of(project)
    key = (str(project.root), project.fingerprint, kind, sel.iou_threshold, sel.confidence_threshold)
    return _remember(_MATCHES, key, lambda: matcher(project, iou_type=kind).match(
        sel.iou_threshold, confidence_threshold=sel.confidence_threshold), size=16)


def detection_outcomes(project, sel: Selection, target: str, *, iou_type: str | None = None) -> pd.DataFrame:
    """Detection outcome table of ``target`` (module docstring): labels ``detected``, predictions ``is_tp``,
    images the per-image counts, at the selection's IoU and confidence thresholds."""
    return with_metrics(_detection_rows(project, sel, target, iou_type), project, target)


def _detection_rows(project, sel: Selection, target: str, iou_type: str | None) -> pd.DataFrame:
    rows = selected_rows(project, sel, target)
    if not project.has_predictions:
        return _detection_without_model(rows, target)
    m = match(project, sel, iou_type=iou_type)
    if target == "labels":
        table = m.labels.set_index("label_id").reindex(rows.index)
        ignored = table["ignored"].to_numpy(bool)
        rows = rows.assign(detected=_boolean(table["detected"].to_numpy(bool), ~ignored),
                           matched_pred_id=_ids(table["pred_id"]),
                           iou=table["iou"].to_numpy(np.float64), ignored=ignored)
    elif target == "predictions":
        table = m.predictions.set_index("pred_id")
        rows = rows.loc[rows.index.isin(table.index)]  # below the confidence threshold: not in the selection
        table = table.reindex(rows.index)
        ignored = table["ignored"].to_numpy(bool)
        rows = rows.assign(is_tp=_boolean(table["is_tp"].to_numpy(bool), ~ignored),
                           matched_label_id=_ids(table["label_id"]),
                           iou=table["iou"].to_numpy(np.float64), fp_reason=table["fp_reason"].to_numpy(object),
                           ignored=ignored)
    else:
        labels = _detection_rows(project, sel, "labels", iou_type)
        preds = _detection_rows(project, sel, "predictions", iou_type)
        labels, preds = labels[~labels["ignored"]], preds[~preds["ignored"]]
        rows = rows.assign(**_per_image(rows.index, labels["image_id"], labels["detected"], "n_labels", "n_detected"),
                           **_per_image(rows.index, preds["image_id"], preds["is_tp"], "n_predictions", "n_tp"))
    return rows


def _per_image(image_ids: pd.Index, of_image: pd.Series, hit: pd.Series, count: str, hits: str) -> dict:
    """``{count: rows per image, hits: True rows per image}`` over ``image_ids`` (0 for an image without rows)."""
    n = of_image.value_counts().reindex(image_ids, fill_value=0).to_numpy(np.int64)
    k = of_image[hit.to_numpy(bool)].value_counts().reindex(image_ids, fill_value=0).to_numpy(np.int64)
    return {count: n, hits: k}


def _detection_without_model(rows: pd.DataFrame, target: str) -> pd.DataFrame:
    """The outcome columns of a run without predictions: nothing was matched, so every outcome is undefined."""
    n = len(rows)
    missing = np.zeros(n, bool)
    if target == "labels":
        ignored = rows["iscrowd"].to_numpy(bool)
        return rows.assign(detected=_boolean(missing, missing), matched_pred_id=_ids([pd.NA] * n),
                           iou=np.full(n, np.nan), ignored=ignored)
    if target == "predictions":
        return rows.assign(is_tp=_boolean(missing, missing), matched_label_id=_ids([pd.NA] * n),
                           iou=np.full(n, np.nan), fp_reason=np.full(n, None, object), ignored=missing)
    return rows  # images: the counts need a model (n_labels alone would look like a complete table)


# ---- per-image tasks ------------------------------------------------------------------------------------------------
def _join_images(rows: pd.DataFrame, outcome: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (images, index image_id) with ``outcome`` (column image_id) joined: NaN/<NA> where absent."""
    extra = outcome.set_index("image_id").reindex(rows.index)
    return pd.concat([rows, extra[[c for c in extra.columns if c not in rows.columns]]], axis=1)


def classification_outcomes(project, sel: Selection, target: str = "images") -> pd.DataFrame:
    """Classification outcome table: images ``true_id, pred_id, score, correct`` (``<NA>`` without a prediction
    at the confidence threshold); labels/predictions: rows and metrics."""
    rows = selected_rows(project, sel, target)
    if target != "images":
        return with_metrics(rows, project, target)
    if sel.classes is not None:
        labelled = project.labels.loc[project.labels["category_id"].isin(sel.classes), "image_id"]
        rows = rows[rows.index.isin(labelled)]
    from explorer.evaluation import classification as cls

    out = cls.outcomes(project, image_ids=sel.image_ids(project), classes=sel.class_list(),
                       confidence_threshold=sel.confidence_threshold)
    out = out.astype({"true_id": "Int64", "pred_id": "Int64", "correct": "boolean"})
    return with_metrics(_join_images(rows, out), project, target)


def segmentation_outcomes(project, sel: Selection, target: str = "images") -> pd.DataFrame:
    """Segmentation outcome table: images ``miou, pixel_accuracy`` and ``good`` = ``miou >= target_iou``
    (``<NA>`` for an image that was not evaluated); labels/predictions: rows and metrics."""
    rows = selected_rows(project, sel, target)
    if target != "images":
        return with_metrics(rows, project, target)
    from explorer.evaluation import segmentation as seg

    target_iou = float(sel.option("target_iou", _default(project, "target_iou")))
    table = _join_images(rows, seg.outcomes(project))
    miou = table["miou"].to_numpy(np.float64)
    table["good"] = _boolean(miou >= target_iou, np.isfinite(miou))
    return with_metrics(table, project, target)


def tolerance_of(sel: Selection, abs_error: np.ndarray) -> float:
    """The selection's ``tolerance`` option, or the median absolute error of ``abs_error`` (the predicted images of
    the selection: about half of them are then within tolerance); NaN when nothing is predicted."""
    value = sel.option("tolerance")
    if value is not None:
        return float(value)
    return float(np.median(abs_error)) if len(abs_error) else float("nan")


def regression_outcomes(project, sel: Selection, target: str = "images") -> pd.DataFrame:
    """Regression outcome table: images ``target, prediction, error, abs_error`` and ``within_tolerance`` =
    ``abs_error <= tolerance`` (``<NA>`` without a prediction); labels/predictions: rows and metrics."""
    rows = selected_rows(project, sel, target)
    if target != "images":
        return with_metrics(rows, project, target)
    from explorer.evaluation import regression as reg

    out = reg.outcomes(project, image_ids=sel.image_ids(project))
    table = _join_images(rows, out)
    abs_error = table["abs_error"].to_numpy(np.float64)
    tol = tolerance_of(sel, out["abs_error"].to_numpy(np.float64))
    table["within_tolerance"] = _boolean(abs_error <= tol, np.isfinite(abs_error))
    return with_metrics(table, project, target)


def _default(project, option: str):
    """The task's default for a selection option (``Task.option_defaults``): one place for it."""
    from explorer import tasks

    return tasks.get(project.task).option_defaults.get(option)
