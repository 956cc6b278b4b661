"""Semantic segmentation: a class-index mask per image (labels and predictions as PNG masks).

Outcome: per-image IoU ≥ target over images, where the per-image IoU is the mean IoU over the classes present
in the image (``explorer.evaluation.segmentation.outcomes``) and the target is the selection's option
``target_iou`` (default 0.5).
"""
from __future__ import annotations

import numpy as np

from explorer.project.selection import Selection
from explorer.tasks.base import Outcome, Page, Task
from explorer.tasks import register

DEFAULT_TARGET_IOU = 0.5


def importer(out, *, images=None, labels=None, predictions=None, splits=None, name=None, run=None, classes=None,
             num_classes=None, ignore_index=None):
    """``explorer.io.semantic_masks.import_project``; ``classes`` (list or text file), ``num_classes``,
    ``ignore_index`` (default: the importer's, 255)."""
    from explorer.io.semantic_masks import import_project

    extra = {} if run is None else {"run": run}  # forwarded only when given (importers that predate runs)
    if ignore_index is not None:
        extra["ignore_index"] = ignore_index
    return import_project(out, images=images, labels=labels, predictions=predictions, splits=splits, name=name,
                          classes=classes, num_classes=num_classes, **extra)


def _chosen(result, sel: Selection) -> list[int]:
    return list(range(result.num_classes)) if sel.classes is None else list(sel.classes)


def _headline(project, result, sel: Selection) -> dict:
    images = project.images
    ids = sel.image_ids(project)
    if ids is not None:
        images = images[images["image_id"].isin(ids)]
    return {
        "summary": result.restricted(_chosen(result, sel)),
        "n_images_evaluated": result.n_images,
        "n_images_without_label": int(images["label_mask"].isna().sum()),
        "n_images_without_prediction": int((images["label_mask"].notna() & images["pred_mask"].isna()).sum()),
        "invalid_prediction_pixels": int(result.invalid_predictions.sum()),
    }


def evaluate(project, sel: Selection) -> dict:
    """aAcc, mIoU, mAcc (means over the selected classes) of the selection, with the number of images evaluated,
    without a label mask or without a prediction mask, and the prediction pixels outside the classes."""
    from explorer.evaluation.segmentation import evaluate_project

    return _headline(project, evaluate_project(project, image_ids=sel.image_ids(project)), sel)


N_BUCKETS = 5  # the Segmentation page's default bucket count of "mean mIoU by data metric"
WORST = 20  # rows of the worst-images table in the export (the page's gallery pages through all of them)


def per_image(project, sel: Selection):
    """``image_id, file_name, miou, pixel_accuracy`` of the selection's evaluated images, worst mIoU first (ties
    by image id): the order of the per-image IoU gallery."""
    from explorer.evaluation.segmentation import outcomes

    rows = outcomes(project)
    ids = sel.image_ids(project)
    if ids is not None:
        rows = rows[rows["image_id"].isin(np.asarray(ids))]
    names = project.images.set_index("image_id")["file_name"]
    rows = rows.sort_values(["miou", "image_id"], kind="stable").reset_index(drop=True)
    rows.insert(1, "file_name", names.reindex(rows["image_id"]).to_numpy())
    return rows


def miou_by_bucket(values, miou, *, n_buckets: int = N_BUCKETS):
    """Mean per-image mIoU per quantile bucket of a data metric (``explorer.analysis.bucketize``).

    ``values``, ``miou``: ``(n,)``. Returns ``(table, buckets)``: ``bucket, lo, hi, range, n, mean_miou`` (NaN for
    an empty bucket) and the ``Buckets`` (``index``: each image's bucket, -1 without a value)."""
    import pandas as pd

    from explorer.analysis import bucketize

    buckets = bucketize(np.asarray(values, np.float64), n_buckets=int(n_buckets))
    table = pd.DataFrame({"bucket": np.arange(buckets.n_buckets), "lo": buckets.edges[:-1], "hi": buckets.edges[1:],
                          "range": buckets.labels(), "n": buckets.counts, "mean_miou": buckets.means(miou)})
    return table, buckets


def export_section(project, sel: Selection) -> dict:
    """``evaluate`` plus per-class IoU/Acc, the pixel confusion matrix, the per-image IoU distribution, the target
    IoU in force with the images reaching it, the worst images and the mean mIoU per bucket of every numeric
    frame metric (``N_BUCKETS`` quantile buckets, the page's default)."""
    from explorer.analysis.outcomes import segmentation_outcomes
    from explorer.evaluation.segmentation import evaluate_project
    from explorer.export.sections import distribution, matrix, table

    ids = sel.image_ids(project)
    result = evaluate_project(project, image_ids=ids)
    per_class = result.per_class
    per_class = per_class[per_class["class_index"].isin(_chosen(result, sel))]
    rows = per_image(project, sel)
    target = float(sel.option("target_iou", DEFAULT_TARGET_IOU))
    out = {
        **_headline(project, result, sel),
        "per_class": table(per_class),
        "confusion_matrix": matrix(result.confusion, result.class_names),
        "per_image_iou": distribution(rows["miou"].to_numpy()),
        "target_iou": {"value": target, "n_good": int((rows["miou"].to_numpy() >= target).sum()),
                       "n_evaluated": len(rows)},
        "worst_images": table(rows.head(WORST)),
    }
    images = segmentation_outcomes(project, sel, "images")
    images = images[images["miou"].notna().to_numpy()]
    metric_columns = _frame_metric_columns(project, images)
    out["by_bucket"] = {"n_buckets": N_BUCKETS, "metrics": {
        c: table(miou_by_bucket(images[c].to_numpy(np.float64), images["miou"].to_numpy(np.float64))[0])
        for c in metric_columns}}
    return out


def _frame_metric_columns(project, images) -> list[str]:
    """The numeric frame (F) metric columns of an images outcome table ([] before metrics are computed)."""
    if not (project.metrics_dir / "catalog.json").is_file():
        return []
    from explorer.datametrics.catalog import names_for
    from explorer.datametrics.tables import load_metrics

    return list(names_for(load_metrics(project).catalog, "images", list(images.columns), numeric_of=images))


def outcome_table(project, sel: Selection, target: str = "images"):
    from explorer.analysis.outcomes import segmentation_outcomes

    return segmentation_outcomes(project, sel, target)


TASK = register(Task(
    name="segmentation",
    title="Semantic segmentation",
    importer=importer,
    evaluate=evaluate,
    outcomes=(Outcome(target="images", column="good", title="per-image IoU ≥ target", rate="share good",
                      miss_rate="share below target"),),
    outcome_table=outcome_table,
    export_section=export_section,
    pages=(
        Page("Data", "data_quality.py", "Data Quality", ":material/science:"),
        Page("Model Quality", "segmentation.py", "Segmentation", ":material/layers:"),
        Page("Model Quality", "model_metrics.py", "Metric Importance", ":material/target:"),
        Page("Model Quality", "performance_by_metric.py", "Performance by Metric", ":material/bar_chart:"),
        Page("Project", "export.py", "Export", ":material/download:"),
    ),
    controls=("run",),
    import_options=("classes", "num_classes", "ignore_index"),
    coco_subset=True,
    option_defaults={"target_iou": DEFAULT_TARGET_IOU},
    description="a class-index PNG mask per image",
))
