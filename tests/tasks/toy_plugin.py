"""A task plugin: the "toy" task, defined outside the package the way a user would add one.

Listed in ``$EXPLORER_TASK_PLUGINS``, this file is executed by ``explorer.tasks`` on first use of the registry
and registers the task: its importer (a CSV ``image,value`` of labels and one of predictions), its evaluator
(mean absolute error), its outcome (``close``: |prediction − value| ≤ the selection's ``tolerance`` option,
default 1) over images, its export section and its pages. The page scripts live beside this file
(``toy_values.py``, ``toy_summary.py``), given to the app as absolute paths.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from explorer.errors import ProblemReport, UserError
from explorer.project.folder import Project
from explorer.tasks import Outcome, Page, Task, register

HERE = Path(__file__).resolve().parent
TABLE = "toy_values"  # the project's extra table: image_id, value, prediction
DEFAULT_TOLERANCE = 1.0


def _read(path, what: str) -> pd.DataFrame:
    if path is None:
        return pd.DataFrame({"image": pd.Series(dtype=object), "value": pd.Series(dtype="float64")})
    df = pd.read_csv(path)
    if list(df.columns) != ["image", "value"]:
        raise UserError(f"{what} CSV {path}: expected the columns image,value; got {','.join(df.columns)}")
    return df


def importer(out, *, images=None, labels=None, predictions=None, splits=None, name=None, run=None):
    """Labels ``image,value`` (required), predictions ``image,value``; one image row per labelled image."""
    if labels is None:
        raise UserError("a toy project needs labels: a CSV image,value")
    truth = _read(labels, "labels")
    pred = _read(predictions, "predictions").set_index("image")["value"]
    images_table = pd.DataFrame({"image_id": np.arange(1, len(truth) + 1), "file_name": truth["image"],
                                 "width": np.nan, "height": np.nan, "split": None})
    values = pd.DataFrame({"image_id": images_table["image_id"], "value": truth["value"].astype(float),
                           "prediction": truth["image"].map(pred).astype(float).to_numpy()})
    report = ProblemReport()
    report.kept.update({"images": len(truth)})
    categories = pd.DataFrame({"category_id": pd.Series(dtype="int64"), "name": pd.Series(dtype=object),
                               "supercategory": pd.Series(dtype=object)})
    project = Project.create(out, task="toy", images=images_table, categories=categories, name=name,
                             report=report, extra={TABLE: values})
    return project, report


def outcome_table(project, sel, target: str = "images") -> pd.DataFrame:
    """One row per image of the selection with a prediction: value, prediction, abs_error, close (bool)."""
    table = project.extra[TABLE].set_index("image_id")
    ids = sel.image_ids(project)
    if ids is not None:
        table = table[table.index.isin(ids)]
    table = table[table["prediction"].notna()].copy()
    table["abs_error"] = (table["prediction"] - table["value"]).abs()
    table["close"] = table["abs_error"] <= float(sel.option("tolerance", DEFAULT_TOLERANCE))
    return table


def evaluate(project, sel) -> dict:
    """Mean absolute error over the predicted images, their count and the share within the tolerance."""
    table = outcome_table(project, sel)
    return {"n_predicted": len(table), "mae": float(table["abs_error"].mean()) if len(table) else None,
            "share_close": float(table["close"].mean()) if len(table) else None}


def export_section(project, sel) -> dict:
    """``evaluate`` plus the per-image outcome rows."""
    table = outcome_table(project, sel)
    return {**evaluate(project, sel), "per_image": table.reset_index().to_dict(orient="records")}


TASK = register(Task(
    name="toy",
    title="Toy values",
    importer=importer,
    evaluate=evaluate,
    outcomes=(Outcome(target="images", column="close", title="close", rate="share close", miss_rate="share far"),),
    outcome_table=outcome_table,
    export_section=export_section,
    pages=(
        Page("Toy", str(HERE / "toy_values.py"), "Toy Values", ":material/calculate:"),
        Page("Toy", str(HERE / "toy_summary.py"), "Toy Summary", ":material/summarize:"),
    ),
    controls=(),
    has_classes=False,
    option_defaults={"tolerance": DEFAULT_TOLERANCE},
    description="a number per image (test plugin)",
))
