"""evaluate_classification against scikit-learn on randomised data (|diff| ≤ 1e-12), NaN rule, confusion views."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support, top_k_accuracy_score

from explorer import evaluate_classification
from explorer.errors import UserError
from explorer.evaluation.class_confusion import ClassConfusion

TOL = 1e-12


def _random_case(rng, n_classes, n_samples, *, ties=False):
    y_true = rng.integers(0, n_classes, n_samples)
    # mostly right, some wrong, and some classes never predicted / never true
    y_pred = np.where(rng.random(n_samples) < 0.6, y_true, rng.integers(0, n_classes, n_samples))
    scores = rng.random((n_samples, n_classes))
    if ties:
        scores = np.round(scores * 3) / 3  # many exact ties
    return y_true, y_pred, scores


@pytest.mark.parametrize("seed", range(12))
def test_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(3, 12))
    y_true, y_pred, scores = _random_case(rng, n_classes, int(rng.integers(5, 400)), ties=seed % 3 == 0)
    labels = np.arange(n_classes)  # includes classes absent from both arrays (NaN rule exercised)
    result = evaluate_classification(y_true, y_pred, scores=scores, labels=labels)
    s = result.summary

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, sup = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=np.nan)
        macro = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=np.nan)
        weighted = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=np.nan)
        topk = [top_k_accuracy_score(y_true, scores, k=k, labels=labels) for k in range(1, 6)]

    assert s["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=TOL)
    for mine, ref in [(s["macro_precision"], macro[0]), (s["macro_recall"], macro[1]), (s["macro_f1"], macro[2]),
                      (s["weighted_f1"], weighted[2])]:
        assert (np.isnan(mine) and np.isnan(ref)) or abs(mine - ref) <= TOL
    np.testing.assert_allclose(result.per_class["precision"], p, atol=TOL, equal_nan=True)
    np.testing.assert_allclose(result.per_class["recall"], r, atol=TOL, equal_nan=True)
    np.testing.assert_allclose(result.per_class["f1"], f, atol=TOL, equal_nan=True)
    np.testing.assert_array_equal(result.per_class["support"], sup)
    for k in range(1, 6):
        assert abs(s[f"top_{k}_accuracy"] - topk[k - 1]) <= TOL
    np.testing.assert_array_equal(result.confusion.counts, confusion_matrix(y_true, y_pred, labels=labels))


def test_string_labels_default_to_sorted_union():
    result = evaluate_classification(["cat", "dog", "dog", "eel"], ["cat", "dog", "cat", "fox"])
    assert list(result.per_class.index) == ["cat", "dog", "eel", "fox"]
    p, r, f, _ = precision_recall_fscore_support(["cat", "dog", "dog", "eel"], ["cat", "dog", "cat", "fox"], zero_division=np.nan)
    np.testing.assert_allclose(result.per_class["f1"], f, equal_nan=True)
    # eel is never predicted: precision undefined (NaN), recall 0; fox never true: recall NaN, precision 0
    assert np.isnan(result.per_class.loc["eel", "precision"]) and result.per_class.loc["eel", "recall"] == 0
    assert np.isnan(result.per_class.loc["fox", "recall"]) and result.per_class.loc["fox", "precision"] == 0
    assert "top_1_accuracy" not in result.summary


def test_unknown_label_and_bad_scores_are_user_errors():
    with pytest.raises(UserError, match=r"y_pred\[1\] = 'z' is not one of the labels"):
        evaluate_classification(["a", "b"], ["a", "z"], labels=["a", "b"])
    with pytest.raises(UserError, match="scores must have shape"):
        evaluate_classification([0, 1], [0, 1], scores=np.zeros((2, 3)), labels=[0, 1])
    with pytest.raises(UserError, match=r"scores\[1\] contains NaN"):
        evaluate_classification([0, 1], [0, 1], scores=[[0.1, 0.9], [np.nan, 1]], labels=[0, 1])


def test_confusion_ordering_and_top_k_folding():
    counts = np.array([[5, 0, 0, 1],
                       [3, 9, 0, 0],
                       [0, 0, 1, 0],
                       [0, 4, 0, 2]])
    cm = ClassConfusion(counts, ("a", "b", "c", "d"))
    # support (row sums): a 6, b 12, c 1, d 6 -> b, a, d, c (stable: a before d)
    assert list(cm.arranged(by="most_common").names) == ["b", "a", "d", "c"]
    # errors involving each class (row + column off-diagonal): a 1+3=4, b 3+4=7, c 0, d 4+1=5
    assert list(cm.arranged(by="most_confused").names) == ["b", "d", "a", "c"]
    folded = cm.arranged(by="most_confused", top_k=2)
    assert folded.names == ("b", "d", "other")
    np.testing.assert_array_equal(folded.counts, [[9, 0, 3], [4, 2, 0], [0, 1, 6]])
    assert folded.counts.sum() == counts.sum()
    norm = ClassConfusion(np.array([[1, 3], [0, 0]]), ("x", "y")).normalized()
    assert norm.loc["x", "y"] == 0.75 and norm.loc["y"].isna().all()
