"""explorer.export.subset: a COCO subset evaluates, with pycocotools, exactly like the full set restricted to its ids."""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from explorer.errors import UserError
from explorer.project.folder import Project
from explorer.export.subset import coco_subset


def _project_from_coco(root, gt: dict, results: list) -> Project:
    """A project whose tables hold the COCO file's records verbatim (ids kept, segmentation as JSON text)."""
    images = pd.DataFrame({
        "image_id": [i["id"] for i in gt["images"]], "file_name": [i["file_name"] for i in gt["images"]],
        "width": [i["width"] for i in gt["images"]], "height": [i["height"] for i in gt["images"]],
        "split": [None] * len(gt["images"]),
    })
    categories = pd.DataFrame({"category_id": [c["id"] for c in gt["categories"]],
                               "name": [c["name"] for c in gt["categories"]],
                               "supercategory": [c.get("supercategory") for c in gt["categories"]]})

    def table(records, id_col, extra):
        for r in records:  # segm results carry no box: derive it from the mask as pycocotools' loadRes does
            if "bbox" not in r:
                r["bbox"] = mask_utils.toBbox(r["segmentation"]).tolist()
                r["area"] = float(mask_utils.area(r["segmentation"]))
        box = np.array([r["bbox"] for r in records], np.float64)
        df = pd.DataFrame({id_col: [r["id"] for r in records], "image_id": [r["image_id"] for r in records],
                           "category_id": [r["category_id"] for r in records],
                           "x": box[:, 0], "y": box[:, 1], "w": box[:, 2], "h": box[:, 3],
                           "area": [r.get("area", r["bbox"][2] * r["bbox"][3]) for r in records],
                           "segmentation": [json.dumps(r["segmentation"]) if "segmentation" in r else None for r in records]})
        for k, f in extra.items():
            df[k] = [f(r) for r in records]
        return df

    labels = table(gt["annotations"], "label_id", {"iscrowd": lambda r: bool(r.get("iscrowd", 0))})
    preds = table([{**r, "id": i + 1} for i, r in enumerate(results)], "pred_id", {"score": lambda r: r["score"]})
    return Project.create(root, task="detection", images=images, categories=categories, labels=labels, predictions=preds)


def _coco_stats(gt: dict, results: list, *, iou_type="bbox", img_ids=None) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = json.loads(json.dumps(gt))
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(json.loads(json.dumps(results)))
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        if img_ids is not None:
            ev.params.imgIds = sorted(int(i) for i in img_ids)
        ev.evaluate(); ev.accumulate(); ev.summarize()
    return ev.stats


def _case(testdata, root, iou_type):
    folder = testdata / "coco_reference" / "cocoapi_val2014_100"
    gt = json.loads((folder / "gt.json").read_text())
    results = json.loads((folder / f"dt_{iou_type}.json").read_text())
    project = _project_from_coco(root, gt, json.loads(json.dumps(results)))
    return gt, results, project


@pytest.fixture(scope="module")
def coco_case(testdata, tmp_path_factory):
    return _case(testdata, tmp_path_factory.mktemp("subset"), "bbox")


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_subset_evaluates_like_the_full_set_on_the_same_images(testdata, tmp_path, iou_type):
    gt, results, project = _case(testdata, tmp_path, iou_type)
    chosen = sorted(project.images["image_id"].to_numpy()[::3].tolist())
    subset = coco_subset(project, image_ids=chosen, results_type=iou_type)
    document = json.loads(subset.to_json())  # through real JSON text, as the download button writes it
    preds = document.pop("predictions")
    full = _coco_stats(gt, results, iou_type=iou_type, img_ids=chosen)
    sub = _coco_stats(document, preds, iou_type=iou_type)
    np.testing.assert_array_equal(sub, full)
    assert [i["id"] for i in document["images"]] == chosen
    assert {a["image_id"] for a in document["annotations"]} <= set(chosen)
    expected_ann = sorted(a["id"] for a in gt["annotations"] if a["image_id"] in set(chosen))
    assert [a["id"] for a in document["annotations"]] == expected_ann
    assert subset.counts["predictions"] == sum(r["image_id"] in set(chosen) for r in results)


def test_record_ids_are_preserved_and_images_follow(coco_case):
    gt, _, project = coco_case
    labels, preds = project.labels, project.predictions
    label_ids = labels["label_id"].to_numpy()[[0, 5, 17]]
    pred_ids = preds["pred_id"].to_numpy()[[3, 4]]
    subset = coco_subset(project, label_ids=label_ids, pred_ids=pred_ids)
    assert [a["id"] for a in subset.ground_truth["annotations"]] == sorted(label_ids.tolist())
    assert [r["id"] for r in subset.results] == sorted(pred_ids.tolist())
    images = set(labels.loc[labels["label_id"].isin(label_ids), "image_id"]) | set(
        preds.loc[preds["pred_id"].isin(pred_ids), "image_id"])
    assert {i["id"] for i in subset.ground_truth["images"]} == images
    by_id = {a["id"]: a for a in gt["annotations"]}
    for ann in subset.ground_truth["annotations"]:
        source = by_id[ann["id"]]
        assert ann["bbox"] == source["bbox"] and ann["category_id"] == source["category_id"]
        assert ann["iscrowd"] == source["iscrowd"] and ann["segmentation"] == source["segmentation"]
    assert len(subset.ground_truth["categories"]) == len(gt["categories"])

    whole = coco_subset(project, label_ids=label_ids, whole_images=True)
    expected = labels.loc[labels["image_id"].isin(labels.loc[labels["label_id"].isin(label_ids), "image_id"]), "label_id"]
    assert [a["id"] for a in whole.ground_truth["annotations"]] == sorted(expected.tolist())


def test_unknown_ids_are_named(coco_case):
    _, _, project = coco_case
    with pytest.raises(UserError, match=r"2 label id\(s\) not in the project: -7, 999999999"):
        coco_subset(project, label_ids=[-7, 999999999])
    empty = coco_subset(project)
    assert empty.counts == {"images": 0, "labels": 0, "predictions": 0}
