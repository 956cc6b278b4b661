"""COCO labels and results: exact table contents, reference fixtures equal to pycocotools, splits."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from explorer.io import import_project
from explorer.project.folder import Project
from io_helpers import base_coco, base_results, write_coco_inputs


def test_valid_coco_import_exact_tables(tmp_path):
    root, labels, preds = write_coco_inputs(tmp_path)
    project, report = import_project(tmp_path / "p", images=root, labels=labels, predictions=preds)
    assert report.problems == []
    assert dict(report.kept) == {"images": 2, "categories": 2, "labels": 4, "predictions": 3}
    loaded = Project.load(tmp_path / "p")
    assert loaded.images_root == root.resolve()
    im = loaded.images
    assert im["image_id"].tolist() == [1, 2]
    assert im["file_name"].tolist() == ["a.png", "sub/b.png"]
    assert im["width"].tolist() == [40.0, 50.0] and im["height"].tolist() == [30.0, 20.0]
    assert im["split"].isna().all()
    cats = loaded.categories
    assert cats["category_id"].tolist() == [3, 7]
    assert cats["name"].tolist() == ["cat", "dog"]
    assert cats["supercategory"].isna().tolist() == [True, False] and cats["supercategory"][1] == "animal"
    lab = loaded.labels
    assert lab["label_id"].tolist() == [10, 11, 12, 13]
    assert lab["image_id"].tolist() == [1, 1, 2, 2]
    assert lab["category_id"].tolist() == [3, 7, 3, 7]
    assert lab[["x", "y", "w", "h"]].to_numpy().tolist() == [[1, 2, 10, 5], [5, 5, 10, 10], [0, 0, 1, 2], [10, 4, 6, 3]]
    assert lab["area"].tolist() == [50.0, 100.0, 2.0, 18.0]
    assert lab["iscrowd"].tolist() == [False, False, True, False]
    coco = base_coco()
    assert pd.isna(lab["segmentation"][0])
    for k in (1, 2, 3):
        assert json.loads(lab["segmentation"][k]) == coco["annotations"][k]["segmentation"]
    pr = loaded.predictions
    assert pr["pred_id"].tolist() == [1, 2, 3]
    assert pr["image_id"].tolist() == [1, 2, 2]
    assert pr["category_id"].tolist() == [3, 7, 3]
    assert pr[["x", "y", "w", "h"]].to_numpy().tolist() == [[1, 2, 10, 5], [10, 5, 20, 10], [0, 0, 2, 2]]
    assert pr["area"].tolist() == [50.0, 200.0, 4.0]
    assert pr["score"].tolist() == [0.9, 0.5, 0.25]
    assert pr["segmentation"].isna().all()
    manifest = json.loads((tmp_path / "p" / "project.json").read_text())
    assert manifest["sources"]["format"] == "coco"
    assert json.loads((tmp_path / "p" / "import_report.json").read_text())["problems"] == []


def test_mask_results_area_and_bbox_from_mask_like_loadres(tmp_path):
    """A results file whose first record has no bbox is a mask file: area = mask.area, bbox = mask.toBbox."""
    rle = base_coco()["annotations"][3]["segmentation"]
    results = [{"image_id": 2, "category_id": 7, "segmentation": rle, "score": 0.8},
               {"image_id": 1, "category_id": 7, "segmentation": [[5, 5, 15, 5, 15, 15, 5, 15]], "score": 0.4}]
    root, labels, preds = write_coco_inputs(tmp_path, results=results)
    project, report = import_project(tmp_path / "p", images=root, labels=labels, predictions=preds)
    assert report.problems == []
    pr = project.predictions
    assert pr[["x", "y", "w", "h"]].to_numpy().tolist() == [[10, 4, 6, 3], [5, 5, 10, 10]]
    poly_area = mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(results[1]["segmentation"], 30, 40)))
    assert poly_area == 100
    assert pr["area"].tolist() == [18.0, 100.0]


CASES = {
    "cocoapi_val2014_100": ["dt_bbox.json", "dt_segm.json"],
    "rafaelpadilla_sampled": ["dt.json"],
    "tiny_segm": ["dt.json"],
}


@pytest.mark.parametrize("case,dt", [(c, d) for c, ds in CASES.items() for d in ds])
def test_reference_fixtures_equal_pycocotools(testdata, tmp_path, case, dt):
    """Every record of the public fixtures is kept, with ids, boxes and areas equal to pycocotools' COCO/loadRes."""
    folder = testdata / "coco_reference" / case
    project, report = import_project(tmp_path / "p", labels=folder / "gt.json", predictions=folder / dt)
    assert report.skipped == []
    assert project.images_root is None
    raw = json.loads((folder / "gt.json").read_text())
    raw_dt = json.loads((folder / dt).read_text())
    assert len(project.images) == len(raw["images"])
    assert len(project.categories) == len(raw["categories"])
    assert len(project.labels) == len(raw["annotations"])
    assert len(project.predictions) == len(raw_dt)
    gt = COCO(str(folder / "gt.json"))
    res = gt.loadRes(str(folder / dt))
    lab = project.labels.set_index("label_id")
    ann_ids = sorted(gt.anns)
    assert sorted(lab.index) == ann_ids
    assert lab.loc[ann_ids, "area"].tolist() == [gt.anns[i]["area"] for i in ann_ids]
    assert lab.loc[ann_ids, ["x", "y", "w", "h"]].to_numpy().tolist() == [list(map(float, gt.anns[i]["bbox"])) for i in ann_ids]
    assert lab.loc[ann_ids, "iscrowd"].tolist() == [bool(gt.anns[i].get("iscrowd", 0)) for i in ann_ids]
    pr = project.predictions.set_index("pred_id")
    ids = sorted(res.anns)
    assert sorted(pr.index) == ids
    assert pr.loc[ids, "image_id"].tolist() == [res.anns[i]["image_id"] for i in ids]
    assert pr.loc[ids, "category_id"].tolist() == [res.anns[i]["category_id"] for i in ids]
    assert pr.loc[ids, "score"].tolist() == [res.anns[i]["score"] for i in ids]
    assert pr.loc[ids, "area"].tolist() == [float(res.anns[i]["area"]) for i in ids]
    assert pr.loc[ids, ["x", "y", "w", "h"]].to_numpy().tolist() == [list(map(float, res.anns[i]["bbox"])) for i in ids]
    img = project.images.set_index("image_id")
    assert [img.loc[i, "width"] for i in sorted(gt.imgs)] == [gt.imgs[i]["width"] for i in sorted(gt.imgs)]


