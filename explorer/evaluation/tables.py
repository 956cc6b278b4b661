"""Headline numbers, per-class tables and curves from a ``MatchResult`` (one IoU threshold t, confidence c).

Selection: ``classes`` (category ids or names; default every category) and ``image_ids`` (default every
image) restrict both labels and predictions, like pycocotools' ``catIds``/``imgIds``.

- **AP at t** (per class): COCO 101-point interpolated AP of ``COCOeval.accumulate`` at t (area all,
  maxDets 100), computed on the kept predictions (``score >= c``; with c = 0 it equals pycocotools'
  ``precision[t]`` exactly). **mAP** = mean of the defined ``precision[r, k]`` entries (pycocotools' order), over
  classes with at least one non-crowd label; **AR at t** = recall with all kept predictions, **mAR** its mean.
- **precision** = TP / (TP + FP), **recall** = TP / support, **F1** = 2 TP / (2 TP + FP + FN); support = number
  of non-ignored labels. A zero denominator gives NaN (never a silent 0). Ignored predictions count nowhere.

Cost: each class is accumulated on its own, so the AP arrays of every class of a (match, image selection) are
kept (``_class_arrays``, the match held weakly) and a class selection is a column slice of them: a class change,
or the splits table's row and the headline of one selection, accumulates nothing more. ``coco_at_threshold``
reads mAP/mAR at a COCO IoU straight off a COCO evaluation of the run (no match at all). What an IoU move
changes (the TP / ignored flags) is read in two compiled passes: the per-class PR points with the class counts
(``_class_curves``) and the pooled F1 curve (``_pooled_f1``), each writing its columns once (the NumPy version
gathered, masked and cumulated 2M-row arrays ~15 times).
"""
from __future__ import annotations

import hashlib
import threading
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.errors import UserError
from explorer.evaluation import kernels
from explorer.evaluation.coco import AREA_RANGES, REC_THRESHOLDS
from explorer.evaluation.layout import MAX_DETS, lookup, sorted_unique
from explorer.evaluation.matcher import MatchResult


def resolve_classes(classes, names: dict[int, str]) -> np.ndarray:
    """Category ids from ids or names (``None``: all). Unknown names raise ``UserError``."""
    if classes is None:
        return np.array(sorted(names), dtype=np.int64)
    by_name = {v: k for k, v in names.items()}
    out = []
    for c in classes:
        if isinstance(c, str):
            if c not in by_name:
                raise UserError(f"unknown class {c!r}; known: {', '.join(sorted(by_name))}")
            out.append(by_name[c])
        else:
            out.append(int(c))
    return np.unique(np.array(out, dtype=np.int64))


