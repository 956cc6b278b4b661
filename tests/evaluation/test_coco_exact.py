"""``evaluate_coco`` equals pycocotools 2.0.11 to 1e-12: reference fixtures and randomised tricky datasets."""
from __future__ import annotations

import json

import numpy as np
import pytest

from explorer.evaluation import evaluate_coco, summary_keys
from random_coco import random_coco, run_pycocotools

TOL = 1e-12


def _cases(testdata):
    return json.loads((testdata / "coco_reference" / "EXPECTED.json").read_text())


@pytest.mark.parametrize("case", ["cocoapi_val2014_100/bbox", "cocoapi_val2014_100/segm", "rafaelpadilla_sampled/bbox",
                                  "tiny_segm/bbox", "tiny_segm/segm"])
def test_reference_fixtures(testdata, case):
    e = _cases(testdata)[case]
    root = testdata / "coco_reference"
    r = evaluate_coco(root / e["gt"], root / e["predictions"], iou_type=e["iou_type"])
    assert list(r.summary) == summary_keys(e["iou_type"])
    for (key, value), stat in zip(r.summary.items(), r.stats):
        assert abs(stat - e[key]) <= TOL, (key, stat, e[key])
        assert (np.isnan(value) and e[key] == -1) or value == stat  # NaN where pycocotools prints -1
    assert len(r.problems) == 0


def test_reference_fixture_per_class_equals_pycocotools_precision(testdata):
    root = testdata / "coco_reference" / "cocoapi_val2014_100"
    gt = json.loads((root / "gt.json").read_text())
    dt = json.loads((root / "dt_bbox.json").read_text())
    ev = run_pycocotools(gt, dt, iou_type="bbox")
    r = evaluate_coco(gt, dt, iou_type="bbox")
    np.testing.assert_array_equal(r.precision, ev.eval["precision"])
    np.testing.assert_array_equal(r.recall, ev.eval["recall"])
    p = ev.eval["precision"][:, :, :, 0, 2]
    for k, row in r.per_class.iterrows():
        s = p[:, :, k]
        expected = np.mean(s[s > -1]) if (s > -1).any() else np.nan
        assert row["ap"] == pytest.approx(expected, abs=TOL, nan_ok=True)


def _compare(gt, dt, iou_type, **sel):
    ev = run_pycocotools(gt, dt, iou_type=iou_type, cat_ids=sel.get("cat_ids"), img_ids=sel.get("image_ids"))
    r = evaluate_coco(gt, dt, iou_type=iou_type, **sel)
    np.testing.assert_allclose(r.stats, ev.stats, rtol=0, atol=TOL)
    got = np.array(list(r.summary.values()))
    np.testing.assert_array_equal(got, np.where(ev.stats == -1, np.nan, r.stats))
    np.testing.assert_array_equal(r.precision, ev.eval["precision"])
    return r


@pytest.mark.parametrize("seed", range(30))
def test_random_bbox(seed):
    gt, dt = random_coco(seed, iou_type="bbox")
    _compare(gt, dt, "bbox")


@pytest.mark.parametrize("seed", range(12))
def test_random_segm(seed):
    gt, dt = random_coco(seed, iou_type="segm")
    _compare(gt, dt, "segm")


@pytest.mark.parametrize("seed", range(4))
def test_random_selection_of_classes_and_images(seed):
    gt, dt = random_coco(100 + seed, iou_type="bbox")
    img_ids = [im["id"] for im in gt["images"]][::2]
    r = _compare(gt, dt, "bbox", cat_ids=[3, 8, 42], image_ids=img_ids)
    assert r.per_class["category_id"].tolist() == [3, 8, 42]


def test_helper_really_contains_the_tricky_cases():
    gt, dt = random_coco(0, iou_type="bbox")
    anns = gt["annotations"]
    assert any(a["iscrowd"] for a in anns)
    assert any(a["bbox"][2] == 0 for a in anns)  # zero-size box
    assert any(a["area"] in (32**2, 96**2) for a in anns)  # areas exactly on the range bounds
    assert any(a["area"] != a["bbox"][2] * a["bbox"][3] for a in anns)
    per_group = {}
    for r in dt:
        per_group[(r["image_id"], r["category_id"])] = per_group.get((r["image_id"], r["category_id"]), 0) + 1
    assert max(per_group.values()) > 100
    scores = [r["score"] for r in dt]
    assert len(set(scores)) < len(scores)  # ties
    assert not any(a["category_id"] == 42 for a in anns) and any(r["category_id"] == 42 for r in dt)


def test_label_with_id_zero_behaves_like_pycocotools():
    """pycocotools stores matches as label ids, so a match to label id 0 reads as unmatched: mirrored."""
    gt, dt = random_coco(5, iou_type="bbox")
    gt["annotations"][0]["id"] = 0
    _compare(gt, dt, "bbox")
