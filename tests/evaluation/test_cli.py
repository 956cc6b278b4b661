"""``explorer evaluate``: pycocotools' layout on stdout, the 12 named numbers in JSON, clear errors."""
from __future__ import annotations

import json

from explorer.cli import main


def test_evaluate_prints_and_writes_json(testdata, tmp_path, capsys):
    root = testdata / "coco_reference"
    expected = json.loads((root / "EXPECTED.json").read_text())["cocoapi_val2014_100/bbox"]
    out = tmp_path / "eval.json"
    code = main(["evaluate", str(root / "cocoapi_val2014_100/gt.json"), str(root / "cocoapi_val2014_100/dt_bbox.json"),
                 "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505" in text
    assert " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.564" in text
    data = json.loads(out.read_text())
    for key, value in data["summary"].items():
        assert abs(value - expected[key]) <= 1e-12
    assert len(data["summary"]) == 12
    assert {"category_id", "name", "ap", "ap_50", "ap_75", "ar_100", "n_labels"} <= set(data["per_class"][0])


def test_bad_prediction_record_is_named_and_skipped(tmp_path, capsys):
    gt = {"images": [{"id": 1, "width": 10, "height": 10}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": 0}]}
    dt = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9},
          {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5], "score": 0.8},
          {"image_id": 7, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.8}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    assert main(["evaluate", str(tmp_path / "gt.json"), str(tmp_path / "dt.json")]) == 0
    text = capsys.readouterr().out
    assert "dt.json: results[1] (pred_id=2): bbox must be a list of 4 numbers [x, y, width, height], got [0, 0, 5]" in text
    assert "dt.json: results[2]: unknown image_id 7 (not among the images)" in text
    assert "maxDets=100 ] = 1.000" in text  # the valid prediction was kept and matched


def test_missing_and_invalid_files_are_user_errors(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.json"), str(tmp_path / "dt.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "gt.json").write_text("{not json")
    assert main(["evaluate", str(tmp_path / "gt.json"), str(tmp_path / "gt.json")]) == 2
    assert "gt.json: malformed JSON at line 1, column 2" in capsys.readouterr().err


def test_evaluation_options_on_the_command_line(tmp_path, capsys):
    """--iou-thresholds / --max-dets / --area-range / --class-agnostic equal evaluate_coco with the same params."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from random_coco import random_coco

    from explorer.evaluation import evaluate_coco

    gt, dt = random_coco(4, iou_type="bbox")
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    out = tmp_path / "e.json"
    assert main(["evaluate", str(tmp_path / "gt.json"), str(tmp_path / "dt.json"), "--iou-thresholds", "0.3,0.5",
                 "--max-dets", "1,5,100", "--area-range", "all=0:1e10", "--area-range", "small=0:1024",
                 "--class-agnostic", "--json", str(out)]) == 0
    expected = evaluate_coco(gt, dt, iou_thresholds=[0.3, 0.5], max_dets=[1, 5, 100],
                             area_ranges={"all": (0, 1e10), "small": (0, 1024)}, use_cats=False)
    data = json.loads(out.read_text())
    assert data["stats"] == expected.stats.tolist()
    assert data["params"] == {"iou_thresholds": [0.3, 0.5], "max_dets": [1, 5, 100],
                              "area_ranges": {"all": [0.0, 1e10], "small": [0.0, 1024.0]}, "use_cats": False}
    assert "IoU=0.30:0.50" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "gt.json"), str(tmp_path / "dt.json"), "--max-dets", "a"]) == 2
