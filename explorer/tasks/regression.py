"""Image regression: one number per image (target) and the model's prediction.

Outcome: |error| ≤ tolerance over the predicted images of the selection (``error = prediction − target``); the
tolerance is the selection's option ``tolerance`` (default None: the median absolute error of the selection,
so about half the images are within it).
"""
from __future__ import annotations

import numpy as np

from explorer.project.selection import Selection
from explorer.tasks.base import Outcome, Page, Task
from explorer.tasks import register


def importer(out, *, images=None, labels=None, predictions=None, splits=None, name=None, run=None):
    """``explorer.io.regression.import_project`` (labels: a CSV 'image,target[,prediction]')."""
    from explorer.io.regression import import_project

    extra = {} if run is None else {"run": run}  # forwarded only when given (importers that predate runs)
    return import_project(out, images=images, labels=labels, predictions=predictions, splits=splits, name=name,
                          **extra)


def evaluate(project, sel: Selection) -> dict:
    """MSE, RMSE, MAE, R², explained variance, max error and mean error over the selection's predicted images."""
    from explorer.evaluation.regression import evaluate_project

    result = evaluate_project(project, image_ids=sel.image_ids(project))
    if result is None:
        return {"summary": None, "note": "no image in the selection has a prediction"}
    return {"summary": dict(result.summary)}


def export_section(project, sel: Selection) -> dict:
    """``evaluate`` plus the distribution of the residuals (prediction − target)."""
    from explorer.evaluation.regression import outcomes
    from explorer.export.sections import distribution

    out = evaluate(project, sel)
    if out["summary"] is None:
        return out
    errors = outcomes(project, image_ids=sel.image_ids(project))["error"].to_numpy(np.float64)
    return {**out, "residuals": distribution(errors, value_range=None)}


def outcome_table(project, sel: Selection, target: str = "images"):
    from explorer.analysis.outcomes import regression_outcomes

    return regression_outcomes(project, sel, target)


TASK = register(Task(
    name="regression",
    title="Image regression",
    importer=importer,
    evaluate=evaluate,
    outcomes=(Outcome(target="images", column="within_tolerance", title="|error| ≤ tolerance",
                      rate="share within tolerance", miss_rate="share outside tolerance"),),
    outcome_table=outcome_table,
    export_section=export_section,
    pages=(
        Page("Data", "data_quality.py", "Data Quality", ":material/science:"),
        Page("Model Quality", "regression.py", "Regression", ":material/scatter_plot:"),
        Page("Model Quality", "performance_by_metric.py", "Performance by Metric", ":material/bar_chart:"),
        Page("Project", "export.py", "Export", ":material/download:"),
    ),
    controls=("run",),
    has_classes=False,
    option_defaults={"tolerance": None},
    description="one number per image; labels as a CSV 'image,target[,prediction]'",
))
