"""Classification evaluation: accuracy, per-class precision/recall/F1/support, macro and weighted means,
top-1 … top-5 accuracy and the confusion matrix — numbers equal to scikit-learn's.

Undefined values (one rule, the one of scikit-learn's ``zero_division=np.nan``):

* precision of a class nobody predicted = 0/0 → NaN; recall of a class with no samples = 0/0 → NaN;
  F1 = 2·TP / (2·TP + FP + FN) is NaN only when the class is absent from both truth and prediction.
* macro means are taken over the classes whose value is defined (NaN left out), weighted F1 weights each
  defined F1 by its support (when every weight is 0 the plain mean of the defined values is used, as
  scikit-learn does).

Top-k accuracy: a sample is a hit when its true class is among the k highest scores. Ties are broken towards the
later column (scikit-learn's ``top_k_accuracy_score`` rule: a stable ascending sort, reversed), so the rank of the
true class t is ``#{j: s_j > s_t} + #{j > t: s_j == s_t}`` and the sample is a hit when that rank is below k.

A class filter (``classes=S``, a subset of the labels) selects **the samples whose true class is in S** — never
the samples whose prediction is, so it can never hide or add a false positive to a class's own numbers:

* ``per_class`` and ``confusion`` are always over every sample and every label: a class's precision counts every
  prediction of the class, also on samples of unselected classes (equal to scikit-learn's per-class values on all
  samples, whatever S is);
* ``accuracy`` and ``top_k_accuracy`` are over the selected samples (true class in S; top-k still ranks among all
  labels) — scikit-learn's ``recall_score(..., labels=S, average="micro")`` and
  ``top_k_accuracy_score(y_true[m], scores[m], labels=labels)`` with ``m = isin(y_true, S)``; NaN when no
  sample is selected;
* macro precision/recall/F1 and weighted F1 average the per-class values of S —
  ``precision_recall_fscore_support(y_true, y_pred, labels=S, average="macro" | "weighted")`` on all samples;
* ``selected_confusion`` shows S first and folds the other classes into one ``other`` row and column; its S × S
  block is ``confusion_matrix(y_true, y_pred, labels=S)`` (the ``other`` row holds S's false positives on
  unselected classes).

Example::

    >>> r = evaluate_classification(["a", "b", "b"], ["a", "b", "a"])
    >>> r.summary["accuracy"], float(r.per_class.loc["a", "precision"])
    (0.6666666666666666, 0.5)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.errors import UserError
from explorer.evaluation.class_confusion import ClassConfusion, confusion_counts

TOP_K = (1, 2, 3, 4, 5)


def meaningful_top_k(n_classes: int) -> tuple[int, ...]:
    """The k of ``TOP_K`` below the number of classes: with k ≥ it every true class is among the k highest
    scores, so top-k accuracy is 1 by construction and is neither shown nor exported."""
    return tuple(k for k in TOP_K if k < n_classes)


@dataclass(frozen=True)
class ClassificationEvaluation:
    """Result of ``evaluate_classification``.

    ``summary``: dict ``accuracy, macro_precision, macro_recall, macro_f1, weighted_f1, n_samples, n_samples_all``
    and, when scores are given, ``top_1_accuracy`` … ``top_5_accuracy``. ``n_samples`` counts the selected samples
    (accuracy's and top-k's denominator), ``n_samples_all`` every sample (what ``per_class`` covers).
    ``per_class``: DataFrame indexed by class label with ``precision, recall, f1, support, n_predicted``, over
    every sample (a class filter does not change it).
    ``confusion``: ``ClassConfusion`` over every sample (counts ``(n_classes, n_classes)``, rows true, columns
    predicted).
    ``classes``: the selected labels (all labels when no filter was given).
    """

    summary: dict
    per_class: pd.DataFrame
    confusion: ClassConfusion
    labels: tuple
    classes: tuple = None

    def __post_init__(self):
        if self.classes is None:
            object.__setattr__(self, "classes", tuple(self.labels))

    @property
    def filtered(self) -> bool:
        """True when only some of the labels are selected."""
        return set(self.classes) != set(self.labels)

    def selected_confusion(self, *, by: str = "labels", top_k: int | None = None) -> ClassConfusion:
        """The confusion matrix of the selection (module docstring): the selected classes in ``by`` order (the
        ordering of ``ClassConfusion.order`` on the full matrix), the first ``top_k`` of them kept, every other
        class folded into one ``other`` row and column (every sample still counted once). Without a filter this is
        ``confusion.arranged(by=by, top_k=top_k)``."""
        position = {label: i for i, label in enumerate(self.labels)}
        selected = np.zeros(len(self.labels), dtype=bool)
        selected[[position[c] for c in self.classes]] = True
        order = self.confusion.order(by)
        # stable partition: the selected classes first, each group keeping the ``by`` order
        order = np.concatenate([order[selected[order]], order[~selected[order]]])
        n_selected = int(selected.sum())
        keep = n_selected if top_k is None else min(int(top_k), n_selected)
        first = ClassConfusion(self.confusion.counts[np.ix_(order, order)],
                               tuple(self.confusion.names[i] for i in order))
        return first.arranged(by="labels", top_k=keep)

    @property
    def confusion_matrix(self) -> pd.DataFrame:
        """Raw confusion counts (index true class, columns predicted class)."""
        return self.confusion.frame()


def _nan_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _nan_mean(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean of the defined (non-NaN) values, optionally weighted; NaN when none is defined."""
    defined = ~np.isnan(values)
    if not defined.any():
        return float("nan")
    if weights is None or weights[defined].sum() == 0:
        return float(np.mean(values[defined]))
    return float(np.average(values[defined], weights=weights[defined]))


