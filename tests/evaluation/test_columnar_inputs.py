"""The columnar reading of COCO inputs equals the record model's, record for record and problem for problem.

``inputs.from_coco(..., columnar=True)`` (the default) reads well-formed sections straight into arrays and hands
anything unusual to the record model (``columnar=False`` reads everything with it): both must give the same
arrays, segmentations, names, kept counts and problems, in the same order, on clean inputs, flagged inputs
(boxes beyond the image, scores outside [0, 1]: kept and named) and on every kind of unusual record.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.evaluation import inputs
from random_coco import random_coco

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_eval import generate  # noqa: E402  (the benchmark's set: boxes beyond their image are flagged)


def _same(a: inputs.EvalData, b: inputs.EvalData) -> None:
    for name in ("image_ids", "heights", "widths", "category_ids", "label_id_counts"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), name
    assert a.category_names == b.category_names and a.source == b.source
    for which in ("labels", "predictions"):
        p, q = getattr(a, which), getattr(b, which)
        for name in ("ids", "image_id", "category_id", "box", "area", "iscrowd", "score"):
            x, y = getattr(p, name), getattr(q, name)
            assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y, equal_nan=True), (which, name)
        assert p.segm == q.segm, which
    assert a.problems.problems == b.problems.problems
    assert a.problems.kept == b.problems.kept


def _both(gt, dt, *, columnar_gt: bool, columnar_dt: bool | None):
    """Read both ways; assert which sections the columnar path took itself (so the test compares something;
    ``columnar_dt`` None: either)."""
    fast = inputs.from_coco(copy.deepcopy(gt), copy.deepcopy(dt), iou_type="bbox")
    slow = inputs.from_coco(copy.deepcopy(gt), copy.deepcopy(dt), iou_type="bbox", columnar=False)
    _same(fast, slow)
    took_gt = inputs._columnar_ground_truth(copy.deepcopy(gt), "ground truth") is not None
    assert took_gt == columnar_gt
    data = inputs._records_ground_truth(copy.deepcopy(gt), "ground truth")
    took_dt = inputs._columnar_results(list(copy.deepcopy(dt)), "predictions", data) is not None
    assert columnar_dt is None or took_dt == columnar_dt
    return fast


@pytest.mark.parametrize("seed", range(6))
def test_random_sets_read_the_same_both_ways(seed):
    gt, dt = random_coco(seed, iou_type="bbox")
    _both(gt, dt, columnar_gt=True, columnar_dt=True)
    gt, dt = random_coco(seed, iou_type="segm")  # polygon + RLE labels; RLE results with a box (columnar) or not
    _both(gt, dt, columnar_gt=True, columnar_dt=None)
    _both(gt, [{k: v for k, v in r.items() if k != "bbox"} for r in dt], columnar_gt=True, columnar_dt=False)


def test_flagged_records_are_named_the_same_way():
    gt, dt = generate(100, seed=3)  # background boxes cross their image's border: hundreds flagged, capped at 100
    gt["annotations"][5]["bbox"] = [10_000, 10_000, 5, 5]  # a label outside its image: flagged, kept
    dt[0]["score"], dt[1]["score"] = 1.5, float("inf")  # kept, flagged
    dt[2]["segmentation"] = [[1, 1, 9, 1, 9, 9]]  # a usable mask in box results: kept
    data = _both(gt, dt, columnar_gt=True, columnar_dt=True)
    kinds = [p.kind for p in data.problems.problems]
    assert kinds.count("bbox_outside_image") == 1 and kinds.count("flagged_prediction") == 2 + 101  # 2 scores; 100 boxes + a count
    assert "— and" in data.problems.problems[-1].message  # the cap's summary line
    assert data.problems.problems[1].record == "results[0] (pred_id=1)"
    assert data.predictions.segm[2] == [[1, 1, 9, 1, 9, 9]] and data.predictions.segm[3] is None


POLYGON_CASES = {  # one label's polygon, in a column of polygons (the benchmark's segm set)
    "clean": (lambda seg: seg, True),
    "two parts": (lambda seg: [seg[0], seg[0][:6]], True),
    "an empty part": (lambda seg: [seg[0], []], False),  # kept without it: the record model's rule decides
    "no polygon": (lambda seg: [], False),  # no mask
    "odd length": (lambda seg: [seg[0][:7]], False),
    "five coordinates": (lambda seg: [seg[0][:5]], False),
    "beyond 1e7": (lambda seg: [[2e7, *seg[0][1:]]], False),
    "nan": (lambda seg: [[float("nan"), *seg[0][1:]]], False),
    "a string": (lambda seg: [["1", *seg[0][1:]]], False),
    "a tuple": (lambda seg: [tuple(seg[0])], False),
    "an RLE among polygons": (lambda seg: {"size": [600, 600], "counts": [360000]}, False),
}


@pytest.mark.parametrize("case", sorted(POLYGON_CASES))
def test_polygon_columns_read_the_same_both_ways(case):
    change, columnar = POLYGON_CASES[case]
    gt, dt = generate(30, seed=4, segm=True)
    for img in gt["images"]:
        img["width"] = img["height"] = 600  # (the RLE case's size)
    gt["annotations"][3]["segmentation"] = change(gt["annotations"][3]["segmentation"])
    fast = inputs.from_coco(copy.deepcopy(gt), copy.deepcopy(dt), iou_type="segm")
    _same(fast, inputs.from_coco(copy.deepcopy(gt), copy.deepcopy(dt), iou_type="segm", columnar=False))
    took = inputs._clean_polygons(_polygons := [a.get("segmentation") for a in gt["annotations"]])
    assert took == columnar, _polygons[3]
    assert inputs._clean_polygons([r["segmentation"] for r in dt])


UNUSUAL_GT = {
    "bool iscrowd": lambda g: g["annotations"][0].update(iscrowd=True),
    "iscrowd 2": lambda g: g["annotations"][0].update(iscrowd=2),
    "missing area": lambda g: g["annotations"][0].pop("area"),
    "negative area": lambda g: g["annotations"][0].update(area=-1.0),
    "integral float id": lambda g: g["annotations"][0].update(id=float(g["annotations"][0]["id"])),
    "duplicate label id": lambda g: g["annotations"][1].update(id=g["annotations"][0]["id"]),
    "unknown image": lambda g: g["annotations"][0].update(image_id=-5),
    "unknown category": lambda g: g["annotations"][0].update(category_id=9999),
    "nan box": lambda g: g["annotations"][0].update(bbox=[1, 2, float("nan"), 4]),
    "short box": lambda g: g["annotations"][0].update(bbox=[1, 2, 3]),
    "missing box": lambda g: g["annotations"][0].pop("bbox"),
    "odd polygon": lambda g: g["annotations"][0].update(segmentation=[[1, 2, 3, 4, 5]]),
    "image without width": lambda g: g["images"][0].pop("width"),
    "duplicate image id": lambda g: g["images"][1].update(id=g["images"][0]["id"]),
    "empty category name": lambda g: g["categories"][0].update(name=""),
    "a record that is not an object": lambda g: g["annotations"].append([1, 2]),
    "id beyond int64": lambda g: g["annotations"][0].update(id=2**63),
}


@pytest.mark.parametrize("case", sorted(UNUSUAL_GT))
def test_unusual_ground_truth_goes_to_the_record_model(case):
    gt, dt = random_coco(1, iou_type="bbox")
    UNUSUAL_GT[case](gt)
    _both(gt, dt, columnar_gt=False, columnar_dt=None)


UNUSUAL_DT = {
    "nan score": lambda d: d[0].update(score=float("nan")),
    "bool score": lambda d: d[0].update(score=True),
    "missing score": lambda d: d[0].pop("score"),
    "unknown image": lambda d: d[0].update(image_id=-5),
    "category by name": lambda d: (d[0].pop("category_id"), d[0].update(category_name="x")),
    "negative width": lambda d: d[0].update(bbox=[1, 2, -3, 4]),
    "string in box": lambda d: d[0].update(bbox=[1, 2, "3", 4]),
    "bad mask": lambda d: d[0].update(segmentation={"size": [1, 1], "counts": "zz"}),
    "not an object": lambda d: d.append("x"),
}


@pytest.mark.parametrize("case", sorted(UNUSUAL_DT))
def test_unusual_results_go_to_the_record_model(case):
    gt, dt = random_coco(2, iou_type="bbox")
    UNUSUAL_DT[case](dt)
    _both(gt, dt, columnar_gt=True, columnar_dt=False)


def test_empty_sections_and_files(tmp_path):
    gt, dt = random_coco(0, iou_type="bbox")
    _both({**gt, "annotations": []}, [], columnar_gt=True, columnar_dt=True)
    _both({k: v for k, v in gt.items() if k != "annotations"}, dt, columnar_gt=True, columnar_dt=True)
    g, d = tmp_path / "gt.json", tmp_path / "dt.json"
    g.write_text(json.dumps(gt))
    d.write_text(json.dumps(dt))
    _same(inputs.from_coco(str(g), str(d), iou_type="bbox"),
          inputs.from_coco(str(g), str(d), iou_type="bbox", columnar=False))


def test_a_key_given_twice_in_a_file_goes_to_the_record_model(tmp_path):
    gt, dt = random_coco(0, iou_type="bbox")
    text = json.dumps(gt)
    g = tmp_path / "gt.json"
    g.write_text(text.replace('"iscrowd": 0', '"iscrowd": 0, "iscrowd": 1', 1))
    fast = inputs.from_coco(str(g), dt, iou_type="bbox")
    _same(fast, inputs.from_coco(str(g), dt, iou_type="bbox", columnar=False))
    assert any(p.kind == "duplicate_key" for p in fast.problems.problems)


def test_the_size_limit_is_the_record_models():
    from explorer.io import records

    assert inputs._MAX_SIDE == records.MAX_SIDE


def test_image_rows_by_table_and_by_search():
    compact, sparse = np.array([5, 3, 9, 100]), np.array([1, 2**62, -(2**63)])
    assert inputs._rows_of(np.array([9, 5, 100, 3, 9]), compact).tolist() == [2, 0, 3, 1, 2]
    assert inputs._rows_of(np.array([-(2**63), 2**62]), sparse).tolist() == [2, 1]
    for keys in (compact, sparse):
        for missing in (4, 101, 2, 2**63 - 1, -(2**63) + 1):
            assert inputs._rows_of(np.array([missing], np.int64), keys) is None
    assert inputs._rows_of(np.array([1]), np.zeros(0, np.int64)) is None
    assert inputs._rows_of(np.zeros(0, np.int64), compact).tolist() == []
