"""Suspected label errors: a ranked queue of likely annotation problems, read off the model's own evaluation.

At the selection's IoU ``t`` (and confidence threshold), from the TIDE error types (``explorer.analysis.tide``) and
the matches (``explorer.analysis.outcomes.match``), one row per suspect, each with a ``score`` in [0, 1]:

============== ============================================================ ===================================
reason         rule                                                         score
============== ============================================================ ===================================
missing_label  a background false detection (IoU <= 0.1 with every label)   the prediction's score
wrong_class    a false detection of another class with IoU >= t on a label  the prediction's score
loose_box      a localisation error (same-class IoU in [0.1, t])            the prediction's score
               or a true positive matched with IoU < ``LOOSE_MATCH_IOU``   score x (1 - IoU)
               (0.7)
duplicate_label two labels of one class on one image with IoU >= 0.7         the label-label IoU
missed_label   a label no prediction of its class takes even at IoU 0.1 and detected share (at t) of the class's
               no false detection points at, while its class is found      labels at most as large x the
               elsewhere                                                   median score of its true positives
============== ============================================================ ===================================

A classification or localisation error whose label no other prediction took (``fixable`` in the TIDE table: the
label is otherwise missed) keeps its score; one beside a label the model also found is halved (``TAKEN_WEIGHT``):
a detection disagreeing with a label nothing else agrees with is the stronger evidence. Only suspects scoring at
least ``min_score`` (default 0.3) are kept; the queue is sorted by ``score`` (descending; ties by image,
label, prediction, then the order of the table above). ``fix_labels`` applies the obvious fix of each chosen
suspect to a copy of the labels (add the detected box; take the detection's class; take the detection's box;
drop the label) and ``map_if_fixed`` gives the numbers ``evaluate_coco`` would on them.

Cost at scale (each piece kept per exactly the controls it depends on, in bounded caches): ``suspect_queue`` is
a ``SuspectQueue`` of NumPy columns per selection (``_QUEUES``, 4), unsorted — ``best(n, keep)`` sorts only the
rows that can be among the n best (a table's head, a gallery page), ``suspects`` the whole queue (CLI, export).
Loose matches, duplicate labels and missed labels are scored per class, so they are kept per (split, IoU,
confidence) for every class (``_BASES``, 4) and a class selection takes its classes' rows; the error cost's
false detections are classified per selection (a class selection sees only its labels). Duplicate labels are
paired once per project view (``_DUPLICATES``); the label order by area per row set; the 0.1-IoU detected flags
per confidence. ``map_if_fixed`` accumulates every class once per (split, confidence) (``_FIX_BASES``, 2) and,
per fix, only the classes it changes.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from explorer.analysis.outcomes import _Bounded
from explorer.evaluation.layout import lookup, sorted_unique

REASONS = {
    "missing_label": "confident detection where no label is: possibly a missing label",
    "wrong_class": "confident detection of another class on this label: possibly the wrong class",
    "loose_box": "the detection overlaps this label only loosely: possibly a loose or shifted box",
    "duplicate_label": "two labels of the same class on one object: possibly a duplicate label",
    "missed_label": "missed at every IoU while its class is found elsewhere: possibly a spurious label",
}
LOOSE_MATCH_IOU = 0.7
DUPLICATE_LABEL_IOU = 0.7
MISSED_IOU = 0.1
MIN_SCORE = 0.3
TAKEN_WEIGHT = 0.5
COLUMNS = ["image_id", "file_name", "label_id", "pred_id", "reason", "reason_code", "score", "category_id",
           "pred_category_id", "iou"]


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of boxes ``a`` and ``b`` (shape (n, 4), ``x, y, w, h``); 0 without overlap."""
    iw = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def duplicate_labels(labels: pd.DataFrame, *, iou: float = DUPLICATE_LABEL_IOU) -> pd.DataFrame:
    """Pairs of non-crowd labels of one image and class with box IoU >= ``iou``: ``label_id`` (the later id),
    ``other_label_id``, ``iou``, ``image_id``, ``category_id``. Pairs are formed per (image, class) group of
    the labels sorted by (image, class, id): every label with each later one of its group (groups are small),
    by index arithmetic, no join."""
    keep = ~labels["iscrowd"].to_numpy(bool)
    ids = labels["label_id"].to_numpy(np.int64)[keep]
    img = labels["image_id"].to_numpy(np.int64)[keep]
    cat = labels["category_id"].to_numpy(np.int64)[keep]
    box = labels[["x", "y", "w", "h"]].to_numpy(np.float64)[keep]
    o = np.lexsort((ids, cat, img))
    ids, img, cat, box = ids[o], img[o], cat[o], box[o]
    new_group = np.r_[True, (img[1:] != img[:-1]) | (cat[1:] != cat[:-1])] if len(o) else np.zeros(0, bool)
    group_end = np.r_[np.flatnonzero(new_group)[1:], len(o)] if len(o) else np.zeros(0, np.int64)
    end = np.repeat(group_end, np.diff(np.r_[np.flatnonzero(new_group), len(o)]))  # end of each label's group
    later = end - np.arange(len(o)) - 1  # labels after it in its group
    first = np.repeat(np.arange(len(o)), later)
    start = np.cumsum(later) - later
    second = first + 1 + (np.arange(len(first)) - np.repeat(start, later))
    v = _box_iou(box[second], box[first])
    hit = v >= iou
    a, b = second[hit], first[hit]  # a: the later id (ids ascend within a group)
    return pd.DataFrame({"label_id": ids[a], "other_label_id": ids[b], "image_id": img[a], "category_id": cat[a],
                         "iou": v[hit]})


