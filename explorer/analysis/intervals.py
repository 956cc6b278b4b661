"""How sure each number is: Wilson intervals on rates, bootstrap intervals on AP (images resampled).

**Wilson score interval** of a proportion ``p̂ = k / n`` at confidence ``1 − α`` (``z = Φ⁻¹(1 − α/2)``, 1.95996…
at 95%), the formula and operation order of ``statsmodels.stats.proportion.proportion_confint(method="wilson")``::

    centre = (p̂ + z²/(2n)) / (1 + z²/n)
    half   = z · sqrt(p̂(1 − p̂)/n + z²/(4n²)) / (1 + z²/n)
    [lo, hi] = clip([centre − half, centre + half], 0, 1)

An empty set (``n = 0``) has NaN bounds (the rate itself is 0/0). The interval of the complement rate
(FNR = 1 − TPR) is ``[1 − hi, 1 − lo]``. ``rate_difference_interval`` is Newcombe's hybrid score interval (his
method 10) for ``p₁ − p₂`` of two independent samples, built from the two Wilson intervals.

**Bootstrap of detection AP** (``bootstrap_ap``): the images of the selection are the sampling unit. Replicate
``b`` draws ``N`` images with replacement (``numpy.random.default_rng(seed).integers(0, N, (B, N))``, in chunks),
i.e. a count ``w_b[i] ≥ 0`` per image. Matching is per image (COCO greedy assignment within an image and class),
so every prediction keeps its TP / FP status in a resampled set and only the counts change: the replicate's AP of
class k is pycocotools' ``accumulate`` at the match's IoU threshold with every prediction and label of image i
counted ``w_b[i]`` times::

    TP_j = Σ_{j' ≤ j} w[img j'] · tp_j'     FP_j = Σ_{j' ≤ j} w[img j'] · (1 − tp_j')      (score order)
    n⁺   = Σ_labels w[img]                 rc_j = TP_j / n⁺      pr_j = TP_j / (TP_j + FP_j + eps)
    AP   = mean over the 101 recall points r of max_{j: rc_j ≥ r} pr_j        AR = TP_last / n⁺

This equals running the full COCO evaluation on the resampled image list (copies of an image as new images)
except for the order of *tied* scores of different images (pycocotools breaks ties by image order); it is exact
with ``w ≡ 1``. A class whose labels were not drawn in a replicate (``n⁺ = 0``) is undefined there and left out
of that replicate's mAP, as COCO does for a class without labels. Intervals are percentile intervals
(``[α/2, 1 − α/2]`` quantiles, linear interpolation) of the finite replicates; such an interval need not contain
the point estimate: AP is not a mean of per-image numbers, so its replicates can lie to one side of it (10k
images at IoU 0.5: mAP 0.264, interval [0.266, 0.282]) — a known property of the percentile bootstrap, which the
Metrics page states when it happens (a bias-corrected interval would move the bounds; these stay the plain
percentiles). The default is
``N_RESAMPLES = 200`` replicates, seed 0; ``paired_bootstrap_ap`` applies the *same* draws to two runs, so the
interval of their mAP difference accounts for the images both were evaluated on.

Cost (what is kept, and why it is exact): the draws per (N, B, seed); per match, image list and confidence the
threshold-free layout of every class (accumulation order, rows by image, label weights' rows — ``_Layout``); per
match and (N, B, seed) the replicates of every class (``_Replicates``). An IoU move reads the match's TP / ignored
flags into the layout (``_codes``) and runs the compiled passes once for every class; a class selection is a column
slice of those replicates — each class is accumulated on its own, so the slice is what a pass over those classes
alone gives, bit for bit (``tests/analysis/test_intervals_kept.py``). Named by ``match_source`` (project root,
fingerprint, IoU type) and the thresholds, the kept results serve the Metrics page and the Compare page's run A
alike and outlive the match objects.
"""
from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from explorer.analysis.compiled import njit, prefetch
from explorer.evaluation.layout import lookup, sorted_unique

prange = range  # numba.prange once compiled (explorer.analysis.compiled)

N_RESAMPLES = 200  # bootstrap replicates by default: percentile bounds to about ±0.005 of AP on the sample
SEED = 0
CONFIDENCE = 0.95
CHUNK = 25  # replicates drawn at once (the draws do not depend on it): (CHUNK, N) int64, 20 MB at 100k images
EPS = np.spacing(1)  # pycocotools' pr = tp / (fp + tp + np.spacing(1))


