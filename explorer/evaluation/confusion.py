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
from explorer.evaluation.class_confusion import BACKGROUND, OTHER, ClassConfusion
from explorer.evaluation.layout import lookup
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


def confusion_assignment(matcher: Matcher, iou_threshold: float, *, confidence_threshold: float = 0.0,
                         classes=None, image_ids=None, match=None) -> ConfusionAssignment:
    """The two passes of the module docstring, for the selected classes and images.

    Pass 1 is the match itself: ``match`` is ``matcher.match(iou_threshold, confidence_threshold=...)`` when the
    caller has it (the app's shared match), else it is made here. Its kept rows are the layout's rows with
    ``score >= c`` in layout order, so per kept row a label (``label_id`` not ``<NA>``) and not ``ignored`` is a
    TP of the matrix (a match with an id-0 label included: it takes the label, pycocotools only does not count
    it), unmatched and not ignored is free, and a selected non-ignored label is taken when a kept row took it
    (``labels.pred_id`` not ``<NA>``; for such a label the row is never ignored unless the label's id is 0 and the
    row's area is outside the area range: then that row decides). Pass 2 (``kernels.cross_class_match``) only
    visits free predictions whose best IoU with a label of another class (``Matcher.best_other``, the same IoUs)
    reaches the threshold: no other one can pair.
    """
    t = float(iou_threshold)
    c = float(confidence_threshold)
    if match is None:
        match = matcher.match(t, confidence_threshold=c)
    elif match.iou_threshold != t or match.confidence_threshold != c:
        raise ValueError(f"the match is at IoU {match.iou_threshold} / confidence {match.confidence_threshold}, "
                         f"not {t} / {c}")
    lay = matcher.layout
    category_names = matcher.data.category_names
    cats = resolve_classes(classes, category_names)
    n_dt = len(lay.dt_rows)
    preds, labels = match.predictions, match.labels
    # the match's rows are the layout rows with score >= c, in order (all of them at c = 0)
    kept = None if len(preds) == n_dt else np.flatnonzero(matcher._dt_cols["score"] >= c)
    if kept is not None and len(kept) != len(preds):
        raise ValueError("the match does not come from this matcher")
    chosen = np.isin(matcher.cat_list, cats)  # per class, then one gather per row (not a search per row)
    dt_cat, dt_img = (lay.dt_cat, lay.dt_img) if kept is None else (lay.dt_cat[kept], lay.dt_img[kept])
    live = chosen[dt_cat] & ~preds["ignored"].to_numpy(bool)  # kept rows
    gt_sel = chosen[lay.gt_cat] & ~matcher.gt_ignore[0]
    if image_ids is not None:
        wanted = np.zeros(len(matcher.image_list), bool)  # per image position (no hash look-up per row)
        at = lookup(matcher.image_list, _ids(image_ids))
        wanted[at[at >= 0]] = True
        live &= wanted[dt_img]
        gt_sel &= wanted[lay.gt_img]
    has_label = preds["label_id"].notna().to_numpy()
    tp_kept = live & has_label
    gt_free = gt_sel & ~labels["pred_id"].notna().to_numpy()
    edge = gt_sel & ~gt_free & ~matcher.gt_counts  # taken id-0 labels: taken only if the row is not ignored
    if edge.any():
        row = lookup(preds["pred_id"].to_numpy(np.int64), labels["pred_id"].to_numpy()[edge].astype(np.int64))
        gt_free[np.flatnonzero(edge)[~tp_kept[row]]] = True
    tp, dt_free = _full(tp_kept, kept, n_dt), _full(live & ~has_label, kept, n_dt)
    thr = min(t, 1 - 1e-10)  # the kernels' cap
    cross = np.full(n_dt, -1, np.int64)
    kernels.cross_class_match(lay.blk_d0, lay.blk_d1, lay.blk_g0, lay.blk_g1, lay.blk_off, lay.ious,
                              _image_score_order(matcher), dt_free & (matcher.best_other >= thr), gt_free,
                              lay.dt_cat, lay.gt_cat, thr, cross)
    crossed = cross >= 0
    gt_free[cross[crossed]] = False
    labels_of = [category_names.get(int(k), str(int(k))) for k in cats]
    if len(set(labels_of)) < len(labels_of):  # duplicate names: make them unique with the id
        labels_of = [f"{n} ({int(k)})" for n, k in zip(labels_of, cats)]
    return ConfusionAssignment(cats=cats, names=dict(zip((int(k) for k in cats), labels_of)), tp=tp,
                               crossed=crossed, cross=cross, background_dt=dt_free & ~crossed, background_gt=gt_free)