_QUEUES = _Bounded(max_bytes=400_000_000)  # ~57 B per suspect: 45 MB a queue at 100k images, ~450 MB at 1M
_BASES = _Bounded(max_bytes=300_000_000)  # the class-free parts, ~65 B per row
_DUPLICATES: OrderedDict = OrderedDict()
_REASON_CODES = tuple(REASONS)  # reason index -> code
_RC = {code: i for i, code in enumerate(_REASON_CODES)}
_PART = ("img", "lab", "pred", "reason", "score", "cat", "pcat", "iou")  # the columns of a part of the queue


@dataclass(eq=False)
class SuspectQueue:
    """The queue of one selection as NumPy columns, one row per suspect, in *part order* (the error cost's false
    detections, then loose matches, duplicate labels, missed labels), not sorted: ``best`` gives rows in queue
    order. Columns (n,): ``image_id``, ``label_id`` / ``pred_id`` / ``pred_category_id`` (int64, -1 = none),
    ``reason`` (int8: index in ``REASON_CODES``), ``score``, ``category_id`` (as in ``COLUMNS``), ``iou``;
    ``image_ids`` / ``file_names`` the project's images, for ``frame``. Shared (kept per selection): read only."""

    image_id: np.ndarray
    label_id: np.ndarray
    pred_id: np.ndarray
    reason: np.ndarray
    score: np.ndarray
    category_id: np.ndarray
    pred_category_id: np.ndarray
    iou: np.ndarray
    image_ids: np.ndarray
    file_names: np.ndarray

    def __len__(self) -> int:
        return len(self.score)

    @property
    def nbytes(self) -> int:
        """Bytes of the columns (the project's image columns are shared, not counted)."""
        return sum(getattr(self, c).nbytes for c in ("image_id", "label_id", "pred_id", "reason", "score", "category_id",
                                                     "pred_category_id", "iou"))

    @cached_property
    def classes(self) -> np.ndarray:
        """The classes with a suspect (sorted category ids): a bincount when the ids span a small range."""
        c = self.category_id
        if len(c) and 0 <= int(c.min()) and int(c.max()) < 4 * len(c) + 1024:
            return np.flatnonzero(np.bincount(c)).astype(np.int64)
        return sorted_unique(c)

    @cached_property
    def order(self) -> np.ndarray:
        """Every row in queue order (``best()``), computed once."""
        return self.best()

    def mask(self, *, reasons=None, classes=None) -> np.ndarray | None:
        """Bool (n,): rows whose reason code is in ``reasons`` and ``category_id`` in ``classes`` (None = any);
        None when both are None or hold everything (no filter)."""
        keep = None
        if reasons is not None and set(reasons) != set(_REASON_CODES):
            keep = np.isin(np.arange(len(_REASON_CODES)), [_RC[r] for r in reasons if r in _RC])[self.reason]
        if classes is not None:
            ids = sorted_unique(np.asarray(list(classes), np.int64))
            if not np.isin(self.classes, ids).all():
                inside = lookup(ids, self.category_id) >= 0
                keep = inside if keep is None else keep & inside
        return keep

    def best(self, n: int | None = None, keep: np.ndarray | None = None) -> np.ndarray:
        """Positions of the ``n`` best rows (all when None) among ``keep`` (bool (n,), None = every row), in queue
        order: descending score, ties by image, label, prediction (none last), then part order. Only the rows
        scoring at least the ``n``-th best score are sorted (a partition finds it): a page of the gallery or the
        table's head costs O(rows), not a sort of the queue."""
        rows = np.arange(len(self)) if keep is None else np.flatnonzero(keep)
        if n is not None and n < len(rows):
            if n <= 0:
                return rows[:0]
            s = self.score[rows]
            rows = rows[s >= np.partition(s, len(s) - n)[len(s) - n]]  # every row that can be among the n best
        out = _queue_order(rows, self.score, self.image_id, self.label_id, self.pred_id)
        return out if n is None else out[:n]

    def frame(self, rows: np.ndarray | None = None) -> pd.DataFrame:
        """The rows at positions ``rows`` (default: ``order``, the whole queue) as a table: columns ``COLUMNS``
        (``label_id``/``pred_id``/``pred_category_id`` Int64 with ``<NA>``; ``file_name``/``reason``/
        ``reason_code`` object strings), index 0..len-1."""
        rows = self.order if rows is None else np.asarray(rows, np.int64)
        img = self.image_id[rows]
        reason = self.reason[rows].astype(np.int64)
        names = self.file_names
        at = lookup(self.image_ids, img)
        file_name = np.where(at >= 0, names[np.maximum(at, 0)] if len(names) else None, None)
        codes = np.array(_REASON_CODES, object)
        texts = np.array([REASONS[c] for c in _REASON_CODES], object)
        obj = lambda v: pd.Series(v, dtype=object, copy=False)  # noqa: E731 - object strings: no Arrow conversion
        return pd.DataFrame({
            "image_id": img.astype(np.int64), "file_name": obj(file_name), "label_id": _ids_of(self.label_id[rows]),
            "pred_id": _ids_of(self.pred_id[rows]), "reason": obj(texts[reason]), "reason_code": obj(codes[reason]),
            "score": self.score[rows].astype(np.float64), "category_id": self.category_id[rows].astype(np.int64),
            "pred_category_id": _ids_of(self.pred_category_id[rows]), "iou": self.iou[rows].astype(np.float64)},
            columns=COLUMNS)


def suspects(project, sel, *, min_score: float = MIN_SCORE, iou_type: str | None = None) -> pd.DataFrame:
    """The ranked queue of suspected label errors of a project view (a run) and a core ``Selection``: columns
    ``COLUMNS`` (``label_id``/``pred_id``/``pred_category_id`` Int64 with ``<NA>`` for none; ``category_id`` the
    label's class, or the detection's for ``missing_label``; ``file_name``/``reason``/``reason_code`` object
    strings), best first: ``suspect_queue(...).frame()`` (a new table per call)."""
    return suspect_queue(project, sel, min_score=min_score, iou_type=iou_type).frame()