# ---- Wilson ---------------------------------------------------------------------------------------------------------
def z_value(confidence: float = CONFIDENCE) -> float:
    """``Φ⁻¹(1 − α/2)`` for ``confidence = 1 − α`` (scipy's ``norm.isf(α/2)``, as statsmodels)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), but got {confidence!r}")
    from scipy.stats import norm

    alpha = round(1.0 - confidence, 12)  # 1 - 0.95 is 0.05000000000000004: the α a user means is 0.05
    return float(norm.isf(alpha / 2.0))


def wilson_interval(k, n, *, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval ``(lo, hi)`` of ``k`` successes in ``n`` trials (module docstring), element-wise.

    ``k``, ``n``: arrays of one shape (or scalars), ``0 ≤ k ≤ n``. Returns two float64 arrays of that shape, NaN
    where ``n == 0``.

    >>> lo, hi = wilson_interval(8, 10)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.4902, 0.9433)
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("need 0 <= k <= n for every rate")
    crit = z_value(confidence)
    crit2 = crit**2
    with np.errstate(invalid="ignore", divide="ignore"):
        q = k / n
        denom = 1 + crit2 / n
        center = (q + crit2 / (2 * n)) / denom
        dist = crit * np.sqrt(q * (1.0 - q) / n + crit2 / (4.0 * n**2))
        dist /= denom
        lo = np.clip(center - dist, 0, 1)
        hi = np.clip(center + dist, 0, 1)
    empty = n == 0
    return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


def rate_difference_interval(k1, n1, k2, n2, *, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval of ``k1/n1 − k2/n2`` (two independent samples), element-wise:
    ``[d − sqrt((p₁ − l₁)² + (u₂ − p₂)²), d + sqrt((u₁ − p₁)² + (p₂ − l₂)²)]`` with ``(lᵢ, uᵢ)`` the Wilson
    intervals (``statsmodels.stats.proportion.confint_proportions_2indep(method="newcomb")``). NaN where a
    sample is empty."""
    k1, n1, k2, n2 = (np.asarray(v, dtype=np.float64) for v in (k1, n1, k2, n2))
    l1, u1 = wilson_interval(k1, n1, confidence=confidence)
    l2, u2 = wilson_interval(k2, n2, confidence=confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = k1 / n1, k2 / n2
        d = p1 - p2
        return d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


# ---- bootstrap of AP --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApSample:
    """The per-image contributions behind COCO AP at one IoU threshold, ready for re-weighting.

    ``category_ids``: (K,) the selected classes; ``image_ids``: (N,) the resampled images. Predictions (the
    match's non-ignored ones, P of them) in pycocotools' accumulation order, class by class:
    ``pred_start`` (K+1,) class k's rows are ``pred_start[k]:pred_start[k+1]``, ``pred_image`` (P,) image index,
    ``pred_tp`` (P,) bool. Labels (the non-ignored ones, L): ``label_class`` (L,), ``label_image`` (L,).
    For the class totals, the same predictions in the match's row order (by image, so an image's counts are read
    once for all its rows): ``row_image`` (P,) and ``row_slot`` (P,) — ``2k`` for a TP of class k, ``2k + 1`` for
    an FP of class k scoring at or above the class's last TP, −1 for an FP after it (it moves neither the
    precision envelope nor the recall).
    """

    category_ids: np.ndarray
    image_ids: np.ndarray
    pred_start: np.ndarray
    pred_image: np.ndarray
    pred_tp: np.ndarray
    label_class: np.ndarray
    label_image: np.ndarray
    row_image: np.ndarray
    row_slot: np.ndarray

    @property
    def n_images(self) -> int:
        return len(self.image_ids)


@dataclass(frozen=True)
class _Layout:
    """What the bootstrap of one match needs that no threshold changes, for the classes ``category_ids`` (K,) and
    images ``image_ids`` (N,): a match lists the same prediction rows in the same order at every IoU threshold
    (``explorer.analysis.outcomes``) and a label's ``ignored`` is its crowd flag, so an IoU move only re-reads the
    TP and ignored flags (``_codes``).

    Predictions of the selected classes and images, P of them, ignored ones included: ``sorted_rows`` (P,)
    positions in ``match.predictions`` in accumulation order (class by class, descending score, stable),
    ``pred_start`` (K+1,) class k's are ``pred_start[k]:pred_start[k+1]``, ``pred_image`` (P,) image index; the
    same rows in row order (by image): ``rows`` (P,), ``row_image``, ``row_class`` (P,) and ``row_rank`` (P,)
    their position in ``sorted_rows``. Labels: ``label_ignored`` (L,) the flags this was built with (checked on
    use), ``label_class`` / ``label_image`` of the selected non-ignored ones. ``n_pred``: rows of the match.
    """

    category_ids: np.ndarray
    image_ids: np.ndarray
    n_pred: int
    pred_start: np.ndarray
    sorted_rows: np.ndarray
    pred_image: np.ndarray
    rows: np.ndarray
    row_image: np.ndarray
    row_class: np.ndarray
    row_rank: np.ndarray
    label_ignored: np.ndarray
    label_class: np.ndarray
    label_image: np.ndarray

    def fits(self, match) -> bool:
        """Whether ``match`` lists the rows this layout was built from (same row count, same label flags)."""
        return (len(match.predictions) == self.n_pred
                and np.array_equal(match.labels["ignored"].to_numpy(bool), self.label_ignored))

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f).nbytes for f in ("pred_start", "sorted_rows", "pred_image", "rows", "row_image",
                                                       "row_class", "row_rank", "label_ignored", "label_class",
                                                       "label_image"))


