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
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.evaluation import kernels
from explorer.evaluation.matcher import Matcher
from explorer.evaluation.tables import resolve_classes

BACKGROUND = "background"
OTHER = "other"


class ConfusionMatrix:
    """Raw counts ``matrix`` (DataFrame, index = true class names + "background", columns = predicted class
    names + "background"); ``normalized()`` divides each row by its sum (NaN for an empty row);
    ``order("most_confused" | "most_common", top_k=None)`` reorders classes and folds the rest into "other"."""

    def __init__(self, matrix: pd.DataFrame, *, iou_threshold: float, confidence_threshold: float):
        self.matrix = matrix
        self.iou_threshold = iou_threshold
        self.confidence_threshold = confidence_threshold

    @property
    def classes(self) -> list[str]:
        return [c for c in self.matrix.index if c != BACKGROUND]

    def normalized(self) -> pd.DataFrame:
        """Row-normalised matrix: share of each true class's outcomes; NaN where the row is empty."""
        m = self.matrix.to_numpy(np.float64)
        sums = m.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(sums > 0, m / np.where(sums > 0, sums, 1), np.nan)
        return pd.DataFrame(out, index=self.matrix.index, columns=self.matrix.columns)

    def order(self, by: str = "most_confused", *, top_k: int | None = None) -> "ConfusionMatrix":
        """Classes sorted by ``most_common`` (labels of the class, row total) or ``most_confused`` (confusions
        with other classes, off-diagonal row + column totals without background, ties by errors including
        background); ties by name. ``top_k`` keeps that many and sums the rest into an "other" row/column."""
        m = self.matrix.to_numpy(np.int64)
        names = self.classes
        n = len(names)
        core = m[:n, :n]
        if by == "most_common":
            key = m[:n].sum(axis=1)
            tie = np.zeros(n)
        elif by == "most_confused":
            off = core - np.diag(np.diag(core))
            key = off.sum(axis=1) + off.sum(axis=0)
            tie = key + m[:n, n] + m[n, :n]
        else:
            from explorer.errors import UserError

            raise UserError(f"order must be 'most_confused' or 'most_common', got {by!r}")
        idx = sorted(range(n), key=lambda i: (-key[i], -tie[i], names[i]))
        keep = idx if top_k is None else idx[:top_k]
        rest = [] if top_k is None else idx[top_k:]
        groups = [[i] for i in keep] + ([rest] if rest else []) + [[n]]
        labels = [names[i] for i in keep] + ([OTHER] if rest else []) + [BACKGROUND]
        folded = np.array([[m[np.ix_(r, c)].sum() for c in groups] for r in groups], dtype=np.int64)
        return ConfusionMatrix(pd.DataFrame(folded, index=labels, columns=labels),
                               iou_threshold=self.iou_threshold, confidence_threshold=self.confidence_threshold)


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
    k = len(a.cats)
    pos = {int(c): i for i, c in enumerate(a.cats)}
    dt_k = np.array([pos.get(int(c), k) for c in matcher.cat_list])[lay.dt_cat]
    gt_k = np.array([pos.get(int(c), k) for c in matcher.cat_list])[lay.gt_cat]
    counts = np.zeros((k + 1, k + 1), np.int64)
    np.add.at(counts, (dt_k[a.tp], dt_k[a.tp]), 1)
    np.add.at(counts, (gt_k[a.cross[a.crossed]], dt_k[a.crossed]), 1)
    np.add.at(counts, (np.full(a.background_dt.sum(), k), dt_k[a.background_dt]), 1)
    np.add.at(counts, (gt_k[a.background_gt], np.full(a.background_gt.sum(), k)), 1)
    labels = [*a.names.values(), BACKGROUND]
    return ConfusionMatrix(pd.DataFrame(counts, index=labels, columns=labels),
                           iou_threshold=float(iou_threshold), confidence_threshold=float(confidence_threshold))
