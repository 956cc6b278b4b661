"""What each error type costs: TIDE-style error classification and ΔAP (Bolya et al., "TIDE: A General Toolbox for
Identifying Object Detection Errors", ECCV 2020; reference implementation ``tidecv``).

At a foreground IoU ``t`` (the selection's IoU threshold) and a background IoU ``b = 0.1``, every false positive
(a kept, non-ignored prediction that is not a true positive under COCO matching, ``explorer.evaluation.Matcher``)
gets exactly one type, the first that applies (IoUs with the non-crowd labels of its image in the selection):

1. ``localisation``: best same-class IoU ``iou_s`` (any label, taken or not) with ``b <= iou_s <= t``;
2. ``classification``: best other-class IoU ``iou_o >= t``;
3. ``duplicate``: best IoU with a same-class label that a higher-scoring prediction took ``>= t``;
4. ``background``: best IoU with any label ``<= b``;
5. ``both``: none of the above (wrong class *and* poorly localised).

A label nobody took is ``missed`` unless a classification or localisation error points at it (then fixing that
error recovers it). ΔAP of a type = mAP after its *oracle fix* − mAP (tidecv's ``fix_main_errors``, not
progressive, a negative value set to 0 as tidecv does):

* classification / localisation: of the errors pointing at one untaken label, the highest-scoring becomes a true
  positive of the label's class (same score); the others, and those pointing at a taken label, are removed;
* duplicate, background, both: the predictions are removed;
* missed: the label is removed from the class's label count;
* ``false_positives``: every false positive removed (perfect precision at the same recall);
* ``false_negatives``: every class's label count set to its true positives (perfect recall, same precision).

mAP is COCO's 101-point interpolated AP at ``t`` (``_fixed_precision``, which repeats ``kernels.accumulate``'s
float operations: the same numbers as ``evaluate_coco``'s per-class precision), averaged over the classes that have labels in the selection (COCO's
rule; predictions of a class without labels count for nothing, though their errors are classified). After a fix
a class left with no labels counts as AP 0 if it still has predictions and drops out of the mean if it has none
(tidecv's rule). Definitions and the differences from ``tidecv`` are in docs/evaluation.md.

Cost at scale: what does not depend on the IoU is kept per matcher (``_BASE``): a selection's points (its kept
predictions, per classes, images and confidence: ``_Selected``) in per-class order with their score ranks — the
match's own orders filtered, the Matcher's arrays themselves when every row is selected — and the best same- /
other-class label of each prediction per (labels, rows) selected (label rows only: the IoUs are read back from
the matcher). A prediction matched to a crowd at some IoU stays a point that is not counted, so an IoU move sorts
nothing: one compiled pass classifies the false positives, one groups the points' positions by outcome, and each
of the 8 fixes (and the 5 x 8 per-bucket fixes) is a set of removed / inserted positions and one compiled pass
over the true positives. Kept at 100k (2M predictions): ~20 bytes per prediction per selection, ~12 per IoU
(``ErrorCost``: a code per point, positions, the errors' label rows; error rows are built on use).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

import numba
import numpy as np
import pandas as pd

from explorer.evaluation import kernels
from explorer.evaluation.coco import REC_THRESHOLDS
from explorer.evaluation.layout import MAX_DETS, lookup

ERROR_TYPES = ("classification", "localisation", "both", "duplicate", "background", "missed")
SPECIAL_TYPES = ("false_positives", "false_negatives")
DELTA_KEYS = ERROR_TYPES + SPECIAL_TYPES
BACKGROUND_THRESHOLD = 0.1
# recall points of the 101-point AP: pycocotools' ``np.linspace(0, 1, 101)`` (some points lie one ulp above k/100,
# e.g. 0.15000000000000002) or tidecv's exact ``k / 100``; they differ when a class's recall lands on such a point
RECALL_GRIDS = {"coco": REC_THRESHOLDS, "tidecv": np.arange(101) / 100}
TITLES = {"classification": "Classification", "localisation": "Localisation", "both": "Both (class and box)",
          "duplicate": "Duplicate", "background": "Background", "missed": "Missed",
          "false_positives": "All false positives", "false_negatives": "All false negatives"}
_PRED_KIND = {k: i for i, k in enumerate(ERROR_TYPES[:5], start=1)}  # 0 = true positive / not an error


@dataclass
class ErrorCost:
    """TIDE error cost of one selection at foreground IoU ``iou_threshold``.

    ``ap``: mAP at t (fraction). ``delta_ap``: ``{type: mAP gained by its oracle fix}`` for ``DELTA_KEYS``
    (fractions). ``counts``: errors per type (``false_positives``/``false_negatives``: all FPs / all unmatched
    labels). ``per_class``: one row per class with labels: ``category_id, name, ap``, ``delta_<type>`` and
    ``n_<type>``. ``errors``: one row per error: ``kind, image_id, pred_id, label_id`` (the prediction, and the
    label it points at: the nearest label of the type's rule, or the missed label), ``category_id`` (the
    prediction's class, the missed label's class), ``label_category_id``, ``score``, ``iou`` (the IoU the rule
    tested), ``fixable`` (classification / localisation: its fix recovers the label).
    """

    ap: float
    counts: dict
    error_source: dict = field(repr=False)  # compact: per-point codes, error targets + the matcher (shared)
    iou_threshold: float
    background_threshold: float
    state: "_State" = field(repr=False, default=None)
    # () -> (delta_ap, per_class): the eight oracle fixes run on first use (the suspects queue needs none of them)
    fixes: object = field(repr=False, default=None, compare=False)

    @cached_property
    def _fixed(self) -> tuple[dict, pd.DataFrame]:
        return self.fixes()

    @property
    def delta_ap(self) -> dict:
        """``{type: mAP gained by its oracle fix}`` (class docstring), computed on first use."""
        return self._fixed[0]

    @property
    def per_class(self) -> pd.DataFrame:
        """One row per class with labels (class docstring), computed on first use."""
        return self._fixed[1]

    @property
    def error_rows(self) -> dict:
        """The errors as NumPy columns (built on each use from the compact ``error_source``, so a kept
        ``ErrorCost`` holds ~6 bytes per error besides its per-point code): ``kind`` (index in ``ERROR_TYPES``),
        ``image_id``, ``pred_id`` / ``label_id`` (-1 where ``has_pred`` / ``has_label`` is False), ``label_row``
        (the label's row in the match's ``labels`` table, -1), ``category_id``, ``label_category_id`` (-1),
        ``score``, ``iou`` (read back from the matcher's IoUs), ``fixable``; prediction errors in layout order,
        then the missed labels."""
        s = self.error_source
        lab = s["matcher"].data.labels
        gt_rows = s["matcher"].layout.gt_rows
        p = self._prediction_columns(None)
        mr = s["missed"].astype(np.int64)
        mg = gt_rows[mr]
        n_m = len(mr)
        missed = {"kind": np.full(n_m, ERROR_TYPES.index("missed"), np.int8),
                  "image_id": lab.image_id[mg].astype(np.int64), "pred_id": np.full(n_m, -1, np.int64),
                  "has_pred": np.zeros(n_m, bool), "label_id": lab.ids[mg].astype(np.int64), "label_row": mr,
                  "has_label": np.ones(n_m, bool), "category_id": lab.category_id[mg].astype(np.int64),
                  "label_category_id": lab.category_id[mg].astype(np.int64), "score": np.full(n_m, np.nan),
                  "iou": np.full(n_m, np.nan), "fixable": np.zeros(n_m, bool)}
        return {c: np.concatenate([p[c], missed[c]]) for c in p}

    def prediction_error_rows(self, kinds, keep=None) -> dict:
        """``error_rows``' columns for the prediction errors of ``kinds`` (names in ``ERROR_TYPES``) only, and
        of those the ones where ``keep({"kind", "score", "fixable"})`` (a boolean mask over them) holds: the
        other columns are built for the kept rows alone (the suspects queue keeps ~10% of ~1.4M errors at 100k).
        Same values and order as ``error_rows`` restricted to those rows."""
        s = self.error_source
        code = s["code"]
        err = np.flatnonzero((code > 0) & (code < _IGNORED))
        wanted = np.zeros(len(ERROR_TYPES) + 1, bool)
        wanted[[ERROR_TYPES.index(k) + 1 for k in kinds]] = True
        at = np.flatnonzero(wanted[code[err]])  # positions among the prediction errors
        if keep is not None:
            m = s["matcher"]
            dr = m.layout.dt_rows[s["points"].layout_rows(err[at])]
            at = at[keep({"kind": code[err[at]] - 1, "score": m.data.predictions.score[dr].astype(np.float64),
                          "fixable": s["fixable"][at]})]
        return self._prediction_columns(at, err)

    @property
    def pointed_label_rows(self) -> np.ndarray:
        """The match label rows the prediction errors point at (int64, layout order of the errors, -1 dropped):
        ``error_rows["label_row"]`` of the non-missed rows that have one."""
        tgt = self.error_source["target"].astype(np.int64)
        return tgt[tgt >= 0]

    def _prediction_columns(self, at: np.ndarray | None, err: np.ndarray | None = None) -> dict:
        """``error_rows``' columns of the prediction errors at positions ``at`` among them (all if None)."""
        s = self.error_source
        matcher = s["matcher"]
        pred, lab = matcher.data.predictions, matcher.data.labels
        dt_rows, gt_rows = matcher.layout.dt_rows, matcher.layout.gt_rows
        code = s["code"]
        if err is None:
            err = np.flatnonzero((code > 0) & (code < _IGNORED))
        tgt = s["target"].astype(np.int64)
        fixable = s["fixable"]
        if at is not None:
            err, tgt, fixable = err[at], tgt[at], fixable[at]
        err_d = s["points"].layout_rows(err)
        dr = dt_rows[err_d]
        has_t = tgt >= 0
        gr = gt_rows[np.maximum(tgt, 0)] if len(gt_rows) else np.zeros(len(tgt), np.int64)
        n_e = len(dr)
        lab_ids, lab_cat = (lab.ids, lab.category_id) if len(gt_rows) else (np.full(1, -1), np.full(1, -1))  # (no labels)
        return {"kind": code[err] - 1, "image_id": pred.image_id[dr].astype(np.int64),
                "pred_id": pred.ids[dr].astype(np.int64), "has_pred": np.ones(n_e, bool),
                "label_id": np.where(has_t, lab_ids[gr], -1).astype(np.int64), "label_row": tgt,
                "has_label": has_t, "category_id": pred.category_id[dr].astype(np.int64),
                "label_category_id": np.where(has_t, lab_cat[gr], -1).astype(np.int64),
                "score": pred.score[dr].astype(np.float64),
                # the IoU each rule tested is the one with the label it points at (0 with none)
                "iou": iou_at(matcher, err_d, tgt), "fixable": np.asarray(fixable, bool)}

    @cached_property
    def errors(self) -> pd.DataFrame:
        """The errors as a table (class docstring), built on first use from ``error_rows``: the chart and the
        suspects queue read the arrays, only a caller who wants the rows pays for them."""
        e = self.error_rows
        has_p, has_l = e["has_pred"], e["has_label"]
        return pd.DataFrame({
            "kind": pd.Categorical.from_codes(e["kind"], categories=list(ERROR_TYPES)), "image_id": e["image_id"],
            "pred_id": pd.arrays.IntegerArray(np.where(has_p, e["pred_id"], 0), ~has_p),
            "label_id": pd.arrays.IntegerArray(np.where(has_l, e["label_id"], 0), ~has_l),
            "category_id": e["category_id"],
            "label_category_id": pd.arrays.IntegerArray(np.where(has_l, e["label_category_id"], 0), ~has_l),
            "score": e["score"], "iou": e["iou"], "fixable": e["fixable"]})

    def as_dict(self) -> dict:
        """``{"ap", "delta_ap", "counts", "iou_threshold", "background_threshold"}`` (plain floats / ints)."""
        return {"ap": float(self.ap), "delta_ap": {k: float(v) for k, v in self.delta_ap.items()},
                "counts": {k: int(v) for k, v in self.counts.items()},
                "iou_threshold": float(self.iou_threshold), "background_threshold": float(self.background_threshold)}


# ---- best overlaps per prediction, over the matcher's image blocks ------------------------------------------------------
# IoU of (d, g) in a block b of the matcher's layout: ``ious[blk_off[b] + (d - blk_d0[b]) * ncols + (g - blk_g0[b])]``
# (``explorer.evaluation.kernels``). Only label rows are kept per prediction; the IoUs are read back from the layout
# (the same float64 values), so a kept selection holds 8 bytes per prediction instead of 36.
@numba.njit(cache=True, nogil=True)
def _best_args(rows, r0, r1, blk_d0, blk_g0, blk_g1, blk_off, ious, d_cat, g_cat, g_live, arg):
    """For the prediction rows ``rows`` (ascending; ``rows[r0[b]:r1[b]]`` are those in image block ``b``), over
    the labels ``g`` of their image with ``g_live``: ``arg[0, x]`` / ``arg[1, x]`` the first label row reaching the
    highest IoU of the same class / of another class (-1 with none)."""
    for b in range(blk_d0.shape[0]):
        d0 = blk_d0[b]
        g0 = blk_g0[b]
        ncols = blk_g1[b] - g0
        off = blk_off[b]
        for x in range(r0[b], r1[b]):
            d = rows[x]
            row = off + (d - d0) * ncols - g0
            best_s = -1.0
            best_o = -1.0
            for g in range(g0, blk_g1[b]):
                if not g_live[g]:
                    continue
                v = ious[row + g]
                if d_cat[d] == g_cat[g]:
                    if v > best_s:
                        best_s = v
                        arg[0, x] = g
                elif v > best_o:
                    best_o = v
                    arg[1, x] = g


def best_label_rows(matcher, rows: np.ndarray, g_live: np.ndarray) -> np.ndarray:
    """``(2, len(rows))`` label rows: for the layout prediction rows ``rows`` (ascending), the first ``g_live``
    label of the same class (0) / of another class (1) reaching the prediction's highest IoU with such a label
    (-1 with none): one compiled pass over the IoUs the matcher already holds (tidecv's ex.gt matrices)."""
    lay = matcher.layout
    rows = np.asarray(rows, np.int64)
    arg = np.full((2, len(rows)), -1, np.int32 if len(lay.gt_rows) < 2**31 else np.int64)
    r0, r1 = np.searchsorted(rows, lay.blk_d0), np.searchsorted(rows, lay.blk_d1)
    _best_args(rows, r0, r1, lay.blk_d0, lay.blk_g0, lay.blk_g1, lay.blk_off, lay.ious, lay.dt_cat, lay.gt_cat,
               np.ascontiguousarray(g_live), arg)
    return arg


@numba.njit(cache=True, nogil=True)
def _iou_at(d, g, blk_d0, blk_g0, blk_g1, blk_off, ious, out):
    """``out[x]`` = IoU of prediction row ``d[x]`` (ascending) with label row ``g[x]`` of its image (0 where
    ``g[x] < 0``)."""
    b = 0
    for x in range(d.shape[0]):
        while b + 1 < blk_d0.shape[0] and blk_d0[b + 1] <= d[x]:
            b += 1
        if g[x] < 0:
            out[x] = 0.0
        else:
            out[x] = ious[blk_off[b] + (d[x] - blk_d0[b]) * (blk_g1[b] - blk_g0[b]) + (g[x] - blk_g0[b])]


def iou_at(matcher, d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """IoU of each layout prediction row ``d`` (ascending) with the label row ``g`` of its image (0 where -1)."""
    lay = matcher.layout
    out = np.empty(len(d))
    _iou_at(np.asarray(d, np.int64), np.asarray(g, np.int64), lay.blk_d0, lay.blk_g0, lay.blk_g1, lay.blk_off,
            lay.ious, out)
    return out


@numba.njit(cache=True, nogil=True)
def _classify(err_d, col, arg, blk_d0, blk_g0, blk_g1, blk_off, ious, d_cat, g_cat, g_live, g_used, t, b,
              kind, target):
    """The TIDE rules (module docstring) for the false positives at layout rows ``err_d`` (ascending; ``col``
    their column in ``arg``, ``_best_args``'s label rows): ``kind`` 1 classification, 2 localisation, 3 both,
    4 duplicate, 5 background and ``target`` the label row the rule points at (-1: none). With ``s`` / ``o`` the
    best same- / other-class IoU and ``a = max(s, o)`` (its label: the first row reaching it): localisation if
    ``b <= s <= t``, else classification if ``o >= t``, else duplicate if a taken (``g_used``) live same-class label
    has IoU ``>= t`` (searched only when ``s >= t``), else background if ``a <= b``, else both."""
    blk = 0
    for x in range(err_d.shape[0]):
        d = err_d[x]
        while blk + 1 < blk_d0.shape[0] and blk_d0[blk + 1] <= d:
            blk += 1
        g0 = blk_g0[blk]
        row = blk_off[blk] + (d - blk_d0[blk]) * (blk_g1[blk] - g0) - g0
        gs = arg[0, col[x]]
        go = arg[1, col[x]]
        s = ious[row + gs] if gs >= 0 else -1.0
        o = ious[row + go] if go >= 0 else -1.0
        if s > o:
            a, ga = s, gs
        elif o > s:
            a, ga = o, go
        else:
            a, ga = s, min(gs, go)
        if b <= s <= t:
            kind[x], target[x] = 2, gs
        elif o >= t:
            kind[x], target[x] = 1, go
        else:
            u = -1.0
            gu = -1
            if s >= t:
                for g in range(g0, blk_g1[blk]):
                    if g_live[g] and g_used[g] and d_cat[d] == g_cat[g]:
                        v = ious[row + g]
                        if v > u:
                            u = v
                            gu = g
            if u >= t:
                kind[x], target[x] = 4, gu
            elif a <= b:
                kind[x], target[x] = 5, ga
            else:
                kind[x], target[x] = 3, ga


@numba.njit(cache=True, nogil=True)
def _insert_at(rank_o, cat_start, ks, rs, out):
    """``out[q]``: where a point of class ``ks[q]`` and score key ``rs[q]`` goes in the per-class order (before
    the first point of its class with a key ``>= rs[q]``; ``rank_o`` ascends within each class range)."""
    for q in range(ks.shape[0]):
        lo = cat_start[ks[q]]
        hi = cat_start[ks[q] + 1]
        while lo < hi:
            mid = (lo + hi) // 2
            if rank_o[mid] < rs[q]:
                lo = mid + 1
            else:
                hi = mid
        out[q] = lo


# IoU-independent intermediates of one matcher and selection: the selection's rows and orders (``_Selected``, per
# classes, images and confidence) and the best labels of its predictions. Keyed by the matcher and what they depend
# on; 6 kept (~24 MB a selection of every row, ~16 MB best labels at 2M predictions).
_BASE: OrderedDict = OrderedDict()


def _reuse(matcher, tag: str, key, make):
    """``make()`` kept per (matcher, ``tag``, ``key``): ``key`` is hashable, or a tuple of masks (hashed)."""
    import hashlib

    from explorer.analysis.outcomes import _remember

    if tag == "best":
        key = (tuple(len(x) for x in key), hashlib.blake2b(
            b"".join(np.packbits(np.asarray(x, bool)).tobytes() for x in key), digest_size=16).digest())
    held = _remember(_BASE, (id(matcher), tag, key), lambda: (matcher, make()), size=6)
    return held[1] if held[0] is matcher else make()  # an id reused by a new matcher: compute afresh


# ---- AP of a set of data points ------------------------------------------------------------------------------------------
def class_aps(k: np.ndarray, score: np.ndarray, tp: np.ndarray, n_labels: np.ndarray,
              rec_thrs: np.ndarray = REC_THRESHOLDS, *, by_score: np.ndarray | None = None,
              keep: np.ndarray | None = None) -> np.ndarray:
    """COCO 101-point AP per class of data points (class position ``k``, ``score``, true positive ``tp``; shape
    (n,), rows in pycocotools' order for ties: image, then rank) and label counts ``n_labels`` (K,).

    AP_k = mean over r in ``rec_thrs`` (default pycocotools') of the right-envelope precision at the first recall
    >= r (0 past the end); NaN for a class without labels or data points, 0 for a class without labels that has
    data points. ``keep`` (bool, (n,)): only these points; ``by_score``: ``argsort(-score, kind="stable")`` when
    the caller has it (then the per-class order is one stable integer sort, as ``lexsort((-score, k))`` gives)."""
    n_cat = len(n_labels)
    if by_score is None:
        by_score = np.argsort(-score, kind="stable")
    if keep is not None:
        by_score = by_score[keep[by_score]]
    ks = k[by_score].astype(np.int32 if n_cat > np.iinfo(np.int16).max else np.int16)
    order = by_score[np.argsort(ks, kind="stable")]  # small integers: radix sort
    return _aps_in_order(order, k, tp, n_labels, rec_thrs)


def _aps_in_order(order: np.ndarray, k: np.ndarray, tp: np.ndarray, n_labels: np.ndarray, rec_thrs: np.ndarray) -> np.ndarray:
    """``class_aps`` given the data points to count in per-class order (``order``: class-major, descending score)."""
    n_cat = len(n_labels)
    counts = np.bincount(k[order], minlength=n_cat)
    cat_start = np.zeros(n_cat + 1, np.int64)
    np.cumsum(counts, out=cat_start[1:])
    npig = np.asarray(n_labels, np.int64)[:, None]
    precision = -np.ones((1, len(rec_thrs), n_cat, 1, 1))
    recall = -np.ones((1, n_cat, 1, 1))
    n = len(k)
    kernels.accumulate(order, cat_start, np.zeros(n, np.int64), np.asarray(tp, bool)[None, None, :],
                       np.zeros((1, 1, n), bool), npig, (counts + npig[:, 0]) > 0, np.array([MAX_DETS], np.int64),
                       rec_thrs, precision, recall)
    ap = precision[0, :, :, 0, 0].mean(axis=0)
    return np.where(npig[:, 0] > 0, ap, np.where(counts > 0, 0.0, np.nan))


def _mean_ap(aps: np.ndarray, classes: np.ndarray) -> float:
    """Mean AP over ``classes`` (bool, the base classes) that are still defined (not NaN)."""
    v = aps[classes]
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


_EPS = kernels.EPS


@numba.njit(cache=True, nogil=True, inline="always")
def _below(sorted_pos, i, bound):
    """The first index from ``i`` on whose ``sorted_pos`` (ascending) is not below ``bound``."""
    n = sorted_pos.shape[0]
    while i < n and sorted_pos[i] < bound:
        i += 1
    return i


# ---- AP of one oracle fix: one compiled pass over the points in per-class order ---------------------------------------
@numba.njit(cache=True, nogil=True)
def _fixed_precision(tp_pos, tp_start, cat_start, rem, ign, ins_pos, ins_k, n_pos, rec_thrs, precision, counts, rc, pr):
    """COCO 101-point precision per class after a fix, as ``kernels.accumulate`` computes it (same float
    operations on the same counts: the same bits), visiting only the true positives and the fix's points.

    Points are in the base per-class order (class, then descending score): ``cat_start`` (K + 1,) the class
    ranges, ``tp_pos`` the positions of the true positives (ascending) and ``tp_start`` (K + 1,) its class
    ranges. Not counted: ``ign`` (ascending; the points matched to a crowd at this IoU) and the fix's ``rem``
    (ascending, disjoint from ``ign``: false positives it removes, never a TP); true positives it inserts:
    ``ins_k[q]`` the class and ``ins_pos[q]`` the base position they go before (sorted by class, then
    position). ``n_pos`` (K,) labels per class. Output: ``precision[r, k]`` (left as is for a class without
    labels) and ``counts[k]`` the counted points. A TP entry needs only ``tp`` and ``nd`` (points counted up to
    it): ``rc = tp / n_pos``, ``pr = tp / ((nd - tp) + tp + eps)``; ``pr`` non-increasing from the right;
    ``precision[r] = pr[first rc >= r]`` (0 past the end). False positives add no entry (they only raise
    ``nd``; see ``kernels.accumulate``)."""
    n_cat = cat_start.shape[0] - 1
    n_ins = ins_pos.shape[0]
    n_rec = rec_thrs.shape[0]
    r = 0
    z = 0
    q = 0
    for k in range(n_cat):
        c0 = cat_start[k]
        c1 = cat_start[k + 1]
        i = tp_start[k]
        i1 = tp_start[k + 1]
        npos = n_pos[k]
        tp = 0
        removed = 0
        inserted = 0
        while True:
            if q < n_ins and ins_k[q] == k and (i >= i1 or ins_pos[q] <= tp_pos[i]):
                p = ins_pos[q]
                q += 1
                inserted += 1
                below = 0  # the points before it, and itself
            elif i < i1:
                p = tp_pos[i]
                i += 1
                below = 1
            else:
                break
            r1, z1 = _below(rem, r, p), _below(ign, z, p)
            removed += (r1 - r) + (z1 - z)
            r, z = r1, z1
            nd = (p - c0 + below) - removed + inserted
            if npos > 0:
                tp += 1
                tpf = float(tp)
                rc[tp - 1] = tpf / npos
                pr[tp - 1] = tpf / (float(nd - tp) + tpf + _EPS)
        r1, z1 = _below(rem, r, c1), _below(ign, z, c1)
        removed += (r1 - r) + (z1 - z)
        r, z = r1, z1
        counts[k] = (c1 - c0) - removed + inserted
        if npos == 0:
            continue
        for j in range(tp - 1, 0, -1):
            if pr[j] > pr[j - 1]:
                pr[j - 1] = pr[j]
        j = 0
        for t in range(n_rec):  # searchsorted(rc, r, 'left') for ascending r: one forward sweep
            v = rec_thrs[t]
            while j < tp and rc[j] < v:
                j += 1
            precision[t, k] = pr[j] if j < tp else 0.0


_WINNER = 8  # a flag on a point's code, while positions are gathered: its fix makes it a TP


@numba.njit(cache=True, nogil=True)
def _positions_by_code(by_class, code, n_codes, pos, start, win_pos):
    """One pass over the per-class order: ``pos[start[c]:start[c + 1]]`` the positions ``j`` whose point
    ``by_class[j]`` has code c (ascending; ``start`` (n_codes + 1,) zeros in, the counts first) and ``win_pos``
    the positions (ascending) of the points flagged ``_WINNER`` in ``code``; returns how many were flagged."""
    n = by_class.shape[0]
    code_o = np.empty(n, np.int8)
    for j in range(n):  # the only scattered reads: 1 byte per point
        c = code[by_class[j]]
        code_o[j] = c
        start[(c & 7) + 1] += 1
    for c in range(n_codes):
        start[c + 1] += start[c]
    fill = start[:n_codes].copy()
    w = 0
    for j in range(n):
        c = code_o[j]
        if c & _WINNER:
            win_pos[w] = j
            w += 1
            c &= 7
        pos[fill[c]] = j
        fill[c] += 1
    return w


# ---- the state one oracle fix works on -------------------------------------------------------------------------------
_IGNORED = 6  # point code of a prediction matched to a crowd at this IoU (counted nowhere)


class _State:
    """The points (the selection's kept predictions, ``n``) and labels of one selection at one IoU, in the
    per-class order a fix works on (a fix is a set of positions of that order, never a re-sort).

    IoU-independent (shared by the selection's states, ``_Selected``): ``by_class (n,)`` the points in per-class
    order (class, then descending score, ties in input order), ``rank_o (n,)`` an increasing score key of that order
    within a class (below ``span``), ``cat_start (K + 1,)`` the class ranges. Per IoU: ``code (n,)`` int8 per point
    in input order (0 true positive, 1 + index in ``ERROR_TYPES[:5]`` an error, ``_IGNORED``), the fixable errors
    ``win_pos`` (their per-class positions, ascending), ``win_k`` (the class they become) and ``win_rank`` (their
    score key), ``lab_k`` per selected non-crowd label, ``lab_missed`` / ``lab_fn``; ``n_labels (K,)``; ``base``
    (K,) classes with labels. Derived once: ``tp_pos``/``tp_start``, ``kind_pos`` per error code and ``ign_pos``
    (per-class positions, int32). ``data_points``: the points that are not ignored (input order)."""

    def __init__(self, *, by_class, rank_o, cat_start, span, code, win_idx, win_k, lab_k, lab_missed, lab_fn,
                 n_labels, rec_thrs=REC_THRESHOLDS, rank=None, pred_ids=None, label_ids=None):
        n = len(code)
        idx = np.int32 if max(n, span) < 2**31 else np.int64
        self.by_class, self.rank_o, self.cat_start, self.span = by_class, rank_o, cat_start, max(int(span), 1)
        self.code = code
        # every point's per-class position grouped by code (one array: the TPs, each error kind, the ignored)
        win_idx = np.asarray(win_idx, np.int64)
        flagged = np.asarray(code, np.int8).copy()
        flagged[win_idx] |= _WINNER
        pos, start = np.empty(n, idx), np.zeros(_IGNORED + 2, np.int64)
        win_pos = np.empty(len(win_idx), idx)
        _positions_by_code(by_class, flagged, _IGNORED + 1, pos, start, win_pos)
        self.tp_pos = pos[start[0]:start[1]]
        self.tp_start = np.searchsorted(self.tp_pos, cat_start)
        self.kind_pos = {c: pos[start[c]:start[c + 1]] for c in _PRED_KIND.values()}
        self.ign_pos = pos[start[_IGNORED]:start[_IGNORED + 1]]
        # the fixable errors by their per-class position: the class they become and their score key
        by_point = np.argsort(win_idx, kind="stable")
        slot = by_point[np.searchsorted(win_idx[by_point], by_class[win_pos])]
        self.win_pos, self.win_k = win_pos, np.asarray(win_k, np.int64)[slot]
        self.win_rank = (rank_o[win_pos] if rank is None else rank[win_idx[slot]]).astype(np.int64)
        self.lab_k, self.lab_missed, self.lab_fn = lab_k, lab_missed, lab_fn
        self.n_labels = np.asarray(n_labels, np.int64)
        self.base = self.n_labels > 0
        self.rec_thrs = rec_thrs
        self._pred_ids, self._label_ids = pred_ids, label_ids
        # error codes that have fixable points: fixing a kind without any (both, duplicate, background) is removing
        # its points, with no search for the fixable among them
        self.win_codes = frozenset(np.unique(np.asarray(code)[win_idx]).tolist())
        self.base_aps = self._aps(None, None, None)  # nothing fixed: the APs as they are

    @classmethod
    def from_points(cls, *, k, score, tp, kind, fix_k, lab_k, lab_missed, lab_fn, n_labels,
                    rec_thrs=REC_THRESHOLDS) -> "_State":
        """A state of data points given one by one (class ``k``, ``score``, ``tp``, ``kind`` 0 TP else 1 + error
        index, ``fix_k`` the class a fix makes it a TP of, -1 none), sorted here (no ignored points)."""
        n, n_cat = len(k), len(n_labels)
        by_score = np.argsort(-np.asarray(score), kind="stable")
        small = np.int32 if n_cat > np.iinfo(np.int16).max else np.int16
        by_class = by_score[np.argsort(np.asarray(k)[by_score].astype(small), kind="stable")]  # radix sort
        rank = np.empty(n, np.int64)
        rank[by_score] = np.arange(n)
        cat_start = np.zeros(n_cat + 1, np.int64)
        np.cumsum(np.bincount(k, minlength=n_cat), out=cat_start[1:])
        win = np.flatnonzero(np.asarray(fix_k) >= 0)
        return cls(by_class=by_class, rank_o=rank[by_class], cat_start=cat_start, span=n,
                   code=np.where(np.asarray(tp, bool), 0, kind).astype(np.int8), win_idx=win,
                   win_k=np.asarray(fix_k)[win], lab_k=lab_k, lab_missed=lab_missed, lab_fn=lab_fn,
                   n_labels=n_labels, rec_thrs=rec_thrs, rank=rank)

    @property
    def data_points(self) -> np.ndarray:
        """Indices of the points AP counts (not ignored), ascending."""
        return np.flatnonzero(self.code != _IGNORED)

    @property
    def kind_o(self) -> np.ndarray:
        """``code`` in the per-class order (int8)."""
        return self.code[self.by_class]

    @property
    def pred_ids(self) -> np.ndarray:
        """``pred_id`` of each data point (``data_points`` order)."""
        return self._pred_ids(self.data_points)

    @property
    def label_ids(self) -> np.ndarray:
        """``label_id`` of each selected non-crowd label (``lab_k`` order)."""
        return self._label_ids()

    def fixed_aps(self, fix_dp: np.ndarray | None = None, drop_labels: np.ndarray | None = None,
                  remove_dp: np.ndarray | None = None) -> np.ndarray:
        """Per-class AP after fixing the points ``fix_dp`` (bool: their oracle fix), removing ``remove_dp``
        and taking the labels ``drop_labels`` (bool over labels) out of the counts; point masks in the
        per-class order ``by_class``. NaN for a class without labels or counted points, 0 for a class without
        labels that has counted points."""
        if fix_dp is not None and remove_dp is not None:
            fix_dp = fix_dp & ~remove_dp  # removed wins (it would not come back as a TP)
        fix = np.flatnonzero(fix_dp) if fix_dp is not None else None
        rem = np.flatnonzero(remove_dp) if remove_dp is not None else None
        return self._aps(fix, rem, drop_labels)

    def _aps(self, fix: np.ndarray | None, rem: np.ndarray | None, drop_labels: np.ndarray | None) -> np.ndarray:
        """``fixed_aps`` with the fixed / removed points as ascending positions of the per-class order."""
        empty = np.zeros(0, np.int64)
        ins_pos = ins_k = empty
        if fix is not None and len(fix):
            # a fixed point leaves its place; one its fix makes a TP comes back at its (class, score rank)
            # position of the base order (same class: where it was)
            at = np.minimum(np.searchsorted(fix, self.win_pos), len(fix) - 1)  # the fixable among them
            hit = np.flatnonzero(fix[at] == self.win_pos)
            to, rk = self.win_k[hit], self.win_rank[hit]
            s = np.argsort(to * self.span + rk, kind="stable")
            ins_k = to[s]
            ins_pos = np.empty(len(s), np.int64)
            _insert_at(self.rank_o, self.cat_start, ins_k, rk[s], ins_pos)
            rem = fix if rem is None else np.union1d(rem, fix)
        rem = empty if rem is None else rem.astype(np.int64)
        n = self.n_labels
        if drop_labels is not None and drop_labels.any():
            n = n - np.bincount(self.lab_k[drop_labels], minlength=len(n))
        n_cat = len(n)
        precision = -np.ones((len(self.rec_thrs), n_cat))
        counts = np.zeros(n_cat, np.int64)
        scratch = max(len(self.tp_pos) + len(ins_pos), 1)  # TP entries of one class at most
        _fixed_precision(self.tp_pos, self.tp_start, self.cat_start, rem, self.ign_pos, ins_pos, ins_k, n,
                         self.rec_thrs, precision, counts, np.empty(scratch), np.empty(scratch))
        ap = precision.mean(axis=0)
        return np.where(n > 0, ap, np.where(counts > 0, 0.0, np.nan))

    def to_class_order(self, dp_values: np.ndarray, fill=False) -> np.ndarray:
        """Values over the data points (``data_points`` order) in the per-class order of ``fixed_aps`` (``fill``
        at ignored points)."""
        dp_values = np.asarray(dp_values)
        if len(dp_values) == len(self.code):
            return dp_values[self.by_class]
        out = np.full(len(self.code), fill, dp_values.dtype)
        out[self.data_points] = dp_values
        return out[self.by_class]

    def delta(self, kind: str, dp_in: np.ndarray | None = None, lab_in: np.ndarray | None = None, *,
              ordered: bool = False) -> tuple[float, np.ndarray]:
        """(ΔmAP, per-class ΔAP) of the oracle fix of ``kind`` restricted to data points ``dp_in`` and labels
        ``lab_in`` (bool masks; None = all; ``ordered``: ``dp_in`` is already in the per-class order)."""
        if dp_in is not None and not ordered:
            dp_in = self.to_class_order(dp_in)

        def within(pos):
            return pos if dp_in is None else pos[dp_in[pos]]

        if kind in _PRED_KIND:
            c = _PRED_KIND[kind]
            fix = {"fix" if c in self.win_codes else "rem": within(self.kind_pos[c])}
        elif kind == "missed":
            fix = {"drop_labels": self.lab_missed if lab_in is None else self.lab_missed & lab_in}
        elif kind == "false_positives":
            code_o = self.kind_o
            fix = {"rem": within(np.flatnonzero((code_o > 0) & (code_o < _IGNORED)))}
        else:
            fix = {"drop_labels": self.lab_fn if lab_in is None else self.lab_fn & lab_in}
        (what, v), = fix.items()
        if not (v.any() if what == "drop_labels" else len(v)):  # nothing to fix: the same APs, no pass needed
            return 0.0, self.base_aps - self.base_aps
        aps = self._aps(fix.get("fix"), fix.get("rem"), fix.get("drop_labels"))
        d = _mean_ap(aps, self.base) - _mean_ap(self.base_aps, self.base)
        if kind in ERROR_TYPES:
            d = max(d, 0.0)  # tidecv: a negative main-error ΔAP is an interpolation artefact, shown as 0
        return float(d), aps - self.base_aps


@dataclass
class _Selected:
    """What one selection of a matcher's rows is at a confidence threshold, whatever the IoU (kept: ``_selected``).

    ``cats (K,)`` class ids; ``d_k (n_dt,)`` / ``g_k (n_gt,)`` class positions of the layout's prediction / label
    rows (-1 = not selected; int16 below 32k classes); ``in_d`` / ``in_g`` selected rows (class and image);
    ``kept`` the layout rows with ``score >= c`` (= the match's rows, in order); ``cand`` the match rows of the
    selected predictions (ascending): the ``n`` points of every IoU's ``_State`` (a prediction matched to a crowd
    at an IoU is a point that is not counted). ``kept`` / ``cand`` / ``sel_rows`` are None where they would
    be ``arange`` (no confidence cut, every row selected: the usual view keeps no copy of them); read them through
    ``layout_rows`` / ``of_points`` / ``column``. ``by_class``: the points by class then descending score, ``rank`` each
    one's position by descending score, ``rank_o = rank[by_class]``, ``cat_start (K + 1,)`` the class ranges —
    the match's own stable orders (``MatchResult.class_score_order`` / ``score_order``, the same at every IoU for
    one confidence) filtered, or sorted here when the match has none. ``sel_rows``: the selected layout rows
    (ascending; a row's position in it is its column of the best label rows)."""

    cats: np.ndarray
    d_k: np.ndarray
    g_k: np.ndarray
    in_d: np.ndarray
    in_g: np.ndarray
    kept: np.ndarray
    cand: np.ndarray
    by_class: np.ndarray
    rank: np.ndarray
    rank_o: np.ndarray
    cat_start: np.ndarray
    sel_rows: np.ndarray | None
    n: int

    def layout_rows(self, points: np.ndarray) -> np.ndarray:
        """Layout rows of the points ``points`` (indices into the selection's points)."""
        rows = points if self.cand is None else self.cand[points]
        return rows if self.kept is None else self.kept[rows]

    def of_points(self, column: np.ndarray) -> np.ndarray:
        """A match column (one value per match row) at the points (a new array)."""
        return column.copy() if self.cand is None else column[self.cand]

    def column(self, layout_rows: np.ndarray) -> np.ndarray:
        """Each selected layout row's position among the selected rows (its column of the best label rows)."""
        return layout_rows if self.sel_rows is None else np.searchsorted(self.sel_rows, layout_rows)


def _selected(matcher, m, classes, image_ids, confidence_threshold: float) -> _Selected:
    """``_Selected`` of ``matcher``'s rows for ``classes`` / ``image_ids`` (None = all) at the confidence threshold,
    kept per matcher (``_reuse``); ``m`` a match at that confidence (its orders and category names)."""
    import hashlib

    from explorer.evaluation.layout import sorted_unique
    from explorer.evaluation.tables import resolve_classes

    ids = None if image_ids is None else np.asarray(
        image_ids if isinstance(image_ids, np.ndarray) else list(image_ids), np.int64)
    key = (None if classes is None else tuple(resolve_classes(classes, m.category_names).tolist()),
           None if ids is None else (len(ids), hashlib.blake2b(ids.tobytes(), digest_size=16).digest()),
           float(confidence_threshold))

    def make():
        lay, data = matcher.layout, matcher.data
        # the layout's category / image positions (in the matcher's sorted id lists) through small tables: no
        # gather of 2M ids
        cat_list = np.asarray(matcher.cat_list, np.int64)
        if classes is None:  # the named categories and every category in the rows
            present = (np.bincount(lay.dt_cat, minlength=len(cat_list))[:len(cat_list)]
                       + np.bincount(lay.gt_cat, minlength=len(cat_list))[:len(cat_list)]) > 0
            cats = sorted_unique(np.asarray(sorted(m.category_names), np.int64), cat_list[present])
        else:
            cats = resolve_classes(classes, m.category_names)
        k_type = np.int16 if len(cats) < np.iinfo(np.int16).max else np.int32  # kept per selection
        k_of = lookup(cats, cat_list, dtype=k_type)
        d_k, g_k = k_of[lay.dt_cat], k_of[lay.gt_cat]
        in_d, in_g = d_k >= 0, g_k >= 0
        if ids is not None:
            known = lookup(np.unique(ids), np.asarray(matcher.image_list, np.int64)) >= 0
            in_d &= known[lay.dt_img]
            in_g &= known[lay.gt_img]
        small = np.int32 if len(lay.dt_rows) < 2**31 else np.int64  # kept per selection: half the bytes
        score = data.predictions.score[lay.dt_rows] if len(m.predictions) < len(lay.dt_rows) or (
            m.class_score_order is None or m.score_order is None) else None  # needed for a cut or a sort only
        kept = None if score is None else np.flatnonzero(score >= confidence_threshold).astype(small)
        kept = None if kept is not None and len(kept) == len(lay.dt_rows) else kept
        sel = in_d if kept is None else in_d[kept]  # per match row
        cand = None if sel.all() else np.flatnonzero(sel).astype(small)
        n = int(np.count_nonzero(sel))
        rows = np.arange(n) if cand is None else cand
        rows = rows if kept is None else kept[rows]  # layout rows of the points
        if m.class_score_order is not None and m.score_order is not None:
            if cand is None:  # every match row: the match's own order (the Matcher's array, no copy)
                by_class, ranked = m.class_score_order, m.score_order
            else:
                point = (np.cumsum(sel) - 1).astype(small)
                by_class = point[m.class_score_order[sel[m.class_score_order]]]
                ranked = point[m.score_order[sel[m.score_order]]]
        else:  # descending score, ties in layout order; then class (a stable radix sort of small integers)
            ranked = np.argsort(-score[rows], kind="stable")
            by_class = ranked[np.argsort(d_k[rows][ranked], kind="stable")].astype(small)
        rank = np.empty(n, small)
        rank[ranked] = np.arange(n, dtype=small)
        cat_start = np.zeros(len(cats) + 1, np.int64)
        np.cumsum(np.bincount(d_k[rows], minlength=len(cats)), out=cat_start[1:])
        sel_rows = None if in_d.all() else np.flatnonzero(in_d).astype(small)
        return _Selected(cats=cats, d_k=d_k, g_k=g_k, in_d=in_d, in_g=in_g, kept=kept, cand=cand,
                         by_class=by_class, rank=rank, rank_o=rank[by_class], cat_start=cat_start, sel_rows=sel_rows,
                         n=n)

    return _reuse(matcher, "selected", key, make)


def error_cost_from_matcher(matcher, iou_threshold: float = 0.5, *, confidence_threshold: float = 0.0,
                            classes=None, image_ids=None, background_threshold: float = BACKGROUND_THRESHOLD,
                            match=None, recall_grid: str = "coco") -> ErrorCost:
    """``ErrorCost`` (module docstring) of ``matcher``'s labels and predictions at foreground IoU
    ``iou_threshold``, keeping predictions with ``score >= confidence_threshold``; ``classes`` (category ids) and
    ``image_ids`` restrict labels and predictions (None = all). ``match``: the matcher's ``MatchResult`` at these
    thresholds when the caller already has it. ``recall_grid``: ``"coco"`` (pycocotools' recall points: ``ap`` is
    ``evaluate_coco``'s AP at t) or ``"tidecv"`` (its exact k/100 points, to compare with tidecv).

    What does not depend on the IoU (the selection's rows and orders, best overlaps with its labels) is kept per
    matcher; per IoU the work is over the match's true/false positives only."""
    t, b = float(iou_threshold), float(background_threshold)
    m = match if match is not None else matcher.match(t, confidence_threshold=confidence_threshold)
    lay = matcher.layout
    data = matcher.data
    n_gt = len(lay.gt_rows)
    s = _selected(matcher, m, classes, image_ids, confidence_threshold)
    cats, d_k, g_k = s.cats, s.d_k, s.g_k
    pr = m.predictions
    tp_c = s.of_points(pr["is_tp"].to_numpy(bool))  # per point (selected kept prediction)
    ign_c = s.of_points(pr["ignored"].to_numpy(bool))  # matched to a crowd: AP counts it nowhere
    tp_c &= ~ign_c
    err_idx = np.flatnonzero(~tp_c & ~ign_c)  # the false positives (points)
    err_d = s.layout_rows(err_idx)  # their layout rows, ascending
    lab = m.labels
    used = lab["detected"].to_numpy(bool)
    lab_live = s.in_g & ~lab["ignored"].to_numpy(bool)

    # best same- / other-class label per prediction over the non-crowd labels of the selection (tidecv's ex.gt
    # matrices): threshold-independent, kept per labels and rows selected (one column per selected prediction
    # row, ``s.column`` its column); the rules read the IoUs back from the layout, on the false positives only
    arg = _reuse(matcher, "best", (lab_live, s.in_d),
                 lambda: best_label_rows(matcher, np.flatnonzero(s.in_d) if s.sel_rows is None else s.sel_rows,
                                         lab_live))
    kind_e = np.empty(len(err_d), np.int8)
    target_e = np.empty(len(err_d), np.int64)
    _classify(err_d.astype(np.int64, copy=False), s.column(err_d).astype(np.int64, copy=False), arg, lay.blk_d0, lay.blk_g0, lay.blk_g1,
              lay.blk_off, lay.ious, lay.dt_cat, lay.gt_cat, np.ascontiguousarray(lab_live),
              np.ascontiguousarray(used), t, b, kind_e, target_e)

    # BestGTMatch: of the classification/localisation errors pointing at an untaken label the highest score fixes it
    claim = ((kind_e == 1) | (kind_e == 2)) & (target_e >= 0)
    claim &= ~np.where(target_e >= 0, used[np.maximum(target_e, 0)] if len(used) else False, True)  # (no labels)
    c_idx = np.flatnonzero(claim)
    tgt = target_e[c_idx]
    # by label, then descending score (ties in layout order): the point's score rank
    c_idx = c_idx[np.argsort(tgt * max(s.n, 1) + s.rank[err_idx[c_idx]], kind="stable")]
    tgt = target_e[c_idx]
    winners = c_idx[np.r_[True, tgt[1:] != tgt[:-1]]] if len(c_idx) else c_idx
    fixable = np.zeros(len(err_d), bool)
    fixable[winners] = True
    usable = np.zeros(n_gt, bool)
    usable[tgt] = True
    missed = lab_live & ~used & ~usable
    fn = lab_live & ~used

    # the state over the selection's points (orders kept with the selection) and labels
    point_code = np.zeros(s.n, np.int8)
    point_code[err_idx] = kind_e
    point_code[ign_c] = _IGNORED
    lab_rows = np.flatnonzero(lab_live)
    lab_k = g_k[lab_rows]
    n_labels = np.bincount(lab_k, minlength=len(cats))
    dt_rows, gt_rows = lay.dt_rows, lay.gt_rows
    state = _State(by_class=s.by_class, rank_o=s.rank_o, cat_start=s.cat_start, span=s.n, code=point_code,
                   win_idx=err_idx[winners], win_k=g_k[target_e[winners]], lab_k=lab_k,
                   lab_missed=missed[lab_rows], lab_fn=fn[lab_rows], n_labels=n_labels,
                   rec_thrs=RECALL_GRIDS[recall_grid], rank=s.rank,
                   pred_ids=lambda points: data.predictions.ids[dt_rows[s.layout_rows(points)]],
                   label_ids=lambda: data.labels.ids[gt_rows[lab_rows]])
    base_aps = state.base_aps

    kind_counts = np.bincount(kind_e, minlength=6)
    counts = {name: int(kind_counts[code]) for name, code in _PRED_KIND.items()}
    counts["missed"] = int(missed.sum())
    counts["false_positives"] = len(err_d)
    counts["false_negatives"] = int(fn.sum())
    names = [m.category_names.get(int(c), str(c)) for c in cats]
    per_kind = np.bincount(d_k[err_d].astype(np.int64) * 6 + kind_e, minlength=len(cats) * 6).reshape(len(cats), 6)
    n_missed = np.bincount(lab_k, weights=missed[lab_rows], minlength=len(cats)).astype(np.int64)

    def fixes() -> tuple[dict, pd.DataFrame]:
        delta, per_class = {}, {}
        for name in DELTA_KEYS:
            delta[name], per_class[name] = state.delta(name)
        table = pd.DataFrame({"category_id": cats, "name": names, "ap": base_aps,
                              **{f"delta_{n}": per_class[n] for n in DELTA_KEYS},
                              **{f"n_{n}": per_kind[:, code].astype(np.int64) for n, code in _PRED_KIND.items()},
                              "n_missed": n_missed})
        return delta, table[state.base].reset_index(drop=True)

    small = np.int32 if max(len(lay.dt_rows), n_gt) < 2**31 else np.int64
    source = {"matcher": matcher, "points": s, "code": point_code, "target": target_e.astype(small),
              "fixable": fixable, "missed": np.flatnonzero(missed).astype(small)}
    return ErrorCost(ap=_mean_ap(base_aps, state.base), counts=counts, error_source=source, iou_threshold=t,
                     background_threshold=b, state=state, fixes=fixes)


def error_cost_by_bucket(cost: ErrorCost, pred_values, label_values, *, n_buckets: int = 5,
                         method: str = "quantile") -> pd.DataFrame:
    """ΔAP of each type's oracle fix restricted to the errors whose item falls in one bucket of a data metric.

    ``pred_values`` / ``label_values``: the metric per prediction / label id (``pd.Series`` indexed by
    ``pred_id`` / ``label_id``, or a float array aligned with ``cost.state.pred_ids`` / ``label_ids``; None =
    the metric is not defined at that level). A prediction's error is in the
    bucket of its own value; a label's (missed, false negative) of the label's. Edges: ``bucketize`` over the
    values of the selection's data points and labels together. One row per bucket: ``bucket, lo, hi, range,
    n_items`` and ``delta_<type>`` / ``n_<type>`` for ``DELTA_KEYS`` (ΔmAP as a fraction, the whole selection's
    mAP: the gain if only that bucket's errors were fixed).
    """
    from explorer.analysis.buckets import bucketize

    s = cost.state
    pv = _values_for(pred_values, s.pred_ids)
    lv = _values_for(label_values, s.label_ids)
    values = np.concatenate([pv, lv])
    if not np.isfinite(values).any():  # the metric is not defined for any item: no bucket
        return pd.DataFrame(columns=["bucket", "lo", "hi", "range", "n_items", *(f"delta_{k}" for k in DELTA_KEYS),
                                     *(f"n_{k}" for k in ERROR_TYPES)])
    buckets = bucketize(values, n_buckets=n_buckets, method=method)
    bi_p, bi_l = buckets.index[:len(pv)], buckets.index[len(pv):]
    bi_o = s.to_class_order(bi_p, fill=-1)  # the fixes work in per-class order (ignored points: no bucket)
    n_b = len(buckets.edges) - 1
    # every count of every bucket from one pass: (bucket, kind) and (bucket, missed) histograms
    inb_p, inb_l = (bi_p >= 0) & (bi_p < n_b), (bi_l >= 0) & (bi_l < n_b)
    inb_o = (bi_o >= 0) & (bi_o < n_b)
    kinds = np.bincount(bi_o[inb_o] * 6 + s.kind_o[inb_o], minlength=n_b * 6).reshape(n_b, 6)
    missed = np.bincount(bi_l[inb_l], weights=s.lab_missed[inb_l], minlength=n_b)
    n_items = np.bincount(bi_p[inb_p], minlength=n_b) + np.bincount(bi_l[inb_l], minlength=n_b)
    rows = []
    for i, rng in enumerate(buckets.labels()):
        dp_in, lab_in = bi_o == i, bi_l == i
        row = {"bucket": i, "lo": buckets.edges[i], "hi": buckets.edges[i + 1], "range": rng,
               "n_items": int(n_items[i])}
        for name in DELTA_KEYS:
            row[f"delta_{name}"] = s.delta(name, dp_in, lab_in, ordered=True)[0]
        for name, code in _PRED_KIND.items():
            row[f"n_{name}"] = int(kinds[i, code])
        row["n_missed"] = int(missed[i])
        rows.append(row)
    return pd.DataFrame(rows)


def _values_for(values, ids: np.ndarray) -> np.ndarray:
    """``values`` (a Series by id, or a float array already aligned with ``ids``) at ``ids``; NaN where none."""
    if values is None:
        return np.full(len(ids), np.nan)
    if isinstance(values, np.ndarray):
        return values.astype(np.float64, copy=False)
    return pd.to_numeric(pd.Series(values), errors="coerce").reindex(ids).to_numpy(np.float64, na_value=np.nan)


# ---- project level -------------------------------------------------------------------------------------------------------
_COSTS: OrderedDict = OrderedDict()


def error_cost(project, sel, *, background_threshold: float = BACKGROUND_THRESHOLD, iou_type: str | None = None) -> ErrorCost:
    """``ErrorCost`` of a project view (a run) and a core ``Selection`` (split, classes, IoU and confidence
    thresholds), on the shared matcher and match of ``explorer.analysis.outcomes`` (kept for the last 4
    selections, ~23 MB each at 2M predictions; the result is shared: do not mutate)."""
    from explorer.analysis.outcomes import _remember, match, matcher
    from explorer.tasks.detection import iou_type as iou_type_of

    kind = iou_type or iou_type_of(project)
    # kept per project view and selection: the Metrics page, the suspects queue and the export share one
    key = (str(project.root), project.fingerprint, kind, sel, float(background_threshold))
    return _remember(_COSTS, key, lambda: error_cost_from_matcher(
        matcher(project, iou_type=kind), sel.iou_threshold, confidence_threshold=sel.confidence_threshold,
        classes=sel.class_list(), image_ids=sel.image_ids(project), background_threshold=background_threshold,
        match=match(project, sel, iou_type=kind)), size=4)


def error_cost_for_metric(project, sel, cost: ErrorCost, metric: str, *, n_buckets: int = 5) -> pd.DataFrame:
    """``error_cost_by_bucket`` for the data metric ``metric`` (a column of the predictions' and/or labels'
    metric tables, frame metrics included)."""
    from explorer.analysis.outcomes import metric_frame, with_metrics

    def column(target: str, ids: np.ndarray):
        frame = metric_frame(project, target)  # the kept frame (its index's hash table is built once)
        if frame is None or metric not in frame.columns:
            return None
        if not frame.index.is_unique:
            return with_metrics(pd.DataFrame(index=pd.Index(ids, name="x")), project, target)[metric]
        values = pd.to_numeric(frame[metric], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        at = frame.index.get_indexer(ids)  # one column by position: not every metric of 2M rows
        return np.where(at >= 0, values[np.maximum(at, 0)] if len(values) else np.nan, np.nan)

    s = cost.state
    return error_cost_by_bucket(cost, column("predictions", s.pred_ids), column("labels", s.label_ids),
                                n_buckets=n_buckets)


def export_section(project, sel) -> dict:
    """The export's ``error_cost``: ``ErrorCost.as_dict()`` plus ``per_class`` records (``None`` = undefined)."""
    cost = error_cost(project, sel)
    table = cost.per_class.astype(object).where(cost.per_class.notna(), None)
    return {**cost.as_dict(), "per_class": table.to_dict(orient="records")}
