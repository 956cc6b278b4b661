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
least ``min_score`` (default 0.3) are kept; the queue is sorted by ``score``
(descending; ties by image, label, prediction). ``fix_labels`` applies the obvious fix of each chosen suspect to a
copy of the labels (add the detected box; take the detection's class; take the detection's box; drop the label)
and ``map_if_fixed`` re-evaluates with ``evaluate_coco``.

The queue is built from NumPy columns (the error cost's ``error_rows``, the match's arrays) with one sort and
kept per selection (``_QUEUES``, 4); duplicate labels depend on the split and classes only (``_DUPLICATES``).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

import numpy as np
import pandas as pd

from explorer.evaluation.layout import lookup

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


_QUEUES: OrderedDict = OrderedDict()
_DUPLICATES: OrderedDict = OrderedDict()
_REASON_CODES = tuple(REASONS)  # reason index -> code
_RC = {code: i for i, code in enumerate(_REASON_CODES)}


def suspects(project, sel, *, min_score: float = MIN_SCORE, iou_type: str | None = None) -> pd.DataFrame:
    """The ranked queue of suspected label errors of a project view (a run) and a core ``Selection``: columns
    ``COLUMNS`` (``label_id``/``pred_id``/``pred_category_id`` Int64 with ``<NA>`` for none; ``category_id`` the
    label's class, or the detection's for ``missing_label``; ``file_name``/``reason``/``reason_code`` object
    strings), best first. Kept for the last 4 selections (shared: do not mutate)."""
    from explorer.analysis.outcomes import _remember
    from explorer.tasks.detection import iou_type as iou_type_of

    kind = iou_type or iou_type_of(project)
    key = (str(project.root), project.fingerprint, kind, sel, float(min_score))
    return _remember(_QUEUES, key, lambda: _suspects(project, sel, float(min_score), kind), size=4)


