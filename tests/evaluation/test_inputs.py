"""Bad records are skipped with file and record named; the valid ones give the same numbers as clean input."""
from __future__ import annotations

import copy

import pytest

from explorer.errors import UserError
from explorer.evaluation import evaluate_coco
from random_coco import random_coco


def test_dirty_input_keeps_valid_records():
    gt, dt = random_coco(3, iou_type="bbox")
    clean = evaluate_coco(gt, dt).summary
    dirty_gt, dirty_dt = copy.deepcopy(gt), copy.deepcopy(dt)
    dirty_gt["annotations"].append({"id": 999, "image_id": 12345, "category_id": 3, "bbox": [0, 0, 1, 1], "area": 1})
    dirty_gt["annotations"].append({"id": 1000, "image_id": gt["images"][0]["id"], "category_id": 3,
                                    "bbox": [0, 0, float("nan"), 1], "area": 1})
    dirty_dt.append({"image_id": gt["images"][0]["id"], "category_id": 3, "bbox": [0, 0, 4, 4], "score": float("nan")})
    r = evaluate_coco(dirty_gt, dirty_dt)
    messages = [str(p) for p in r.problems.problems]
    assert any("annotations[" in m and "(id=999)" in m and "unknown image_id 12345" in m for m in messages)
    assert any("(id=1000)" in m and "bbox [0, 0, nan, 1] must be 4 finite numbers" in m for m in messages)
    assert any(f"results[{len(dt)}] (pred_id={len(dt) + 1}): score must be a finite number" in m for m in messages)
    assert r.summary == clean


def test_unknown_prediction_category_is_reported_not_dropped():
    gt, dt = random_coco(4, iou_type="bbox")
    dt = dt + [{"image_id": gt["images"][0]["id"], "category_id": 777, "bbox": [0, 0, 4, 4], "score": 0.5}]
    r = evaluate_coco(gt, dt)
    assert any(p.kind == "unknown_category" and "777" in p.record for p in r.problems.problems)
    assert evaluate_coco(gt, dt, cat_ids=[777]).per_class["category_id"].tolist() == [777]


def test_wrong_shapes_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="needs 'images' and 'categories'"):
        evaluate_coco({"annotations": []}, [])
    with pytest.raises(UserError, match="must be a list"):
        evaluate_coco({"images": [], "categories": []}, {"foo": 1})
    with pytest.raises(UserError, match="iou_type"):
        evaluate_coco({"images": [], "categories": []}, [], iou_type="keypoints")
