"""The export holds every number each task's pages show: AppTest reads the numbers off the pages of every bundled
sample (headline metrics, splits side by side, per-class tables, importance, Performance-by-Metric buckets,
by-bucket tables) and compares them with the all-metrics JSON of the same selection (outcome options included)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer.export.all_metrics import export_all_metrics
from explorer.project.folder import Project

from .apptest import open_page


def exact(at: AppTest, label: str) -> float:
    """The exact value a metric states in its help (``… exact value 0.123``)."""
    (m,) = [m for m in at.metric if m.label == label]
    return float(m.proto.help.rsplit("exact value ", 1)[1])


def same(page, doc) -> bool:
    """Page value == JSON value, NaN (page) meaning null (JSON)."""
    if doc is None:
        return page is None or (isinstance(page, float) and math.isnan(page))
    return float(page) == float(doc)


def plotly_array(values) -> np.ndarray:
    """A trace's array from a figure spec: a list, or Plotly's typed array ``{"dtype": "f8", "bdata": base64}``."""
    if isinstance(values, dict):
        import base64

        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]))
    return np.asarray(values, np.float64)


def export(project_dir, **kw) -> dict:
    """The JSON of the whole project ("all"; the splits' own sections are tested in tests/export), with the splits
    side by side."""
    return json.loads(json.dumps(export_all_metrics(Project.load(project_dir), splits=[], **kw)))


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first dataframe of the page's main area having ``column``."""
    frames = [d.value for d in at.main.dataframe if column in d.value.columns]
    assert frames, [list(d.value.columns) for d in at.main.dataframe]
    return frames[0]


def check_splits_table(at: AppTest, doc: dict, columns: dict[str, str]) -> None:
    """The page's splits-side-by-side table equals the JSON's ``splits_side_by_side`` rows."""
    table = frame_with(at, "shown")
    rows = {r["split"]: r for r in doc["splits_side_by_side"]}
    assert list(table["split"]) == list(rows) == ["all", *doc["project"]["splits"]]
    assert (table["shown"] != "").sum() == 1
    for key, title in columns.items():
        for split, value in zip(table["split"], table[title]):
            assert same(value, rows[split][key]), (split, key)


def check_importance(at: AppTest, section: dict) -> None:
    """The Metric Importance page's numbers table equals the JSON's importance and Pearson correlation."""
    table = frame_with(at, "importance")
    imp = {r["display_name"]: r for r in section["importance"]}
    cor = {r["display_name"]: r for r in section["correlation"]["pearson"]}
    assert set(table["display_name"]) == set(imp)
    for row in table.itertuples():
        assert same(row.importance, imp[row.display_name]["importance"]), row.display_name
        assert same(row.baseline, imp[row.display_name]["baseline"])
        assert row.n_samples == imp[row.display_name]["n_samples"]
        assert same(row.correlation, cor[row.display_name]["correlation"])


def check_buckets(at: AppTest, analyses: dict, target: str = "images") -> None:
    """Performance by Metric's bucket table (its default metric) equals the JSON's bucket table."""
    metric = at.selectbox(key="pbm_metric").value
    name = metric.split("@")[0]
    table = frame_with(at, "range")
    doc = analyses["performance_by_metric"]["metrics"][name][target]["buckets"]
    assert analyses["performance_by_metric"]["n_buckets"] == at.number_input(key="pbm_n_buckets").value
    assert list(table["range"]) == [r["range"] for r in doc]
    for column in [c for c in table.columns if c in doc[0] and c != "range"]:
        assert all(same(a, r[column]) for a, r in zip(table[column], doc)), column


def test_classification_pages_equal_the_json(monkeypatch, sample_projects):
    root = sample_projects["classification"]
    doc = export(root)
    ev = doc["splits"]["all"]["evaluation"]
    at = open_page(monkeypatch, root, "classification.py")
    for label, key in (("Accuracy", "accuracy"), ("Macro precision", "macro_precision"), ("Macro F1", "macro_f1"),
                       ("Weighted F1", "weighted_f1"), ("Top-3 accuracy", "top_3_accuracy")):
        assert exact(at, label) == ev["summary"][key]
    per_class = frame_with(at, "false_positives")
    by_name = {r["name"]: r for r in ev["per_class"]}
    assert len(per_class) == len(by_name) == 10
    for row in per_class.itertuples():
        ref = by_name[row.name]
        assert row.false_positives == ref["false_positives"] and same(row.f1, ref["f1"])
    check_splits_table(at, doc, {"accuracy": "accuracy", "macro_f1": "macro F1", "n_samples": "images evaluated"})
    assert "iou_threshold" not in doc["settings"] and doc["settings"]["confidence_threshold"] == 0.0

    at = open_page(monkeypatch, root, "model_metrics.py")
    check_importance(at, doc["splits"]["all"]["analyses"]["outcomes"]["images"])
    at = open_page(monkeypatch, root, "performance_by_metric.py")
    check_buckets(at, doc["splits"]["all"]["analyses"])


def test_regression_pages_equal_the_json_with_the_tolerance(monkeypatch, sample_projects):
    root = sample_projects["regression"]
    at = open_page(monkeypatch, root, "model_metrics.py")
    at.number_input(key="reg_tolerance").set_value(2.0).run()
    assert not at.exception, at.exception
    doc = export(root, options={"tolerance": 2.0})
    analyses = doc["splits"]["all"]["analyses"]
    assert analyses["options"] == {"tolerance": 2.0} == doc["settings"]["options"]
    check_importance(at, analyses["outcomes"]["images"])
    at.switch_page("../pages/performance_by_metric.py").run()
    assert at.number_input(key="reg_tolerance").value == 2.0  # the same setting on the next page
    check_buckets(at, analyses)
    rows = frame_with(at, "range")
    n_rated = analyses["outcomes"]["images"]["n_rows"]
    assert rows.iloc[:, 1].sum() == n_rated == 300

    at.switch_page("../pages/regression.py").run()
    ev = doc["splits"]["all"]["evaluation"]
    for label, key in (("MAE (px)", "mae"), ("RMSE (px)", "rmse"), ("MSE (px²)", "mse"), ("R²", "r2"),
                       ("Max error (px)", "max_error"), ("Mean error (px)", "mean_error")):
        assert exact(at, label) == ev["summary"][key]
    assert ev["target"] == {"name": "disk radius", "unit": "px"}
    assert ev["counts"] == {"n_images": 300, "n_targets": 300, "n_predictions": 300}
    assert doc["splits"]["all"]["dataset"]["n_labels"] == 300 and doc["project"]["n_predictions"] == 300
    assert ev["tolerance"]["value"] == 2.0 and ev["tolerance"]["n_within"] == analyses["outcomes"]["images"]["n_positive"]
    check_splits_table(at, doc, {"mae": "MAE", "rmse": "RMSE", "r2": "R²"})
    table = frame_with(at, "mae")  # absolute error by the default metric (brightness), 5 buckets
    ref = ev["error_by_bucket"]["metrics"][at.selectbox(key="reg_metric").value]["buckets"]
    assert list(table["n"]) == [r["n"] for r in ref] and all(same(a, r["mae"]) for a, r in zip(table["mae"], ref))
    assert "iou_threshold" not in doc["settings"] and "classes" not in doc["settings"]


def test_segmentation_pages_equal_the_json_with_the_target(monkeypatch, sample_projects):
    root = sample_projects["segmentation"]
    at = open_page(monkeypatch, root, "performance_by_metric.py")
    at.slider(key="seg_good_iou").set_value(0.9).run()
    assert not at.exception, at.exception
    doc = export(root, options={"target_iou": 0.9})
    analyses = doc["splits"]["all"]["analyses"]
    assert analyses["options"] == {"target_iou": 0.9}
    check_buckets(at, analyses)
    at.switch_page("../pages/model_metrics.py").run()
    assert at.slider(key="seg_good_iou").value == 0.9
    assert any("(target_iou = 0.9)" in m.value for m in at.markdown)
    check_importance(at, analyses["outcomes"]["images"])

    at.switch_page("../pages/segmentation.py").run()
    ev = doc["splits"]["all"]["evaluation"]
    for name in ("aAcc", "mIoU", "mAcc"):
        assert exact(at, name) == ev["summary"][name]
    check_splits_table(at, doc, {"mIoU": "mIoU", "aAcc": "aAcc", "n_images_evaluated": "images evaluated"})
    assert ev["target_iou"]["value"] == 0.9
    assert ev["target_iou"]["n_good"] == analyses["outcomes"]["images"]["n_positive"]
    assert any(f"{ev['target_iou']['n_good']:,} of 60 image(s) reach it" in c.value for c in at.caption)
    metric = at.selectbox(key="seg_metric").value
    ref = ev["by_bucket"]["metrics"][metric]
    chart = next(c for c in at.get("plotly_chart") if "Mean per-image mIoU by" in c.proto.spec)
    means = plotly_array(json.loads(chart.proto.spec)["data"][0]["y"])
    assert np.allclose(means, [r["mean_miou"] for r in ref], rtol=0, atol=1e-12)


def test_detection_export_carries_the_pages_analyses(monkeypatch, sample_projects):
    root = sample_projects["detection"]
    doc = export(root)
    at = open_page(monkeypatch, root, "model_metrics.py")
    check_splits_table(at, doc, {"mAP": "mAP @ IoU 0.50", "mAP_75": "mAP @ 0.75"})
    outcomes = doc["splits"]["all"]["analyses"]["outcomes"]
    reasons = outcomes["predictions"]["fp_reasons"]
    assert sum(reasons.values()) == outcomes["predictions"]["n_rows"] - outcomes["predictions"]["n_positive"]
    assert set(doc["settings"]) >= {"iou_threshold", "confidence_threshold", "classes"}


@pytest.mark.parametrize("sample", ["classification", "regression", "segmentation"])
def test_no_other_tasks_numbers(sample_projects, sample):
    doc = export(sample_projects[sample])
    text = json.dumps(doc)
    assert "iou_threshold" not in text and '"coco"' not in text
    for entry in doc["splits"].values():  # no empty data-metric summaries
        for target, stats in entry["data_metrics"].items():
            if target != "available":
                assert stats and all(s["count"] > 0 for s in stats.values())


def test_training_page_equals_the_json(monkeypatch, sample_projects):
    root = sample_projects["training"]
    doc = export(root)
    at = open_page(monkeypatch, root, "training_curves.py")
    axis = doc["training"]["default_axis"]
    best = doc["training"]["by_axis"][axis]
    (shown,) = [m for m in at.metric if m.label == f"Best {axis}"]
    assert shown.value == f"{best[f'best_{axis}']:.4g}"
    assert exact(at, "Best validation loss") == best["best_val_loss"]
    (onset,) = [m for m in at.metric if m.label == f"Over-fitting from {axis}"]
    assert onset.value == f"{best[f'overfitting_onset_{axis}']:.4g}"
    assert doc["training"]["rule_parameters"]["patience"] == at.number_input(key="tc_patience").value
    assert set(doc["settings"]) == {"undefined"} and "splits_side_by_side" not in doc  # nothing per image