def select(match: MatchResult, *, classes=None, image_ids=None) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(predictions, labels, category ids) of the selection; predictions keep their sorted order."""
    v = _View(match, classes, image_ids)
    p, lab = match.predictions, match.labels
    # everything selected (the usual case): the match's own frames, not copies of millions of rows
    return (p if v.pm.all() else p[v.pm]), (lab if v.lm.all() else lab[v.lm]), v.cats


@dataclass(frozen=True)
class _Rows:
    """What a selection of a match's rows is whatever the IoU (the rows, scores and orders of one confidence are
    the same at every IoU: the Matcher keeps its orders per confidence): ``cats (K,)``; ``pm (n_pred,)`` / ``lm
    (n_lab,)`` the selected predictions / labels; ``by_class (m,)`` positions of the selected predictions by
    ascending class, then descending score (stable), ``k (m,)`` their class positions, ``cat_start (K + 1,)``
    the class ranges; ``pooled (m,)`` the selected predictions by descending score; ``l_k`` the selected labels'
    class positions; ``npig (K,)`` non-ignored (non-crowd) labels per class; ``score_c`` / ``score_p`` the scores
    in ``by_class`` / ``pooled`` order."""

    cats: np.ndarray
    pm: np.ndarray
    lm: np.ndarray
    by_class: np.ndarray
    k: np.ndarray
    cat_start: np.ndarray
    pooled: np.ndarray
    l_k: np.ndarray
    npig: np.ndarray
    score_c: np.ndarray
    score_p: np.ndarray


def _make_rows(match: MatchResult, cats: np.ndarray, ids) -> _Rows:
    p, lab = match.predictions, match.labels
    score = p["score"].to_numpy()
    small = np.int16 if len(cats) < np.iinfo(np.int16).max else np.int32
    p_k = lookup(cats, p["category_id"].to_numpy(), dtype=small)  # class position, -1 = not selected
    l_k = lookup(cats, lab["category_id"].to_numpy(), dtype=small)
    pm, lm = p_k >= 0, l_k >= 0
    if ids is not None:
        pm &= _member(ids, p["image_id"].to_numpy())
        lm &= _member(ids, lab["image_id"].to_numpy())
    n = len(p)
    has_orders = (isinstance(p.index, pd.RangeIndex) and match.class_score_order is not None
                  and match.score_order is not None and len(match.class_score_order) == n)

    small = np.int32 if n < 2**31 else np.int64

    def restricted(order, dtype=np.int64):  # filtering keeps the relative order; every row: the match's own array
        return order if pm.all() else order[pm[order]].astype(dtype, copy=False)

    # by_class goes to kernels.accumulate: int64, its one compiled signature
    by_class = restricted(match.class_score_order if has_orders else np.lexsort((-score, p_k)))
    pooled = restricted(match.score_order if has_orders else np.argsort(-score, kind="stable"), small)
    k = p_k[by_class]
    l_k = l_k[lm]
    npig = np.bincount(l_k[~lab["ignored"].to_numpy()[lm]], minlength=len(cats)).astype(np.int64)
    return _Rows(cats=cats, pm=pm, lm=lm, by_class=by_class, k=k,
                 cat_start=np.searchsorted(k, np.arange(len(cats) + 1), "left"), pooled=pooled, l_k=l_k, npig=npig,
                 score_c=score[by_class], score_p=score[pooled])


# per (match orders, classes, images): a class change, the splits table's rows or another IoU at one confidence
# select the same rows (a match's orders are the Matcher's per-confidence arrays, held weakly). ~3 B per match
# row plus ~18 B per selected prediction (~30 B for a subset); the least recent dropped past ``ROWS_BYTES``
_ROWS: OrderedDict = OrderedDict()
ROWS_BYTES = 256 << 20


def _rows(match: MatchResult, cats: np.ndarray, image_ids) -> _Rows:
    """``_Rows`` of ``match`` for the classes ``cats`` (resolved) and ``image_ids`` (None = all), kept per the
    match's orders (the same arrays at every IoU of one confidence) when it has them."""
    ids = None if image_ids is None else np.asarray(
        image_ids if isinstance(image_ids, np.ndarray) else list(image_ids), dtype=np.int64)
    order = match.class_score_order
    if order is None or match.score_order is None:
        return _make_rows(match, cats, ids)
    key = (id(order), id(match.score_order), len(match.predictions), _digest(np.asarray(cats, np.int64)),
           None if ids is None else _digest(ids))
    with _CLASSES_LOCK:
        held = _ROWS.get(key)
        if held is not None and held[0]() is order:
            _ROWS.move_to_end(key)
            return held[1]
    value = _make_rows(match, cats, ids)
    size = sum(a.nbytes for a in vars(value).values() if isinstance(a, np.ndarray) and a.base is None)
    with _CLASSES_LOCK:
        _ROWS[key] = (weakref.ref(order), value, size)
        _ROWS.move_to_end(key)
        while len(_ROWS) > 1 and sum(v[2] for v in _ROWS.values()) > ROWS_BYTES:
            _ROWS.popitem(last=False)
    return value


def _digest(ids: np.ndarray) -> tuple:
    return len(ids), hashlib.blake2b(np.ascontiguousarray(ids).tobytes(), digest_size=16).digest()


