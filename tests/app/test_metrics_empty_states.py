"""The Metrics page explains its empty cases instead of showing bare numbers: a class with predictions but no
labels, and a confidence threshold that leaves no prediction."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from explorer.io import import_project

from .apptest import open_page

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from random_coco import random_coco  # noqa: E402


def _project(tmp_path):
    gt, dt = random_coco(5, iou_type="bbox")  # category 42 has predictions but no label
    for im in gt["images"]:
        im["file_name"] = f"{im['id']}.jpg"
    for d in dt:  # scores strictly below 1, so confidence 1.00 keeps nothing
        d["score"] = min(d["score"], 0.99)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    project, _ = import_project(tmp_path / "p", labels=tmp_path / "gt.json", predictions=tmp_path / "dt.json")
    return project


def test_class_without_labels_is_explained(tmp_path, monkeypatch, explorer_home):
    project = _project(tmp_path)
    at = open_page(monkeypatch, project.root, "model_metrics.py")
    name = project.category_names[42]
    at.multiselect(key="classes").set_value([name]).run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric if m.label.startswith("mAP @")] == ["—"]
    assert any("no labels of the selected classes" in i.value for i in at.info)


def test_confidence_that_keeps_nothing_is_explained(tmp_path, monkeypatch, explorer_home):
    project = _project(tmp_path)
    at = open_page(monkeypatch, project.root, "model_metrics.py")
    at.slider(key="confidence_threshold").set_value(1.0).run()
    assert not at.exception, at.exception
    assert any("No predictions are left at confidence ≥ 1.00" in i.value for i in at.info)
    # not "mAP 0.0000": the headline says there is nothing to score, and what to do
    shown = [m for m in at.metric if m.label.startswith("mAP @")]
    assert [m.value for m in shown] == ["—"] and shown[0].help == "no predictions at confidence ≥ 1.00"
    assert any("No predictions at confidence ≥ 1.00" in w.value and "lower the confidence threshold" in w.value
               for w in at.warning)
    # the best-F1 cards are undefined too (one rendering of undefined values), never "None" or "nan"
    cards = {m.label: m.value for m in at.metric}
    assert cards["Best F1 (pooled)"] == "—" and cards["Best-F1 threshold"] == "—"
    assert not any(v in ("None", "nan", "n/a") for v in cards.values())
