"""One record model, one set of numbers: the same COCO inputs through every entry point — JSON file, Python dict,
imported project, ``Matcher`` — keep the same records and give pycocotools' numbers (|diff| <= 1e-12), on the
cases that broke before: empty ground truth, no predictions, NumPy-typed dicts, masks without a box, label id 0,
class-agnostic evaluation, custom IoU thresholds / maxDets / area ranges, +inf scores, empty polygon parts."""
from __future__ import annotations

import copy
import contextlib
import io
import json

import numpy as np
import pytest

from explorer.evaluation import Matcher, detection_summary, evaluate_coco, f1_by_confidence, per_class_table, pr_curves
from explorer.evaluation import detection_confusion_matrix
from explorer.io import import_project
from random_coco import random_coco

TOL = 1e-12
DUMMY = {"image_id": None, "category_id": 99999, "bbox": [0.0, 0.0, 1.0, 1.0], "score": 0.5}


def pycocotools_eval(gt, dt, iou_type, *, use_cats=True, iou_thrs=None, max_dets=None, area_rng=None, cat_ids=None):
    """pycocotools' COCOeval on deep copies. It cannot take an empty results list (``loadRes`` reads
    ``anns[0]``), so "no predictions" gets one prediction of a category outside the ground truth, which is
    never evaluated."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    dt = list(dt) or [dict(DUMMY, image_id=gt["images"][0]["id"])]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(dt)), iou_type)
        ev.params.useCats = int(use_cats)
        if iou_thrs is not None:
            ev.params.iouThrs = np.array(iou_thrs)
        if max_dets is not None:
            ev.params.maxDets = list(max_dets)
        if area_rng is not None:
            ev.params.areaRng = [list(v) for v in area_rng.values()]
            ev.params.areaRngLbl = list(area_rng)
        if cat_ids is not None:
            ev.params.catIds = list(cat_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def variant(seed: int, kind: str, iou_type: str = "bbox"):
    gt, dt = random_coco(seed, iou_type=iou_type)
    for im in gt["images"]:
        im["file_name"] = f"{im['id']}.jpg"
    if kind == "empty_gt":
        gt["annotations"] = []
    elif kind == "no_predictions":
        dt = []
    elif kind == "id_zero":
        gt["annotations"][0]["id"] = 0
        gt["annotations"][-1], gt["annotations"][0] = gt["annotations"][0], gt["annotations"][-1]
    elif kind == "one_class":
        gt["annotations"] = [a for a in gt["annotations"] if a["category_id"] == 3]
        gt["categories"] = [c for c in gt["categories"] if c["id"] == 3]
        dt = [r for r in dt if r["category_id"] == 3]
    elif kind == "mask_without_box":
        for a in gt["annotations"]:
            a.pop("bbox")
    elif kind == "inf_score":
        dt[0]["score"] = float("inf")
        dt[1]["score"] = float("inf")
    return gt, dt


def numpy_typed(gt, dt):
    """The same inputs as NumPy values, as a Python caller passes them to pycocotools."""
    gt = copy.deepcopy(gt)
    for a in gt["annotations"]:
        a["id"], a["image_id"], a["category_id"] = np.int64(a["id"]), np.int64(a["image_id"]), np.int32(a["category_id"])
        if "bbox" in a:
            a["bbox"] = np.array(a["bbox"], dtype=np.float64)
        a["area"] = np.float64(a["area"])
    for im in gt["images"]:
        im["id"] = np.int64(im["id"])
    # results: a list of NumPy floats (loadRes compares the first bbox with [], which an array cannot do)
    dt = [dict(r, image_id=np.int64(r["image_id"]), category_id=np.int64(r["category_id"]),
               score=np.float32(r["score"]), **({"bbox": [np.float32(v) for v in r["bbox"]]} if "bbox" in r else {}))
          for r in dt]
    return gt, dt


def write(tmp_path, gt, dt):
    g, d = tmp_path / "gt.json", tmp_path / "dt.json"
    g.write_text(json.dumps(gt))
    d.write_text(json.dumps(dt))
    return g, d


def assert_same(r, ev):
    np.testing.assert_allclose(r.stats, ev.stats, rtol=0, atol=TOL)
    np.testing.assert_array_equal(r.precision, ev.eval["precision"])
    np.testing.assert_array_equal(r.recall, ev.eval["recall"])
    summary = np.array(list(r.summary.values()))
    np.testing.assert_array_equal(summary, np.where(ev.stats == -1, np.nan, ev.stats))


def assert_matcher_equals(matcher, ev, thresholds=(0.5, 0.75, 0.95)):
    """``detection_summary`` at t equals pycocotools' precision[t] / recall[t] averaging (area all, maxDets 100)."""
    for t in thresholds:
        (ti,) = np.flatnonzero(np.isclose(ev.params.iouThrs, t))
        s = detection_summary(matcher.match(float(ev.params.iouThrs[ti])), classes=ev.params.catIds)
        p = ev.eval["precision"][ti, :, :, 0, -1]
        r = ev.eval["recall"][ti, :, 0, -1]
        assert s["mAP"] == (np.mean(p[p > -1]) if (p > -1).any() else pytest.approx(np.nan, nan_ok=True))
        assert s["mAR"] == (np.mean(r[r > -1]) if (r > -1).any() else pytest.approx(np.nan, nan_ok=True))


