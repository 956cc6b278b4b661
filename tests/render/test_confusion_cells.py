"""Confusion-matrix cell membership on the hand-checkable match of ``tiny_match``."""
from __future__ import annotations

from explorer.confusion_cells import BACKGROUND, cell_counts, cell_members, confused_labels, fold

NAMES = {1: "cat", 2: "dog"}


def test_every_record_in_one_cell(tiny_project, tiny_match):
    preds, labels = tiny_match
    members = cell_members(preds, labels, names=NAMES, label_boxes=tiny_project.labels, pred_boxes=tiny_project.predictions)
    assert members.values.tolist() == [
        ["prediction", 100, "cat", "cat"],  # TP
        ["prediction", 101, "dog", "cat"],  # cat prediction on dog label 11: wrong class
        ["prediction", 102, "cat", "dog"],  # dog prediction on cat label 12: wrong class
        ["prediction", 103, BACKGROUND, "cat"],  # overlaps nothing
        ["label", 11, "dog", BACKGROUND], ["label", 12, "cat", BACKGROUND], ["label", 13, "dog", BACKGROUND]]
    counts = cell_counts(members, ["cat", "dog", BACKGROUND])
    assert counts.values.tolist() == [[1, 1, 1], [1, 0, 2], [1, 0, 0]]
    assert int(counts.to_numpy().sum()) == len(members)


def test_folding_keeps_every_record(tiny_project, tiny_match):
    preds, labels = tiny_match
    members = fold(cell_members(preds, labels, names=NAMES, label_boxes=tiny_project.labels, pred_boxes=tiny_project.predictions), ["dog"])
    counts = cell_counts(members, ["dog", "other", BACKGROUND])
    assert counts.values.tolist() == [[0, 1, 2], [1, 1, 1], [0, 1, 0]]


def test_ignored_records_are_in_no_cell(tiny_project, tiny_match):
    preds, labels = tiny_match
    members = cell_members(preds.assign(ignored=[True, False, False, False]), labels, names=NAMES,
                           label_boxes=tiny_project.labels, pred_boxes=tiny_project.predictions)
    assert 100 not in members.loc[members["record"] == "prediction", "id"].tolist()


def test_confused_label_is_the_best_other_class_overlap(tiny_project):
    found = confused_labels([101, 102, 103, 100], label_boxes=tiny_project.labels, pred_boxes=tiny_project.predictions)
    assert found[["pred_id", "label_id"]].values.tolist() == [[101, 11], [102, 12]]
    assert found["iou"].tolist() == [324 / 400, 1.0]