class _View:
    """The selection's rows of a match as positions into its arrays — no row copies (2M-row frames).

    The IoU-independent part is ``_Rows`` (kept: ``_rows``): ``pm``, ``lm``, ``cats``, ``by_class``, ``k``,
    ``l_k``, ``npig``. Columns are the match's own NumPy arrays (``score``, ``is_tp``, ``ignored``, ``rank``).
    """

    def __init__(self, match: MatchResult, classes, image_ids, *, cats: np.ndarray | None = None):
        self.match = match
        self._curves = None
        cats = resolve_classes(classes, match.category_names) if cats is None else cats
        self.rows = r = _rows(match, cats, image_ids)
        self.cats, self.pm, self.lm, self.by_class, self.k, self.l_k, self.npig = (
            r.cats, r.pm, r.lm, r.by_class, r.k, r.l_k, r.npig)
        p = match.predictions
        self.score = p["score"].to_numpy()
        self.is_tp = p["is_tp"].to_numpy()
        self.ignored = p["ignored"].to_numpy()
        self.any_ignored = bool(self.ignored.any())  # matched to a crowd at this IoU: left out of every curve

    def pooled(self) -> np.ndarray:
        """Positions of the selected predictions by descending score (stable)."""
        return self.rows.pooled

    def ap_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``precision (R, K)`` and ``recall (K,)`` at the match's threshold (-1 = undefined), ``npig (K,)``."""
        n_cat = len(self.cats)
        cat_start = self.rows.cat_start
        npig = self.npig[:, None]
        has_any = (np.bincount(self.l_k, minlength=n_cat) + np.bincount(self.k, minlength=n_cat)) > 0
        precision = -np.ones((1, len(REC_THRESHOLDS), n_cat, 1, 1))
        recall = -np.ones((1, n_cat, 1, 1))
        kernels.accumulate(self.by_class, cat_start, self.match.predictions["rank"].to_numpy(np.int64),
                           self.is_tp[None, None, :], self.ignored[None, None, :], npig, has_any,
                           np.array([MAX_DETS], np.int64), REC_THRESHOLDS, precision, recall)
        return precision[0, :, :, 0, 0], recall[0, :, 0, 0], npig[:, 0]

    def curves(self) -> dict:
        """The non-ignored selected predictions in ``by_class`` order (the class's PR points), from one compiled
        pass (``_class_curves``; computed once per view): ``k`` class positions, ``score``, ``category_id``,
        ``tp_cum`` / ``n_seen`` (true positives, predictions counted within the class up to the row), ``recall``
        (``tp_cum / npig[k]``, NaN without labels), ``precision`` (``tp_cum / n_seen``); ``tp`` / ``n`` (K,) per
        class."""
        if self._curves is None:
            n, n_cat = len(self.by_class), len(self.cats)
            out = {"k": np.empty(n, self.k.dtype), "score": np.empty(n, self.score.dtype),
                   "category_id": np.empty(n, np.int64), "tp_cum": np.empty(n, np.int64),
                   "n_seen": np.empty(n, np.int64), "recall": np.empty(n), "precision": np.empty(n)}
            tp, cnt = np.zeros(n_cat, np.int64), np.zeros(n_cat, np.int64)
            m = _class_curves(self.by_class, self.k, self.ignored, self.is_tp, self.rows.score_c, self.cats,
                              self.npig, tp, cnt, *(out[c] for c in ("k", "score", "category_id", "tp_cum",
                                                                      "n_seen", "recall", "precision")))
            self._curves = {name: a[:m] for name, a in out.items()} | {"tp": tp, "n": cnt}
        return self._curves

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """``tp (K,)`` and ``n_predictions (K,)``: kept, non-ignored predictions per class."""
        c = self.curves()
        return c["tp"], c["n"]


_kernel = kernels.LazyKernels(globals())
prange = range  # LazyKernels' compiled-or-not flag (these kernels are serial)