def test_splits_csv_and_unknown_names(tmp_path):
    root, labels, preds = write_coco_inputs(tmp_path)
    csv = tmp_path / "splits.csv"
    csv.write_text("file_name,split\na.png,train\nsub/b.png,val\nmissing.png,test\n")
    project, report = import_project(tmp_path / "p", images=root, labels=labels, splits=csv)
    assert project.images["split"].tolist() == ["train", "val"]
    assert project.splits == ["train", "val"]
    (p,) = report.problems
    assert (p.file, p.record, p.kind, p.kept) == (str(csv), "line 4", "unknown_file", False)
    assert "'missing.png' is not an image of the project" in p.message


def test_splits_from_folders(tmp_path):
    root, labels, _ = write_coco_inputs(tmp_path)
    project, report = import_project(tmp_path / "p", images=root, labels=labels, splits="folders")
    assert project.images["split"].isna().tolist() == [True, False] and project.images["split"][1] == "sub"
    (p,) = report.problems
    assert p.kept and p.kind == "no_split" and "no split given for 1 of 2 images (e.g. a.png)" in p.message


def test_evaluation_only_project_without_images(tmp_path):
    _, labels, preds = write_coco_inputs(tmp_path, images=False)
    project, report = import_project(tmp_path / "p", labels=labels, predictions=preds, name="eval only")
    assert report.problems == []
    assert project.images_root is None and project.name == "eval only"
    assert project.images["width"].tolist() == [40.0, 50.0]
    assert len(project.labels) == 4 and len(project.predictions) == 3


def test_images_only_project(tmp_path):
    root, _, _ = write_coco_inputs(tmp_path)
    project, report = import_project(tmp_path / "p", images=root)
    assert project.images["file_name"].tolist() == ["a.png", "sub/b.png"]
    assert project.images["width"].tolist() == [40.0, 50.0]
    assert project.images["height"].tolist() == [30.0, 20.0]
    assert project.images["image_id"].tolist() == [1, 2]
    assert len(project.labels) == 0 and len(project.categories) == 0


