"""The all-metrics export holds exactly the numbers the engines compute, per split; tables and COCO subset."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorer.cli import main as cli
from explorer.export.all_metrics import coco_selection, export_all_metrics, export_coco
from explorer.export.tables import export_tables
from explorer.project.folder import Project
from explorer.evaluation import segmentation as seg

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_data"


def build(name: str) -> Path:
    from explorer.samples import build_sample, list_samples

    (spec,) = [s for s in list_samples() if s["name"] == name]
    return build_sample(spec, progress=False)


@pytest.fixture(scope="module")
def seg_project(explorer_home) -> Project:
    return Project.load(build("segmentation"))


def _same(a, b) -> bool:
    """Exact equality with NaN (engine) == None (JSON null)."""
    if b is None or (isinstance(b, float) and np.isnan(b)):
        return a is None or (isinstance(a, float) and np.isnan(a))
    return a == b


def split_ids(project, split):
    return None if split == "all" else project.images.loc[project.images["split"] == split, "image_id"].to_numpy()


def test_segmentation_json_equals_engine_per_split(seg_project, tmp_path):
    doc = export_all_metrics(seg_project, tmp_path)
    assert doc == json.loads((tmp_path / "all_metrics.json").read_text())
    doc = json.loads((tmp_path / "all_metrics.json").read_text())
    assert list(doc["splits"]) == ["all", "train", "val", "test"]
    for split, entry in doc["splits"].items():
        ids = split_ids(seg_project, split)
        result = seg.evaluate_project(seg_project, image_ids=ids)
        ev = entry["evaluation"]
        assert ev["summary"] == result.summary  # exact floats survive the JSON round trip
        assert ev["confusion_matrix"]["counts"] == result.confusion.tolist()
        assert ev["n_images_evaluated"] == result.n_images
        for row, iou, acc in zip(ev["per_class"], result.iou, result.acc):
            assert _same(row["iou"], iou) and _same(row["acc"], acc)
        miou = seg.outcomes(seg_project)
        if ids is not None:
            miou = miou[miou["image_id"].isin(ids)]
        assert ev["per_image_iou"]["mean"] == pytest.approx(miou["miou"].mean(), abs=1e-12)
        assert ev["per_image_iou"]["count"] == len(miou)
        # dataset statistics
        images = seg_project.images if ids is None else seg_project.images[seg_project.images["image_id"].isin(ids)]
        labels = seg_project.labels[seg_project.labels["image_id"].isin(images["image_id"])]
        assert entry["dataset"]["n_images"] == len(images)
        per_class = {r["name"]: r["labels"] for r in entry["dataset"]["per_class"]}
        names = seg_project.category_names
        expected = labels.groupby("category_id").size()
        assert per_class == {names[c]: int(expected.get(c, 0)) for c in names}


def test_class_filter_and_data_metric_summaries(seg_project):
    from explorer.datametrics.engine import metrics_for
    from explorer.analysis.stats import summarize

    doc = export_all_metrics(seg_project, classes=["disc", "square"], splits=["val"])
    assert list(doc["splits"]) == ["all", "val"]
    ids = split_ids(seg_project, "val")
    result = seg.evaluate_project(seg_project, image_ids=ids)
    assert doc["splits"]["val"]["evaluation"]["summary"] == result.restricted([1, 2])
    assert [r["name"] for r in doc["splits"]["val"]["evaluation"]["per_class"]] == ["disc", "square"]
    metrics = doc["splits"]["val"]["data_metrics"]
    assert metrics["available"] is True
    frame = metrics_for(seg_project, "images")
    brightness = frame.loc[frame.index.isin(ids), "brightness"].to_numpy(np.float64)
    assert metrics["images"]["brightness"]["mean"] == summarize(brightness).mean


def test_tables_csv_and_parquet(seg_project, tmp_path):
    paths = export_tables(seg_project, tmp_path, split="test")
    assert sorted(p.name for p in paths) == sorted(f"{t}.{f}" for t in ("images", "labels", "predictions")
                                                   for f in ("csv", "parquet"))
    csv = pd.read_csv(tmp_path / "images.csv")
    parquet = pd.read_parquet(tmp_path / "images.parquet")
    outcome = seg.outcomes(seg_project).set_index("image_id")
    assert len(csv) == 12 and set(csv["split"]) == {"test"}
    np.testing.assert_allclose(csv["miou"], outcome.loc[csv["image_id"], "miou"], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(parquet["miou"].to_numpy(), outcome.loc[parquet["image_id"], "miou"].to_numpy())
    assert "brightness" in parquet.columns and "segmentation" not in parquet.columns
    labels = pd.read_parquet(tmp_path / "labels.parquet")
    assert set(labels["image_id"]) <= set(csv["image_id"])


def test_coco_subset_of_selection_loads_in_pycocotools(seg_project, tmp_path):
    from pycocotools.coco import COCO

    path = export_coco(seg_project, tmp_path, split="val", classes=["triangle"])
    coco = COCO(str(path))
    anns = coco.loadAnns(coco.getAnnIds())
    val = set(split_ids(seg_project, "val").tolist())
    assert anns and {a["category_id"] for a in anns} == {3} and {a["image_id"] for a in anns} <= val
    expected = seg_project.labels[seg_project.labels["image_id"].isin(val) & (seg_project.labels["category_id"] == 3)]
    assert sorted(a["id"] for a in anns) == sorted(expected["label_id"].tolist())


def test_classification_and_regression_sections_equal_their_engines(tmp_path):
    from explorer.evaluation import classification, regression
    from explorer.io.classification import import_project as import_classification
    from explorer.io.regression import import_project as import_regression

    cls, _ = import_classification(tmp_path / "cls", labels=SAMPLES / "classification" / "labels.csv",
                                   predictions=SAMPLES / "classification" / "predictions.csv",
                                   splits=SAMPLES / "classification" / "splits.csv")
    doc = export_all_metrics(cls)
    for split, entry in doc["splits"].items():
        ref = classification.evaluate_project(cls, image_ids=split_ids(cls, split))
        assert entry["evaluation"]["summary"] == ref.summary
        assert entry["evaluation"]["confusion_matrix"]["counts"] == ref.evaluation.confusion.counts.tolist()
        assert [r["f1"] for r in entry["evaluation"]["per_class"]] == ref.evaluation.per_class["f1"].tolist()
    reg, _ = import_regression(tmp_path / "reg", labels=SAMPLES / "regression" / "regression.csv",
                               splits=SAMPLES / "regression" / "splits.csv")
    doc = export_all_metrics(reg)
    for split, entry in doc["splits"].items():
        ref = regression.evaluate_project(reg, image_ids=split_ids(reg, split))
        assert entry["evaluation"]["summary"] == ref.summary
    assert doc["splits"]["all"]["data_metrics"]["available"] is False  # never computed: said, not skipped


def test_detection_json_equals_engine(explorer_home):
    from explorer.evaluation import Matcher, detection_summary, evaluate_coco, per_class_table

    project = Project.load(build("detection"))
    doc = json.loads(json.dumps(export_all_metrics(project, iou_threshold=0.6)))
    matcher = Matcher.from_project(project)
    for split, entry in doc["splits"].items():
        ids = split_ids(project, split)
        ev = entry["evaluation"]
        coco = evaluate_coco(project, None, iou_type="bbox", image_ids=None if ids is None else ids.tolist())
        assert ev["coco"] == {k: float(v) for k, v in coco.summary.items()}
        for key, t in (("mAP", 0.6), ("mAP_50", 0.5), ("mAP_75", 0.75)):
            ref = detection_summary(matcher.match(t), image_ids=ids)
            assert _same(ev[key], ref["mAP"]) and _same(ev[key.replace("AP", "AR")], ref["mAR"])
        table = per_class_table(matcher.match(0.6), image_ids=ids)
        assert [r["f1"] for r in ev["per_class"]] == [None if np.isnan(v) else v for v in table["f1"]]
        assert ev["confusion_matrix"]["counts"] and ev["pr_curves"] and ev["f1_by_confidence"]


def test_cli_export_and_errors(seg_project, tmp_path, capsys):
    assert cli(["export", str(seg_project.root), "--out", str(tmp_path), "--what", "json"]) == 0
    assert (tmp_path / "all_metrics.json").is_file() and not (tmp_path / "tables").exists()
    assert cli(["export", str(seg_project.root), "--out", str(tmp_path), "--split", "holdout"]) == 2
    assert "has no split 'holdout'" in capsys.readouterr().err
    assert cli(["export", str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 2
    assert "not a project folder" in capsys.readouterr().err


def test_coco_needs_boxes_or_masks(tmp_path):
    from explorer.errors import UserError
    from explorer.io.regression import import_project as import_regression

    reg, _ = import_regression(tmp_path / "reg", labels=SAMPLES / "regression" / "regression.csv")
    with pytest.raises(UserError, match="needs boxes or masks"):
        coco_selection(reg)


def test_training_export_holds_the_engine_summary(explorer_home):
    from explorer.analysis.training import export_summary

    project = Project.load(build("training"))
    doc = json.loads(json.dumps(export_all_metrics(project)))
    assert doc["training"] == json.loads(json.dumps(export_summary(project), allow_nan=True).replace("NaN", "null"))
    assert doc["training"]["by_axis"]["epoch"] and doc["splits"]["all"]["dataset"]["n_images"] == 0


def test_detection_export_per_run(explorer_home, tmp_path):
    """Each run exports its own predictions' numbers and says which run it is; the CLI's --run is the same."""
    from explorer.evaluation import Matcher, detection_summary
    from explorer.errors import UserError

    project = Project.load(build("detection"))
    assert project.runs == ["baseline", "weaker"]
    docs = {run: json.loads(json.dumps(export_all_metrics(project, run=run))) for run in project.runs}
    for run, doc in docs.items():
        view = project.for_run(run)
        assert doc["project"]["run"] == run and doc["project"]["runs"] == ["baseline", "weaker"]
        assert doc["project"]["n_predictions"] == len(view.predictions)
        ref = detection_summary(Matcher.from_project(view).match(0.5))
        assert _same(docs[run]["splits"]["all"]["evaluation"]["mAP"], ref["mAP"])
    assert docs["baseline"]["splits"]["all"]["evaluation"]["mAP"] > docs["weaker"]["splits"]["all"]["evaluation"]["mAP"]
    # a run view exports the same document as naming the run
    assert json.loads(json.dumps(export_all_metrics(project.for_run("weaker")))) == docs["weaker"]
    assert cli(["export", str(project.root), "--out", str(tmp_path), "--what", "json", "--run", "weaker"]) == 0
    assert json.loads((tmp_path / "all_metrics.json").read_text())["splits"] == docs["weaker"]["splits"]
    with pytest.raises(UserError, match="no run 'nope'"):
        export_all_metrics(project, run="nope")
