"""Image classification: one label (class) per image, predictions with a score (optionally every class's score).

Outcome: ``correct`` over images (predicted class = true class), for the labelled images of the selection that
have a prediction at or above the confidence threshold; its rate is the accuracy.
"""
from __future__ import annotations

from explorer.project.selection import Selection
from explorer.tasks.base import Outcome, Page, Task
from explorer.tasks import register


def importer(out, *, images=None, labels=None, predictions=None, splits=None, name=None, run=None, classes=None):
    """``explorer.io.classification.import_project``; ``classes``: class names (file or list)."""
    from explorer.io.classification import import_project

    extra = {} if run is None else {"run": run}  # forwarded only when given (importers that predate runs)
    return import_project(out, images=images, labels=labels, predictions=predictions, splits=splits, name=name,
                          classes=classes, **extra)


def _result(project, sel: Selection):
    from explorer.evaluation.classification import evaluate_project

    return evaluate_project(project, image_ids=sel.image_ids(project), classes=sel.class_list(),
                            confidence_threshold=sel.confidence_threshold)


def _headline(result, sel: Selection, n_classes: int) -> dict:
    """The page's headline: top-k accuracies only for k < the number of classes (``meaningful_top_k``)."""
    from explorer.evaluation.classification import TOP_K, meaningful_top_k

    hidden = {f"top_{k}_accuracy" for k in TOP_K if k not in meaningful_top_k(n_classes)}
    return {"confidence_threshold": sel.confidence_threshold, "n_images": result.n_images,
            "n_unpredicted": result.n_unpredicted,
            "summary": {k: v for k, v in result.summary.items() if k not in hidden}}


def evaluate(project, sel: Selection) -> dict:
    """Accuracy, macro/weighted precision/recall/F1 and top-k of the selection (``summary``), with the number of
    labelled images and of those without a prediction at the confidence threshold."""
    return _headline(_result(project, sel), sel, len(project.categories))


def export_section(project, sel: Selection) -> dict:
    """``evaluate`` plus the per-class table (with ``false_positives``: images predicted as the class but of
    another, the "predicted as K but wrong" gallery's count) and the confusion matrix (rows = true class)."""
    import numpy as np

    from explorer.export.sections import matrix, table

    result = _result(project, sel)
    out = _headline(result, sel, len(project.categories))
    if result.evaluation is not None:
        per_class = result.evaluation.per_class.copy()
        if "name" not in per_class:
            names = project.category_names
            per_class.insert(0, "name", [names.get(int(c), str(c)) for c in per_class.index])
        per_class.index.name = "category_id"
        tp = np.diag(result.evaluation.confusion.counts)  # rows/columns in per_class order
        per_class.insert(per_class.columns.get_loc("n_predicted") + 1, "false_positives",
                         per_class["n_predicted"].to_numpy() - tp)
        out["per_class"] = table(per_class)
        conf = result.evaluation.confusion
        out["confusion_matrix"] = matrix(conf.counts, conf.names)
    return out


def outcome_table(project, sel: Selection, target: str = "images"):
    from explorer.analysis.outcomes import classification_outcomes

    return classification_outcomes(project, sel, target)


TASK = register(Task(
    name="classification",
    title="Image classification",
    importer=importer,
    evaluate=evaluate,
    outcomes=(Outcome(target="images", column="correct", title="correct", rate="accuracy", miss_rate="error rate"),),
    outcome_table=outcome_table,
    export_section=export_section,
    pages=(
        Page("Data", "data_quality.py", "Data Quality", ":material/science:"),
        Page("Model Quality", "classification.py", "Classification", ":material/label:"),
        Page("Model Quality", "model_metrics.py", "Metric Importance", ":material/target:"),
        Page("Model Quality", "performance_by_metric.py", "Performance by Metric", ":material/bar_chart:"),
        Page("Project", "export.py", "Export", ":material/download:"),
    ),
    controls=("run", "confidence_threshold"),
    import_options=("classes",),
    description="one class per image; labels as a CSV 'image,label' or one folder per class",
))