def test_missing_area_is_computed_and_flagged(tmp_path):
    coco = base_coco()
    del coco["annotations"][0]["area"], coco["annotations"][1]["area"]
    root, labels, _ = write_coco_inputs(tmp_path, coco)
    project, report = import_project(tmp_path / "p", images=root, labels=labels)
    assert project.labels["area"].tolist()[:2] == [50.0, 100.0]  # box w*h; polygon mask area (pycocotools)
    assert [p.kind for p in report.flagged] == ["area_computed", "area_computed"]
    assert all(not math.isnan(a) for a in project.labels["area"])


def test_missing_bbox_computed_from_mask(tmp_path):
    coco = base_coco()
    del coco["annotations"][3]["bbox"]
    root, labels, _ = write_coco_inputs(tmp_path, coco)
    project, report = import_project(tmp_path / "p", images=root, labels=labels)
    assert project.labels[["x", "y", "w", "h"]].to_numpy()[3].tolist() == [10, 4, 6, 3]
    (p,) = report.problems
    assert p.kept and p.record == "annotations[3] (id=13)" and "computed from the segmentation" in p.message
    assert np.isfinite(project.labels[["x", "y", "w", "h"]].to_numpy()).all()


def test_importer_and_evaluator_keep_the_same_records(tmp_path):
    """One record model: a dirty file keeps the same records, with the same problems, whether imported or
    evaluated directly — and the project evaluates to the file's numbers."""
    from explorer.evaluation import evaluate_coco
    from explorer.evaluation.inputs import from_coco

    coco = base_coco()
    a = coco["annotations"]
    a.append({"id": 20, "image_id": 1, "category_id": 3, "bbox": [1, 1, -1, 1], "area": 1})      # rejected
    a.append({"id": 21, "image_id": 9, "category_id": 3, "bbox": [1, 1, 1, 1], "area": 1})       # rejected
    a.append({"id": 22, "image_id": 1, "category_id": 3, "bbox": [41, 2, 3, 4], "area": -3})     # kept, flagged
    a.append({"id": 23, "image_id": 1, "category_id": 7, "segmentation": [[5, 5, 15, 5, 15, 15], []], "iscrowd": 2})
    a.append({"id": 24, "image_id": 2, "category_id": 7, "bbox": [1, 1, 4, 4], "segmentation": []})  # no mask
    a.append({"id": 10, "image_id": 2, "category_id": 7, "bbox": [1, 1, 4, 4], "area": 16})     # duplicate id
    results = base_results() + [
        {"image_id": 1, "category_id": 3, "bbox": [0, 0, 3, 3], "score": float("inf")},         # kept, flagged
        {"image_id": 1, "category_id": 3, "bbox": [0, 0, 3], "score": 0.2},                     # rejected
        {"image_id": 2, "category_id": 7, "bbox": [60, 0, 3, 3], "score": 0.3},                 # outside: kept
    ]
    _, labels, preds = write_coco_inputs(tmp_path, coco, results, images=False)
    project, report = import_project(tmp_path / "p", labels=labels, predictions=preds)
    data = from_coco(labels, preds, iou_type="bbox")
    assert project.labels["label_id"].tolist() == data.labels.ids.tolist() == [10, 11, 12, 13, 22, 23, 24]
    assert project.predictions["pred_id"].tolist() == data.predictions.ids.tolist() == [1, 2, 3, 4, 6]
    np.testing.assert_array_equal(project.labels[["x", "y", "w", "h"]].to_numpy(), data.labels.box)
    np.testing.assert_array_equal(project.labels["area"].to_numpy(), data.labels.area)
    np.testing.assert_array_equal(project.labels["iscrowd"].to_numpy(), data.labels.iscrowd)
    np.testing.assert_array_equal(project.predictions["score"].to_numpy(), data.predictions.score)

    def key(problems):
        return sorted((p.file, p.record, p.kind, p.kept) for p in problems if p.kind != "no_predictions")

    assert key(report.problems) == key(data.problems.problems)
    assert evaluate_coco(project).stats.tolist() == evaluate_coco(labels, preds).stats.tolist()