def _layout(match, cats: np.ndarray, images: np.ndarray) -> _Layout:
    """The ``_Layout`` of ``match`` for the resolved classes ``cats`` and sorted image ids ``images``: the selected
    rows of ``np.lexsort((-score, class))`` (pycocotools' accumulation order), taken from the match's one sort
    (``class_score_order``) by filtering it when the match has it."""
    p, lab = match.predictions, match.labels
    p_k = lookup(cats, p["category_id"].to_numpy(np.int64), dtype=np.int32)
    p_i = lookup(images, p["image_id"].to_numpy(np.int64), dtype=np.int32)
    chosen = (p_k >= 0) & (p_i >= 0)
    order = match.class_score_order
    if order is None or len(order) != len(p) or not isinstance(p.index, pd.RangeIndex):
        order = np.lexsort((-p["score"].to_numpy(np.float64), p_k))  # rows are (image, class, rank): stable
    order = np.asarray(order, np.int64)
    sorted_rows = order[chosen[order]]  # filtering keeps the relative order: the chosen rows' own lexsort
    k_sorted = p_k[sorted_rows]
    pred_start = np.searchsorted(k_sorted, np.arange(len(cats) + 1), "left").astype(np.int64)
    rows = np.flatnonzero(chosen)
    rank = np.empty(len(p), np.int64)
    rank[sorted_rows] = np.arange(len(sorted_rows))
    l_ignored = lab["ignored"].to_numpy(bool)
    l_k = lookup(cats, lab["category_id"].to_numpy(np.int64), dtype=np.int32)
    l_i = lookup(images, lab["image_id"].to_numpy(np.int64), dtype=np.int32)
    keep_l = ~l_ignored & (l_k >= 0) & (l_i >= 0)
    pos_type = np.int32 if len(p) < 2**31 else np.int64  # row positions: half the bytes of a kept layout
    return _Layout(category_ids=cats, image_ids=images, n_pred=len(p), pred_start=pred_start,
                   sorted_rows=sorted_rows.astype(pos_type), pred_image=p_i[sorted_rows], rows=rows.astype(pos_type),
                   row_image=p_i[rows], row_class=p_k[rows], row_rank=rank[rows].astype(pos_type),
                   label_ignored=l_ignored.copy(), label_class=l_k[keep_l], label_image=l_i[keep_l])


@njit()
def _codes(sorted_rows, pred_start, rows, row_class, row_rank, tp, ignored):
    """The threshold-dependent part of a match's sample, in two passes: ``code`` (P,) int8 per prediction in
    accumulation order — 1 TP, 0 FP, 2 ignored (crowd-matched, beyond maxDets: counted nowhere) — and ``slot`` (P,)
    int32 per row in row order: ``2k`` for a TP of class k, ``2k + 1`` for an FP of class k sorted at or before the
    class's last TP, −1 otherwise (an FP after the last TP moves neither the precision envelope nor the recall;
    an ignored row counts nowhere)."""
    n_cat = pred_start.shape[0] - 1
    code = np.empty(sorted_rows.shape[0], np.int8)
    last = np.full(n_cat, -1, np.int64)
    for k in range(n_cat):
        for j in range(pred_start[k], pred_start[k + 1]):
            r = sorted_rows[j]
            c = 2 if ignored[r] else (1 if tp[r] else 0)
            code[j] = c
            if c == 1:
                last[k] = j
    slot = np.empty(rows.shape[0], np.int32)
    for i in range(rows.shape[0]):
        r = rows[i]
        k = row_class[i]
        if ignored[r]:
            slot[i] = -1
        elif tp[r]:
            slot[i] = 2 * k
        elif row_rank[i] <= last[k]:
            slot[i] = 2 * k + 1
        else:
            slot[i] = -1
    return code, slot


def _match_codes(lay: _Layout, match) -> tuple[np.ndarray, np.ndarray]:
    """``_codes`` of ``match`` over the layout's rows."""
    p = match.predictions
    return _codes(lay.sorted_rows, lay.pred_start, lay.rows, lay.row_class, lay.row_rank,
                  p["is_tp"].to_numpy(bool), p["ignored"].to_numpy(bool))