@_kernel()
def _class_curves(by_class, k, ignored, is_tp, score, cats, npig, tp_k, n_k, k_out, score_out, cat_out, tp_cum,
                  n_seen, recall, precision):
    """``_View.curves`` in one pass over the selected predictions in per-class order (``by_class`` positions,
    ``k`` their class positions, ascending, ``score`` their scores in that order: read in sequence, not gathered
    from 2M rows): the ignored rows skipped, each live row's class, score, category id,
    TPs and predictions so far in its class, ``recall = tp / npig[k]`` (NaN where ``npig`` is 0) and
    ``precision = tp / n`` (the float divisions NumPy makes of the same integers); ``tp_k`` / ``n_k`` (K,, zeros
    in) the class totals. Returns the number of live rows written."""
    m = 0
    prev = -1
    tp = 0
    cnt = 0
    for j in range(by_class.shape[0]):
        r = by_class[j]
        if ignored[r]:
            continue
        c = k[j]
        if c != prev:
            prev, tp, cnt = c, 0, 0
        cnt += 1
        if is_tp[r]:
            tp += 1
            tp_k[c] += 1
        n_k[c] += 1
        k_out[m] = c
        score_out[m] = score[j]
        cat_out[m] = cats[c]
        tp_cum[m] = tp
        n_seen[m] = cnt
        recall[m] = tp / npig[c] if npig[c] > 0 else np.nan
        precision[m] = tp / cnt
        m += 1
    return m


@_kernel()
def _pooled_f1(order, ignored, is_tp, score, n_pos, threshold, precision, recall, f1, tp_out, fp_out):
    """``f1_by_confidence`` in one pass over the selected predictions by descending score (``order``; ``score``
    theirs in that order), the ignored ones skipped: a row at the last live prediction of each tied score — its
    score, TP and FP counts so far, ``precision = tp / n``, ``recall = tp / n_pos``,
    ``f1 = 2 tp / (2 tp + fp + (n_pos − tp))`` (NaN for a zero denominator). Returns the number of rows written."""
    n = order.shape[0]
    m = 0
    tp = 0
    cnt = 0
    for i in range(n):
        r = order[i]
        if ignored[r]:
            continue
        cnt += 1
        if is_tp[r]:
            tp += 1
        nxt = i + 1
        while nxt < n and ignored[order[nxt]]:
            nxt += 1
        if nxt < n and score[nxt] == score[i]:
            continue
        fp = cnt - tp
        den = 2 * tp + fp + (n_pos - tp)
        threshold[m] = score[i]
        precision[m] = tp / cnt
        recall[m] = tp / n_pos if n_pos > 0 else np.nan
        f1[m] = 2 * tp / den if den > 0 else np.nan
        tp_out[m] = tp
        fp_out[m] = fp
        m += 1
    return m


def _member(ids, values) -> np.ndarray:
    """``np.isin(values, ids)`` for int64 ids (``layout.lookup``: one gather from a table by id when they fit)."""
    return lookup(np.asarray(ids, np.int64), values) >= 0


def _union_ids(*arrays: np.ndarray) -> np.ndarray:
    """``layout.sorted_unique(*arrays)`` (sorted unique int64 ids) by a presence table when the ids are small
    non-negative integers (category ids of millions of rows: no sort)."""
    arrays = [np.asarray(a, np.int64) for a in arrays if len(a)]
    if arrays and min(int(a.min()) for a in arrays) >= 0 and max(int(a.max()) for a in arrays) < 1 << 22:
        seen = np.zeros(max(int(a.max()) for a in arrays) + 1, bool)
        for a in arrays:
            seen[a] = True
        return np.flatnonzero(seen).astype(np.int64)
    return sorted_unique(*arrays) if arrays else np.zeros(0, np.int64)


def _positions(keys: np.ndarray, values) -> np.ndarray:
    """``layout.lookup(keys, values)``: position in the unique ids ``keys``, -1 where absent."""
    return lookup(keys, values)


