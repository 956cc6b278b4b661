"""Metrics page: choosing a Pascal VOC protocol shows the devkit's mAP next to the COCO summary."""
from __future__ import annotations

import pytest

from explorer.evaluation.voc import evaluate_voc_project
from explorer.project.folder import Project
from explorer.project.selection import Selection

from .apptest import open_page


@pytest.mark.parametrize("label, protocol", [("Pascal VOC2007 (11-point)", "voc07"),
                                             ("Pascal VOC2010+ (all-point)", "voc12")])
def test_voc_protocol_shows_the_devkit_map(monkeypatch, detection_project, label, protocol):
    at = open_page(monkeypatch, detection_project, "model_metrics.py")
    assert not any(m.label.endswith("mAP @ IoU 0.50") and "VOC" in m.label for m in at.metric)  # COCO only first
    at.radio(key="mq_protocol").set_value(label).run()
    assert not at.exception, at.exception
    expected = evaluate_voc_project(Project.load(detection_project), Selection(), protocol).mAP
    shown = [m for m in at.metric if "VOC" in m.label]
    assert len(shown) == 1 and shown[0].value == f"{expected:.4f}"
    assert repr(expected) in shown[0].help
    # the class filter applies: one class selected -> that class's AP
    names = list(Project.load(detection_project).category_names.items())
    at.multiselect(key="classes").set_value([names[0][1]]).run()
    one = evaluate_voc_project(Project.load(detection_project), Selection(classes=(names[0][0],)), protocol).mAP
    assert [m for m in at.metric if "VOC" in m.label][0].value == f"{one:.4f}"
