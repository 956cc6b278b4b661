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


# ---- the class filter: selects the samples whose TRUE class is selected; per-class numbers never change ---------
def _sklearn_filtered(y_true, y_pred, scores, labels, chosen):
    """scikit-learn's numbers for a class filter ``chosen`` (the rule in explorer.evaluation.classification)."""
    from sklearn.metrics import recall_score

    m = np.isin(y_true, chosen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "per_class": precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=np.nan),
            "macro": precision_recall_fscore_support(y_true, y_pred, labels=chosen, average="macro", zero_division=np.nan),
            "weighted": precision_recall_fscore_support(y_true, y_pred, labels=chosen, average="weighted",
                                                        zero_division=np.nan),
            "accuracy": recall_score(y_true, y_pred, labels=chosen, average="micro", zero_division=np.nan),
            "accuracy_on_selected": accuracy_score(y_true[m], y_pred[m]) if m.any() else np.nan,
            "top_k": [top_k_accuracy_score(y_true[m], scores[m], k=k, labels=labels) if m.any() else np.nan
                      for k in range(1, 6)],
            "confusion": confusion_matrix(y_true, y_pred, labels=labels),
            "confusion_selected": confusion_matrix(y_true, y_pred, labels=chosen),
            "n_selected": int(m.sum()),
        }


def _same(mine, ref):
    return (np.isnan(mine) and np.isnan(ref)) or abs(mine - ref) <= TOL


@pytest.mark.parametrize("seed", range(16))
def test_class_filter_matches_sklearn_with_labels(seed):
    rng = np.random.default_rng(100 + seed)
    n_classes = int(rng.integers(3, 10))
    y_true, y_pred, scores = _random_case(rng, n_classes, int(rng.integers(5, 300)), ties=seed % 4 == 0)
    # a lot of predictions into one class: many false positives for it
    y_pred = np.where(rng.random(len(y_pred)) < 0.2, 0, y_pred)
    labels = np.arange(n_classes)
    chosen = np.sort(rng.choice(labels, size=int(rng.integers(1, n_classes)), replace=False))
    if seed % 5 == 0:
        chosen = np.array([0])  # the class with the false positives alone
    result = evaluate_classification(y_true, y_pred, scores=scores, labels=labels, classes=chosen)
    ref = _sklearn_filtered(y_true, y_pred, scores, labels, chosen)
    s = result.summary

    p, r, f, sup = ref["per_class"]  # whole data, every class: the filter changes none of them
    np.testing.assert_allclose(result.per_class["precision"], p, atol=TOL, equal_nan=True)
    np.testing.assert_allclose(result.per_class["recall"], r, atol=TOL, equal_nan=True)
    np.testing.assert_allclose(result.per_class["f1"], f, atol=TOL, equal_nan=True)
    np.testing.assert_array_equal(result.per_class["support"], sup)
    assert _same(s["accuracy"], ref["accuracy"]) and _same(s["accuracy"], ref["accuracy_on_selected"])
    for mine, theirs in [(s["macro_precision"], ref["macro"][0]), (s["macro_recall"], ref["macro"][1]),
                         (s["macro_f1"], ref["macro"][2]), (s["weighted_f1"], ref["weighted"][2])]:
        assert _same(mine, theirs), (mine, theirs)
    for k in range(1, 6):
        assert _same(s[f"top_{k}_accuracy"], ref["top_k"][k - 1])
    assert s["n_samples"] == ref["n_selected"] and s["n_samples_all"] == len(y_true)
    assert result.classes == tuple(chosen.tolist()) and result.filtered

    np.testing.assert_array_equal(result.confusion.counts, ref["confusion"])
    view = result.selected_confusion()
    k = len(chosen)
    assert view.names == tuple(str(c) for c in chosen) + ("other",)
    np.testing.assert_array_equal(view.counts[:k, :k], ref["confusion_selected"])
    # the "other" row holds the selected classes' false positives on unselected classes
    unselected = ~np.isin(y_true, chosen)
    np.testing.assert_array_equal(view.counts[k, :k], [np.sum(unselected & (y_pred == c)) for c in chosen])
    assert view.counts.sum() == len(y_true)


