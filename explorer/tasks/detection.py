"""Object detection (boxes, or instance masks): COCO / YOLO / VOC import, COCO-exact evaluation, matching outcomes.

Outcomes at the selection's IoU and confidence thresholds: ``detected`` over labels (its rate is the TPR, the
share of False the FNR) and ``is_tp`` over predictions (precision / FDR). Masks are evaluated (``iou_type
"segm"``) when every label and every prediction carries one (``iou_type``).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from explorer.project.selection import Selection
from explorer.tasks.base import Outcome, Page, Task
from explorer.tasks import register


_KINDS: OrderedDict = OrderedDict()


def iou_type(project) -> str:
    """``"segm"`` when the project has labels and predictions and every one of them carries a mask, else ``"bbox"``
    (kept per project view: every cached evaluation asks, and the scan reads millions of rows)."""
    from explorer.analysis.outcomes import _remember

    def scan():
        labels, preds = project.labels["segmentation"], project.predictions["segmentation"]
        has_masks = len(labels) and labels.notna().all() and len(preds) and preds.notna().all()
        return "segm" if has_masks else "bbox"

    return _remember(_KINDS, (str(project.root), project.fingerprint), scan, size=16)


def importer(out, *, images=None, labels=None, predictions=None, splits=None, name=None, format=None, run=None,
             classes=None):
    """``explorer.io.detection.import_detection``; ``classes``: YOLO/VOC class names (file or list)."""
    from explorer.io.detection import import_detection

    # the run name is forwarded only when given, so importers that predate runs keep working
    extra = {} if run is None else {"run": run}
    return import_detection(out, images=images, labels=labels, predictions=predictions, format=format,
                            splits=splits, name=name, classes=classes, **extra)


# mAP/mAR of a selection at one IoU threshold: (root, fingerprint, IoU type, threshold, confidence, classes, split)
# -> numbers, so the splits table after an IoU move recomputes only the slider's threshold (0.50 / 0.75 are kept)
_AT: OrderedDict = OrderedDict()


def _at_threshold(project, sel: Selection, kind: str, t: float, coco) -> tuple[float, float]:
    from explorer.analysis.outcomes import _remember, match
    from explorer.evaluation import detection_summary
    from explorer.evaluation.tables import coco_at_threshold

    key = (str(project.root), project.fingerprint, kind, round(float(t), 6), sel.confidence_threshold, sel.classes,
           sel.split)

    def make():
        got = coco_at_threshold(coco, t, sel.confidence_threshold)  # coco: the selection's project_evaluation
        if got is not None:  # a COCO IoU (0.50, 0.75) and no confidence cut: the run's matching has it, no re-match
            return got
        m = match(project, replace(sel, iou_threshold=t), iou_type=kind)  # the shared, cached match
        s = detection_summary(m, classes=sel.class_list(), image_ids=sel.image_ids(project))
        return s["mAP"], s["mAR"]

    return _remember(_AT, key, make, size=64)


def _evaluation(project, sel: Selection):
    """Headline numbers of ``sel`` and the matcher + match at the user's thresholds (shared by ``evaluate`` and
    ``export_section``, so each is computed once). The COCO summary reads the project's matching, done once per
    run (``explorer.evaluation.coco.project_evaluation``); the matches are the shared cached ones."""
    from explorer.analysis.outcomes import match, matcher as shared_matcher
    from explorer.evaluation.coco import project_evaluation

    kind = iou_type(project)
    image_ids = sel.image_ids(project)
    coco = project_evaluation(project, iou_type=kind, cat_ids=sel.class_list(), image_ids=image_ids)
    matcher = shared_matcher(project, iou_type=kind)  # the IoUs the pages and outcome tables use
    at = {}
    for name, t in (("", sel.iou_threshold), ("_50", 0.5), ("_75", 0.75)):
        at[f"mAP{name}"], at[f"mAR{name}"] = _at_threshold(project, sel, kind, t, coco)
    headline = {"iou_type": kind, "iou_threshold": sel.iou_threshold,
                "confidence_threshold": sel.confidence_threshold, "coco": dict(coco.summary), **at}
    return headline, coco, matcher, match(project, sel, iou_type=kind)


def evaluate(project, sel: Selection) -> dict:
    """COCO 12-number summary (IoU 0.50:0.95, the selection's classes and split) and mAP/mAR at the selection's
    IoU threshold (``mAP``, ``mAR``) and at 0.50 / 0.75 (``mAP_50`` … ``mAR_75``), at its confidence threshold."""
    if not project.has_predictions:
        return {"note": "the project has no predictions"}
    return _evaluation(project, sel)[0]


def export_section(project, sel: Selection) -> dict:
    """``evaluate`` plus the COCO per-class table, per-class table, PR and F1-vs-confidence curves and the
    confusion matrix (with background) of one selection."""
    from explorer.evaluation import detection_confusion_matrix, f1_by_confidence, per_class_table, pr_curves
    from explorer.analysis.suspects import export_section as suspects_section
    from explorer.analysis.tide import export_section as tide_section
    from explorer.export.analyses import detection_analyses
    from explorer.export.sections import matrix, table

    if not project.has_predictions:
        return {"note": "the project has no predictions"}
    headline, coco, matcher, match = _evaluation(project, sel)
    options = {"classes": sel.class_list(), "image_ids": sel.image_ids(project)}
    f1 = f1_by_confidence(match, **options)
    best = f1.loc[f1["f1"].idxmax()].to_dict() if len(f1) and f1["f1"].notna().any() else None
    pr = pr_curves(match, **options)
    cm = detection_confusion_matrix(matcher, sel.iou_threshold, confidence_threshold=sel.confidence_threshold,
                                    **options).matrix  # rows: true class + background; columns: predicted + bg
    confusion = matrix(cm.to_numpy(), [str(c) for c in cm.columns])
    confusion["row_classes"] = [str(c) for c in cm.index]
    return {
        "iou_type": headline["iou_type"],
        "iou_threshold": headline["iou_threshold"],
        "confidence_threshold": headline["confidence_threshold"],
        "coco": headline["coco"],
        "coco_per_class": table(coco.per_class),
        **{k: headline[k] for k in ("mAP", "mAR", "mAP_50", "mAR_50", "mAP_75", "mAR_75")},
        "per_class": table(per_class_table(match, **options)),
        "pr_curves": {str(int(c)): {"recall": g["recall"].tolist(), "precision": g["precision"].tolist()}
                      for c, g in pr.groupby("category_id", sort=True)},
        "f1_by_confidence": {col: f1[col].tolist() for col in f1.columns},
        "best_f1": best,
        "confusion_matrix": confusion,
        **detection_analyses(project, sel, match),  # intervals, bucket rates, slices, compare (explorer.export.analyses)
        "error_cost": tide_section(project, sel),  # TIDE ΔAP per error type (explorer.analysis.tide)
        "suspects": suspects_section(project, sel),  # suspected label errors, best first
    }


def outcome_table(project, sel: Selection, target: str):
    from explorer.analysis.outcomes import detection_outcomes

    return detection_outcomes(project, sel, target)


TASK = register(Task(
    name="detection",
    title="Object detection",
    importer=importer,
    evaluate=evaluate,
    outcomes=(
        Outcome(target="labels", column="detected", title="detected", rate="TPR", miss_rate="FNR"),
        Outcome(target="predictions", column="is_tp", title="true positive", rate="precision", miss_rate="FDR"),
    ),
    outcome_table=outcome_table,
    export_section=export_section,
    pages=(
        Page("Data", "data_quality.py", "Data Quality", ":material/science:"),
        Page("Model Quality", "model_metrics.py", "Metrics", ":material/target:"),
        Page("Model Quality", "performance_by_metric.py", "Performance by Metric", ":material/bar_chart:"),
        Page("Model Quality", "failures.py", "Failure Explorer", ":material/manage_search:"),
        Page("Model Quality", "confusion_matrix.py", "Confusion Matrix", ":material/grid_on:"),
        Page("Model Quality", "suspects.py", "Suspected label errors", ":material/flag:"),
        Page("Model Quality", "compare.py", "Compare runs", ":material/compare_arrows:"),
        Page("Model Quality", "slices.py", "Slices", ":material/view_module:"),
        Page("Project", "export.py", "Export", ":material/download:"),
    ),
    controls=("run", "iou_threshold", "confidence_threshold"),
    import_options=("classes",),
    import_formats=("coco", "yolo", "voc"),
    coco_subset=True,
    description="boxes (or instance masks) per image; COCO JSON, YOLO txt or Pascal VOC XML",
))
