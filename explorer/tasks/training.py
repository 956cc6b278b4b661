"""Training curves: a training log (CSV/JSON file or an MLflow run folder), no images.

No outcome (nothing per image to relate to data metrics); the export is the curves, the best epoch and the
over-fitting marker, once for the project (not per split).
"""
from __future__ import annotations

from explorer.project.selection import Selection
from explorer.tasks.base import Page, Task
from explorer.tasks import register


def importer(out, *, images=None, labels=None, predictions=None, splits=None, name=None, run=None, log=None):
    """``explorer.io.training_logs.import_project``: the log is ``log`` (or ``labels``); ``run`` picks the run of
    an MLflow experiment folder."""
    from explorer.io.training_logs import import_project

    return import_project(out, images=images, labels=labels, predictions=predictions, splits=splits, name=name,
                          log=log, run=run)


def evaluate(project, sel: Selection) -> dict:
    """Best epoch, its metrics and the over-fitting onset of the log (``explorer.analysis.training``)."""
    from explorer.analysis.training import export_summary

    return export_summary(project)


def outcome_table(project, sel: Selection, target: str):
    from explorer.errors import UserError

    raise UserError("a training-log project has no per-image outcome")


def sidebar_caption(project) -> str:
    log = project.extra.get("training_log")
    runs = 0 if log is None or "run" not in log else log["run"].nunique()
    return f"training log · {0 if log is None else len(log):,} rows" + (f" · {runs} runs" if runs > 1 else "")


TASK = register(Task(
    name="training",
    title="Training curves",
    importer=importer,
    evaluate=evaluate,
    outcomes=(),
    outcome_table=outcome_table,
    export_section=evaluate,  # the whole log, once (image_based=False)
    pages=(
        Page("Model Quality", "training_curves.py", "Training Curves", ":material/show_chart:"),
        Page("Project", "export.py", "Export", ":material/download:"),
    ),
    controls=(),
    import_options=("log",),
    has_classes=False,
    image_based=False,
    sidebar_caption=sidebar_caption,
    description="training logs: MMEngine/MMDetection JSON, Ultralytics results.csv, TensorBoard CSV, MLflow runs, any CSV/JSON",
))