def test_one_class_selected_keeps_its_false_positives():
    # class 2 is predicted 5 times, 3 of them on images of other classes: precision 2 / 5 whatever the filter
    y_true = np.array([2, 2, 2, 0, 0, 1, 1, 1])
    y_pred = np.array([2, 2, 0, 2, 0, 2, 2, 1])
    alone = evaluate_classification(y_true, y_pred, labels=[0, 1, 2], classes=[2])
    everything = evaluate_classification(y_true, y_pred, labels=[0, 1, 2])
    assert alone.per_class.loc[2, "precision"] == 2 / 5 == everything.per_class.loc[2, "precision"]
    assert alone.summary["macro_precision"] == 2 / 5  # the mean over the selection {2} is 2's own precision
    assert alone.summary["accuracy"] == 2 / 3 and alone.summary["n_samples"] == 3
    assert alone.per_class.equals(everything.per_class)
    np.testing.assert_array_equal(alone.confusion.counts, everything.confusion.counts)
    view = alone.selected_confusion()
    assert view.names == ("2", "other")
    np.testing.assert_array_equal(view.counts, [[2, 1], [3, 2]])
    assert not everything.filtered and everything.classes == (0, 1, 2)


def test_filter_with_no_sample_of_the_class_still_shows_its_false_positives():
    # class "c" has no image but is predicted once: accuracy over no sample is undefined, precision is 0
    result = evaluate_classification(["a", "b", "a"], ["a", "c", "a"], labels=["a", "b", "c"], classes=["c"],
                                     scores=[[0.9, 0.05, 0.05], [0.2, 0.3, 0.5], [0.8, 0.1, 0.1]])
    s = result.summary
    assert np.isnan(s["accuracy"]) and np.isnan(s["top_1_accuracy"]) and s["n_samples"] == 0
    assert s["macro_precision"] == 0.0 and np.isnan(s["macro_recall"])
    assert result.per_class.loc["c", "n_predicted"] == 1
    with pytest.raises(UserError, match=r"classes\[0\] = 'zebra' is not one of the labels"):
        evaluate_classification(["a"], ["a"], classes=["zebra"])


def test_selected_confusion_orders_and_folds_within_the_selection():
    counts = np.array([[5, 0, 0, 1],
                       [3, 9, 0, 0],
                       [0, 0, 1, 0],
                       [0, 4, 0, 2]])
    # expand the counts into samples so the evaluation builds exactly this matrix
    t, p = np.nonzero(counts)
    y_true = np.repeat(t, counts[t, p])
    y_pred = np.repeat(p, counts[t, p])
    result = evaluate_classification(y_true, y_pred, labels=[0, 1, 2, 3], classes=[0, 2, 3])
    # most confused over the full matrix: 1 (7), 3 (5), 0 (4), 2 (0); the selected ones keep that order
    view = result.selected_confusion(by="most_confused")
    assert view.names == ("3", "0", "2", "other")
    np.testing.assert_array_equal(view.counts, [[2, 0, 0, 4], [1, 5, 0, 0], [0, 0, 1, 0], [0, 3, 0, 9]])
    top = result.selected_confusion(by="most_confused", top_k=1)
    assert top.names == ("3", "other")
    np.testing.assert_array_equal(top.counts, [[2, 4], [1, 18]])
    # without a filter it is ClassConfusion.arranged
    full = evaluate_classification(y_true, y_pred, labels=[0, 1, 2, 3]).selected_confusion(by="most_common", top_k=2)
    arranged = result.confusion.arranged(by="most_common", top_k=2)
    assert full.names == arranged.names == ("1", "0", "other")
    np.testing.assert_array_equal(full.counts, arranged.counts)