def suspect_queue(project, sel, *, min_score: float = MIN_SCORE, iou_type: str | None = None) -> SuspectQueue:
    """The ``SuspectQueue`` of a project view and a core ``Selection``, kept for the last 4 selections (shared).
    What does not depend on the classes is kept per (split, IoU, confidence) (``_base``): a class change
    takes its classes' rows of that and classifies only the error cost's false detections again."""
    from explorer.analysis.outcomes import _remember
    from explorer.tasks.detection import iou_type as iou_type_of

    kind = iou_type or iou_type_of(project)
    key = (str(project.root), project.fingerprint, kind, sel, float(min_score))
    return _remember(_QUEUES, key, lambda: _suspects(project, sel, float(min_score), kind), size=4)


def _suspects(project, sel, min_score: float, iou_type: str) -> SuspectQueue:
    """``suspect_queue``: the error part of the selection (``_error_part``) and its classes' rows of the
    class-free parts (``_base``), concatenated in part order."""
    base = _base(project, replace(sel, classes=None), min_score, iou_type)
    errors, near_rows = _error_part(project, sel, min_score, iou_type)
    classes = sel.class_list()
    ids = None if classes is None else sorted_unique(np.asarray(classes, np.int64))

    def chosen(part: dict, extra: np.ndarray | None = None) -> dict:
        keep = extra
        if ids is not None:
            inside = lookup(ids, part["cat"]) >= 0
            keep = inside if keep is None else keep & inside
        return part if keep is None else {c: v[keep] for c, v in part.items()}

    # labels some false detection of the selection points at are wrong-class / loose-box stories, not misses
    near = np.zeros(base.n_labels, bool)
    near[near_rows] = True
    missed = chosen(base.missed, ~near[base.missed["row"]])
    parts = [errors, chosen(base.loose), chosen(base.duplicates), missed]
    dtypes = {"reason": np.int8, "score": np.float64, "iou": np.float64}

    def column(c: str) -> np.ndarray:  # one concatenation straight into the column's dtype
        return np.concatenate([p[c] for p in parts], dtype=dtypes.get(c, np.int64), casting="unsafe")

    return SuspectQueue(image_id=column("img"), label_id=column("lab"), pred_id=column("pred"),
                        reason=column("reason"), score=column("score"), category_id=column("cat"),
                        pred_category_id=column("pcat"), iou=column("iou"), image_ids=base.image_ids,
                        file_names=base.file_names)


def _error_part(project, sel, min_score: float, iou_type: str) -> tuple[dict, np.ndarray]:
    """The suspects among the error cost's false detections of ``sel`` (``missing_label``, ``wrong_class``,
    ``loose_box``: module docstring) as a part, and the match label rows the false detections point at. A
    class selection classifies differently (the IoUs with the selected labels only): computed per selection."""
    from explorer.analysis.tide import ERROR_TYPES, error_cost

    cost = error_cost(project, sel, iou_type=iou_type)
    to_reason = np.full(len(ERROR_TYPES), -1, np.int8)
    to_reason[[ERROR_TYPES.index("background"), ERROR_TYPES.index("classification"),
               ERROR_TYPES.index("localisation")]] = [_RC["missing_label"], _RC["wrong_class"], _RC["loose_box"]]

    def weighted(e: dict) -> np.ndarray:
        # a detection that disagrees with a label nobody else took is stronger evidence (the label is otherwise
        # missed, ``fixable``) than one beside a label the model also found right (halved)
        return e["score"] * np.where(e["fixable"] | (to_reason[e["kind"]] == _RC["missing_label"]), 1.0,
                                     TAKEN_WEIGHT)

    # the three error types that question a label; most false detections score low: only the rest get rows
    e = cost.prediction_error_rows(("background", "classification", "localisation"),
                                   keep=lambda e: weighted(e) >= min_score)
    reason = to_reason[e["kind"]]
    nl = reason == _RC["missing_label"]
    part = {"img": e["image_id"], "lab": np.where(nl, -1, e["label_id"]), "pred": e["pred_id"],
            "reason": reason, "score": weighted(e),
            "cat": np.where(nl, e["category_id"], e["label_category_id"]), "pcat": e["category_id"],
            "iou": e["iou"]}
    near_rows = cost.pointed_label_rows
    return part, near_rows


@dataclass(eq=False)
class _Base:
    """The class-free parts of the queue at one (split, IoU, confidence): ``loose`` (true positives matched below
    ``LOOSE_MATCH_IOU``), ``duplicates`` (duplicate labels), ``missed`` (labels missed at ``MISSED_IOU``, with
    ``row``: their row in the match's labels, ``n_labels`` rows) as parts (``_PART`` columns), each row scoring at
    least ``min_score``; a selection takes its classes' rows (each score is per class)."""

    loose: dict
    duplicates: dict
    missed: dict
    n_labels: int
    image_ids: np.ndarray
    file_names: np.ndarray

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for part in (self.loose, self.duplicates, self.missed) for v in part.values())


def _base(project, sel, min_score: float, iou_type: str) -> _Base:
    """``_Base`` of ``sel`` (its classes None), kept for 4 (split, IoU, confidence, min score)."""
    from explorer.analysis.outcomes import _remember

    key = (str(project.root), project.fingerprint, iou_type, sel, float(min_score))
    return _remember(_BASES, key, lambda: _make_base(project, sel, min_score, iou_type), size=4)


