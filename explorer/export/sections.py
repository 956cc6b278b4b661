"""The model-quality section of the all-metrics export, one function per task.

Each ``<task>_section(project, *, image_ids, classes, iou_threshold, confidence_threshold)`` returns the headline
numbers, per-class tables, confusion matrix and curves the task's pages show for one selection (a split, or
all images when ``image_ids`` is None), as plain Python values (``explorer.export.all_metrics.to_jsonable`` finishes them).
The engines are imported lazily; a missing engine is a ``UserError`` naming the module, never a silent skip.
"""
from __future__ import annotations

import importlib

import numpy as np
import pandas as pd

from explorer.errors import UserError


def engine(module: str, what: str, needs: tuple[str, ...] = ()):
    """Import an evaluation engine; ``UserError`` naming it (or its missing functions) when it is not available."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise UserError(f"cannot export {what}: its evaluation module {module} is not available ({e})") from None
    missing = [name for name in needs if not hasattr(mod, name)]
    if missing:
        raise UserError(f"cannot export {what}: {module} lacks {', '.join(missing)} in this installation")
    return mod


def table(df: pd.DataFrame | None) -> list[dict] | None:
    """A DataFrame as records (index kept as columns when it is named)."""
    if df is None:
        return None
    if any(name is not None for name in df.index.names):
        df = df.reset_index()
    return df.to_dict(orient="records")


def matrix(counts, names, *, row_name: str = "true", column_name: str = "predicted") -> dict:
    """A confusion matrix as ``{"classes": [...], "counts": [[...]], "normalized": [[...]]}`` (rows = true).

    ``normalized`` divides each row by its total; a row with no samples is null (undefined), not 0.
    """
    counts = np.asarray(counts)
    totals = counts.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.where(totals > 0, counts / totals, np.nan)
    return {"rows": row_name, "columns": column_name, "classes": [str(n) for n in names],
            "counts": counts.tolist(), "normalized": normalized.tolist()}


# ---- detection ---------------------------------------------------------------------------------------------
DETECTION_API = ("evaluate_coco", "Matcher", "detection_summary", "per_class_table", "pr_curves", "f1_by_confidence",
                 "detection_confusion_matrix")


def _iou_type(project) -> str:
    labels, preds = project.labels["segmentation"], project.predictions["segmentation"]
    has_masks = len(labels) and labels.notna().all() and len(preds) and preds.notna().all()
    return "segm" if has_masks else "bbox"


def detection_section(project, *, image_ids, classes, iou_threshold: float, confidence_threshold: float) -> dict:
    """COCO 12-number summary, mAP/mAR at the user's IoU and at 0.50/0.75, per-class tables, PR and
    F1-vs-confidence curves and the confusion matrix (with background) of one selection."""
    ev = engine("explorer.evaluation", "detection metrics", DETECTION_API)
    if not project.has_predictions:
        return {"note": "the project has no predictions"}
    iou_type = _iou_type(project)
    ids = None if image_ids is None else [int(i) for i in image_ids]
    coco = ev.evaluate_coco(project, None, iou_type=iou_type, cat_ids=None if classes is None else list(classes),
                            image_ids=ids)
    matcher = ev.Matcher.from_project(project, iou_type=iou_type)
    options = {"classes": None if classes is None else list(classes), "image_ids": image_ids}
    at = {}
    for name, t in (("user", iou_threshold), ("iou_50", 0.5), ("iou_75", 0.75)):
        match = matcher.match(t, confidence_threshold=confidence_threshold)
        s = ev.detection_summary(match, **options)
        at[name] = {"iou_threshold": t, "mAP": s["mAP"], "mAR": s["mAR"]}
        if name == "user":
            user_match = match
    f1 = ev.f1_by_confidence(user_match, **options)
    best = f1.loc[f1["f1"].idxmax()].to_dict() if len(f1) and f1["f1"].notna().any() else None
    pr = ev.pr_curves(user_match, **options)
    cm = ev.detection_confusion_matrix(matcher, iou_threshold, confidence_threshold=confidence_threshold,
                                       classes=options["classes"], image_ids=image_ids)
    return {
        "iou_type": iou_type,
        "iou_threshold": iou_threshold,
        "confidence_threshold": confidence_threshold,
        "coco": dict(coco.summary),
        "coco_per_class": table(coco.per_class),
        "mAP": at["user"]["mAP"], "mAR": at["user"]["mAR"],
        "mAP_50": at["iou_50"]["mAP"], "mAR_50": at["iou_50"]["mAR"],
        "mAP_75": at["iou_75"]["mAP"], "mAR_75": at["iou_75"]["mAR"],
        "per_class": table(ev.per_class_table(user_match, **options)),
        "pr_curves": {str(int(c)): {"recall": g["recall"].tolist(), "precision": g["precision"].tolist()}
                      for c, g in pr.groupby("category_id", sort=True)},
        "f1_by_confidence": {col: f1[col].tolist() for col in f1.columns},
        "best_f1": best,
        "confusion_matrix": _detection_matrix(cm),
    }


def _detection_matrix(cm) -> dict:
    """The detection ``ConfusionMatrix`` (``.matrix``: rows true class + background, columns predicted + background)."""
    frame = cm.matrix
    out = matrix(frame.to_numpy(), [str(c) for c in frame.columns])
    out["row_classes"] = [str(c) for c in frame.index]
    return out


# ---- classification ----------------------------------------------------------------------------------------
def classification_section(project, *, image_ids, classes, iou_threshold: float, confidence_threshold: float) -> dict:
    """Summary (accuracy, macro/weighted F1, top-k), per-class table and confusion matrix of one selection."""
    cls = engine("explorer.evaluation.classification", "classification metrics")
    result = cls.evaluate_project(project, image_ids=image_ids, classes=classes,
                                  confidence_threshold=confidence_threshold)
    out = {"confidence_threshold": confidence_threshold, "n_images": result.n_images,
           "n_unpredicted": result.n_unpredicted, "summary": dict(result.summary)}
    if result.evaluation is not None:
        per_class = result.evaluation.per_class.copy()
        if "name" not in per_class:
            names = project.category_names
            per_class.insert(0, "name", [names.get(int(c), str(c)) for c in per_class.index])
        per_class.index.name = "category_id"
        out["per_class"] = table(per_class)
        conf = result.evaluation.confusion
        out["confusion_matrix"] = matrix(conf.counts, conf.names)
    return out


# ---- semantic segmentation ---------------------------------------------------------------------------------
def segmentation_section(project, *, image_ids, classes, iou_threshold: float, confidence_threshold: float) -> dict:
    """aAcc, mIoU, mAcc (means over the selected classes), per-class IoU/Acc, pixel confusion matrix and the
    per-image IoU distribution of one selection."""
    seg = engine("explorer.evaluation.segmentation", "segmentation metrics")
    result = seg.evaluate_project(project, image_ids=image_ids)
    chosen = list(range(result.num_classes)) if classes is None else [int(c) for c in classes]
    per_class = result.per_class
    per_class = per_class[per_class["class_index"].isin(chosen)]
    outcomes = seg.outcomes(project)
    if image_ids is not None:
        outcomes = outcomes[outcomes["image_id"].isin(np.asarray(image_ids))]
    images = project.images if image_ids is None else project.images[project.images["image_id"].isin(image_ids)]
    return {
        "summary": result.restricted(chosen),
        "n_images_evaluated": result.n_images,
        "n_images_without_label": int(images["label_mask"].isna().sum()),
        "n_images_without_prediction": int((images["label_mask"].notna() & images["pred_mask"].isna()).sum()),
        "invalid_prediction_pixels": int(result.invalid_predictions.sum()),
        "per_class": table(per_class),
        "confusion_matrix": matrix(result.confusion, result.class_names),
        "per_image_iou": _distribution(outcomes["miou"].to_numpy()),
    }


def _distribution(values: np.ndarray, *, value_range=(0.0, 1.0)) -> dict:
    """Summary statistics and a 20-bin histogram of ``values`` (NaN = missing, counted apart)."""
    from explorer.analysis.stats import histogram, summarize

    h = histogram(values, bins=20, value_range=value_range)
    return {**summarize(values).as_dict(), "histogram": {"edges": np.asarray(h.edges).tolist(),
                                                         "counts": np.asarray(h.counts).tolist()}}


# ---- regression and training: the engines' own summaries ----------------------------------------------------
def regression_section(project, *, image_ids, classes, iou_threshold: float, confidence_threshold: float) -> dict:
    """The regression summary (MSE, RMSE, MAE, R², explained variance, max error, mean error) of one selection."""
    reg = engine("explorer.evaluation.regression", "regression metrics")
    result = reg.evaluate_project(project, image_ids=image_ids)
    if result is None:
        return {"summary": None, "note": "no image in the selection has a prediction"}
    errors = reg.outcomes(project, image_ids=image_ids)["error"].to_numpy(np.float64)
    return {"summary": dict(result.summary), "residuals": _distribution(errors, value_range=None)}


def training_report(project) -> dict:
    """Training curves, best epoch and over-fitting marker of a training-log project (not split by images)."""
    train = engine("explorer.analysis.training", "training curves")
    return train.export_summary(project)


SECTIONS = {
    "detection": detection_section,
    "classification": classification_section,
    "segmentation": segmentation_section,
    "regression": regression_section,
}
