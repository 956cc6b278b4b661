"""Image regression: one number per image (target) and the model's prediction.

Outcome: |error| ≤ tolerance over the predicted images of the selection (``error = prediction − target``); the
tolerance is the selection's option ``tolerance`` (default None: the median absolute error of the selection,
so about half the images are within it).

The target's name and unit (import options ``target_name``, ``unit``; default "target" and none) are kept in the
manifest under ``regression`` and shown in the page titles, the sidebar and the export (``target_info``).
"""
from __future__ import annotations

import numpy as np

from explorer.project.selection import Selection
from explorer.tasks.base import Outcome, Page, Task
from explorer.tasks import register


DEFAULT_TARGET_NAME = "target"


def importer(out, *, images=None, labels=None, predictions=None, splits=None, name=None, run=None,
             target_name=None, unit=None):
    """``explorer.io.regression.import_project`` (labels: a CSV 'image,target[,prediction]'); ``target_name``
    and ``unit`` (e.g. "disk radius", "px") say what the number is."""
    from explorer.io.regression import import_project

    extra = {} if run is None else {"run": run}  # forwarded only when given (importers that predate runs)
    project, report = import_project(out, images=images, labels=labels, predictions=predictions, splits=splits,
                                     name=name, **extra)
    info = {"name": str(target_name).strip() if target_name else DEFAULT_TARGET_NAME,
            "unit": str(unit).strip() if unit else ""}
    if info != target_info(project):
        project.manifest["regression"] = info
        project.save(tables=())  # the manifest only: the tables are unchanged
    return project, report


def target_info(project) -> dict:
    """``{"name": …, "unit": …}`` of the project's target (``"target"`` and ``""`` when the import gave none)."""
    info = project.manifest.get("regression") or {}
    return {"name": str(info.get("name") or DEFAULT_TARGET_NAME), "unit": str(info.get("unit") or "")}


def counts(project, image_ids=None) -> dict:
    """``n_labels`` (images with a target) and ``n_predictions`` (those with a prediction) among ``image_ids``
    (None = all): the regression table holds them, the box tables are empty."""
    from explorer.evaluation.regression import regression_table

    table = regression_table(project, image_ids=image_ids)
    return {"n_labels": len(table), "n_predictions": int(table["prediction"].notna().sum())}


def sidebar_caption(project) -> str:
    c, info = counts(project), target_info(project)
    unit = f" ({info['unit']})" if info["unit"] else ""
    return (f"regression of {info['name']}{unit} · {len(project.images):,} images · {c['n_labels']:,} targets · "
            f"{c['n_predictions']:,} predictions")


def evaluate(project, sel: Selection) -> dict:
    """MSE, RMSE, MAE, R², explained variance, max error and mean error over the selection's predicted images."""
    from explorer.evaluation.regression import evaluate_project

    result = evaluate_project(project, image_ids=sel.image_ids(project))
    if result is None:
        return {"summary": None, "note": "no image in the selection has a prediction"}
    return {"summary": dict(result.summary)}


def _selection_counts(project, sel: Selection) -> dict:
    """Images of the selection, those with a target and those with a prediction (what the page's counts say)."""
    ids = sel.image_ids(project)
    c = counts(project, ids)
    return {"n_images": len(project.images) if ids is None else len(ids), "n_targets": c["n_labels"],
            "n_predictions": c["n_predictions"]}


def export_section(project, sel: Selection) -> dict:
    """``evaluate`` plus the target's name and unit, the counts, the tolerance in force (and whether it is the
    median default) with the images within it, the distribution of the residuals (prediction − target) and the
    worst errors (``WORST`` images, largest |error| first)."""
    from explorer.analysis.outcomes import tolerance_of
    from explorer.evaluation.regression import outcomes
    from explorer.export.sections import distribution, table

    out = {"target": target_info(project), "counts": _selection_counts(project, sel), **evaluate(project, sel)}
    if out["summary"] is None:
        return out
    rows = outcomes(project, image_ids=sel.image_ids(project))
    abs_error = rows["abs_error"].to_numpy(np.float64)
    tol = tolerance_of(sel, abs_error)
    worst = worst_errors(project, rows).head(WORST)
    return {**out, "tolerance": {"value": tol, "default_median": sel.option("tolerance") is None,
                                 "n_within": int((abs_error <= tol).sum()), "n_predicted": len(abs_error)},
            "residuals": distribution(rows["error"].to_numpy(np.float64), value_range=None),
            "worst_errors": table(worst), "error_by_bucket": _error_by_bucket(project, rows)}


N_BUCKETS = 5  # the Regression page's default bucket count of "absolute error by data metric"


def _error_by_bucket(project, rows) -> dict:
    """MAE and RMSE per quantile bucket of every numeric frame metric over the predicted images ``rows``
    (``explorer.evaluation.regression.error_by_bucket``, the page's table), with the images without a value."""
    from explorer.datametrics.catalog import names_for
    from explorer.datametrics.tables import load_metrics, metrics_for
    from explorer.evaluation.regression import error_by_bucket
    from explorer.export.sections import table

    if not (project.metrics_dir / "catalog.json").is_file():
        return {"available": False, "reason": "data metrics were not computed (run 'explorer metrics PROJECT')"}
    frame = metrics_for(project, "images")
    names = names_for(load_metrics(project).catalog, "images", list(frame.columns), numeric_of=frame)
    out = {"available": True, "n_buckets": N_BUCKETS, "metrics": {}}
    for column in names:
        values = frame[column].reindex(rows["image_id"].to_numpy()).to_numpy(np.float64)
        buckets = error_by_bucket(values, rows["abs_error"].to_numpy(), n_buckets=N_BUCKETS)
        out["metrics"][column] = {"buckets": table(buckets), "n_missing": int(buckets.attrs["n_missing"])}
    return out


WORST = 20  # rows of the worst-error table in the export (the page's gallery pages through all of them)


def worst_errors(project, rows):
    """``rows`` (``explorer.evaluation.regression.outcomes``) with ``file_name``, largest ``abs_error`` first (ties
    by image id): the order of the worst-error gallery."""
    names = project.images.set_index("image_id")["file_name"]
    ordered = rows.sort_values(["abs_error", "image_id"], ascending=[False, True], kind="stable")
    ordered = ordered.assign(file_name=names.reindex(ordered["image_id"]).to_numpy())
    return ordered[["image_id", "file_name", "target", "prediction", "error", "abs_error"]].reset_index(drop=True)


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
        Page("Model Quality", "model_metrics.py", "Metric Importance", ":material/target:"),
        Page("Model Quality", "performance_by_metric.py", "Performance by Metric", ":material/bar_chart:"),
        Page("Project", "export.py", "Export", ":material/download:"),
    ),
    controls=("run",),
    import_options=("target_name", "unit"),
    has_classes=False,
    option_defaults={"tolerance": None},
    sidebar_caption=sidebar_caption,
    extras={"counts": counts},
    description="one number per image; labels as a CSV 'image,target[,prediction]'",
))
