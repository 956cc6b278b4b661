"""The one confusion-matrix implementation: the same ordering, tie rule, folding and normalising for
classification/segmentation (``ClassConfusion``) and detection (``ConfusionMatrix``: background row/column)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.evaluation import Matcher, detection_confusion_matrix
from explorer.evaluation.class_confusion import ClassConfusion, confusion_counts
from explorer.evaluation.classification import evaluate_classification
from explorer.evaluation.confusion import ConfusionMatrix


def _boxes(ids, image_ids, cats, xs, **extra):
    n = len(image_ids)
    return pd.DataFrame({**ids, "image_id": image_ids, "category_id": cats, "x": np.asarray(xs, float),
                         "y": [0.0] * n, "w": [10.0] * n, "h": [10.0] * n, "area": [100.0] * n,
                         "segmentation": [None] * n, **extra})


def test_confusion_counts_is_a_bincount_of_pairs():
    np.testing.assert_array_equal(confusion_counts([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3),
                                  [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_ties_keep_the_class_order_in_every_ordering():
    # every class has support 2 and 2 confusions with other classes: all orderings tie, and keep the given order
    counts = np.array([[1, 1, 0],
                       [0, 1, 1],
                       [1, 0, 1]])
    cm = ClassConfusion(counts, ("zebra", "mole", "ant"))
    for by in ("labels", "most_common", "most_confused"):
        assert cm.arranged(by=by).names == ("zebra", "mole", "ant")
    # the same counts as a detection matrix (empty background row/column) order the same way: not by name
    det = ClassConfusion(np.pad(counts, ((0, 1), (0, 1))), ("zebra", "mole", "ant", "background"), background=True)
    for by in ("labels", "most_common", "most_confused"):
        assert det.arranged(by=by).names == ("zebra", "mole", "ant", "background")


def test_most_confused_breaks_ties_by_errors_with_background():
    # rows zebra, mole, ant, background; no class is confused with another class (the block is diagonal), so
    # most_confused ties at 0 and falls back to errors including background: ant 3+1, zebra 0+2, mole 0
    counts = np.array([[5, 0, 0, 2],
                       [0, 9, 0, 0],
                       [0, 0, 1, 3],
                       [0, 0, 1, 0]])
    det = ClassConfusion(counts, ("zebra", "mole", "ant", "background"), background=True)
    assert det.arranged(by="most_confused").names == ("ant", "zebra", "mole", "background")
    # most_common: the row total includes the missed labels (background column): zebra 7, mole 9, ant 4
    assert det.arranged(by="most_common").names == ("mole", "zebra", "ant", "background")
    folded = det.arranged(by="most_common", top_k=1)
    assert folded.names == ("mole", "other", "background")
    np.testing.assert_array_equal(folded.counts, [[9, 0, 0], [0, 6, 5], [0, 1, 0]])
    # without background the second key equals the first: plain class order decides
    cls = ClassConfusion(counts[:3, :3], ("zebra", "mole", "ant"))
    assert cls.arranged(by="most_confused").names == ("zebra", "mole", "ant")


def test_folding_and_normalising_are_the_same_for_both_kinds():
    counts = np.array([[5, 0, 0, 1],
                       [3, 9, 0, 0],
                       [0, 0, 1, 0],
                       [0, 4, 0, 2]])
    cls = ClassConfusion(counts, ("a", "b", "c", "d"))
    det = ClassConfusion(np.pad(counts, ((0, 1), (0, 1))), ("a", "b", "c", "d", "background"), background=True)
    for by in ("labels", "most_common", "most_confused"):
        for k in (None, 1, 2, 3, 4, 9):
            c, d = cls.arranged(by=by, top_k=k), det.arranged(by=by, top_k=k)
            assert d.names == (*c.names, "background")
            np.testing.assert_array_equal(d.counts[:-1, :-1], c.counts)
            assert d.counts.sum() == c.counts.sum() == counts.sum()
    assert cls.arranged(by="most_confused", top_k=2).names == ("b", "d", "other")
    norm = ClassConfusion(np.array([[1, 3, 0], [0, 0, 0], [2, 0, 2]]), ("x", "y", "background"),
                          background=True).normalized()
    assert norm.loc["x"].tolist() == [0.25, 0.75, 0.0] and norm.loc["y"].isna().all()
    assert norm.loc["background"].tolist() == [0.5, 0.0, 0.5]
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        cls.arranged(top_k=0)
    with pytest.raises(ValueError, match="ordering must be one of"):
        cls.order("alphabetical")


def test_detection_and_classification_order_tied_classes_alike():
    # categories in id order: zebra (1), ant (2). Detection: one TP each, plus one missed label each (tie on
    # support 2 and on errors 1); the old detection rule sorted ties by name (ant first), now class order rules.
    labels = _boxes({"label_id": [1, 2, 3, 4]}, [1, 1, 2, 2], [1, 1, 2, 2], [0, 50, 0, 50], iscrowd=[False] * 4)
    preds = _boxes({"pred_id": [1, 2]}, [1, 2], [1, 2], [0, 0], score=[0.9, 0.8])
    categories = pd.DataFrame({"category_id": [1, 2], "name": ["zebra", "ant"], "supercategory": None})
    det = detection_confusion_matrix(Matcher(labels, preds, categories=categories), 0.5)
    assert det.matrix.values.tolist() == [[1, 0, 1], [0, 1, 1], [0, 0, 0]]
    cls = evaluate_classification(["zebra", "zebra", "ant", "ant"], ["zebra", "ant", "ant", "zebra"],
                                  labels=["zebra", "ant"]).confusion
    for by in ("most_common", "most_confused"):
        assert list(det.order(by).matrix.index) == ["zebra", "ant", "background"]
        assert cls.arranged(by=by).names == ("zebra", "ant")
    one = det.order("most_confused", top_k=1)
    assert isinstance(one, ConfusionMatrix) and one.iou_threshold == 0.5
    assert one.matrix.values.tolist() == [[1, 0, 1], [0, 1, 1], [0, 0, 0]]
    assert list(one.matrix.index) == ["zebra", "other", "background"]