def _make_base(project, sel, min_score: float, iou_type: str) -> _Base:
    from explorer.analysis.outcomes import match

    m = match(project, sel, iou_type=iou_type)
    image_ids = sel.image_ids(project)
    p = m.predictions
    p_img, p_cat = p["image_id"].to_numpy(np.int64), p["category_id"].to_numpy(np.int64)
    p_iou, p_score = p["iou"].to_numpy(np.float64), p["score"].to_numpy(np.float64)
    loose_score = p_score * (1 - p_iou)
    hit = (p["is_tp"].to_numpy(bool) & ~p["ignored"].to_numpy(bool) & (p_iou < LOOSE_MATCH_IOU)
           & (loose_score >= min_score))
    if image_ids is not None:
        hit &= np.isin(p_img, image_ids)
    r = np.flatnonzero(hit)
    loose = {"img": p_img[r], "lab": p["label_id"].array[r].to_numpy(np.int64, na_value=-1),
             "pred": p["pred_id"].to_numpy(np.int64)[r], "reason": np.full(len(r), _RC["loose_box"]),
             "score": loose_score[r], "cat": p_cat[r], "pcat": p_cat[r], "iou": p_iou[r]}

    dups = _duplicates(project, sel)
    dups = dups[dups["iou"].to_numpy(np.float64) >= min_score]
    n = len(dups)
    duplicates = {"img": dups["image_id"].to_numpy(np.int64), "lab": dups["label_id"].to_numpy(np.int64),
                  "pred": np.full(n, -1), "reason": np.full(n, _RC["duplicate_label"]),
                  "score": dups["iou"].to_numpy(np.float64), "cat": dups["category_id"].to_numpy(np.int64),
                  "pcat": np.full(n, -1), "iou": dups["iou"].to_numpy(np.float64)}
    images = project.images
    return _Base(loose=loose, duplicates=duplicates, missed=_missed_everywhere(project, sel, m, iou_type, min_score),
                 n_labels=len(m.labels), image_ids=images["image_id"].to_numpy(np.int64),
                 file_names=images["file_name"].to_numpy(object))