def _ids(ids) -> np.ndarray:
    return np.asarray(ids if isinstance(ids, (np.ndarray, pd.Series, pd.Index)) else list(ids), dtype=np.int64)


def _full(values: np.ndarray, kept: np.ndarray | None, n: int) -> np.ndarray:
    """A bool per kept row as a bool per layout row (False for the rows the confidence threshold dropped)."""
    if kept is None:
        return values
    out = np.zeros(n, bool)
    out[kept] = values
    return out


class ConfusionCells:
    """Where every record the matrix counts lands, per layout row: ``dt_true`` / ``dt_predicted`` (int16 matrix
    positions of each prediction row: index into ``names``, the selected classes then background last; ``n`` =
    ``len(names)`` for a row in no cell) and ``gt_true`` / ``gt_predicted`` for the label rows (a label paired with
    a false detection of another class sits in that pair's cell but is not counted: the pair counts once, by its
    prediction; a counted label is a missed one, predicted = background). ``counts`` is the ``(n, n)`` matrix of
    the counted rows (bincounts), ``cell_ids`` the ids in one cell (two gathers from small per-position tables).

    The record view (``is_pred``, ``id``, ``true``, ``predicted``, ``counted``: arrays of one length, rows in
    ``explorer.evaluation.confusion_cells.cell_members`` order — TPs, crossed predictions, their labels,
    background predictions, background labels) is made only when read.
    """

    def __init__(self, names: tuple[str, ...], dt_true, dt_predicted, gt_true, gt_predicted, dt_ids, gt_ids,
                 assignment: ConfusionAssignment):
        self.names = names
        self.dt_true, self.dt_predicted, self.gt_true, self.gt_predicted = dt_true, dt_predicted, gt_true, gt_predicted
        self._dt_ids, self._gt_ids, self._a = dt_ids, gt_ids, assignment
        self._records = None

    @property
    def counts(self) -> np.ndarray:
        """``(n, n)`` int64: every prediction row in a cell, plus the missed labels (predicted = background)."""
        n = len(self.names)
        both = np.bincount(self.dt_true.astype(np.int64) * (n + 1) + self.dt_predicted, minlength=(n + 1) ** 2)
        missed = self.gt_predicted == n - 1
        out = both.reshape(n + 1, n + 1)[:n, :n].copy()
        out[:, n - 1] += np.bincount(self.gt_true[missed], minlength=n)[:n]
        return out

    def cell_ids(self, true_names, predicted_names, cell: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
        """``(pred_ids, label_ids)`` in ``cell`` when position ``i`` is shown as ``true_names[i]`` /
        ``predicted_names[i]`` (e.g. folded into "other"), each in layout row order."""
        t = np.append(np.asarray(true_names, object) == cell[0], False)  # position n: in no cell
        p = np.append(np.asarray(predicted_names, object) == cell[1], False)
        return (self._dt_ids[t[self.dt_true] & p[self.dt_predicted]],
                self._gt_ids[t[self.gt_true] & p[self.gt_predicted]])

    # ---- the record view --------------------------------------------------------------------------------------
    def _view(self) -> dict:
        if self._records is None:
            a = self._a
            tp, crossed, bg, gt_free = a.tp, a.crossed, a.background_dt, a.background_gt
            partner = a.cross[crossed]
            dt_k, gt_k = self.dt_predicted, self.gt_true
            k = len(self.names) - 1
            parts = [(True, self._dt_ids[tp], dt_k[tp], dt_k[tp], True),
                     (True, self._dt_ids[crossed], gt_k[partner], dt_k[crossed], True),
                     (False, self._gt_ids[partner], gt_k[partner], dt_k[crossed], False),
                     (True, self._dt_ids[bg], np.full(int(bg.sum()), k), dt_k[bg], True),
                     (False, self._gt_ids[gt_free], gt_k[gt_free], np.full(int(gt_free.sum()), k), True)]
            sizes = [len(q[1]) for q in parts]
            self._records = {
                "is_pred": np.repeat([q[0] for q in parts], sizes).astype(bool),
                "id": np.concatenate([q[1] for q in parts]).astype(np.int64),
                "true": np.concatenate([q[2] for q in parts]).astype(np.int32),
                "predicted": np.concatenate([q[3] for q in parts]).astype(np.int32),
                "counted": np.repeat([q[4] for q in parts], sizes).astype(bool)}
        return self._records

    is_pred = property(lambda self: self._view()["is_pred"])
    id = property(lambda self: self._view()["id"])
    true = property(lambda self: self._view()["true"])
    predicted = property(lambda self: self._view()["predicted"])
    counted = property(lambda self: self._view()["counted"])

    def in_cell(self, true_names: np.ndarray, predicted_names: np.ndarray, cell: tuple[str, str]) -> np.ndarray:
        """Records (the record view) whose cell is ``cell`` when position ``i`` is shown as ``true_names[i]`` /
        ``predicted_names[i]``: one look-up per row of two per-position booleans."""
        return (np.asarray(true_names, object) == cell[0])[self.true] & \
            (np.asarray(predicted_names, object) == cell[1])[self.predicted]


def confusion_cells(matcher: Matcher, a: ConfusionAssignment) -> ConfusionCells:
    """The records of assignment ``a`` in their cells (``ConfusionCells``): per layout row its matrix position,
    ``n = k + 1`` (one past background) for a row in no cell."""
    lay = matcher.layout
    k = len(a.cats)  # position k = background
    small = np.int16 if k + 2 < 2**15 else np.int64
    cat_k = np.full(len(matcher.cat_list), k + 1, small)  # an unselected class takes part in no cell
    at = lookup(matcher.cat_list, a.cats)
    cat_k[at[at >= 0]] = np.arange(k, dtype=small)[at >= 0]
    dt_k, gt_k = cat_k[lay.dt_cat], cat_k[lay.gt_cat]
    n_dt = len(dt_k)
    # prediction rows: TP (own class, own class), crossed (partner's class, own), background (k, own), else none
    dt_true = np.full(n_dt, k + 1, small)
    dt_true[a.tp] = dt_k[a.tp]
    dt_true[a.background_dt] = k
    rows = np.flatnonzero(a.crossed)
    partner = a.cross[rows]
    dt_true[rows] = gt_k[partner]
    dt_pred = np.where(dt_true <= k, dt_k, small(k + 1))
    # label rows: missed (own class, background), a crossed pair's label (own class, the prediction's), else none
    gt_pred = np.full(len(gt_k), k + 1, small)
    gt_pred[a.background_gt] = k
    gt_pred[partner] = dt_k[rows]
    gt_true = np.where(gt_pred <= k, gt_k, small(k + 1))
    return ConfusionCells((*a.names.values(), BACKGROUND), dt_true, dt_pred, gt_true, gt_pred,
                          matcher._dt_cols["pred_id"], matcher._gt_cols["label_id"], a)


def detection_confusion_matrix(matcher: Matcher, iou_threshold: float, *, confidence_threshold: float = 0.0,
                               classes=None, image_ids=None, cells: ConfusionCells | None = None,
                               match=None) -> ConfusionMatrix:
    """The confusion matrix at (t, c) for the selected classes and images (see the module docstring); ``cells``:
    the ``confusion_cells`` of that same assignment when the caller has them (then nothing is re-matched);
    ``match``: the matcher's match at (t, c) when the caller has it (``confusion_assignment``)."""
    if cells is None:
        a = confusion_assignment(matcher, iou_threshold, confidence_threshold=confidence_threshold, classes=classes,
                                 image_ids=image_ids, match=match)
        cells = confusion_cells(matcher, a)
    return ConfusionMatrix(ClassConfusion(cells.counts, cells.names, background=True),
                           iou_threshold=float(iou_threshold), confidence_threshold=float(confidence_threshold))
