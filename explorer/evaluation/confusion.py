"""Detection confusion matrix with a background row and column.

Rows are the true class of a label, plus ``background`` (a prediction that matched no label); columns are the
predicted class, plus ``background`` (a label no prediction matched). At IoU threshold t and confidence c:

1. the class-aware matching of ``Matcher.match(t, confidence_threshold=c)`` puts every TP on the diagonal;
2. then a second greedy pass, per image: the remaining false positives in descending score order (ties: input
   order) each take the still-unmatched, non-crowd label *of another class* with the highest IoU >= t (ties:
   the first label); each label is taken once. Such a pair counts in (true class, predicted class);
3. FPs left over count in (background, predicted class); labels left over in (true class, background).

Ignored predictions (matched to a crowd, beyond the 100 per image-class) and crowd labels are not counted.
With a class filter only labels and predictions of those classes take part.

Counting, ordering (``most_common`` / ``most_confused`` and their tie rule), row-normalising and top-K folding
are the shared ``ClassConfusion`` of ``explorer.evaluation.class_confusion`` with ``background=True``: this
module only adds the background row/column and the two-pass assignment.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.evaluation import kernels
from explorer.evaluation.class_confusion import BACKGROUND, OTHER, ClassConfusion, confusion_counts
from explorer.evaluation.matcher import Matcher
from explorer.evaluation.tables import resolve_classes

__all__ = ["BACKGROUND", "OTHER", "ConfusionMatrix", "ConfusionAssignment", "ConfusionCells", "confusion_assignment",
           "confusion_cells", "detection_confusion_matrix"]


class ConfusionMatrix:
    """The detection matrix at one (IoU, confidence) pair: ``confusion`` is the shared ``ClassConfusion`` with
    ``background=True`` (its ordering, folding and normalising rules: ``explorer.evaluation.class_confusion``).

    ``matrix``: raw counts (DataFrame, index = true class names + "background", columns = predicted class names
    + "background"); ``normalized()`` divides each row by its sum (NaN for an empty row);
    ``order("most_confused" | "most_common" | "labels", top_k=None)`` reorders the classes and folds all but the
    first ``top_k`` into "other" (background stays last).
    """

    def __init__(self, confusion: ClassConfusion, *, iou_threshold: float, confidence_threshold: float):
        if not confusion.background:
            raise ValueError("a detection confusion matrix has a background row and column")
        self.confusion = confusion
        self.iou_threshold = iou_threshold
        self.confidence_threshold = confidence_threshold

    @property
    def matrix(self) -> pd.DataFrame:
        return self.confusion.frame().rename_axis(index=None, columns=None)

    @property
    def classes(self) -> list[str]:
        return list(self.confusion.classes)

    def normalized(self) -> pd.DataFrame:
        """Row-normalised matrix: share of each true class's outcomes; NaN where the row is empty."""
        return self.confusion.normalized().rename_axis(index=None, columns=None)

    def order(self, by: str = "most_confused", *, top_k: int | None = None) -> "ConfusionMatrix":
        """The matrix in ``by`` order, the first ``top_k`` classes kept and the rest folded into "other"."""
        return ConfusionMatrix(self.confusion.arranged(by=by, top_k=top_k), iou_threshold=self.iou_threshold,
                               confidence_threshold=self.confidence_threshold)


@dataclass(frozen=True)
class ConfusionAssignment:
    """Where every record lands in the confusion matrix at (t, c), as masks over the Matcher's layout rows.

    ``tp`` (dt rows, diagonal), ``crossed`` (dt rows paired with ``cross[row]``, a gt row of another class),
    ``background_dt`` (false detections left over: background row), ``background_gt`` (labels left over:
    background column). ``cats`` are the selected category ids and ``names`` their matrix labels.
    """

    cats: np.ndarray
    names: dict[int, str]
    tp: np.ndarray
    crossed: np.ndarray
    cross: np.ndarray
    background_dt: np.ndarray
    background_gt: np.ndarray