def ap_sample(match, *, classes=None, image_ids=None) -> ApSample:
    """The ``ApSample`` of a ``MatchResult`` for the selected classes and images (None: all of the match's
    images, ``match.image_ids``); predictions ordered as ``explorer.evaluation.tables`` accumulates them:
    ``np.lexsort((-score, class))`` of the selected non-ignored rows (``_layout`` and ``_codes`` without the
    ignored rows)."""
    from explorer.evaluation.tables import resolve_classes

    cats = resolve_classes(classes, match.category_names)
    images = sorted_unique(match.image_ids if image_ids is None else list(image_ids))
    lay = _layout(match, cats, images)
    code, slot = _match_codes(lay, match)
    counted = code != 2
    per_class = np.bincount(np.repeat(np.arange(len(cats)), np.diff(lay.pred_start))[counted], minlength=len(cats))
    pred_start = np.concatenate(([0], np.cumsum(per_class))).astype(np.int64)
    row_kept = ~match.predictions["ignored"].to_numpy(bool)[lay.rows]
    return ApSample(
        category_ids=cats, image_ids=images, pred_start=pred_start, pred_image=lay.pred_image[counted],
        pred_tp=code[counted] == 1, label_class=lay.label_class, label_image=lay.label_image,
        row_image=lay.row_image[row_kept], row_slot=slot[row_kept])


AHEAD = 16  # the backward pass asks for the image counts of the point this many steps ahead (``prefetch``)
LANES = 8  # contiguous runs of rows the totals kernel runs in parallel (each with its own (slots, B) counts)