def _suspects(project, sel, min_score: float, iou_type: str) -> pd.DataFrame:
    """``suspects``: every part as NumPy columns (the TIDE error arrays, the match's arrays), one lexsort, one
    DataFrame."""
    from explorer.analysis.outcomes import match
    from explorer.analysis.tide import ERROR_TYPES, error_cost

    cost = error_cost(project, sel, iou_type=iou_type)
    e = cost.error_rows
    parts = []  # each: (image_id, label_id, pred_id, reason index, score, category_id, pred_category_id, iou)
    code = e["kind"].astype(np.int64)
    to_reason = np.full(len(ERROR_TYPES), -1)
    to_reason[[ERROR_TYPES.index("background"), ERROR_TYPES.index("classification"),
               ERROR_TYPES.index("localisation")]] = [_RC["missing_label"], _RC["wrong_class"], _RC["loose_box"]]
    reason = to_reason[code]
    # a detection that disagrees with a label nobody else took is stronger evidence (the label is otherwise
    # missed, ``fixable``) than one beside a label the model also found right (halved)
    no_label = reason == _RC["missing_label"]
    score = e["score"] * np.where(e["fixable"] | no_label, 1.0, TAKEN_WEIGHT)
    r = np.flatnonzero((reason >= 0) & (score >= min_score))  # most false detections score low: drop them first
    nl = no_label[r]
    parts.append((e["image_id"][r], np.where(nl, -1, e["label_id"][r]), e["pred_id"][r], reason[r], score[r],
                  np.where(nl, e["category_id"][r], e["label_category_id"][r]), e["category_id"][r], e["iou"][r]))

    m = match(project, sel, iou_type=iou_type)
    image_ids = sel.image_ids(project)
    classes = sel.class_list()
    p = m.predictions
    p_img, p_cat = p["image_id"].to_numpy(np.int64), p["category_id"].to_numpy(np.int64)
    p_iou, p_score = p["iou"].to_numpy(np.float64), p["score"].to_numpy(np.float64)
    loose_score = p_score * (1 - p_iou)
    hit = p["is_tp"].to_numpy(bool) & ~p["ignored"].to_numpy(bool) & (p_iou < LOOSE_MATCH_IOU) & (loose_score >= min_score)
    if image_ids is not None:
        hit &= np.isin(p_img, image_ids)
    if classes is not None:
        hit &= np.isin(p_cat, classes)
    r = np.flatnonzero(hit)
    parts.append((p_img[r], p["label_id"].array[r].to_numpy(np.int64, na_value=-1),
                  p["pred_id"].to_numpy(np.int64)[r], np.full(len(r), _RC["loose_box"]), loose_score[r],
                  p_cat[r], p_cat[r], p_iou[r]))

    dups = _duplicates(project, sel)
    parts.append((dups["image_id"].to_numpy(np.int64), dups["label_id"].to_numpy(np.int64), np.full(len(dups), -1),
                  np.full(len(dups), _RC["duplicate_label"]), dups["iou"].to_numpy(np.float64),
                  dups["category_id"].to_numpy(np.int64), np.full(len(dups), -1), dups["iou"].to_numpy(np.float64)))

    near = np.zeros(len(m.labels), bool)  # labels some false detection points at: wrong-class / loose-box stories
    rows = e["label_row"][(code != ERROR_TYPES.index("missed")) & (e["label_row"] >= 0)]
    near[rows] = True
    parts.append(_missed_everywhere(project, sel, m, iou_type, near))

    cols = [np.concatenate([np.asarray(part[i]) for part in parts]) for i in range(8)]
    img, lab, pred, reason, score, cat, pcat, iou = cols
    order = _queue_order(np.flatnonzero(score >= min_score), score, img, lab, pred)
    img, lab, pred, reason, score, cat, pcat, iou = (c[order] for c in cols)
    reason = reason.astype(np.int64)
    images = project.images
    names = images["file_name"].to_numpy(object)
    at = lookup(images["image_id"].to_numpy(np.int64), img)
    file_name = np.where(at >= 0, names[np.maximum(at, 0)] if len(names) else None, None)
    codes = np.array(_REASON_CODES, object)
    texts = np.array([REASONS[c] for c in _REASON_CODES], object)

    obj = lambda v: pd.Series(v, dtype=object, copy=False)  # noqa: E731 - object strings: no Arrow conversion
    return pd.DataFrame({
        "image_id": img.astype(np.int64), "file_name": obj(file_name), "label_id": _ids_of(lab), "pred_id": _ids_of(pred),
        "reason": obj(texts[reason]), "reason_code": obj(codes[reason]), "score": score.astype(np.float64),
        "category_id": cat.astype(np.int64), "pred_category_id": _ids_of(pcat), "iou": iou.astype(np.float64)},
        columns=COLUMNS)


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
    """``(rows, order, start)`` of the labels ``keep`` (bool per row of a match's ``labels``): ``rows`` their
    positions, ``order`` the ``np.lexsort((area, class))`` of ``rows`` and ``start[i]`` the first position in
    that order of the class of ``order[i]`` (int32). They depend on the rows only (not the thresholds): kept per
    project view and row set (4, ~8 MB each at 700k labels), so an IoU move re-counts the detected labels without
    the sort."""
    import hashlib

    from explorer.analysis.outcomes import _remember

    def make():
        rows = np.flatnonzero(keep)
        area = _label_areas(project, iou_type, lab)[rows]
        cats = lab["category_id"].to_numpy(np.int64)[rows]
        order = np.lexsort((area, cats))
        c_sorted = cats[order]
        small = np.int32 if len(keep) < 2**31 else np.int64  # positions: 8 bytes per label kept, not 24
        return rows.astype(small), order.astype(small), np.searchsorted(c_sorted, c_sorted, "left").astype(small)

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


def _missed_everywhere(project, sel, m, iou_type, near: np.ndarray) -> tuple:
    """Labels not taken by any prediction of their class even at IoU ``MISSED_IOU`` (so missed at every
    threshold) and that no false detection points at (``near``: bool per row of ``m.labels``; those are
    wrong-class / loose-box stories). Score: how surprising the miss is = the share of the other labels of its
    class at most as large (area) that are detected at t (smaller objects of its class are found), times the
    median score of the class's true positives. The columns of one part of ``_suspects``."""
    lab = m.labels
    keep = ~lab["ignored"].to_numpy(bool)
    image_ids, classes = sel.image_ids(project), sel.class_list()
    l_img, l_cat = lab["image_id"].to_numpy(np.int64), lab["category_id"].to_numpy(np.int64)
    if image_ids is not None:
        keep &= np.isin(l_img, image_ids)
    if classes is not None:
        keep &= np.isin(l_cat, classes)
    rows, order, start = _area_order(project, iou_type, lab, keep)
    label_ids = lab["label_id"].to_numpy(np.int64)[rows]
    low_detected = _low_detected(project, sel, iou_type)[rows]
    cats = l_cat[rows]
    hit = lab["detected"].to_numpy(bool)[rows]
    # per class, labels by area ascending: detected share among the labels at most as large, itself excluded
    h_sorted = hit[order].astype(np.int64)
    csum = np.cumsum(h_sorted)
    before = np.where(start > 0, csum[np.maximum(start - 1, 0)], 0)
    n_smaller = np.arange(len(order)) - start  # labels before it in its class (<= its area)
    share_sorted = np.where(n_smaller > 0, (csum - h_sorted - before) / np.maximum(n_smaller, 1), 0.0)
    share = np.empty(len(order))
    share[order] = share_sorted
    p = m.predictions
    tp = p["is_tp"].to_numpy(bool) & ~p["ignored"].to_numpy(bool)
    med = pd.Series(p["score"].to_numpy(np.float64)[tp]).groupby(p["category_id"].to_numpy(np.int64)[tp]).median()
    med = med.reindex(cats).fillna(0.0).to_numpy()
    gone = ~low_detected & ~near[rows]
    n = int(gone.sum())
    return (l_img[rows][gone], label_ids[gone], np.full(n, -1), np.full(n, _RC["missed_label"]), (share * med)[gone],
            cats[gone], np.full(n, -1), np.full(n, np.nan))


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


