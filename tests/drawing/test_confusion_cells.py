"""Confusion-matrix cell membership on the hand-checkable ``tiny_project``, against the engine's matrix."""
from __future__ import annotations

import numpy as np

from explorer.evaluation.confusion_cells import BACKGROUND, cell_counts, cell_members, fold
from explorer.evaluation import Matcher, detection_confusion_matrix


def test_every_record_in_one_cell(tiny_project):
    matcher = Matcher.from_project(tiny_project)
    members = cell_members(matcher, 0.5).sort_values(["record", "id"], ascending=[False, True])
    # 100 matches cat label 10; cat 101 pairs with dog label 11 (IoU 0.81), dog 102 with cat label 12 (IoU 1);
    # cat 103 overlaps nothing; dog label 13 (image 3) is missed
    assert members[["record", "id", "true", "predicted"]].values.tolist() == [
        ["prediction", 100, "cat", "cat"], ["prediction", 101, "dog", "cat"], ["prediction", 102, "cat", "dog"],
        ["prediction", 103, BACKGROUND, "cat"],
        ["label", 11, "dog", "cat"], ["label", 12, "cat", "dog"], ["label", 13, "dog", BACKGROUND]]
    counts = cell_counts(members, ["cat", "dog", BACKGROUND])
    assert counts.values.tolist() == [[1, 1, 0], [1, 0, 1], [1, 0, 0]]
    engine = detection_confusion_matrix(matcher, 0.5).matrix
    np.testing.assert_array_equal(counts.to_numpy(), engine.loc[counts.index, counts.columns].to_numpy())


def test_high_threshold_and_folding(tiny_project):
    matcher = Matcher.from_project(tiny_project)
    members = cell_members(matcher, 0.9)  # 101 no longer pairs with label 11 (IoU 0.81 < 0.9)
    counts = cell_counts(members, ["cat", "dog", BACKGROUND])
    engine = detection_confusion_matrix(matcher, 0.9).matrix
    np.testing.assert_array_equal(counts.to_numpy(), engine.loc[counts.index, counts.columns].to_numpy())
    assert counts.loc[BACKGROUND, "cat"] == 2 and counts.loc["dog", BACKGROUND] == 2
    folded = cell_counts(fold(members, ["dog"]), ["dog", "other", BACKGROUND])
    assert int(folded.to_numpy().sum()) == int(counts.to_numpy().sum())
    assert folded.values.tolist() == [[0, 0, 2], [1, 1, 0], [0, 2, 0]]


def test_class_filter(tiny_project):
    matcher = Matcher.from_project(tiny_project)
    counts = cell_counts(cell_members(matcher, 0.5, classes=[2]), ["dog", BACKGROUND])
    engine = detection_confusion_matrix(matcher, 0.5, classes=[2]).matrix
    np.testing.assert_array_equal(counts.to_numpy(), engine.loc[counts.index, counts.columns].to_numpy())


def test_folded_members_count_the_engines_folded_matrix(tiny_project):
    # the page folds the members by the engine's arranged class order: both must give the same cells
    matcher = Matcher.from_project(tiny_project)
    for iou in (0.5, 0.9):
        engine = detection_confusion_matrix(matcher, iou)
        members = cell_members(matcher, iou)
        for by in ("most_common", "most_confused"):
            # cat and dog tie on every key at both thresholds (row total 2, the same cross-class confusions,
            # three errors with background each): the tie rule keeps the class order, cat first
            assert list(engine.order(by).matrix.index) == ["cat", "dog", BACKGROUND]
            arranged = engine.order(by, top_k=1)
            order = list(arranged.matrix.index)
            assert order == ["cat", "other", BACKGROUND]
            counts = cell_counts(fold(members, order[:1]), order)
            np.testing.assert_array_equal(counts.to_numpy(), arranged.matrix.to_numpy())


def test_confusion_cells_are_the_cell_members(tiny_project):
    from explorer.evaluation import Matcher
    from explorer.evaluation.confusion import confusion_assignment, confusion_cells
    from explorer.evaluation.confusion_cells import BACKGROUND, OTHER, cell_members, fold

    matcher = Matcher.from_project(tiny_project)
    for t, classes in ((0.5, None), (0.9, None), (0.5, [2])):
        cells = confusion_cells(matcher, confusion_assignment(matcher, t, classes=classes))
        members = cell_members(matcher, t, classes=classes)
        names = np.array(cells.names, object)
        assert [["prediction" if p else "label", i, tr, pr, c] for p, i, tr, pr, c in
                zip(cells.is_pred, cells.id, names[cells.true], names[cells.predicted], cells.counted)] == \
            members[["record", "id", "true", "predicted", "counted"]].values.tolist()
        np.testing.assert_array_equal(cells.counts, detection_confusion_matrix(matcher, t, classes=classes).matrix)
    # a folded cell ("other" rows) selects the rows fold() puts there
    cells = confusion_cells(matcher, confusion_assignment(matcher, 0.9))
    shown = np.array([n if n in ("dog", BACKGROUND) else OTHER for n in cells.names], object)
    folded = fold(cell_members(matcher, 0.9), ["dog"])
    for cell in ((OTHER, BACKGROUND), (BACKGROUND, OTHER), ("dog", BACKGROUND), (OTHER, "dog")):
        want = folded[(folded["true"] == cell[0]) & (folded["predicted"] == cell[1])]["id"].tolist()
        assert cells.id[cells.in_cell(shown, shown, cell)].tolist() == want