KINDS = ["plain", "empty_gt", "no_predictions", "id_zero", "one_class", "inf_score"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_entry_point_equals_pycocotools(tmp_path, seed, kind):
    gt, dt = variant(seed, kind)
    ev = pycocotools_eval(gt, dt, "bbox")
    g, d = write(tmp_path, gt, dt)
    from_dict = evaluate_coco(gt, dt)
    from_file = evaluate_coco(g, d)
    project, _ = import_project(tmp_path / "p", labels=g, predictions=d)
    from_project = evaluate_coco(project)
    for r in (from_dict, from_file, from_project):
        assert_same(r, ev)
    assert_same(evaluate_coco(project, d), ev)  # project labels + a results file
    for m in (Matcher.from_coco(gt, dt), Matcher.from_coco(g, d), Matcher.from_project(project)):
        assert_matcher_equals(m, ev)
    # the same kept records, whichever way in
    lab = from_dict._data.labels
    assert sorted(project.labels["label_id"]) == sorted(lab.ids.tolist())
    assert sorted(project.predictions["pred_id"]) == sorted(from_file._data.predictions.ids.tolist())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_typed_dicts_equal_pycocotools(seed):
    gt, dt = numpy_typed(*variant(seed, "plain"))
    ev = pycocotools_eval(gt, dt, "bbox")
    r = evaluate_coco(gt, dt)
    assert len(r.problems.skipped) == 0
    assert_same(r, ev)
    assert_matcher_equals(Matcher.from_coco(gt, dt), ev)
    as_arrays = [dict(x, bbox=np.array(x["bbox"], dtype=np.float32)) for x in dt]  # we also take arrays
    assert_same(evaluate_coco(gt, as_arrays), ev)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segm_masks_without_box_equal_pycocotools(tmp_path, seed):
    gt, dt = variant(seed, "mask_without_box", "segm")
    ev = pycocotools_eval(gt, dt, "segm")
    r = evaluate_coco(gt, dt, iou_type="segm")
    assert_same(r, ev)
    assert {p.kind for p in r.problems.flagged} <= {"bbox_computed", "flagged_prediction", "bbox_outside_image"}
    g, d = write(tmp_path, gt, dt)
    project, _ = import_project(tmp_path / "p", labels=g, predictions=d)
    assert_same(evaluate_coco(project, iou_type="segm"), ev)
    assert_matcher_equals(Matcher.from_project(project, iou_type="segm"), ev, thresholds=(0.5, 0.75))


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("options", [
    {"use_cats": False},
    {"use_cats": False, "cat_ids": [8, 3, 7]},
    {"iou_thresholds": [0.3, 0.5, 0.62, 0.9], "max_dets": [1, 5, 50]},
    {"max_dets": [2, 20, 200], "area_ranges": {"all": (0, 1e10), "small": (0, 500), "big": (500, 1e10)}},
    {"use_cats": False, "iou_thresholds": [0.1, 0.75], "max_dets": [1, 10, 100, 300]},
])
def test_evaluation_params_equal_pycocotools(seed, options):
    gt, dt = variant(seed, "id_zero")
    ev = pycocotools_eval(gt, dt, "bbox", use_cats=options.get("use_cats", True), iou_thrs=options.get("iou_thresholds"),
                          max_dets=options.get("max_dets"), area_rng=options.get("area_ranges"),
                          cat_ids=options.get("cat_ids"))
    r = evaluate_coco(gt, dt, **options)
    assert_same(r, ev)
    area = r.per_class_area
    assert len(area) == r.precision.shape[2] * r.precision.shape[3]
    assert set(area["area"]) == set(r.params.area_labels)


def test_format_prints_minus_one_like_pycocotools():
    gt, dt = variant(0, "empty_gt")
    r = evaluate_coco(gt, dt)
    assert np.isnan(r.summary["coco/bbox_mAP"]) and r.stats[0] == -1
    assert r.format().splitlines()[0].endswith("maxDets=100 ] = -1.000")
    assert json.loads(json.dumps(r.to_dict()))["summary"]["coco/bbox_mAP"] is None


def test_empty_cases_are_normal_cases():
    """No labels / no labels of the selected classes / no predictions / an empty split / one class."""
    gt, dt = variant(0, "plain")
    for g, d in [(dict(gt, annotations=[]), dt), (gt, []), (dict(gt, annotations=[]), []),
                 (dict(gt, categories=[], annotations=[]), dt)]:
        m = Matcher.from_coco(g, d)
        res = m.match(0.5)
        for selection in ({}, {"classes": [3]} if g["categories"] else {}, {"image_ids": []}):
            s = detection_summary(res, **selection)
            assert np.isnan(s["mAP"]) or s["mAP"] == 0.0
            per_class_table(res, **selection)
            pr_curves(res, **selection)
            f1_by_confidence(res, **selection)
        detection_confusion_matrix(m, 0.5).normalized()
        r = evaluate_coco(g, d)
        r.per_class, r.per_class_area, r.matches, r.format()
    # no predictions but labels: pycocotools' 0 (not undefined)
    s = detection_summary(Matcher.from_coco(gt, []).match(0.5))
    assert s["mAP"] == 0.0 and s["mAR"] == 0.0


def test_id_zero_counts_as_unmatched_in_the_matcher():
    gt = {"images": [{"id": 1, "width": 50, "height": 50}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 0, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
                          {"id": 5, "image_id": 1, "category_id": 1, "bbox": [20, 20, 10, 10], "area": 100, "iscrowd": 0}]}
    dt = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
          {"image_id": 1, "category_id": 1, "bbox": [20, 20, 10, 10], "score": 0.8}]
    ev = pycocotools_eval(gt, dt, "bbox")
    res = Matcher.from_coco(gt, dt).match(0.5)
    p = res.predictions.set_index("pred_id")
    assert p["is_tp"].tolist() == [False, True] and p.loc[1, "label_id"] == 0  # it took label 0, as pycocotools
    assert res.labels.set_index("label_id")["detected"].tolist() == [False, True]
    assert detection_summary(res)["mAP"] == ev.stats[1]
    assert evaluate_coco(gt, dt).summary["coco/bbox_mAP_50"] == ev.stats[1]


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_accepted_records_pycocotools_accepts(iou_type):
    """Polygon with an empty part, segm result with ``bbox: []``, ``segmentation: []`` on a box label: kept,
    never an exception; numbers equal pycocotools' where it can evaluate them."""
    poly = [[5.0, 5.0, 25.0, 5.0, 25.0, 25.0, 5.0, 25.0]]
    gt = {"images": [{"id": 1, "width": 50, "height": 40}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20], "area": 400.0,
                           "iscrowd": 0, "segmentation": poly + [[]]}]}
    from pycocotools import mask as mask_utils

    rle = mask_utils.merge(mask_utils.frPyObjects(poly, 40, 50))
    rle["counts"] = rle["counts"].decode()
    dt = [{"image_id": 1, "category_id": 1, "segmentation": rle, "bbox": [], "score": 0.9}]
    if iou_type == "bbox":
        dt = [{"image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20], "score": 0.9}]
    ev = pycocotools_eval(gt, dt, iou_type)
    r = evaluate_coco(gt, dt, iou_type=iou_type)
    assert len(r.problems.skipped) == 0
    assert_same(r, ev)
    empty_mask = copy.deepcopy(gt)
    empty_mask["annotations"][0]["segmentation"] = []
    r = evaluate_coco(empty_mask, dt, iou_type=iou_type)  # pycocotools: IndexError under segm; here: its box
    assert r.summary[f"coco/{iou_type}_mAP_50"] == pytest.approx(1.0, abs=TOL)


def test_what_cannot_be_evaluated_is_named_never_raised():
    """Records pycocotools cannot evaluate (or crashes on) are named in the problems; the rest is evaluated."""
    gt = {"images": [{"id": 1, "width": 50, "height": 40}, {"id": 2}, {"id": 3, "width": 10**30, "height": 5}],
          "categories": [{"id": 1, "name": "a"}],
          "annotations": [
              {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20], "area": 400, "segmentation": []},
              {"id": 2, "image_id": 2, "category_id": 1, "bbox": [5, 5, 20, 20], "area": 400,
               "segmentation": [[5, 5, 25, 5, 25, 25]]},  # polygon on an image of unknown size
              {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "area": 4,
               "segmentation": [[0, 0, 1e12, 0, 5, 5]]}]}  # would crash pycocotools' rasteriser
    dt = [{"image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20], "score": 0.9},
          {"image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20], "score": float("nan")},
          {"image_id": 2, "category_id": 1, "bbox": [5, 5, 20, 20], "score": 0.5}]
    for iou_type in ("bbox", "segm"):
        r = evaluate_coco(gt, dt, iou_type=iou_type)
        kinds = {(p.record, p.kind) for p in r.problems.problems}
        assert ("results[1] (pred_id=2)", "bad_score") in kinds
        assert ("annotations[2] (id=3)", "bad_segmentation") in kinds  # mask dropped, kept as its box
        assert ("images[2] (id=3)", "bad_image") not in kinds and len(r._data.image_ids) == 3
        if iou_type == "segm":
            assert ("label_id=2", "unknown_size") in kinds and ("pred_id=3", "unknown_size") in kinds
        assert np.isfinite(r.summary[f"coco/{iou_type}_mAP_50"])
        Matcher.from_coco(gt, dt, iou_type=iou_type).match(0.5)
    mask_results = [{"image_id": 1, "category_id": 1, "segmentation": [], "score": 0.9}]
    r = evaluate_coco(gt, mask_results, iou_type="segm")
    assert [(p.record, p.kind) for p in r.problems.skipped if p.record.startswith("results")] == [
        ("results[0] (pred_id=1)", "bad_segmentation")]