def map_if_fixed(project, sel, chosen: pd.DataFrame, *, iou_type: str | None = None) -> dict:
    """COCO mAP (IoU 0.50:0.95) and AP at the selection's IoU, now and with ``chosen`` suspects fixed
    (``fix_labels``), on the selection's images, classes and kept predictions (``score >= c``):
    ``{"map", "map_fixed", "ap_t", "ap_t_fixed", "n_fixed"}`` (fractions; NaN when undefined) — the numbers
    of ``evaluate_coco`` on the fixed labels, bit for bit.

    One accumulation on the run's matched state, not two evaluations: pycocotools matches each (image, class)
    group on its own and a prediction's match never depends on a lower score, so only the images a fix
    touches are matched again (their fixed labels and all their predictions, ``CocoState.build`` on a small
    ``Matcher``); every other prediction keeps its TP / ignored flags from the project's ``CocoState``
    (``explorer.evaluation.coco.project_state``, area "all" at the 10 COCO IoUs) and, when t is not one of
    them, from a state matched at t alone (kept per t). A confidence threshold drops points from the
    accumulation (the kept predictions' ranks and matches are those of the full run)."""
    from explorer.evaluation import kernels
    from explorer.evaluation.coco import AREA_RANGES, REC_THRESHOLDS, CocoParams, CocoState, _area_masks, project_state
    from explorer.evaluation.inputs import from_tables
    from explorer.evaluation.matcher import Matcher
    from explorer.tasks.detection import iou_type as iou_type_of

    kind = iou_type or iou_type_of(project)
    state = project_state(project, iou_type=kind)
    m, lay, data = state.matcher, state.matcher.layout, state.matcher.data
    grid, t = tuple(state.params.iou_thresholds), float(sel.iou_threshold)
    at_t = grid.index(t) if t in grid else len(grid)
    area_all = state.params.area_labels.index("all")
    tp, ign = state.dt_tp[area_all], state.dt_ignore[area_all]  # (T, n) in accumulation order
    if at_t == len(grid):  # t off the COCO grid: its own matching, area "all" only (no eviction of the states)
        from explorer.analysis.outcomes import _remember

        one = _remember(_T_STATES, (str(project.root), project.fingerprint, kind, t), lambda: CocoState.build(
            m, CocoParams.make(iou_thresholds=[t], area_ranges={"all": AREA_RANGES["all"]})), size=2)
        tp, ign = np.concatenate([tp, one.dt_tp[0]]), np.concatenate([ign, one.dt_ignore[0]])
    n_thr = tp.shape[0]
    only_all = CocoParams.make(area_ranges={"all": AREA_RANGES["all"]})

    # the selection as evaluate_coco reads it: catIds / imgIds (default: the data's categories / images)
    classes, ids = sel.class_list(), sel.image_ids(project)
    cats = np.unique(np.asarray(data.category_ids if classes is None else list(classes), np.int64))
    img_list = np.unique(np.asarray(data.image_ids if ids is None else ids, np.int64))
    img_in = np.isin(m.image_list, img_list)
    cat_k = lookup(cats, m.cat_list)  # Matcher category position -> position in ``cats``, -1 = not selected
    dt_rows = lay.dt_rows[state.rows]
    keep = (cat_k[state.cat] >= 0) & img_in[state.img] & (data.predictions.score[dt_rows] >= sel.confidence_threshold)
    order = np.flatnonzero(keep)
    k = cat_k[state.cat[order]]

    def label_counts(lab) -> tuple[np.ndarray, np.ndarray]:
        """(npig (K,): the selected labels not ignored at area "all", class position of every selected label)."""
        kk = lookup(cats, lab.category_id)
        selected = (kk >= 0) & np.isin(lab.image_id, img_list)
        live = selected & ~_area_masks(only_all, lab.area, lab.iscrowd, np.zeros(0))[0][0]
        return np.bincount(kk[live], minlength=len(cats)).astype(np.int64), kk[selected]

    def numbers(tp_o, ign_o, npig, lab_k) -> tuple[float, float]:
        has_any = (np.bincount(lab_k, minlength=len(cats)) + np.bincount(k, minlength=len(cats))) > 0
        precision = -np.ones((n_thr, len(REC_THRESHOLDS), len(cats), 1, 1))
        recall = -np.ones((n_thr, len(cats), 1, 1))
        kernels.accumulate(np.arange(len(order)), np.searchsorted(k, np.arange(len(cats) + 1), "left"),
                           state.rank[order], tp_o[None], ign_o[None], npig[:, None], has_any,
                           np.array([max(state.params.max_dets)], np.int64), REC_THRESHOLDS, precision, recall)
        return _defined_mean(precision[:len(grid)]), _defined_mean(precision[at_t:at_t + 1])

    tp_o, ign_o = np.take(tp, order, axis=1), np.take(ign, order, axis=1)
    npig, lab_k = label_counts(data.labels)
    before, before_t = numbers(tp_o, ign_o, npig, lab_k)
    if not len(chosen):
        return {"map": before, "map_fixed": before, "ap_t": before_t, "ap_t_fixed": before_t, "n_fixed": 0}

    # the touched images: their fixed labels and all their predictions, matched afresh (the same rules)
    touched = np.unique(chosen["image_id"].to_numpy(np.int64))
    labels = project.labels
    in_l = np.isin(labels["image_id"].to_numpy(np.int64), touched)
    preds = project.predictions
    start = int(labels["label_id"].max()) + 1 if len(labels) else 1
    fixed = _fixed(labels[in_l], project.all_predictions, chosen, start=start)
    images = project.images
    sub = from_tables(fixed, preds[np.isin(preds["image_id"].to_numpy(np.int64), touched)],
                      images=images[np.isin(images["image_id"].to_numpy(np.int64), touched)],
                      categories=project.categories)
    sub_state = CocoState.build(Matcher.from_data(sub, iou_type=kind),
                                CocoParams.make(iou_thresholds=list(grid) + ([t] if at_t == len(grid) else []),
                                                area_ranges={"all": AREA_RANGES["all"]}))
    sub_lay, sub_data = sub_state.matcher.layout, sub_state.matcher.data
    sub_ids = sub_data.predictions.ids[sub_lay.dt_rows[sub_state.rows]]
    at = lookup(sub_ids, data.predictions.ids[dt_rows[order]])  # each kept point's row in the fixed matching
    hit = np.flatnonzero(at >= 0)
    tp_o[:, hit] = sub_state.dt_tp[0][:, at[hit]]
    ign_o[:, hit] = sub_state.dt_ignore[0][:, at[hit]]
    # labels: the untouched images' as they are, the touched images' fixed
    npig_rest, lab_k_rest = label_counts(data.labels.take(np.flatnonzero(~np.isin(data.labels.image_id, touched))))
    npig_new, lab_k_new = label_counts(sub_data.labels)
    after, after_t = numbers(tp_o, ign_o, npig_rest + npig_new, np.concatenate([lab_k_rest, lab_k_new]))
    return {"map": before, "map_fixed": after, "ap_t": before_t, "ap_t_fixed": after_t, "n_fixed": int(len(chosen))}


def _defined_mean(precision: np.ndarray) -> float:
    """pycocotools' summarize of ``precision`` (T, R, K, 1, 1): the mean of the entries > -1 (NaN when none)."""
    s = precision[precision > -1]
    return float(np.mean(s)) if len(s) else float("nan")


def export_section(project, sel) -> list[dict]:
    """The export's ``suspects``: the queue as records, best first (``None`` for no label / prediction)."""
    table = suspects(project, sel)
    return table.astype(object).where(table.notna(), None).to_dict(orient="records")