def _imported(tmp_path, truth, pred, score, split):
    """A classification project imported from CSV files (labels, predictions with a score, splits)."""
    from explorer.io.classification import import_project

    names = [f"c{i}" for i in range(int(max(truth.max(), pred.max())) + 1)]
    (tmp_path / "labels.csv").write_text("image,label\n" + "".join(f"i{k},{names[t]}\n" for k, t in enumerate(truth)))
    (tmp_path / "preds.csv").write_text("image,prediction,score\n" + "".join(
        f"i{k},{names[t]},{float(s)!r}\n" for k, (t, s) in enumerate(zip(pred, score))))
    (tmp_path / "splits.csv").write_text("file_name,split\n" + "".join(f"i{k},{s}\n" for k, s in enumerate(split)))
    project, _ = import_project(tmp_path / "p", labels=tmp_path / "labels.csv", predictions=tmp_path / "preds.csv",
                                splits=tmp_path / "splits.csv")
    return project


def test_project_class_filter_keeps_every_prediction_of_the_class(tmp_path):
    from explorer.evaluation import classification

    rng = np.random.default_rng(7)
    n = 200
    truth = rng.integers(0, 5, n)
    pred = np.where(rng.random(n) < 0.5, truth, rng.integers(0, 5, n))
    pred = np.where(rng.random(n) < 0.25, 4, pred)  # class 4: many false positives
    score = np.round(rng.random(n), 3)
    split = np.where(rng.random(n) < 0.5, "train", "val")
    project = _imported(tmp_path, truth, pred, score, split)
    ids = project.images.set_index("file_name")["image_id"]
    val_ids = project.images.loc[project.images["split"] == "val", "image_id"]
    threshold = 0.2
    evaluated = (split == "val") & (score >= threshold)  # below the threshold: no prediction
    names = project.category_names
    cat = {names[c]: c for c in names}
    category = np.array([cat[f"c{t}"] for t in range(5)])
    t_ids, p_ids = category[truth], category[pred]
    for chosen in ([4], [1, 4], [0, 2]):
        chosen_ids = category[chosen]
        result = classification.evaluate_project(project, image_ids=val_ids, classes=chosen_ids,
                                                 confidence_threshold=threshold)
        ref = _sklearn_filtered(t_ids[evaluated], p_ids[evaluated], np.zeros((evaluated.sum(), 5)), category,
                                chosen_ids)
        per_class = result.evaluation.per_class
        np.testing.assert_allclose(per_class["precision"].to_numpy(), ref["per_class"][0], atol=TOL, equal_nan=True)
        np.testing.assert_allclose(per_class["recall"].to_numpy(), ref["per_class"][1], atol=TOL, equal_nan=True)
        assert _same(result.summary["macro_precision"], ref["macro"][0])
        assert _same(result.summary["macro_f1"], ref["macro"][2])
        assert _same(result.summary["accuracy"], ref["accuracy"])
        in_filter = (split == "val") & np.isin(truth, chosen)
        assert result.n_images == in_filter.sum()
        assert result.n_unpredicted == (in_filter & (score < threshold)).sum()
        assert result.summary["n_samples"] == (in_filter & evaluated).sum()
        # the false positives of the selected classes, on images of any class
        fp = classification.false_positives(project, image_ids=val_ids, classes=chosen_ids,
                                            confidence_threshold=threshold)
        expect = evaluated & np.isin(pred, chosen) & (truth != pred)
        assert sorted(fp["image_id"]) == sorted(ids[[f"i{k}" for k in np.flatnonzero(expect)]])
        for c in chosen_ids:
            row = per_class.loc[c]
            assert (fp["pred_id"] == c).sum() == row["n_predicted"] - round(row["precision"] * row["n_predicted"])
        # the misclassified images: true class selected, wrong prediction
        out = classification.outcomes(project, image_ids=val_ids, classes=chosen_ids, confidence_threshold=threshold)
        assert len(out) == (in_filter & evaluated).sum()
        assert (~out["correct"]).sum() == (in_filter & evaluated & (truth != pred)).sum()
    # class 4 alone: its precision is far from the 1.0 the old filter showed
    alone = classification.evaluate_project(project, classes=[category[4]])
    assert alone.evaluation.per_class.loc[category[4], "precision"] < 0.6