def _encode(values: np.ndarray, labels: np.ndarray, what: str) -> np.ndarray:
    """Positions of ``values`` in ``labels``; ``UserError`` naming the first value not among the labels."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    pos = np.searchsorted(sorted_labels, values)
    pos = np.clip(pos, 0, len(labels) - 1)
    bad = sorted_labels[pos] != values
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise UserError(f"{what}[{first}] = {values[first].item()!r} is not one of the labels {labels.tolist()}")
    return order[pos]


def top_k_hits(true_index: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean ``(n_samples,)``: is the true class among the ``k`` highest scores (ties towards later columns).

    ``true_index``: int ``(n_samples,)`` column of the true class; ``scores``: float ``(n_samples, n_classes)``.
    """
    n, c = scores.shape
    true_score = scores[np.arange(n), true_index][:, None]
    later = np.arange(c)[None, :] > true_index[:, None]
    rank = (scores > true_score).sum(axis=1) + ((scores == true_score) & later).sum(axis=1)
    return rank < k


def evaluate_classification(y_true, y_pred, *, scores=None, labels=None, classes=None) -> ClassificationEvaluation:
    """Evaluate single-label classification.

    Parameters: ``y_true``, ``y_pred`` array-like ``(n_samples,)`` of class labels (any hashable, comparable
    type); ``scores`` optional float ``(n_samples, n_classes)`` with columns ordered as ``labels``; ``labels``
    optional sequence of the classes (default: sorted union of ``y_true`` and ``y_pred``; required with
    ``scores`` unless the score columns are exactly that union). Every ``y_true``/``y_pred`` value must be one of
    ``labels``. ``classes``: optional class filter, a subset of ``labels`` (module docstring: it selects the
    samples whose *true* class is in it; per-class numbers and the confusion matrix stay over every sample).
    Formulas (per class c): precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2TP/(2TP+FP+FN), support = TP+FN;
    accuracy = mean(y_true == y_pred) over the selected samples. Undefined values follow the module's NaN rule.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.shape != y_true.shape:
        raise UserError(f"y_true and y_pred must be 1-D and of equal length, but got shapes {y_true.shape} and {y_pred.shape}")
    if len(y_true) == 0:
        raise UserError("cannot evaluate classification on 0 samples")
    labels = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    if len(np.unique(labels)) != len(labels):
        raise UserError(f"labels must be unique, but got {list(labels)}")
    true_index = _encode(y_true, labels, "y_true")
    pred_index = _encode(y_pred, labels, "y_pred")
    n_classes = len(labels)

    counts = confusion_counts(true_index, pred_index, n_classes)
    tp = np.diag(counts).astype(np.float64)
    support = counts.sum(axis=1)
    n_predicted = counts.sum(axis=0)
    precision = _nan_divide(tp, n_predicted)
    recall = _nan_divide(tp, support)
    f1 = _nan_divide(2 * tp, support + n_predicted)

    if classes is None:
        chosen = np.ones(n_classes, dtype=bool)
    else:
        classes = np.asarray(classes).reshape(-1)
        chosen = np.zeros(n_classes, dtype=bool)
        chosen[_encode(classes, labels, "classes")] = True
    selected = chosen[true_index]  # (n_samples,): the sample's true class is selected
    n_selected = int(selected.sum())
    correct = true_index == pred_index
    summary = {
        # mean over no sample is undefined (NaN), like every other 0/0 here
        "accuracy": float(np.mean(correct[selected])) if n_selected else float("nan"),
        "macro_precision": _nan_mean(precision[chosen]),
        "macro_recall": _nan_mean(recall[chosen]),
        "macro_f1": _nan_mean(f1[chosen]),
        "weighted_f1": _nan_mean(f1[chosen], support[chosen].astype(np.float64)),
        "n_samples": n_selected,
        "n_samples_all": int(len(y_true)),
    }
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(y_true), n_classes):
            raise UserError(f"scores must have shape ({len(y_true)}, {n_classes}) (samples × labels), but got {scores.shape}")
        if np.isnan(scores).any():
            row = int(np.flatnonzero(np.isnan(scores).any(axis=1))[0])
            raise UserError(f"scores[{row}] contains NaN")
        for k in TOP_K:
            hits = top_k_hits(true_index[selected], scores[selected], k)
            summary[f"top_{k}_accuracy"] = float(np.mean(hits)) if n_selected else float("nan")

    per_class = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support, "n_predicted": n_predicted},
        index=pd.Index(labels, name="class"),
    )
    names = tuple(str(x) for x in labels)
    return ClassificationEvaluation(summary, per_class, ClassConfusion(counts, names), tuple(labels.tolist()),
                                    tuple(labels[chosen].tolist()))


# ---- a project's classification results ----------------------------------------------------------------------
SCORES_TABLE = "class_scores"  # extra table: image_id, category_id, score (one row per image and class)


def classification_table(project) -> pd.DataFrame:
    """One row per labelled image: ``image_id, split, true_id, pred_id, score``.

    ``pred_id`` is the predicted category id (-1 when the image has no prediction), ``score`` the prediction's
    score (NaN when the predictions carry none).
    """
    labels = project.labels[["image_id", "category_id"]].rename(columns={"category_id": "true_id"})
    preds = project.predictions[["image_id", "category_id", "score"]].rename(columns={"category_id": "pred_id"})
    table = labels.merge(preds, on="image_id", how="left")
    table = table.merge(project.images[["image_id", "split"]], on="image_id", how="left")
    table["pred_id"] = table["pred_id"].fillna(-1).astype(np.int64)
    return table[["image_id", "split", "true_id", "pred_id", "score"]]


def _select(project, *, image_ids=None, classes=None, confidence_threshold: float = 0.0,
            by: str = "true") -> pd.DataFrame:
    """Rows of ``classification_table`` in the selection: images in ``image_ids`` whose ``by`` class
    (``"true"``: the label, the class filter's rule; ``"predicted"``: the prediction) is in ``classes``.

    Adds ``predicted``: the image has a prediction whose score is not below ``confidence_threshold``
    (a prediction without a score is always kept: there is nothing to threshold).
    """
    table = classification_table(project)
    keep = np.ones(len(table), dtype=bool)
    if image_ids is not None:
        keep &= table["image_id"].isin(np.asarray(image_ids)).to_numpy()
    table = table.loc[keep].reset_index(drop=True)
    below = table["score"].to_numpy(np.float64) < confidence_threshold  # NaN < c is False: kept
    table["predicted"] = (table["pred_id"].to_numpy() >= 0) & ~below
    if classes is not None:
        column = {"true": "true_id", "predicted": "pred_id"}[by]
        # a prediction below the threshold is no prediction: it cannot put an image into a predicted class
        inside = table[column].isin(np.asarray(classes)).to_numpy()
        if by == "predicted":
            inside = inside & table["predicted"].to_numpy()
        table = table.loc[inside].reset_index(drop=True)
    return table


def outcomes(project, *, image_ids=None, classes=None, confidence_threshold: float = 0.0) -> pd.DataFrame:
    """Per-image outcome for metric importance and performance by metric.

    Returns DataFrame ``image_id, true_id, pred_id, score, correct`` (bool), one row per labelled image in the
    selection — images in ``image_ids`` whose *true* class is in ``classes`` — that has a prediction at or above
    ``confidence_threshold``.
    """
    table = _select(project, image_ids=image_ids, classes=classes, confidence_threshold=confidence_threshold)
    table = table.loc[table["predicted"]].reset_index(drop=True)
    table["correct"] = table["true_id"].to_numpy() == table["pred_id"].to_numpy()
    return table[["image_id", "true_id", "pred_id", "score", "correct"]]


def false_positives(project, *, image_ids=None, classes=None, confidence_threshold: float = 0.0) -> pd.DataFrame:
    """The images *predicted* as one of ``classes`` whose true class is another one — every false positive of
    the selected classes, also on images of unselected classes (which the class filter itself does not select).

    Returns DataFrame ``image_id, true_id, pred_id, score`` over the images in ``image_ids`` with a prediction at
    or above ``confidence_threshold``; ``len(rows with pred_id == K)`` is K's ``n_predicted − TP``.
    """
    table = _select(project, image_ids=image_ids, classes=classes, confidence_threshold=confidence_threshold,
                    by="predicted")
    wrong = table["true_id"].to_numpy() != table["pred_id"].to_numpy()
    return table.loc[wrong, ["image_id", "true_id", "pred_id", "score"]].reset_index(drop=True)


def _score_matrix(project, image_ids: np.ndarray, category_ids: np.ndarray) -> np.ndarray | None:
    """``(len(image_ids), len(category_ids))`` scores from the ``class_scores`` table, or None when any is missing."""
    scores = project.extra.get(SCORES_TABLE)
    if scores is None or len(scores) == 0 or len(image_ids) == 0:
        return None
    wide = scores.pivot_table(index="image_id", columns="category_id", values="score", aggfunc="first")
    wide = wide.reindex(index=image_ids, columns=category_ids)
    values = wide.to_numpy(np.float64)
    return None if np.isnan(values).any() else values


@dataclass(frozen=True)
class ProjectClassification:
    """``evaluate_project`` result: the evaluation plus what was left out of it.

    ``evaluation.per_class`` is indexed by category id and has a ``name`` column; it and ``evaluation.confusion``
    cover every image of ``image_ids`` with a prediction, whatever the class filter. ``n_images`` labelled images
    were selected (true class in the filter), ``n_unpredicted`` of them have no prediction (or one below the
    confidence threshold) and are not in the evaluation. ``evaluation`` is None when no image of ``image_ids``
    has a prediction.
    """

    evaluation: ClassificationEvaluation | None
    n_images: int
    n_unpredicted: int

    @property
    def summary(self) -> dict:
        return {} if self.evaluation is None else self.evaluation.summary


def evaluate_project(project, *, image_ids=None, classes=None, confidence_threshold: float = 0.0) -> ProjectClassification:
    """Evaluate a classification project on a selection (split images, class filter, confidence threshold).

    The rule of ``evaluate_classification(..., classes=...)`` applied to the images of ``image_ids`` with a
    prediction at or above ``confidence_threshold``: the class filter selects the images whose true class is in
    ``classes`` (accuracy, top-k); per-class precision/recall/F1 and the confusion matrix are over every image of
    ``image_ids`` (a prediction of K on an image of an unselected class is still a false positive of K); the macro
    and weighted means average the per-class values of ``classes``.
    """
    table = _select(project, image_ids=image_ids, confidence_threshold=confidence_threshold)
    category_ids = project.categories["category_id"].to_numpy(np.int64)
    chosen = category_ids if classes is None else np.asarray(classes, dtype=np.int64).reshape(-1)
    in_filter = table["true_id"].isin(chosen).to_numpy()
    n_images = int(in_filter.sum())
    n_unpredicted = int((in_filter & ~table["predicted"].to_numpy()).sum())
    used = table.loc[table["predicted"]]
    if len(used) == 0:
        return ProjectClassification(None, n_images, n_unpredicted)
    scores = _score_matrix(project, used["image_id"].to_numpy(), category_ids)
    evaluation = evaluate_classification(used["true_id"].to_numpy(), used["pred_id"].to_numpy(),
                                         scores=scores, labels=category_ids, classes=chosen)
    names = project.category_names
    per_class = evaluation.per_class.copy()
    per_class.index.name = "category_id"
    per_class.insert(0, "name", [names[int(c)] for c in per_class.index])
    confusion = ClassConfusion(evaluation.confusion.counts, tuple(names[int(c)] for c in category_ids))
    evaluation = ClassificationEvaluation(evaluation.summary, per_class, confusion, evaluation.labels,
                                          evaluation.classes)
    return ProjectClassification(evaluation, n_images, n_unpredicted)
