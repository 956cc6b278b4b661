"""The Metrics page's headline mAP at IoU 0.50 equals ``explorer evaluate``'s ``coco/bbox_mAP_50`` on the same
project — one with an annotation whose id is 0 (pycocotools' id-0 rule) and a class without labels."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from explorer.cli import main
from explorer.io import import_project

from .apptest import open_page

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from random_coco import random_coco, run_pycocotools  # noqa: E402


def _exact(at, name: str) -> float:
    (metric,) = [m for m in at.metric if m.label.startswith(name)]
    return float(metric.proto.help.rsplit("exact value ", 1)[1])


def test_headline_at_050_equals_explorer_evaluate(tmp_path, monkeypatch, explorer_home):
    gt, dt = random_coco(5, iou_type="bbox")  # category 42 has predictions but no label
    for im in gt["images"]:
        im["file_name"] = f"{im['id']}.jpg"
    gt["annotations"][0]["id"] = 0  # matched by a prediction; pycocotools reads that match as "unmatched"
    assert not any(a["category_id"] == 42 for a in gt["annotations"])
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    project, _ = import_project(tmp_path / "p", labels=tmp_path / "gt.json", predictions=tmp_path / "dt.json")
    assert 0 in project.labels["label_id"].tolist()

    out = tmp_path / "eval.json"
    assert main(["evaluate", str(tmp_path / "p"), "--json", str(out)]) == 0
    cli = json.loads(out.read_text())["summary"]["coco/bbox_mAP_50"]
    reference = run_pycocotools(gt, dt, iou_type="bbox").stats[1]
    assert abs(cli - reference) <= 1e-12

    at = open_page(monkeypatch, tmp_path / "p", "model_metrics.py")
    assert [m.label for m in at.metric if m.label.startswith("mAP")] == ["mAP @ IoU 0.50"]
    shown = _exact(at, "mAP")
    assert shown == cli
    assert np.isfinite(shown)
