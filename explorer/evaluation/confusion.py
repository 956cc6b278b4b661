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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.evaluation import kernels
from explorer.evaluation.class_confusion import BACKGROUND, OTHER, ClassConfusion, confusion_counts
from explorer.evaluation.matcher import Matcher
from explorer.evaluation.tables import resolve_classes

__all__ = ["BACKGROUND", "OTHER", "ConfusionMatrix", "ConfusionAssignment", "confusion_assignment",
           "detection_confusion_matrix"]


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


def confusion_assignment(matcher: Matcher, iou_threshold: float, *, confidence_threshold: float = 0.0,
                         classes=None, image_ids=None) -> ConfusionAssignment:
    """The two passes of the module docstring, for the selected classes and images."""
    lay = matcher.layout
    category_names = matcher.data.category_names
    cats = resolve_classes(classes, category_names)
    m, _, ignored = matcher.assign(iou_threshold)
    dt_sel = np.isin(matcher.cat_list[lay.dt_cat], cats) & (matcher._dt_cols["score"] >= confidence_threshold)
    gt_sel = np.isin(matcher.cat_list[lay.gt_cat], cats) & ~matcher.gt_ignore[0]
    if image_ids is not None:
        ids = np.asarray(list(image_ids), dtype=np.int64)
        dt_sel &= np.isin(matcher._dt_cols["image_id"], ids)
        gt_sel &= np.isin(matcher._gt_cols["image_id"], ids)
    cut = lay.dt_rank >= 100
    live = dt_sel & ~ignored & ~cut
    tp = live & (m >= 0)
    gt_taken = np.zeros(len(gt_sel), bool)
    gt_taken[m[tp]] = True
    dt_free = live & (m < 0)
    gt_free = gt_sel & ~gt_taken
    # score order inside each image block (stable): blocks are image-major in the layout
    blk_of_dt = np.searchsorted(lay.blk_d1, np.arange(len(lay.dt_rows)), "right")
    dt_order = np.lexsort((-matcher._dt_cols["score"], blk_of_dt)).astype(np.int64)
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


def detection_confusion_matrix(matcher: Matcher, iou_threshold: float, *, confidence_threshold: float = 0.0,
                               classes=None, image_ids=None) -> ConfusionMatrix:
    """The confusion matrix at (t, c) for the selected classes and images (see the module docstring)."""
    a = confusion_assignment(matcher, iou_threshold, confidence_threshold=confidence_threshold, classes=classes,
                             image_ids=image_ids)
    lay = matcher.layout
    k = len(a.cats)  # position k = background (and any unselected class, which takes part in no cell)
    pos = {int(c): i for i, c in enumerate(a.cats)}
    cat_k = np.array([pos.get(int(c), k) for c in matcher.cat_list], dtype=np.int64)
    dt_k, gt_k = cat_k[lay.dt_cat], cat_k[lay.gt_cat]
    true = np.concatenate([dt_k[a.tp], gt_k[a.cross[a.crossed]], np.full(int(a.background_dt.sum()), k),
                           gt_k[a.background_gt]])
    pred = np.concatenate([dt_k[a.tp], dt_k[a.crossed], dt_k[a.background_dt],
                           np.full(int(a.background_gt.sum()), k)])
    counts = confusion_counts(true, pred, k + 1)
    return ConfusionMatrix(ClassConfusion(counts, (*a.names.values(), BACKGROUND), background=True),
                           iou_threshold=float(iou_threshold), confidence_threshold=float(confidence_threshold))