def _queue_order(rows: np.ndarray, score: np.ndarray, img: np.ndarray, lab: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """``rows`` sorted by descending ``score``, ties by image, label, prediction ascending (-1 = none, sorted
    last), equal keys in input order: ``np.lexsort((pred', lab', img, -score))`` of ``rows``. Scores tie a lot
    (results files round them: 1,001 values at 100k), so the three id keys are packed into one int64 when their
    ranges allow — two stable sorts instead of four."""
    big = np.iinfo(np.int64).max
    i, l, p = img[rows], lab[rows], pred[rows]

    def code(v):  # ids -> 0.. in id order, "none" (-1) after every id; with the number of codes
        live = v >= 0
        if not live.any():
            return np.zeros(len(v), np.int64), 1
        lo, hi = int(v[live].min()), int(v[live].max())
        return np.where(live, v - lo, hi - lo + 1), hi - lo + 2

    if len(rows):
        ci, ni = i - int(i.min()), int(i.max()) - int(i.min()) + 1  # every row has an image
        cl, nl = code(l)
        cp, n_p = code(p)
        if ni * nl * n_p < 2**62:
            key = (ci * nl + cl) * n_p + cp
            o = np.argsort(key, kind="stable")
            return rows[o[np.argsort(-score[rows][o], kind="stable")]]
    return rows[np.lexsort((np.where(p < 0, big, p), np.where(l < 0, big, l), i, -score[rows]))]


def _ids_of(v: np.ndarray) -> pd.arrays.IntegerArray:
    """Ids with -1 for "none" as ``Int64`` with ``<NA>``."""
    v = np.asarray(v, np.int64)
    return pd.arrays.IntegerArray(np.where(v >= 0, v, 0), v < 0)


def _duplicates(project, sel) -> pd.DataFrame:
    """``duplicate_labels`` of the selection's labels, once per label (its highest IoU). A pair lies within one
    image and class, so the selection's pairs are the project's pairs on its images and classes (in the same
    order): the project's are computed once per project view (kept, 2) and filtered — an IoU, confidence, class
    or split change never pairs the labels again."""
    from explorer.analysis.outcomes import _remember

    def make():
        dups = duplicate_labels(project.labels)
        return dups.sort_values("iou", ascending=False, kind="stable").drop_duplicates("label_id")

    dups = _remember(_DUPLICATES, (str(project.root), project.fingerprint), make, size=2)
    image_ids, classes = sel.image_ids(project), sel.class_list()
    if image_ids is None and classes is None:
        return dups
    keep = np.ones(len(dups), bool)
    if image_ids is not None:
        keep &= np.isin(dups["image_id"].to_numpy(), image_ids)
    if classes is not None:
        keep &= np.isin(dups["category_id"].to_numpy(), classes)
    return dups[keep]


_AREAS: OrderedDict = OrderedDict()
_AREA_ORDERS: OrderedDict = OrderedDict()
_LOW: OrderedDict = OrderedDict()


def _low_detected(project, sel, iou_type: str) -> np.ndarray:
    """``detected`` (bool per row of a match's ``labels``, the matcher's fixed label order) at IoU ``MISSED_IOU``
    and the selection's confidence threshold, kept per project view (700 KB at 700k labels): an IoU or class
    change does not re-match at 0.1 when the bounded match cache has let that match go."""
    from explorer.analysis.outcomes import _remember, match

    key = (str(project.root), project.fingerprint, iou_type, float(sel.confidence_threshold))
    return _remember(_LOW, key, lambda: match(project, replace(sel, iou_threshold=MISSED_IOU), iou_type=iou_type)
                     .labels["detected"].to_numpy(bool).copy(), size=4)


def _area_order(project, iou_type: str, lab: pd.DataFrame, keep: np.ndarray) -> tuple:
    """``(rows, sorted_rows, start, inv)`` of the labels ``keep`` (bool per row of a match's ``labels``):
    ``rows`` their positions, ``sorted_rows`` the same sorted by ``np.lexsort((area, class))``, ``start[j]`` the
    first position in that order of the class at position ``j``, ``inv[i]`` the position of ``rows[i]`` in it
    (int32). They depend on the rows only (not the thresholds): kept per project view and row set (4, ~11 MB each
    at 700k labels), so an IoU move re-counts the detected labels without the sort."""
    import hashlib

    from explorer.analysis.outcomes import _remember

    def make():
        rows = np.flatnonzero(keep)
        area = _label_areas(project, iou_type, lab)[rows]
        cats = lab["category_id"].to_numpy(np.int64)[rows]
        order = np.lexsort((area, cats))
        c_sorted = cats[order]
        small = np.int32 if len(keep) < 2**31 else np.int64  # positions: 4 bytes each, not 8
        inv = np.empty(len(order), small)
        inv[order] = np.arange(len(order), dtype=small)
        start = np.searchsorted(c_sorted, c_sorted, "left").astype(small)
        return rows.astype(small), rows[order].astype(small), start, inv

    digest = hashlib.blake2b(np.packbits(keep).tobytes(), digest_size=16).digest()
    key = (str(project.root), project.fingerprint, iou_type, len(keep), digest)
    return _remember(_AREA_ORDERS, key, make, size=4)


def _label_areas(project, iou_type: str, lab: pd.DataFrame) -> np.ndarray:
    """``project.labels``' area of each row of a match's ``labels`` table (the matcher's fixed label order), kept
    per project view: a threshold change does not look 700k ids up again."""
    from explorer.analysis.outcomes import _remember

    def make():
        pl = project.labels
        at = pd.Index(pl["label_id"].to_numpy(np.int64)).get_indexer(lab["label_id"].to_numpy(np.int64))
        return np.where(at >= 0, pl["area"].to_numpy(np.float64)[np.maximum(at, 0)], np.nan)

    key = (str(project.root), project.fingerprint, iou_type, len(lab))
    return _remember(_AREAS, key, make, size=2)


def _missed_everywhere(project, sel, m, iou_type, min_score: float) -> dict:
    """Labels of the selection's images not taken by any prediction of their class even at IoU ``MISSED_IOU``
    (so missed at every threshold), every class, scoring at least ``min_score``; the queue keeps those no false
    detection points at (wrong-class / loose-box stories). Score: how surprising the miss is = the share of the
    other labels of its class at most as large (area) that are detected at t (smaller objects of its class are
    found), times the median score of the class's true positives — both per class, so a class selection's
    misses are its classes' rows. A part of ``_Base`` (with ``row``: the label's row in ``m.labels``)."""
    lab = m.labels
    keep = ~lab["ignored"].to_numpy(bool)
    image_ids = sel.image_ids(project)
    l_img, l_cat = lab["image_id"].to_numpy(np.int64), lab["category_id"].to_numpy(np.int64)
    if image_ids is not None:
        keep &= np.isin(l_img, image_ids)
    rows, sorted_rows, start, inv = _area_order(project, iou_type, lab, keep)
    # per class, labels by area ascending: detected share among the labels at most as large, itself excluded —
    # one count over every label, the share only for the labels missed at MISSED_IOU (the candidates)
    h_sorted = lab["detected"].to_numpy(bool)[sorted_rows].astype(np.int64)
    csum = np.cumsum(h_sorted)
    cand = np.flatnonzero(~_low_detected(project, sel, iou_type)[rows])  # positions in ``rows``
    q = inv[cand].astype(np.int64)  # their positions in the area order
    first = start[q].astype(np.int64)
    before = np.where(first > 0, csum[np.maximum(first - 1, 0)], 0)
    n_smaller = q - first  # labels before it in its class (<= its area)
    share = np.where(n_smaller > 0, (csum[q] - h_sorted[q] - before) / np.maximum(n_smaller, 1), 0.0)
    at = rows[cand]
    cats = l_cat[at]
    p = m.predictions
    tp = p["is_tp"].to_numpy(bool) & ~p["ignored"].to_numpy(bool)
    med = pd.Series(p["score"].to_numpy(np.float64)[tp]).groupby(p["category_id"].to_numpy(np.int64)[tp]).median()
    score = share * med.reindex(cats).fillna(0.0).to_numpy()
    high = np.flatnonzero(score >= min_score)
    at, n = at[high], len(high)
    return {"row": at.astype(np.int64), "img": l_img[at], "lab": lab["label_id"].to_numpy(np.int64)[at],
            "pred": np.full(n, -1), "reason": np.full(n, _RC["missed_label"]), "score": score[high],
            "cat": cats[high], "pcat": np.full(n, -1), "iou": np.full(n, np.nan)}


def filter_suspects(table: pd.DataFrame, *, classes=None, reasons=None, image_ids=None) -> pd.DataFrame:
    """Rows of ``table`` whose ``category_id`` is in ``classes``, ``reason_code`` in ``reasons`` and image in
    ``image_ids`` (None = any)."""
    keep = np.ones(len(table), bool)
    if classes is not None:
        keep &= table["category_id"].isin(list(classes)).to_numpy()
    if reasons is not None:
        keep &= table["reason_code"].isin(list(reasons)).to_numpy()
    if image_ids is not None:
        keep &= table["image_id"].isin(np.asarray(image_ids)).to_numpy()
    return table[keep]


def fix_labels(project, chosen: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``project.labels`` with each chosen suspect fixed (module docstring): ``missing_label`` adds the
    prediction as a label (new ids after the largest), ``wrong_class`` gives the label the prediction's class,
    ``loose_box`` the prediction's box (and mask), ``duplicate_label``/``missed_label`` drop the label. A label
    with several fixes: drop wins, then the first row of ``chosen``."""
    return _fixed(project.labels, project.all_predictions, chosen)


def _fixed(labels: pd.DataFrame, predictions: pd.DataFrame, chosen: pd.DataFrame, *, start: int | None = None,
           ) -> pd.DataFrame:
    """``fix_labels`` on tables: ``labels`` fixed with the predictions (rows looked up by ``pred_id``) of
    ``chosen``; new labels get ids from ``start`` (default: after the largest of ``labels``)."""
    if start is None:
        start = int(labels["label_id"].max()) + 1 if len(labels) else 1
    labels = labels.copy()
    pred_ids = predictions["pred_id"].to_numpy(np.int64)

    def source(rows: pd.DataFrame) -> pd.DataFrame:  # the predictions of ``rows``, by position (no 4M-row index)
        return predictions.iloc[lookup(pred_ids, rows["pred_id"].astype(np.int64).to_numpy())]

    chosen = chosen.drop_duplicates(["label_id", "pred_id", "reason_code"])
    drop = chosen.loc[chosen["reason_code"].isin(["duplicate_label", "missed_label"]), "label_id"].dropna().astype(np.int64)
    edit = chosen[chosen["reason_code"].isin(["wrong_class", "loose_box"]) & chosen["label_id"].notna()]
    edit = edit[~edit["label_id"].isin(drop)].drop_duplicates("label_id")
    pos = pd.Index(labels["label_id"]).get_indexer(edit["label_id"].astype(np.int64))
    src = source(edit)
    cls = (edit["reason_code"] == "wrong_class").to_numpy()
    box = ~cls
    col = labels.columns.get_loc
    labels.iloc[pos[cls], col("category_id")] = src["category_id"].to_numpy()[cls]
    for c in ("x", "y", "w", "h", "segmentation"):
        labels.iloc[pos[box], col(c)] = src[c].to_numpy()[box]
    labels.iloc[pos[box], col("area")] = src["area"].to_numpy()[box]
    labels = labels[~labels["label_id"].isin(drop)]
    add = chosen[chosen["reason_code"] == "missing_label"]
    if len(add):
        src = source(add)
        new = pd.DataFrame({"label_id": np.arange(start, start + len(add)), "image_id": src["image_id"].to_numpy(),
                            "category_id": src["category_id"].to_numpy(), "x": src["x"].to_numpy(), "y": src["y"].to_numpy(),
                            "w": src["w"].to_numpy(), "h": src["h"].to_numpy(), "area": src["area"].to_numpy(),
                            "iscrowd": False, "segmentation": src["segmentation"].to_numpy(object)})
        labels = pd.concat([labels, new.astype({c: labels[c].dtype for c in new.columns if c in labels})], ignore_index=True)
    return labels.reset_index(drop=True)


_T_STATES: OrderedDict = OrderedDict()
_FIX_BASES: OrderedDict = OrderedDict()
_T_PRECISION: OrderedDict = OrderedDict()


@dataclass(eq=False)
class _FixBase:
    """The accumulation of one (split, confidence) on the run's ``CocoState`` at area "all", every class:
    ``cats`` (K,) category ids, ``order`` the kept points (positions in the state's accumulation order, class
    by class), ``cat_start`` (K+1,) each class's range of ``order``, ``npig`` / ``n_labels`` (K,) its
    non-ignored / selected labels, ``precision`` (T, R, K, 1, 1) at the COCO IoUs (-1 undefined)."""

    cats: np.ndarray
    order: np.ndarray
    cat_start: np.ndarray
    npig: np.ndarray
    n_labels: np.ndarray
    precision: np.ndarray
    img_list: np.ndarray

    def has_any(self, n_labels: np.ndarray) -> np.ndarray:
        return (n_labels + np.diff(self.cat_start)) > 0


def _accumulate(state_tp, state_ign, rank, order, cat_start, npig, has_any, n_max: int) -> np.ndarray:
    """``kernels.accumulate`` at area "all" and ``maxDets = n_max``: precision (T, R, K, 1, 1) of the points
    ``order`` (positions in ``state_tp``/``state_ign`` (T, n) and ``rank``) in classes ``cat_start`` (K+1,)."""
    from explorer.evaluation import kernels
    from explorer.evaluation.coco import REC_THRESHOLDS

    n_thr, n_cat = state_tp.shape[0], len(cat_start) - 1
    precision = -np.ones((n_thr, len(REC_THRESHOLDS), n_cat, 1, 1))
    recall = -np.ones((n_thr, n_cat, 1, 1))
    kernels.accumulate(order, cat_start, rank, state_tp[None], state_ign[None], npig[:, None], has_any,
                       np.array([n_max], np.int64), REC_THRESHOLDS, precision, recall)
    return precision


def _fix_base(project, sel, state, kind: str) -> _FixBase:
    """``_FixBase`` of ``sel``'s split and confidence, kept for 2: pycocotools accumulates each category on its
    own, so a class selection is a slice of it and an IoU on the COCO grid is a slice too."""
    from explorer.analysis.outcomes import _remember

    key = (str(project.root), project.fingerprint, kind, sel.split, float(sel.confidence_threshold))
    return _remember(_FIX_BASES, key, lambda: _make_fix_base(project, sel, state), size=2)


def _label_counts(cats: np.ndarray, img_list: np.ndarray, lab) -> tuple[np.ndarray, np.ndarray]:
    """(npig (K,): labels of ``lab`` (an ``EvalData`` labels table) on the images ``img_list`` in ``cats`` not
    ignored at area "all", and every such label (ignored or not) per class (K,))."""
    from explorer.evaluation.coco import AREA_RANGES, CocoParams, _area_masks

    kk = lookup(cats, lab.category_id)
    selected = (kk >= 0) & (lookup(img_list, lab.image_id) >= 0)
    only_all = CocoParams.make(area_ranges={"all": AREA_RANGES["all"]})
    live = selected & ~_area_masks(only_all, lab.area, lab.iscrowd, np.zeros(0))[0][0]
    return (np.bincount(kk[live], minlength=len(cats)).astype(np.int64),
            np.bincount(kk[selected], minlength=len(cats)).astype(np.int64))


def _make_fix_base(project, sel, state) -> _FixBase:
    m, lay, data = state.matcher, state.matcher.layout, state.matcher.data
    area_all = state.params.area_labels.index("all")
    ids = sel.image_ids(project)
    cats = sorted_unique(data.category_ids, m.cat_list)  # every class a selection can name
    img_list = sorted_unique(data.image_ids if ids is None else ids)
    img_in = lookup(img_list, m.image_list) >= 0
    cat_k = lookup(cats, m.cat_list)  # Matcher category position -> position in ``cats``
    dt_rows = lay.dt_rows[state.rows]
    keep = (cat_k[state.cat] >= 0) & img_in[state.img] & (data.predictions.score[dt_rows] >= sel.confidence_threshold)
    order = np.flatnonzero(keep)
    cat_start = np.searchsorted(cat_k[state.cat[order]], np.arange(len(cats) + 1), "left")
    npig, n_labels = _label_counts(cats, img_list, data.labels)
    base = _FixBase(cats=cats, order=order, cat_start=cat_start, npig=npig, n_labels=n_labels, precision=None,
                    img_list=img_list)
    base.precision = _accumulate(state.dt_tp[area_all], state.dt_ignore[area_all], state.rank, order, cat_start,
                                 npig, base.has_any(n_labels), max(state.params.max_dets))
    return base


def _one_iou_state(project, state, kind: str, t: float):
    """The run's matching at IoU ``t`` alone, area "all" (t off the COCO grid), kept for 2 thresholds."""
    from explorer.analysis.outcomes import _remember
    from explorer.evaluation.coco import AREA_RANGES, CocoParams, CocoState

    return _remember(_T_STATES, (str(project.root), project.fingerprint, kind, t), lambda: CocoState.build(
        state.matcher, CocoParams.make(iou_thresholds=[t], area_ranges={"all": AREA_RANGES["all"]})), size=2)


def map_if_fixed(project, sel, chosen: pd.DataFrame, *, iou_type: str | None = None) -> dict:
    """COCO mAP (IoU 0.50:0.95) and AP at the selection's IoU, now and with ``chosen`` suspects (rows of the
    queue) fixed (``fix_labels``), on the selection's images, classes and kept predictions (``score >= c``):
    ``{"map", "map_fixed", "ap_t", "ap_t_fixed", "n_fixed"}`` (fractions; NaN when undefined) — the numbers
    of ``evaluate_coco`` on the fixed labels, bit for bit.

    Accumulations on the run's matched state, not two evaluations: pycocotools matches each (image, class)
    group on its own and a prediction's match never depends on a lower score, so only the images a fix
    touches are matched again (their fixed labels and all their predictions, ``CocoState.build`` on a small
    ``Matcher``); every other prediction keeps its TP / ignored flags from the project's ``CocoState``
    (``explorer.evaluation.coco.project_state``, area "all" at the 10 COCO IoUs) and, when t is not one of
    them, from a state matched at t alone (kept per t). pycocotools also accumulates each class on its own:
    the numbers now are per (split, confidence) for every class (``_FixBase``; a class selection or an IoU
    on the grid is a slice), and the fixed numbers accumulate only the classes whose labels a fix changes. A
    confidence threshold drops points from the accumulation (the kept predictions' ranks and matches are those
    of the full run)."""
    from explorer.analysis.outcomes import _remember
    from explorer.evaluation.coco import AREA_RANGES, CocoParams, CocoState, project_state
    from explorer.evaluation.inputs import from_tables
    from explorer.evaluation.matcher import Matcher
    from explorer.tasks.detection import iou_type as iou_type_of

    kind = iou_type or iou_type_of(project)
    state = project_state(project, iou_type=kind)
    m, lay, data = state.matcher, state.matcher.layout, state.matcher.data
    grid, t = tuple(state.params.iou_thresholds), float(sel.iou_threshold)
    on_grid = t in grid
    area_all = state.params.area_labels.index("all")
    n_max = max(state.params.max_dets)
    base = _fix_base(project, sel, state, kind)
    one = None if on_grid else _one_iou_state(project, state, kind, t)

    if on_grid:
        prec_t = base.precision[grid.index(t):grid.index(t) + 1]
    else:  # (1, R, K, 1, 1), kept per (split, confidence, t)
        key = (str(project.root), project.fingerprint, kind, sel.split, float(sel.confidence_threshold), t)
        prec_t = _remember(_T_PRECISION, key, lambda: _accumulate(
            one.dt_tp[0], one.dt_ignore[0], state.rank, base.order, base.cat_start, base.npig,
            base.has_any(base.n_labels), n_max), size=4)

    # the selection's classes, as evaluate_coco reads them (catIds; default the data's categories)
    classes = sel.class_list()
    picked = lookup(base.cats, sorted_unique(data.category_ids if classes is None else np.asarray(classes, np.int64)))

    def numbers(grid_precision: np.ndarray, t_precision: np.ndarray) -> tuple[float, float]:
        def of(p):  # the selected classes' columns, an unknown class undefined (-1)
            out = p[:, :, np.maximum(picked, 0)]
            out[:, :, picked < 0] = -1
            return out

        return _defined_mean(of(grid_precision)), _defined_mean(of(t_precision))

    before, before_t = numbers(base.precision, prec_t)
    if not len(chosen):
        return {"map": before, "map_fixed": before, "ap_t": before_t, "ap_t_fixed": before_t, "n_fixed": 0}

    # the touched images: their fixed labels and all their predictions, matched afresh (the same rules)
    touched = sorted_unique(chosen["image_id"].to_numpy(np.int64))
    labels, preds, images = project.labels, project.predictions, project.images
    in_l = lookup(touched, labels["image_id"].to_numpy(np.int64)) >= 0
    sub_preds = preds[lookup(touched, preds["image_id"].to_numpy(np.int64)) >= 0]
    start = int(labels["label_id"].max()) + 1 if len(labels) else 1
    fixed = _fixed(labels[in_l], sub_preds, chosen, start=start)
    changed = lookup(base.cats, _changed_classes(labels[in_l], fixed))
    changed = changed[changed >= 0]
    if not len(changed):
        return {"map": before, "map_fixed": before, "ap_t": before_t, "ap_t_fixed": before_t,
                "n_fixed": int(len(chosen))}
    sub = from_tables(fixed, sub_preds, images=images[lookup(touched, images["image_id"].to_numpy(np.int64)) >= 0],
                      categories=project.categories)
    sub_state = CocoState.build(Matcher.from_data(sub, iou_type=kind),
                                CocoParams.make(iou_thresholds=list(grid) + ([] if on_grid else [t]),
                                                area_ranges={"all": AREA_RANGES["all"]}))
    sub_lay, sub_data = sub_state.matcher.layout, sub_state.matcher.data

    # the changed classes' points, their flags taken from the state and, on the touched images, the fixed matching
    cs = base.cat_start
    sizes = cs[changed + 1] - cs[changed]
    pts = base.order[np.repeat(cs[changed] - np.r_[0, np.cumsum(sizes)[:-1]], sizes) + np.arange(sizes.sum())]
    starts = np.r_[0, np.cumsum(sizes)]
    tp = np.take(state.dt_tp[area_all], pts, axis=1)
    ign = np.take(state.dt_ignore[area_all], pts, axis=1)
    if not on_grid:
        tp = np.concatenate([tp, np.take(one.dt_tp[0], pts, axis=1)])
        ign = np.concatenate([ign, np.take(one.dt_ignore[0], pts, axis=1)])
    there = np.flatnonzero((lookup(touched, m.image_list) >= 0)[state.img[pts]])  # points on touched images
    sub_ids = sub_data.predictions.ids[sub_lay.dt_rows[sub_state.rows]]
    at = lookup(sub_ids, data.predictions.ids[lay.dt_rows[state.rows[pts[there]]]])
    hit = at >= 0
    tp[:, there[hit]] = sub_state.dt_tp[0][:, at[hit]]
    ign[:, there[hit]] = sub_state.dt_ignore[0][:, at[hit]]
    # label counts: the touched images' labels as they were replaced by the fixed ones
    old_npig, old_n = _label_counts(base.cats, base.img_list, data.labels.take(np.flatnonzero(
        lookup(touched, data.labels.image_id) >= 0)))
    new_npig, new_n = _label_counts(base.cats, base.img_list, sub_data.labels)
    npig, n_labels = base.npig - old_npig + new_npig, base.n_labels - old_n + new_n
    has_any = base.has_any(n_labels)
    grid_fixed = base.precision.copy()
    grid_fixed[:, :, changed] = _accumulate(tp[:len(grid)], ign[:len(grid)], state.rank[pts], np.arange(len(pts)),
                                            starts, npig[changed], has_any[changed], n_max)
    if on_grid:
        t_fixed = grid_fixed[grid.index(t):grid.index(t) + 1]
    else:
        t_fixed = prec_t.copy()
        t_fixed[:, :, changed] = _accumulate(tp[len(grid):], ign[len(grid):], state.rank[pts], np.arange(len(pts)),
                                             starts, npig[changed], has_any[changed], n_max)
    after, after_t = numbers(grid_fixed, t_fixed)
    return {"map": before, "map_fixed": after, "ap_t": before_t, "ap_t_fixed": after_t, "n_fixed": int(len(chosen))}


def _changed_classes(before: pd.DataFrame, after: pd.DataFrame) -> np.ndarray:
    """The classes (sorted category ids) of the labels that differ between two label tables (a label dropped,
    added, or with another class, box, area, crowd flag or mask): the classes a fix changes."""
    def rows(t: pd.DataFrame) -> pd.DataFrame:
        seg = t["segmentation"].astype(object) if "segmentation" in t else pd.Series(None, index=t.index, dtype=object)
        return pd.DataFrame({"label_id": t["label_id"].to_numpy(np.int64),
                             "category_id": t["category_id"].to_numpy(np.int64),
                             **{c: t[c].to_numpy(np.float64) for c in ("x", "y", "w", "h", "area")},
                             "iscrowd": t["iscrowd"].to_numpy(bool),
                             "segmentation": seg.where(seg.notna(), None).to_numpy(object)})

    both = pd.concat([rows(before), rows(after)], ignore_index=True)
    return sorted_unique(both.loc[~both.duplicated(keep=False), "category_id"].to_numpy(np.int64))


def _defined_mean(precision: np.ndarray) -> float:
    """pycocotools' summarize of ``precision`` (T, R, K, 1, 1): the mean of the entries > -1 (NaN when none)."""
    s = precision[precision > -1]
    return float(np.mean(s)) if len(s) else float("nan")


def export_section(project, sel) -> list[dict]:
    """The export's ``suspects``: the queue as records, best first (``None`` for no label / prediction)."""
    table = suspects(project, sel)
    return table.astype(object).where(table.notna(), None).to_dict(orient="records")