_DT_ORDER: "weakref.WeakKeyDictionary[Matcher, np.ndarray]" = weakref.WeakKeyDictionary()


def _image_score_order(matcher: Matcher) -> np.ndarray:
    """Prediction rows by image block, then descending score (stable): the second pass's order. The thresholds do
    not change it, so it is sorted once per Matcher (a 2M-row lexsort) and kept while the Matcher lives."""
    order = _DT_ORDER.get(matcher)
    if order is None:
        lay = matcher.layout
        blk_of_dt = np.searchsorted(lay.blk_d1, np.arange(len(lay.dt_rows)), "right")  # blocks are image-major
        order = np.lexsort((-matcher._dt_cols["score"], blk_of_dt)).astype(np.int64)
        _DT_ORDER[matcher] = order
    return order


_ASSIGNED: "weakref.WeakKeyDictionary[Matcher, dict]" = weakref.WeakKeyDictionary()


def _assigned(matcher: Matcher, iou_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``matcher.assign(t)``, remembered for the last two thresholds of each Matcher: a class or split change
    keeps the threshold, so it does not re-run the greedy match (~35 bytes per prediction each)."""
    memo = _ASSIGNED.setdefault(matcher, {})
    t = float(iou_threshold)
    if t not in memo:
        memo[t] = matcher.assign(t)
        for old in list(memo)[:-2]:
            del memo[old]
    return memo[t]


def confusion_assignment(matcher: Matcher, iou_threshold: float, *, confidence_threshold: float = 0.0,
                         classes=None, image_ids=None) -> ConfusionAssignment:
    """The two passes of the module docstring, for the selected classes and images."""
    lay = matcher.layout
    category_names = matcher.data.category_names
    cats = resolve_classes(classes, category_names)
    m, _, ignored = _assigned(matcher, iou_threshold)
    chosen = np.isin(matcher.cat_list, cats)  # per class, then one gather per row (not a search per row)
    dt_sel = chosen[lay.dt_cat] & (matcher._dt_cols["score"] >= confidence_threshold)
    gt_sel = chosen[lay.gt_cat] & ~matcher.gt_ignore[0]
    if image_ids is not None:
        ids = np.asarray(list(image_ids), dtype=np.int64)
        dt_sel &= pd.Series(matcher._dt_cols["image_id"], copy=False).isin(ids).to_numpy()  # hash look-ups
        gt_sel &= pd.Series(matcher._gt_cols["image_id"], copy=False).isin(ids).to_numpy()
    cut = lay.dt_rank >= 100
    live = dt_sel & ~ignored & ~cut
    tp = live & (m >= 0)
    gt_taken = np.zeros(len(gt_sel), bool)
    gt_taken[m[tp]] = True
    dt_free = live & (m < 0)
    gt_free = gt_sel & ~gt_taken
    dt_order = _image_score_order(matcher)
    cross = np.full(len(lay.dt_rows), -1, np.int64)
    kernels.cross_class_match(lay.blk_d0, lay.blk_d1, lay.blk_g0, lay.blk_g1, lay.blk_off, lay.ious, dt_order,
                              dt_free, gt_free, lay.dt_cat, lay.gt_cat, min(float(iou_threshold), 1 - 1e-10), cross)
    crossed = cross >= 0
    gt_free[cross[crossed]] = False
    labels = [category_names.get(int(c), str(int(c))) for c in cats]
    if len(set(labels)) < len(labels):  # duplicate names: make them unique with the id
        labels = [f"{n} ({int(c)})" for n, c in zip(labels, cats)]
    return ConfusionAssignment(cats=cats, names=dict(zip((int(c) for c in cats), labels)), tp=tp, crossed=crossed,
                               cross=cross, background_dt=dt_free & ~crossed, background_gt=gt_free)


@dataclass(frozen=True)
class ConfusionCells:
    """Every record the matrix counts, as arrays of one length ``n``: ``is_pred`` (prediction or label), ``id``
    (pred_id / label_id), ``true`` and ``predicted`` (matrix positions: index into ``names``, the selected classes
    then background last) and ``counted`` (a cross-class pair is a prediction row and a label row in the same cell;
    only the prediction row is counted). ``counts`` is the ``(k + 1, k + 1)`` matrix of the counted rows.

    Rows come in ``explorer.evaluation.confusion_cells.cell_members`` order: TPs, crossed predictions, their
    labels, background predictions, background labels.
    """

    names: tuple[str, ...]
    is_pred: np.ndarray
    id: np.ndarray
    true: np.ndarray
    predicted: np.ndarray
    counted: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        c = self.counted
        return confusion_counts(self.true[c], self.predicted[c], len(self.names))

    def in_cell(self, true_names: np.ndarray, predicted_names: np.ndarray, cell: tuple[str, str]) -> np.ndarray:
        """Rows whose cell is ``cell`` when position ``i`` is shown as ``true_names[i]`` / ``predicted_names[i]``
        (e.g. folded into "other"): one look-up per row of two per-position booleans."""
        return (np.asarray(true_names, object) == cell[0])[self.true] & \
            (np.asarray(predicted_names, object) == cell[1])[self.predicted]


def confusion_cells(matcher: Matcher, a: ConfusionAssignment) -> ConfusionCells:
    """The records of assignment ``a`` in their cells (``ConfusionCells``)."""
    lay = matcher.layout
    k = len(a.cats)  # position k = background (and any unselected class, which takes part in no cell)
    pos = {int(c): i for i, c in enumerate(a.cats)}
    cat_k = np.array([pos.get(int(c), k) for c in matcher.cat_list], dtype=np.int64)  # per class, not per row
    dt_k, gt_k = cat_k[lay.dt_cat], cat_k[lay.gt_cat]
    dt_ids, gt_ids = matcher._dt_cols["pred_id"], matcher._gt_cols["label_id"]
    tp, crossed, bg, gt_free = a.tp, a.crossed, a.background_dt, a.background_gt
    partner = a.cross[crossed]
    parts = [(True, dt_ids[tp], dt_k[tp], dt_k[tp], True),
             (True, dt_ids[crossed], gt_k[partner], dt_k[crossed], True),
             (False, gt_ids[partner], gt_k[partner], dt_k[crossed], False),
             (True, dt_ids[bg], np.full(int(bg.sum()), k), dt_k[bg], True),
             (False, gt_ids[gt_free], gt_k[gt_free], np.full(int(gt_free.sum()), k), True)]
    sizes = [len(p[1]) for p in parts]
    return ConfusionCells(
        names=(*a.names.values(), BACKGROUND),
        is_pred=np.repeat([p[0] for p in parts], sizes).astype(bool),
        id=np.concatenate([p[1] for p in parts]).astype(np.int64),
        true=np.concatenate([p[2] for p in parts]).astype(np.int32),  # positions < classes + 1: kept small
        predicted=np.concatenate([p[3] for p in parts]).astype(np.int32),
        counted=np.repeat([p[4] for p in parts], sizes).astype(bool))


def detection_confusion_matrix(matcher: Matcher, iou_threshold: float, *, confidence_threshold: float = 0.0,
                               classes=None, image_ids=None, cells: ConfusionCells | None = None) -> ConfusionMatrix:
    """The confusion matrix at (t, c) for the selected classes and images (see the module docstring); ``cells``:
    the ``confusion_cells`` of that same assignment when the caller has them (then nothing is re-matched)."""
    if cells is None:
        a = confusion_assignment(matcher, iou_threshold, confidence_threshold=confidence_threshold, classes=classes,
                                 image_ids=image_ids)
        cells = confusion_cells(matcher, a)
    return ConfusionMatrix(ClassConfusion(cells.counts, cells.names, background=True),
                           iou_threshold=float(iou_threshold), confidence_threshold=float(confidence_threshold))