@njit(parallel=True)
def _totals(row_image, row_slot, wt, n_slot):
    """``out[s, b] = Σ_{rows j with row_slot[j] = s} wt[row_image[j], b]`` (int32, (n_slot, B)); rows with slot −1
    skipped. Rows in image order read each image's counts once from memory."""
    n_rep = wt.shape[1]
    n = row_image.shape[0]
    parts = np.zeros((LANES, n_slot, n_rep), np.int32)
    for lane in prange(LANES):
        acc = parts[lane]
        for j in range(n * lane // LANES, n * (lane + 1) // LANES):
            s = row_slot[j]
            if s < 0:
                continue
            row = wt[row_image[j]]
            a = acc[s]
            for b in range(n_rep):
                a[b] += row[b]
    out = np.zeros((n_slot, n_rep), np.int32)
    for lane in range(LANES):
        out += parts[lane]
    return out


@njit(parallel=True)
def _weighted_ap(pred_start, pred_image, pred_code, totals, pos, wt, rec_thrs, ap, ar):
    """``ap[b, k]``, ``ar[b, k]`` of every replicate ``b`` by the weighted accumulation of the module docstring, all
    replicates in one backward pass over each class's predictions (``pred_code``: 1 TP, 0 FP, 2 ignored — skipped,
    as if absent); ``wt`` (N, B) integer counts of image i in
    replicate b (rows contiguous, so the inner loops run over replicates); ``totals`` (2K, B) the class's TP and
    FP weight up to its last TP (``_totals``), ``pos`` (K, B) its label weight; NaN where that is 0.

    Same numbers, bit for bit, as evaluating every point of the weighted precision/recall curve (the counts are
    integers, so the sums are exact in any order): the precision envelope ``max_{j' ≥ j} pr_j'`` is reached at
    TP points (an FP point has the TP count of the TP point before it and more FP), and the first point reaching
    a recall threshold is a TP point. So the pass starts at the class's last TP with the totals, takes each
    point's weight away again, keeps the running maximum of the precision at the TP points and hands it to the
    recall thresholds first reached there — ``need[b, r]``, the smallest TP count with ``TP / n⁺ ≥ r``
    (pycocotools' float test). An image with count 0 adds no weight: its points repeat the point before. The
    thresholds' values are summed in ascending order, as before.

    The points' images are in score order, so each point reads a random row of ``wt`` (200 bytes at B = 200, 20 MB
    at 100k images): the pass waited on memory. The row ``AHEAD`` points on is prefetched, so its cache lines
    arrive while this point is summed (~2.5× less time at 100k, the same operations)."""
    n_rep = wt.shape[1]
    n_cat = pred_start.shape[0] - 1
    n_rec = rec_thrs.shape[0]
    flat = wt.reshape(wt.size)  # rows contiguous: row i starts at i * n_rep
    line = max(64 // wt.itemsize, 1)  # elements per cache line
    for k in prange(n_cat):
        s0 = pred_start[k]
        nd = 0  # predictions counted
        for j in range(s0, pred_start[k + 1]):
            if pred_code[j] != 2:
                nd = 1
                break
        last = s0 - 1
        for j in range(pred_start[k + 1] - 1, s0 - 1, -1):
            if pred_code[j] == 1:
                last = j
                break
        tp = totals[2 * k].copy()
        fp = totals[2 * k + 1].copy()
        need = np.zeros((n_rep, n_rec), np.int64)
        ptr = np.full(n_rep, -1, np.int64)  # highest recall threshold not yet given its precision
        nxt = np.full(n_rep, -1, np.int64)  # need[b, ptr[b]], or -1 when none is left
        for b in range(n_rep):
            den = float(pos[k, b])
            if den == 0:
                continue
            reached = 0
            if nd > 0:
                rc = tp[b] / den
                while reached < n_rec and rc >= rec_thrs[reached]:
                    r = rec_thrs[reached]
                    c = min(int(np.ceil(r * den)), int(tp[b]))
                    while c > 0 and (c - 1) / den >= r:
                        c -= 1
                    while c / den < r:
                        c += 1
                    need[b, reached] = c
                    reached += 1
            ptr[b] = reached - 1
            if reached > 0:
                nxt[b] = need[b, reached - 1]
            ar[b, k] = tp[b] / den if nd > 0 else 0.0
        env = np.zeros(n_rep)
        q = np.zeros((n_rep, n_rec))
        for j in range(last, s0 - 1, -1):
            if j - AHEAD >= s0:
                at = pred_image[j - AHEAD] * n_rep
                for o in range(0, n_rep, line):
                    prefetch(flat, at + o)
                prefetch(flat, at + n_rep - 1)  # a row need not start on a line
            code = pred_code[j]
            if code == 2:
                continue
            row = wt[pred_image[j]]
            if code == 1:
                for b in range(n_rep):
                    t = float(tp[b])
                    pr = t / (float(fp[b]) + t + EPS)
                    env[b] = pr if pr > env[b] else env[b]
                    tp[b] -= row[b]
                for b in range(n_rep):
                    if nxt[b] > tp[b]:  # thresholds first reached at this point (TP count before it < need)
                        while ptr[b] >= 0 and need[b, ptr[b]] > tp[b]:
                            q[b, ptr[b]] = env[b]
                            ptr[b] -= 1
                        nxt[b] = need[b, ptr[b]] if ptr[b] >= 0 else -1
            else:
                for b in range(n_rep):
                    fp[b] -= row[b]
        for b in range(n_rep):
            if pos[k, b] == 0:
                ap[b, k] = np.nan
                ar[b, k] = np.nan
                continue
            while ptr[b] >= 0:  # recall 0 (reached before any TP): the envelope of the whole curve
                q[b, ptr[b]] = env[b]
                ptr[b] -= 1
            total = 0.0
            for r in range(n_rec):  # thresholds never reached hold 0
                total += q[b, r]
            ap[b, k] = total / n_rec


def _count_dtype(weights: np.ndarray) -> np.ndarray:
    """Integer counts in the smallest unsigned type that holds them (uint8 for any bootstrap of ≥ 256 images)."""
    w = np.asarray(weights)
    if w.size and (not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w != np.round(w))):
        raise ValueError("weights must be non-negative whole counts of each image")
    top = int(w.max()) if w.size else 0
    return w.astype(np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.uint32)


def _weighted_arrays(pred_start, pred_image, pred_code, row_image, row_slot, label_image, label_class,
                     wt: np.ndarray, pos: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(ap, ar)`` (B, K) for counts ``wt`` of shape (N, B), C-contiguous unsigned integers: the class totals
    (``_totals`` over the rows in row order), the label weights ``pos`` (K, B) (given, or ``_totals`` of the
    labels) and the one backward pass (``_weighted_ap``)."""
    from explorer.evaluation.coco import REC_THRESHOLDS

    n_cat = len(pred_start) - 1
    if wt.size and int(wt.max()) * max(len(row_slot), len(label_class), 1) >= 2**31:
        raise ValueError("image counts too large for the int32 totals")
    totals = _totals(row_image, row_slot, wt, 2 * n_cat)
    if pos is None:
        pos = _totals(label_image, label_class, wt, n_cat)
    ap = np.empty((wt.shape[1], n_cat))
    ar = np.empty((wt.shape[1], n_cat))
    _weighted_ap(pred_start, pred_image, pred_code, totals, pos, wt, np.asarray(REC_THRESHOLDS, np.float64), ap, ar)
    return ap, ar


def _weighted(sample: ApSample, wt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ap, ar)`` (B, K) of an ``ApSample`` for counts ``wt`` of shape (N, B), C-contiguous unsigned integers."""
    return _weighted_arrays(sample.pred_start, sample.pred_image, sample.pred_tp.view(np.int8), sample.row_image,
                            sample.row_slot, sample.label_image, sample.label_class, wt)


def weighted_ap(sample: ApSample, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class ``(ap, ar)`` of shape (B, K) for whole image counts ``weights`` of shape (B, N) (N =
    ``sample.n_images``); NaN for a class without label weight. ``weights = np.ones((1, N))`` gives the match's
    own per-class AP and AR."""
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[1] != sample.n_images:
        raise ValueError(f"weights must have shape (B, {sample.n_images}), but got {weights.shape}")
    return _weighted(sample, np.ascontiguousarray(_count_dtype(weights).T))


def resample_counts(n_images: int, n_resamples: int = N_RESAMPLES, *, seed: int = SEED,
                    chunk: int = CHUNK) -> Iterator[np.ndarray]:
    """Bootstrap draws of ``n_images`` images with replacement, as counts per image: arrays of shape
    (≤ chunk, n_images) whose rows sum to ``n_images``, ``n_resamples`` rows in all, deterministic in ``seed``
    (the draws do not depend on ``chunk``)."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, but got {n_resamples}")
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_resamples:
        m = min(chunk, n_resamples - done)
        if n_images == 0:
            yield np.zeros((m, 0), np.int32)
        else:
            draws = rng.integers(0, n_images, size=(m, n_images))
            flat = (draws + (np.arange(m) * n_images)[:, None]).ravel()
            yield np.bincount(flat, minlength=m * n_images).reshape(m, n_images).astype(np.int32)
        done += m


def _mean_defined(values: np.ndarray) -> np.ndarray:
    """Row means over the finite entries (NaN for a row without one): mAP/mAR over the classes with labels."""
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finite, values, 0.0).sum(axis=1) / np.where(finite.any(axis=1), finite.sum(axis=1), np.nan)


def percentile_interval(replicates: np.ndarray, *, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)``: the ``α/2`` and ``1 − α/2`` quantiles of the finite replicates along axis 0 (shape of one
    replicate; NaN where none is finite)."""
    a = (1.0 - confidence) / 2.0
    replicates = np.asarray(replicates, dtype=np.float64)
    out = np.full((2,) + replicates.shape[1:], np.nan)
    finite = np.isfinite(replicates)
    some = finite.any(axis=0)
    if some.any():
        with np.errstate(invalid="ignore"):
            if replicates.ndim == 1:
                q = np.quantile(replicates[finite], [a, 1.0 - a], axis=0)
            else:
                # columns without a NaN in one vectorised call (nanquantile's per-column 1-D quantile on them gives
                # the same numbers ~40x slower: 80 classes' intervals were ~25 ms a selection)
                whole = finite.all(axis=0)
                q = np.empty((2, int(some.sum())))
                at = whole[some]
                q[:, at] = np.quantile(replicates[:, whole], [a, 1.0 - a], axis=0)
                if not at.all():
                    part = some & ~whole
                    q[:, ~at] = np.nanquantile(np.where(finite, replicates, np.nan)[:, part], [a, 1.0 - a], axis=0)
        if replicates.ndim > 1:
            out[:, some] = q
        else:
            out[:] = q
    return out[0], out[1]


@dataclass(frozen=True)
class ApBootstrap:
    """Point estimates and bootstrap replicates of one selection's AP at one IoU threshold.

    ``map``/``mar``: the match's mAP / mAR (floats); ``ap``/``ar``: (K,) per class (NaN without labels);
    ``map_reps``/``mar_reps``: (B,) replicates; ``ap_reps``/``ar_reps``: (B, K). ``category_ids``: (K,).
    """

    category_ids: np.ndarray
    map: float
    mar: float
    ap: np.ndarray
    ar: np.ndarray
    map_reps: np.ndarray
    mar_reps: np.ndarray
    ap_reps: np.ndarray
    ar_reps: np.ndarray
    n_resamples: int
    seed: int
    confidence: float
    n_images: int

    def interval(self, name: str) -> tuple[float, float]:
        """``(lo, hi)`` percentile interval of ``"map"`` or ``"mar"``."""
        lo, hi = percentile_interval(getattr(self, f"{name}_reps"), confidence=self.confidence)
        return float(lo), float(hi)

    def per_class(self) -> pd.DataFrame:
        """``category_id, ap, ap_lo, ap_hi, ar, ar_lo, ar_hi`` (K rows)."""
        ap_lo, ap_hi = percentile_interval(self.ap_reps, confidence=self.confidence)
        ar_lo, ar_hi = percentile_interval(self.ar_reps, confidence=self.confidence)
        return pd.DataFrame({"category_id": self.category_ids, "ap": self.ap, "ap_lo": ap_lo, "ap_hi": ap_hi,
                             "ar": self.ar, "ar_lo": ar_lo, "ar_hi": ar_hi})

    def headline(self) -> dict:
        """``{"mAP", "mAP_lo", "mAP_hi", "mAR", "mAR_lo", "mAR_hi", "n_resamples", "seed", "confidence",
        "resampled": "images", "n_images"}`` — what the page and the export show."""
        (a_lo, a_hi), (r_lo, r_hi) = self.interval("map"), self.interval("mar")
        return {"mAP": self.map, "mAP_lo": a_lo, "mAP_hi": a_hi, "mAR": self.mar, "mAR_lo": r_lo, "mAR_hi": r_hi,
                "n_resamples": self.n_resamples, "seed": self.seed, "confidence": self.confidence,
                "resampled": "images", "n_images": self.n_images}


_DRAWS: OrderedDict = OrderedDict()
_DRAWS_LOCK = threading.Lock()
DRAWS_KEPT = 2  # (N, B + 1) uint8 count matrices kept: 20 MB each at 100k images and 200 resamples


def resampled_counts(n_images: int, n_resamples: int = N_RESAMPLES, *, seed: int = SEED) -> np.ndarray:
    """All ``resample_counts`` draws as one read-only (N, B) matrix (image i's count in replicate b), in the
    smallest unsigned type: the first B columns of the kept ``_draws`` (a view; the last ``DRAWS_KEPT`` are
    kept, since the draws depend only on (N, B, seed) — not on the thresholds, the classes or the run)."""
    return _draws(n_images, n_resamples, seed)[:, :n_resamples]


def _draws(n_images: int, n_resamples: int, seed: int) -> np.ndarray:
    """(N, B + 1), read-only, rows contiguous for the kernel: the B replicates' counts, then a column of ones (every
    image once: the point estimate rides along in the replicates' pass instead of a pass of its own)."""
    key = (int(n_images), int(n_resamples), int(seed))
    with _DRAWS_LOCK:
        if key in _DRAWS:
            _DRAWS.move_to_end(key)
            return _DRAWS[key]
    chunks = [c.astype(np.uint16) if c.size == 0 or c.max() < 2**16 else c
              for c in resample_counts(n_images, n_resamples, seed=seed)]
    top = max((int(c.max()) for c in chunks if c.size), default=0)
    wt = np.empty((n_images, n_resamples + 1), np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.uint32)
    done = 0
    for c in chunks:
        wt[:, done:done + len(c)] = c.T
        done += len(c)
    wt[:, n_resamples] = 1
    wt.setflags(write=False)
    with _DRAWS_LOCK:
        _DRAWS[key] = wt
        while len(_DRAWS) > DRAWS_KEPT:
            _DRAWS.popitem(last=False)
    return wt


@dataclass(frozen=True)
class _Replicates:
    """The bootstrap of every class of one match over one image list at one (B, seed): ``category_ids`` (K,),
    ``ap`` / ``ar`` (K,) at w ≡ 1 and ``ap_reps`` / ``ar_reps`` (B, K). Each class is accumulated on its own (its
    rows, its labels, the same draws), so the columns of a class selection are the numbers a pass over those
    classes alone gives, bit for bit."""

    category_ids: np.ndarray
    ap: np.ndarray
    ar: np.ndarray
    ap_reps: np.ndarray
    ar_reps: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.ap_reps.nbytes + self.ar_reps.nbytes


def _replicates(match, lay: _Layout, n_resamples: int, seed: int) -> _Replicates:
    """``_Replicates`` of ``match`` over the layout's classes and images: one compiled pass of all the draws and
    w ≡ 1 beside them (``_draws``' last column; each replicate is accumulated on its own, so it is the number a
    pass at w ≡ 1 alone gives)."""
    n = len(lay.image_ids)
    wt = _draws(n, n_resamples, seed)
    code, slot = _match_codes(lay, match)
    ap, ar = _weighted_arrays(lay.pred_start, lay.pred_image, code, lay.row_image, slot, lay.label_image,
                              lay.label_class, wt)
    for a in (ap, ar):
        a.setflags(write=False)  # shared by every selection that slices them
    return _Replicates(lay.category_ids, ap[n_resamples], ar[n_resamples], ap[:n_resamples], ar[:n_resamples])


# Kept: the threshold-free layouts (~55 MB per run at 100k images / 2M predictions), every class's replicates per
# match (B × K × 16 bytes: 0.26 MB at 200 × 80) and the bootstraps handed out. Keyed by the match's source
# (``match_source``: project root, fingerprint — which names the run —, IoU type) and thresholds when the caller
# names it, so they outlive the match objects (an app's bounded match cache evicts them in a sweep of pages);
# else by the match object, held weakly.
_LAYOUTS: OrderedDict = OrderedDict()
LAYOUTS_KEPT = 4  # two runs × (all images, one split); ~55 MB each at 100k images / 2M predictions
_REPLICATES: OrderedDict = OrderedDict()
REPLICATES_KEPT = 48
_BOOTS: OrderedDict = OrderedDict()
BOOTS_KEPT = 32


def match_source(project) -> tuple[str, str, str]:
    """``(root, fingerprint, IoU type)``: what names the matches of one project view (``explorer.analysis.outcomes
    .match`` keys a match by these and its two thresholds), for ``bootstrap_ap(…, source=…)``."""
    from explorer.tasks.detection import iou_type

    return str(project.root), project.fingerprint, iou_type(project)


def _kept(cache: OrderedDict, key, owner, make, size: int):
    """``cache[key]`` made by ``make()`` on a miss, single flight (``explorer.analysis.outcomes._remember``). With
    an ``owner`` (the match a key names by its ``id``) the entry holds it weakly and a hit must be that object."""
    from explorer.analysis import outcomes

    if owner is None:
        return outcomes._remember(cache, key, make, size)
    held = outcomes._remember(cache, key, lambda: (weakref.ref(owner), make()), size)
    if held[0]() is owner:
        return held[1]
    with outcomes._LOCK:  # an id reused by a new match: the entry was another's
        if cache.get(key) is held:
            del cache[key]
    return _kept(cache, key, owner, make, size)


def _names(match, source) -> tuple[tuple, tuple, object]:
    """``(match key, layout key, owner)`` of a match: with a ``source``, the source and the thresholds (the layout
    depends on the confidence only); else the match's id, held weakly (``owner``)."""
    if source is None:
        name = ("match", id(match))
        return name, name, match
    src = tuple(source)
    c = float(match.confidence_threshold)
    return ("source", src, float(match.iou_threshold), c), ("source", src, c), None


def _digest(ids: np.ndarray) -> tuple[int, bytes]:
    return len(ids), hashlib.blake2b(np.ascontiguousarray(ids, np.int64).tobytes(), digest_size=16).digest()


def _layout_of(match, cats: np.ndarray, images: np.ndarray, name, owner) -> _Layout:
    """The kept ``_Layout`` of every class (``cats``) over ``images``; rebuilt when the match lists other rows."""
    from explorer.analysis import outcomes

    key = (name, cats.tobytes(), _digest(images))
    lay = _kept(_LAYOUTS, key, owner, lambda: _layout(match, cats, images), LAYOUTS_KEPT)
    if lay.fits(match):
        return lay
    lay = _layout(match, cats, images)  # never expected (the match cache's key names its rows)
    with outcomes._LOCK:
        outcomes._store(_LAYOUTS, key, lay if owner is None else (weakref.ref(owner), lay), LAYOUTS_KEPT)
    return lay


def _bootstrap_of(match, classes, image_ids, n_resamples: int, seed: int, confidence: float,
                  source=None) -> ApBootstrap:
    """``bootstrap_ap`` of one match (kept, see ``_names``): a column slice of the replicates of every class the
    match names (``_Replicates``, kept per match, image list, B and seed — a class change costs no pass), or,
    for a class it does not name, a pass over the selected classes."""
    from explorer.evaluation.tables import resolve_classes

    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, but got {n_resamples}")
    cats = resolve_classes(classes, match.category_names)
    images = sorted_unique(match.image_ids if image_ids is None else
                           image_ids if isinstance(image_ids, np.ndarray) else list(image_ids))
    name, layout_name, owner = _names(match, source)
    n_resamples, seed, confidence = int(n_resamples), int(seed), float(confidence)
    images_key = _digest(images)  # None and the same ids spelled out are one key

    def make() -> ApBootstrap:
        every = resolve_classes(None, match.category_names)
        at = lookup(every, cats)
        if (at >= 0).all():
            reps = _kept(_REPLICATES, (name, images_key, n_resamples, seed), owner,
                         lambda: _replicates(match, _layout_of(match, every, images, layout_name, owner),
                                             n_resamples, seed), REPLICATES_KEPT)
        else:
            reps, at = _replicates(match, _layout(match, cats, images), n_resamples, seed), np.arange(len(cats))
        # C order, as a pass of those classes writes them: the row sums of _mean_defined add in memory order
        ap_reps, ar_reps = (np.ascontiguousarray(r[:, at]) for r in (reps.ap_reps, reps.ar_reps))
        ap0, ar0 = reps.ap[at], reps.ar[at]
        return ApBootstrap(
            category_ids=cats, map=float(_mean_defined(ap0[None, :])[0]), mar=float(_mean_defined(ar0[None, :])[0]),
            ap=ap0, ar=ar0, map_reps=_mean_defined(ap_reps), mar_reps=_mean_defined(ar_reps), ap_reps=ap_reps,
            ar_reps=ar_reps, n_resamples=n_resamples, seed=seed, confidence=confidence, n_images=len(images))

    key = (name, cats.tobytes(), images_key, n_resamples, seed, confidence)
    return _kept(_BOOTS, key, owner, make, BOOTS_KEPT)


def bootstrap_ap(match, *, classes=None, image_ids=None, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                 confidence: float = CONFIDENCE, source=None) -> ApBootstrap:
    """Bootstrap (images resampled, module docstring) of mAP, mAR and per-class AP/AR of a ``MatchResult`` at
    its IoU threshold, for the selected ``classes`` and ``image_ids`` (None: all). ``source``: the match's name
    (``match_source(project)`` of the view ``explorer.analysis.outcomes.match`` made it from), so the kept
    replicates serve a later match of the same view and thresholds (another session, a page visited again);
    without it they are kept while this match object lives."""
    return _bootstrap_of(match, classes, image_ids, n_resamples, seed, confidence, source)


def paired_bootstrap_ap(match_a, match_b, *, classes=None, image_ids=None, n_resamples: int = N_RESAMPLES,
                        seed: int = SEED, confidence: float = CONFIDENCE,
                        sources=(None, None)) -> tuple[ApBootstrap, ApBootstrap]:
    """``bootstrap_ap`` of two matches of the same images with the same image draws (replicate b of both is
    the same resampled image list): ``b.map_reps − a.map_reps`` is the bootstrap of the mAP difference.
    ``sources``: each match's ``source`` (``bootstrap_ap``)."""
    images = np.union1d(match_a.image_ids, match_b.image_ids) if image_ids is None else image_ids
    return (_bootstrap_of(match_a, classes, images, n_resamples, seed, confidence, sources[0]),
            _bootstrap_of(match_b, classes, images, n_resamples, seed, confidence, sources[1]))
