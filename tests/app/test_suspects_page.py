"""The Suspected label errors page on the detection sample: the queue shown is the engine's, the filters narrow
it, "mAP if these were fixed" is ``map_if_fixed`` of the rows shown, and the gallery draws them.

Every script run gets a generous timeout: the page's first run matches the project and compiles the numba kernels
when their on-disk cache is cold (another process edited a kernel file), which under heavy load took longer than
AppTest's usual limit — a timeout is not a failure of the page."""
from __future__ import annotations

import pytest

from explorer.analysis.suspects import map_if_fixed, suspects
from explorer.project.folder import Project
from explorer.project.selection import Selection

from .apptest import open_page

RUN_TIMEOUT = 900  # seconds per script run


def queue_frame(at):
    (frame,) = [d.value for d in at.dataframe if "reason" in d.value.columns]
    return frame


def test_suspects_page_shows_the_queue_and_the_fix(detection_project, monkeypatch):
    at = open_page(monkeypatch, detection_project, "suspects.py", timeout=RUN_TIMEOUT)
    assert [t.value for t in at.title] == ["Suspected label errors"]
    project = Project.load(detection_project)
    sel = Selection(iou_threshold=0.5, run=project.run)
    expected = suspects(project, sel)
    frame = queue_frame(at)
    assert len(frame) == len(expected)
    assert frame["score"].tolist() == pytest.approx(expected["score"].tolist())
    assert frame["label_id"].astype("Int64").tolist() == expected["label_id"].tolist()

    (reasons,) = [m for m in at.multiselect if m.label == "Reasons"]
    reasons.set_value(["wrong_class"]).run(timeout=RUN_TIMEOUT)
    assert not at.exception
    frame = queue_frame(at)
    wrong = expected[expected["reason_code"] == "wrong_class"]
    assert frame["pred_id"].astype("Int64").tolist() == wrong["pred_id"].tolist()

    (fix,) = [b for b in at.button if b.label == "Compute mAP if fixed"]
    fix.click().run(timeout=RUN_TIMEOUT)
    assert not at.exception
    (shown,) = [m for m in at.metric if m.label == "mAP if these were fixed"]
    numbers = map_if_fixed(project, sel, wrong.head(50))
    assert shown.value == f"{numbers['map_fixed']:.4f}"
    assert numbers["map_fixed"] > numbers["map"]  # taking the detections' classes helps this model
    assert [b for b in at.button if b.label == "Open in Failure Explorer"]
    assert [b for b in at.button if b.label == "View"]  # the gallery drew the suspects' images

    # the sidebar narrows the classes and widens them again: the page's class filter follows its options
    all_classes = sorted(int(c) for c in expected["category_id"].unique())
    first = project.category_names[all_classes[0]]
    at.multiselect(key="classes").set_value([first]).run(timeout=RUN_TIMEOUT)
    (label_classes,) = [m for m in at.multiselect if m.label == "Label classes"]
    assert label_classes.value == [all_classes[0]]
    at.multiselect(key="classes").set_value([]).run(timeout=RUN_TIMEOUT)
    (label_classes,) = [m for m in at.multiselect if m.label == "Label classes"]
    assert label_classes.value == all_classes
