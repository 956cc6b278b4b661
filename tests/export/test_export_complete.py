"""The all-metrics export is complete and task-pure: the analyses equal the analysis functions called directly,
the outcome options change them, the splits side by side equal each split's own evaluation, and a task's export
carries nothing of another task."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from explorer import tasks
from explorer.analysis import metric_correlation, metric_importance
from explorer.analysis.outcomes import rated
from explorer.analysis.splits_summary import splits_summary
from explorer.errors import UserError
from explorer.export.all_metrics import export_all_metrics
from explorer.project.folder import Project
from explorer.project.selection import Selection


def doc_of(project, **kw) -> dict:
    return json.loads(json.dumps(export_all_metrics(project, **kw)))


@pytest.fixture(scope="module")
def projects(sample_projects) -> dict[str, Project]:
    return {name: Project.load(path) for name, path in sample_projects.items()}


def test_splits_summary_rows_are_each_splits_evaluation(projects):
    project = projects["classification"]
    table = splits_summary(project, Selection(confidence_threshold=0.9))
    assert list(table.index) == ["all", "train", "val"] and list(table["images"]) == [360, 180, 180]
    assert "confidence_threshold" not in table.columns
    for split in table.index:
        ref = tasks.get("classification").evaluate(
            project, Selection(split=None if split == "all" else split, confidence_threshold=0.9))
        assert table.loc[split, "accuracy"] == ref["summary"]["accuracy"]
        assert table.loc[split, "n_unpredicted"] == ref["n_unpredicted"]
    assert table.loc["all", "n_unpredicted"] > 0  # the threshold applies to every row


def test_classification_analyses_equal_the_functions(projects):
    project = projects["classification"]
    doc = doc_of(project, splits=["val"])
    section = doc["splits"]["val"]["analyses"]["outcomes"]["images"]
    table = rated(tasks.get("classification").outcome_table(project, Selection(split="val"), "images"), "correct")
    names = [r["metric"] for r in section["importance"]]
    imp = metric_importance(table[names], table["correct"].to_numpy(bool))
    assert [r["importance"] for r in section["importance"]] == [None if np.isnan(v) else v for v in imp["importance"]]
    cor = metric_correlation(table[names], table["correct"].to_numpy(bool), method="spearman")
    by_name = {r["metric"]: r["correlation"] for r in section["correlation"]["spearman"]}
    assert all(by_name[m] == (None if np.isnan(c) else c) for m, c in zip(cor["metric"], cor["correlation"]))
    assert section["n_rows"] == 180 and section["n_positive"] == int(table["correct"].sum())
    pbm = doc["splits"]["val"]["analyses"]["performance_by_metric"]
    buckets = pbm["metrics"]["brightness"]["images"]["buckets"]
    assert sum(b["n_items"] for b in buckets) == 180 and pbm["n_buckets"] == 10
    assert doc["settings"] == {"confidence_threshold": 0.0, "classes": list(range(10)),
                               "undefined": "null (NaN: e.g. a class absent from a split)"}


def test_outcome_options_change_the_export_and_unknown_ones_are_refused(projects):
    project = projects["regression"]
    loose = doc_of(project, options={"tolerance": 5.0}, splits=[])
    tight = doc_of(project, options={"tolerance": 0.5}, splits=[])
    n = {d["settings"]["options"]["tolerance"]: d["splits"]["all"]["analyses"]["outcomes"]["images"]["n_positive"]
         for d in (loose, tight)}
    out = tasks.get("regression").outcome_table(project, Selection(options={"tolerance": 0.5}), "images")
    assert n[0.5] == int(out["within_tolerance"].sum()) < n[5.0]
    assert tight["splits"]["all"]["evaluation"]["tolerance"]["n_within"] == n[0.5]
    default = doc_of(project, splits=[])
    assert default["settings"]["options"] == {} and default["splits"]["all"]["evaluation"]["tolerance"]["default_median"]
    with pytest.raises(UserError, match="regression projects have no option 'target_iou'"):
        export_all_metrics(project, options={"target_iou": 0.5})


def test_segmentation_and_regression_by_bucket_tables(projects):
    from explorer.datametrics.tables import metrics_for
    from explorer.evaluation import regression as reg
    from explorer.evaluation import segmentation as seg
    from explorer.tasks.segmentation import miou_by_bucket

    project = projects["segmentation"]
    doc = doc_of(project, splits=["test"], options={"target_iou": 0.8})
    ev = doc["splits"]["test"]["evaluation"]
    ids = project.images.loc[project.images["split"] == "test", "image_id"]
    out = seg.outcomes(project)
    out = out[out["image_id"].isin(ids)]
    values = metrics_for(project, "images")["contrast"].reindex(out["image_id"]).to_numpy()
    table, _ = miou_by_bucket(values, out["miou"].to_numpy())
    assert [r["mean_miou"] for r in ev["by_bucket"]["metrics"]["contrast"]] == table["mean_miou"].tolist()
    assert ev["target_iou"] == {"value": 0.8, "n_good": int((out["miou"] >= 0.8).sum()), "n_evaluated": 12}
    assert [r["image_id"] for r in ev["worst_images"]] == out.sort_values(["miou", "image_id"])["image_id"].tolist()

    project = projects["regression"]
    ev = doc_of(project, splits=[])["splits"]["all"]["evaluation"]
    out = reg.outcomes(project)
    values = metrics_for(project, "images")["sharpness"].reindex(out["image_id"]).to_numpy()
    ref = reg.error_by_bucket(values, out["abs_error"].to_numpy(), n_buckets=5)
    assert [r["mae"] for r in ev["error_by_bucket"]["metrics"]["sharpness"]["buckets"]] == ref["mae"].tolist()
    assert ev["worst_errors"][0]["abs_error"] == out["abs_error"].max()


def test_detection_fp_reasons_and_shared_edges(projects):
    project = projects["detection"]
    doc = doc_of(project, splits=[])
    analyses = doc["splits"]["all"]["analyses"]
    table = rated(tasks.get("detection").outcome_table(project, Selection(), "predictions"), "is_tp")
    expected = table.loc[~table["is_tp"].to_numpy(bool), "fp_reason"].value_counts()
    assert analyses["outcomes"]["predictions"]["fp_reasons"] == {k: int(v) for k, v in expected.items()}
    frame = analyses["performance_by_metric"]["metrics"]["brightness"]
    assert set(frame) >= {"labels", "predictions"}  # an (F) metric over both targets, on one set of edges
    assert [b["lo"] for b in frame["labels"]["buckets"]] == [b["lo"] for b in frame["predictions"]["buckets"]]
    assert doc["splits_side_by_side"][0]["split"] == "all"
    assert doc["splits_side_by_side"][0]["mAP"] == doc["splits"]["all"]["evaluation"]["mAP"]


def test_cli_export_takes_the_outcome_options(projects, tmp_path, capsys):
    from explorer.cli import main as cli

    root = str(projects["regression"].root)
    assert cli(["export", root, "--out", str(tmp_path), "--option", "tolerance=0.5"]) == 0
    doc = json.loads((tmp_path / "all_metrics.json").read_text())
    assert doc["settings"]["options"] == {"tolerance": 0.5}
    images = pd.read_parquet(tmp_path / "tables" / "images.parquet")
    assert int(images["within_tolerance"].sum()) == doc["splits"]["all"]["evaluation"]["tolerance"]["n_within"]
    assert cli(["export", root, "--out", str(tmp_path), "--option", "target_iou=0.5"]) == 2
    assert "regression projects take tolerance" in capsys.readouterr().err
    assert cli(["export", root, "--out", str(tmp_path), "--option", "tolerance=wide"]) == 2
