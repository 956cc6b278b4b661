"""Classification, Regression and Training Curves pages driven headlessly with AppTest on their bundled samples:
no exception, and the displayed numbers equal the engines' called directly (also after a split change)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest


from explorer.project.folder import Project
from explorer.analysis import training
from explorer.evaluation import classification, regression

from .apptest import open_page

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "explorer" / "app.py"


@pytest.fixture(scope="module")
def built(explorer_home) -> dict[str, Path]:
    from explorer.samples import build_sample, list_samples

    return {s["name"]: build_sample(s, progress=False) for s in list_samples()
            if s["name"] in ("classification", "regression", "training")}


def metric(at: AppTest, label: str):
    (m,) = [m for m in at.metric if m.label == label]
    return m


def exact(at: AppTest, label: str) -> float:
    return float(metric(at, label).proto.help.rsplit("exact value ", 1)[1])


def test_classification_page(monkeypatch, built):
    project = Project.load(built["classification"])
    at = open_page(monkeypatch, built["classification"], "classification.py")
    ref = classification.evaluate_project(project).summary
    assert exact(at, "Accuracy") == ref["accuracy"]
    assert metric(at, "Accuracy").value == f"{ref['accuracy']:.4f}"
    assert exact(at, "Macro F1") == ref["macro_f1"]
    assert metric(at, "Top-3 accuracy").value == f"{ref['top_3_accuracy']:.4f}"
    assert len(at.get("plotly_chart")) == 1 and len(at.main.dataframe) == 2  # per class, splits side by side
    assert len(at.get("imgs")) >= 1 or len(at.get("image")) >= 1  # misclassified gallery drawn

    at.selectbox(key="split").set_value("val")
    at.run()
    val_ids = project.images.loc[project.images["split"] == "val", "image_id"]
    ref_val = classification.evaluate_project(project, image_ids=val_ids).summary
    assert exact(at, "Accuracy") == ref_val["accuracy"]
    assert exact(at, "Macro F1") == ref_val["macro_f1"] != ref["macro_f1"]

    at.radio(key="cls_cm_values").set_value("row-normalised")
    at.radio(key="cls_cm_order").set_value("most_confused")
    at.number_input(key="cls_cm_top_k").set_value(4)
    at.run()
    assert not at.exception, at.exception
    heat = at.get("plotly_chart")[0].proto.spec
    assert '"other"' in heat


def test_regression_page(monkeypatch, built):
    project = Project.load(built["regression"])
    at = open_page(monkeypatch, built["regression"], "regression.py")
    out = regression.outcomes(project)
    ref = regression.evaluate_regression(out["target"], out["prediction"]).summary
    assert exact(at, "MAE (px)") == ref["mae"] and exact(at, "R²") == ref["r2"]
    assert metric(at, "MAE (px)").value == f"{ref['mae']:.4g}"
    assert len(at.get("plotly_chart")) == 3  # scatter, residuals, error by metric bucket
    (table,) = [d for d in at.main.dataframe if "mae" in d.value.columns]  # the bucket table (beside the splits)
    assert int(table.value["n"].sum()) == len(out)

    at.selectbox(key="split").set_value("train")
    at.run()
    train_ids = project.images.loc[project.images["split"] == "train", "image_id"]
    assert exact(at, "MAE (px)") == regression.evaluate_project(project, image_ids=train_ids).summary["mae"]


def test_training_curves_page(monkeypatch, built):
    project = Project.load(built["training"])
    at = open_page(monkeypatch, built["training"], "training_curves.py")
    s = training.summarize(training.training_log(project), axis="epoch")
    assert metric(at, "Best epoch").value == f"{s.best_x:.4g}" == "12"
    assert exact(at, "Best validation loss") == s.best_val_loss
    assert metric(at, "Over-fitting from epoch").value == "13"
    assert len(at.get("plotly_chart")) == 2  # loss and accuracy

    at.radio(key="tc_axis").set_value("step")
    at.run()
    assert metric(at, "Best step").value == f"{training.summarize(training.training_log(project), axis='step').best_x:.4g}"
    at.number_input(key="tc_patience").set_value(20)
    at.run()
    assert not at.exception
    expected = training.summarize(training.training_log(project), axis="step", patience=20).onset_x
    assert metric(at, "Over-fitting from step").value == ("none" if expected is None else f"{expected:.4g}")