@dataclass(frozen=True)
class _ClassArrays:
    """Every class of a match (``cats``: the category names' ids and every id in the rows, ascending) over one
    image selection: ``precision (R, K)``, ``recall (K,)`` (-1 = undefined), ``npig``, ``tp``, ``n_pred (K,)``.
    pycocotools accumulates each class on its own, so any class selection is a column slice of these."""

    cats: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    npig: np.ndarray
    tp: np.ndarray
    n_pred: np.ndarray

    def take(self, cats: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(precision (R, k), recall, npig, tp, n_pred)`` of the classes ``cats``; a class absent from the
        match is undefined (-1) with no labels or predictions, as its own accumulation gives it."""
        at = lookup(self.cats, cats)
        known, at = at >= 0, np.maximum(at, 0)
        prec = np.where(known[None, :], self.precision[:, at] if len(self.cats) else -1.0, -1.0)
        rec = np.where(known, self.recall[at] if len(self.cats) else -1.0, -1.0)
        return (prec, rec, *(np.where(known, x[at] if len(self.cats) else 0, 0).astype(np.int64)
                             for x in (self.npig, self.tp, self.n_pred)))


# per (match, image selection): the arrays of every class (~8 bytes x 102 per class), the match held weakly so a
# match evicted from the callers' caches is freed; a class change or a second table of one selection (the
# Metrics page's headline and its splits table at the slider's IoU) accumulates nothing
_CLASSES: OrderedDict = OrderedDict()
_CLASSES_LOCK = threading.Lock()


def _class_arrays(match: MatchResult, image_ids, view: "_View | None" = None) -> _ClassArrays:
    """``_ClassArrays`` of ``match`` over ``image_ids`` (None = every image), kept for the last 64 selections;
    ``view``: the caller's view of the same images, used when its classes are every class."""
    ids = None if image_ids is None else np.asarray(
        image_ids if isinstance(image_ids, np.ndarray) else list(image_ids), dtype=np.int64)
    digest = None if ids is None else (len(ids), hashlib.blake2b(ids.tobytes(), digest_size=16).digest())
    key = (id(match), digest)
    with _CLASSES_LOCK:
        held = _CLASSES.get(key)
        if held is not None and held[0]() is match:
            _CLASSES.move_to_end(key)
            return held[1]
    p, lab = match.predictions, match.labels
    cats = _union_ids(np.fromiter(match.category_names, np.int64, len(match.category_names)),
                      p["category_id"].to_numpy(), lab["category_id"].to_numpy())
    v = view if view is not None and np.array_equal(view.cats, cats) else _View(match, None, ids, cats=cats)
    prec, rec, npig = v.ap_arrays()
    value = _ClassArrays(cats, np.ascontiguousarray(prec), np.ascontiguousarray(rec), npig, *v.counts())
    with _CLASSES_LOCK:
        _CLASSES[key] = (weakref.ref(match), value)
        _CLASSES.move_to_end(key)
        while len(_CLASSES) > 64:
            _CLASSES.popitem(last=False)
    return value


def _mean_defined(s: np.ndarray) -> float:
    d = s[s > -1]
    return float(np.mean(d)) if len(d) else np.nan


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def per_class_table(match: MatchResult, *, classes=None, image_ids=None) -> pd.DataFrame:
    """One row per class: ``category_id, name, ap, ar, precision, recall, f1, support, n_predictions, tp, fp, fn``.

    ``ap``/``ar``: COCO AP and recall at the match's IoU threshold (NaN without labels); the rest at (t, c).
    """
    return detection_summary(match, classes=classes, image_ids=image_ids)["per_class"]


def _per_class(match: MatchResult, cats, prec, rec, npig, tp, n_pred) -> pd.DataFrame:
    fp = n_pred - tp
    fn = npig - tp
    ap = np.array([_mean_defined(prec[:, i]) for i in range(len(cats))])
    return pd.DataFrame({
        "category_id": cats, "name": [match.category_names.get(int(c), str(c)) for c in cats],
        "ap": ap, "ar": np.where(rec > -1, rec, np.nan),
        "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, npig), "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "support": npig, "n_predictions": n_pred, "tp": tp, "fp": fp, "fn": fn})


def _summary(match: MatchResult, cats: np.ndarray, image_ids, view: "_View | None" = None) -> dict:
    """``detection_summary`` of the classes ``cats`` (resolved) over ``image_ids``: a slice of every class's
    arrays (``_class_arrays``), so another class selection of the same match and images accumulates nothing."""
    prec, rec, npig, tp, n_pred = _class_arrays(match, image_ids, view).take(cats)
    table = _per_class(match, cats, prec, rec, npig, tp, n_pred)
    tp, fp, fn = table["tp"].sum(), table["fp"].sum(), table["fn"].sum()
    return {"mAP": _mean_defined(prec), "mAR": _mean_defined(rec), "precision": float(_ratio(tp, tp + fp)),
            "recall": float(_ratio(tp, tp + fn)), "f1": float(_ratio(2 * tp, 2 * tp + fp + fn)),
            "n_classes": int((npig > 0).sum()), "iou_threshold": match.iou_threshold,
            "confidence_threshold": match.confidence_threshold, "per_class": table}


def detection_summary(match: MatchResult, *, classes=None, image_ids=None) -> dict:
    """``{"mAP", "mAR", "precision", "recall", "f1", "n_classes", "per_class"}`` at the match's (t, c).

    ``mAP``/``mAR`` average over classes with labels in the selection (NaN if none); precision/recall/F1
    here are pooled over the selection (micro average).
    """
    return _summary(match, resolve_classes(classes, match.category_names), image_ids)


def coco_at_threshold(evaluation, iou_threshold: float, confidence_threshold: float = 0.0) -> tuple[float, float] | None:
    """``(mAP, mAR)`` at ``iou_threshold`` read off a COCO evaluation (``explorer.evaluation.coco
    .CocoEvaluation``: area all, maxDets 100) when the threshold is one of its IoU thresholds (the same float) and
    the confidence threshold cuts no prediction of its data; else None. Then it is ``detection_summary``'s
    ``mAP``/``mAR`` of a match at (t, c) over the same classes and images, bit for bit: the same matches, the same
    accumulation, the defined entries of the same ``(R, K)`` matrix averaged in the same order."""
    p = evaluation.params
    thresholds, areas = list(p.iou_thresholds), dict(p.area_ranges)
    if (float(iou_threshold) not in thresholds or MAX_DETS not in p.max_dets
            or areas.get("all") != AREA_RANGES["all"]):
        return None
    score = evaluation._data.predictions.score
    if len(score) and not (score >= confidence_threshold).all():  # a cut: the match drops predictions COCO keeps
        return None
    ti, mi = thresholds.index(float(iou_threshold)), list(p.max_dets).index(MAX_DETS)
    ai = list(areas).index("all")
    return (_mean_defined(np.ascontiguousarray(evaluation.precision[ti, :, :, ai, mi])),
            _mean_defined(np.ascontiguousarray(evaluation.recall[ti, :, ai, mi])))


def _pr_curves(v: _View) -> pd.DataFrame:
    c = v.curves()
    return pd.DataFrame({name: c[name] for name in ("category_id", "score", "recall", "precision")}, copy=False)


def pr_curves(match: MatchResult, *, classes=None, image_ids=None) -> pd.DataFrame:
    """PR points per class: ``category_id, score, recall, precision`` after each kept, non-ignored prediction
    in descending score order (raw, not interpolated; recall NaN for a class without labels)."""
    return _pr_curves(_View(match, classes, image_ids))


def _f1(v: _View) -> pd.DataFrame:
    order = v.pooled()
    n = len(order)
    cols = {"threshold": np.empty(n, v.score.dtype), "precision": np.empty(n), "recall": np.empty(n),
            "f1": np.empty(n), "tp": np.empty(n, np.int64), "fp": np.empty(n, np.int64)}
    m = _pooled_f1(order, v.ignored, v.is_tp, v.rows.score_p, int(v.npig.sum()), *cols.values())
    return pd.DataFrame({name: a[:m] if 2 * m > n else a[:m].copy() for name, a in cols.items()}, copy=False)


def f1_by_confidence(match: MatchResult, *, classes=None, image_ids=None) -> pd.DataFrame:
    """Precision, recall and F1 of the selection (pooled over classes) if only predictions with
    ``score >= threshold`` were kept, for every distinct score: ``threshold, precision, recall, f1, tp, fp``.
    Rows go from the highest threshold down; use ``best_f1`` for the best row."""
    return _f1(_View(match, classes, image_ids))


def _best_per_class(v: _View) -> pd.DataFrame:
    c = v.curves()  # each class's F1-by-confidence curve, all classes in one pass
    k, score, tp_c, n_c = c["k"], c["score"], c["tp_cum"], c["n_seen"]
    last = np.r_[(score[1:] != score[:-1]) | (k[1:] != k[:-1]), True] if len(k) else np.zeros(0, bool)
    tp_c, n_c, kk, thr = tp_c[last], n_c[last], k[last], score[last]
    n_pos = v.npig[kk]
    fp_c = n_c - tp_c
    f1 = _ratio(2 * tp_c, 2 * tp_c + fp_c + (n_pos - tp_c))
    # best_f1's rule per class: the highest F1, ties to the highest threshold (the first row of the class); the
    # rows are grouped by class (kk ascends), so a per-group maximum and its first hit replace a sort
    f = np.nan_to_num(f1, nan=-np.inf)
    first = np.zeros(0, np.int64)
    if len(kk):
        starts = np.flatnonzero(np.r_[True, kk[1:] != kk[:-1]])
        top = np.maximum.reduceat(f, starts)
        hits = np.flatnonzero(f == np.repeat(top, np.diff(np.r_[starts, len(kk)])))
        first = hits[np.r_[True, kk[hits][1:] != kk[hits][:-1]]]
    defined = first[~np.isnan(f1[first])]
    at = kk[defined]
    columns = {name: np.full(len(v.cats), np.nan) for name in ("threshold", "precision", "recall", "f1")}
    columns["threshold"][at] = thr[defined]
    columns["precision"][at] = tp_c[defined] / n_c[defined]
    columns["recall"][at] = _ratio(tp_c[defined], n_pos[defined])
    columns["f1"][at] = f1[defined]
    return pd.DataFrame({"category_id": v.cats, **columns})


def per_class_best_f1(match: MatchResult, *, classes=None, image_ids=None) -> pd.DataFrame:
    """``category_id, threshold, precision, recall, f1``: each class (ascending id) at the confidence threshold
    that maximises its own F1 — ``best_f1(f1_by_confidence(match, classes=[c], …))`` for every class at once
    (NaN where the class has no kept, non-ignored prediction)."""
    return _best_per_class(_View(match, classes, image_ids))


def selection_tables(match: MatchResult, *, classes=None, image_ids=None) -> dict:
    """Every table of one selection from one pass over the match: ``summary`` (``detection_summary``),
    ``per_class``, ``pr_curves``, ``f1`` (``f1_by_confidence``), ``best_per_class`` (``per_class_best_f1``)."""
    v = _View(match, classes, image_ids)
    summary = _summary(match, v.cats, image_ids, v)
    return {"summary": summary, "per_class": summary["per_class"], "pr_curves": _pr_curves(v), "f1": _f1(v),
            "best_per_class": _best_per_class(v)}


def best_f1(curve: pd.DataFrame) -> dict:
    """The row of ``f1_by_confidence`` with the highest F1 (ties: the highest threshold), as a dict;
    all NaN when the curve is empty or F1 is undefined everywhere."""
    f1 = curve["f1"].to_numpy() if len(curve) else np.zeros(0)
    if len(f1) == 0 or np.isnan(f1).all():
        if len(curve) == 0:
            warnings.warn("no predictions in the selection: best F1 is undefined (NaN)", stacklevel=2)
        return {"threshold": np.nan, "precision": np.nan, "recall": np.nan, "f1": np.nan}
    i = int(np.nanargmax(f1))
    row = curve.iloc[i]
    return {"threshold": float(row["threshold"]), "precision": float(row["precision"]),
            "recall": float(row["recall"]), "f1": float(row["f1"])}
