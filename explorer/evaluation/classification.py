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


@dataclass(frozen=True)
class ClassificationEvaluation:
    """Result of ``evaluate_classification``.

    ``summary``: dict ``accuracy, macro_precision, macro_recall, macro_f1, weighted_f1, n_samples`` and, when
    scores are given, ``top_1_accuracy`` … ``top_5_accuracy``.
    ``per_class``: DataFrame indexed by class label with ``precision, recall, f1, support, n_predicted``.
    ``confusion``: ``ClassConfusion`` (counts ``(n_classes, n_classes)``, rows true, columns predicted).
    """

    summary: dict
    per_class: pd.DataFrame
    confusion: ClassConfusion
    labels: tuple

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


def evaluate_classification(y_true, y_pred, *, scores=None, labels=None) -> ClassificationEvaluation:
    """Evaluate single-label classification.

    Parameters: ``y_true``, ``y_pred`` array-like ``(n_samples,)`` of class labels (any hashable, comparable
    type); ``scores`` optional float ``(n_samples, n_classes)`` with columns ordered as ``labels``; ``labels``
    optional sequence of the classes (default: sorted union of ``y_true`` and ``y_pred``; required with
    ``scores`` unless the score columns are exactly that union). Every ``y_true``/``y_pred`` value must be one of
    ``labels``. Formulas (per class c): precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2TP/(2TP+FP+FN),
    support = TP+FN; accuracy = mean(y_true == y_pred). Undefined values follow the module's NaN rule.
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

    summary = {
        "accuracy": float(np.mean(true_index == pred_index)),
        "macro_precision": _nan_mean(precision),
        "macro_recall": _nan_mean(recall),
        "macro_f1": _nan_mean(f1),
        "weighted_f1": _nan_mean(f1, support.astype(np.float64)),
        "n_samples": int(len(y_true)),
    }
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(y_true), n_classes):
            raise UserError(f"scores must have shape ({len(y_true)}, {n_classes}) (samples × labels), but got {scores.shape}")
        if np.isnan(scores).any():
            row = int(np.flatnonzero(np.isnan(scores).any(axis=1))[0])
            raise UserError(f"scores[{row}] contains NaN")
        for k in TOP_K:
            summary[f"top_{k}_accuracy"] = float(np.mean(top_k_hits(true_index, scores, k)))

    per_class = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support, "n_predicted": n_predicted},
        index=pd.Index(labels, name="class"),
    )
    names = tuple(str(x) for x in labels)
    return ClassificationEvaluation(summary, per_class, ClassConfusion(counts, names), tuple(labels.tolist()))


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


def _select(project, *, image_ids=None, classes=None, confidence_threshold: float = 0.0) -> pd.DataFrame:
    """Rows of ``classification_table`` in the selection: images in ``image_ids``, true class in ``classes``.

    Adds ``predicted``: the image has a prediction whose score is not below ``confidence_threshold``
    (a prediction without a score is always kept: there is nothing to threshold).
    """
    table = classification_table(project)
    keep = np.ones(len(table), dtype=bool)
    if image_ids is not None:
        keep &= table["image_id"].isin(np.asarray(image_ids)).to_numpy()
    if classes is not None:
        keep &= table["true_id"].isin(np.asarray(classes)).to_numpy()
    table = table.loc[keep].reset_index(drop=True)
    below = table["score"].to_numpy(np.float64) < confidence_threshold  # NaN < c is False: kept
    table["predicted"] = (table["pred_id"].to_numpy() >= 0) & ~below
    return table


def outcomes(project, *, image_ids=None, classes=None, confidence_threshold: float = 0.0) -> pd.DataFrame:
    """Per-image outcome for metric importance and performance by metric.

    Returns DataFrame ``image_id, true_id, pred_id, score, correct`` (bool), one row per labelled image in the
    selection that has a prediction at or above ``confidence_threshold``.
    """
    table = _select(project, image_ids=image_ids, classes=classes, confidence_threshold=confidence_threshold)
    table = table.loc[table["predicted"]].reset_index(drop=True)
    table["correct"] = table["true_id"].to_numpy() == table["pred_id"].to_numpy()
    return table[["image_id", "true_id", "pred_id", "score", "correct"]]


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

    ``evaluation.per_class`` is indexed by category id and has a ``name`` column; ``n_images`` labelled images
    were selected, ``n_unpredicted`` of them have no prediction (or one below the confidence threshold) and are
    not in the evaluation.
    """

    evaluation: ClassificationEvaluation | None
    n_images: int
    n_unpredicted: int

    @property
    def summary(self) -> dict:
        return {} if self.evaluation is None else self.evaluation.summary


def evaluate_project(project, *, image_ids=None, classes=None, confidence_threshold: float = 0.0) -> ProjectClassification:
    """Evaluate a classification project on a selection (split images, true classes, confidence threshold).

    The confusion matrix and per-class table cover every category (a prediction into an unselected class is
    still an error). When ``classes`` is a strict subset, the macro means are over the selected classes only —
    scikit-learn's ``precision_recall_fscore_support(..., labels=selected)``; accuracy and top-k are over the
    selected images.
    """
    table = _select(project, image_ids=image_ids, classes=classes, confidence_threshold=confidence_threshold)
    used = table.loc[table["predicted"]]
    n_unpredicted = int((~table["predicted"]).sum())
    if len(used) == 0:
        return ProjectClassification(None, len(table), n_unpredicted)
    category_ids = project.categories["category_id"].to_numpy(np.int64)
    scores = _score_matrix(project, used["image_id"].to_numpy(), category_ids)
    evaluation = evaluate_classification(used["true_id"].to_numpy(), used["pred_id"].to_numpy(),
                                         scores=scores, labels=category_ids)
    names = project.category_names
    per_class = evaluation.per_class.copy()
    per_class.index.name = "category_id"
    per_class.insert(0, "name", [names[int(c)] for c in per_class.index])
    summary = dict(evaluation.summary)
    if classes is not None and set(np.asarray(classes).tolist()) != set(category_ids.tolist()):
        subset = per_class.loc[per_class.index.isin(np.asarray(classes))]
        summary["macro_precision"] = _nan_mean(subset["precision"].to_numpy())
        summary["macro_recall"] = _nan_mean(subset["recall"].to_numpy())
        summary["macro_f1"] = _nan_mean(subset["f1"].to_numpy())
        summary["weighted_f1"] = _nan_mean(subset["f1"].to_numpy(), subset["support"].to_numpy(np.float64))
    confusion = ClassConfusion(evaluation.confusion.counts, tuple(names[int(c)] for c in category_ids))
    evaluation = ClassificationEvaluation(summary, per_class, confusion, evaluation.labels)
    return ProjectClassification(evaluation, len(table), n_unpredicted)
