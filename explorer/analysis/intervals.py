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
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from explorer.analysis.compiled import njit
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


@njit()
def _in_order(order, keep, p_k, p_i, tp):
    """The kept rows of ``order`` and their class, image and TP flag, in that order (one pass of random reads)."""
    n = 0
    for j in range(order.shape[0]):
        n += keep[order[j]]
    rows = np.empty(n, np.int64)
    k = np.empty(n, np.int32)
    img = np.empty(n, np.int32)
    hit = np.empty(n, np.bool_)
    n = 0
    for j in range(order.shape[0]):
        r = order[j]
        if keep[r]:
            rows[n] = r
            k[n] = p_k[r]
            img[n] = p_i[r]
            hit[n] = tp[r]
            n += 1
    return rows, k, img, hit


def ap_sample(match, *, classes=None, image_ids=None) -> ApSample:
    """The ``ApSample`` of a ``MatchResult`` for the selected classes and images (None: all of the match's
    images, ``match.image_ids``); predictions ordered as ``explorer.evaluation.tables`` accumulates them:
    ``np.lexsort((-score, class))`` of the selected rows (taken from the match's one sort, ``class_score_order``,
    by filtering it, when the match has it)."""
    from explorer.evaluation.tables import resolve_classes

    cats = resolve_classes(classes, match.category_names)
    images = sorted_unique(match.image_ids if image_ids is None else list(image_ids))
    p, lab = match.predictions, match.labels
    p_k = lookup(cats, p["category_id"].to_numpy(np.int64), dtype=np.int32)
    p_i = lookup(images, p["image_id"].to_numpy(np.int64), dtype=np.int32)
    keep = ~p["ignored"].to_numpy(bool) & (p_k >= 0) & (p_i >= 0)  # ignored: crowd-matched, beyond maxDets
    l_k = lookup(cats, lab["category_id"].to_numpy(np.int64), dtype=np.int32)
    l_i = lookup(images, lab["image_id"].to_numpy(np.int64), dtype=np.int32)
    keep_l = ~lab["ignored"].to_numpy(bool) & (l_k >= 0) & (l_i >= 0)
    tp = p["is_tp"].to_numpy(bool)
    score = p["score"].to_numpy(np.float64)
    order = match.class_score_order
    if order is None or len(order) != len(p) or not isinstance(p.index, pd.RangeIndex):
        order = np.lexsort((-score, p_k))  # rows are (image, class, rank): stable = pycocotools
    # filtering keeps the relative order: the selected rows' own lexsort
    s_rows, k_sorted, pred_image, tp_sorted = _in_order(np.asarray(order, np.int64), keep, p_k, p_i, tp)
    pred_start = np.searchsorted(k_sorted, np.arange(len(cats) + 1), "left").astype(np.int64)
    # the last TP of each class in accumulation order (score, then row, descending): the FPs sorted after it
    # are left out of the totals
    tp_at = np.flatnonzero(tp_sorted)
    last_row = np.full(len(cats), -1, np.int64)
    last_row[k_sorted[tp_at]] = s_rows[tp_at]  # ascending positions: the last write per class wins
    # padded with +inf so a class without a TP (or no prediction at all) needs no branch
    last_score = np.append(score, np.inf)[np.where(last_row >= 0, last_row, len(score))]
    rows = np.flatnonzero(keep)
    rk = p_k[rows]
    rs, ls = score[rows], last_score[rk]
    before = (rs > ls) | ((rs == ls) & (rows <= last_row[rk]))
    slot = np.where(tp[rows], 2 * rk, np.where(before, 2 * rk + 1, -1)).astype(np.int32)
    return ApSample(
        category_ids=cats, image_ids=images, pred_start=pred_start, pred_image=pred_image, pred_tp=tp_sorted,
        label_class=l_k[keep_l], label_image=l_i[keep_l], row_image=p_i[rows], row_slot=slot)


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
def _weighted_ap(pred_start, pred_image, pred_tp, totals, pos, wt, rec_thrs, ap, ar):
    """``ap[b, k]``, ``ar[b, k]`` of every replicate ``b`` by the weighted accumulation of the module docstring, all
    replicates in one backward pass over each class's predictions; ``wt`` (N, B) integer counts of image i in
    replicate b (rows contiguous, so the inner loops run over replicates); ``totals`` (2K, B) the class's TP and
    FP weight up to its last TP (``_totals``), ``pos`` (K, B) its label weight; NaN where that is 0.

    Same numbers, bit for bit, as evaluating every point of the weighted precision/recall curve (the counts are
    integers, so the sums are exact in any order): the precision envelope ``max_{j' ≥ j} pr_j'`` is reached at
    TP points (an FP point has the TP count of the TP point before it and more FP), and the first point reaching
    a recall threshold is a TP point. So the pass starts at the class's last TP with the totals, takes each
    point's weight away again, keeps the running maximum of the precision at the TP points and hands it to the
    recall thresholds first reached there — ``need[b, r]``, the smallest TP count with ``TP / n⁺ ≥ r``
    (pycocotools' float test). An image with count 0 adds no weight: its points repeat the point before. The
    thresholds' values are summed in ascending order, as before."""
    n_rep = wt.shape[1]
    n_cat = pred_start.shape[0] - 1
    n_rec = rec_thrs.shape[0]
    for k in prange(n_cat):
        s0 = pred_start[k]
        nd = pred_start[k + 1] - s0
        last = s0 - 1
        for j in range(pred_start[k + 1] - 1, s0 - 1, -1):
            if pred_tp[j]:
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
            row = wt[pred_image[j]]
            if pred_tp[j]:
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


def _weighted(sample: ApSample, wt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ap, ar)`` (B, K) for counts ``wt`` of shape (N, B), C-contiguous unsigned integers."""
    from explorer.evaluation.coco import REC_THRESHOLDS

    n_cat = len(sample.category_ids)
    if wt.size and int(wt.max()) * max(len(sample.row_slot), len(sample.label_class), 1) >= 2**31:
        raise ValueError("image counts too large for the int32 totals")
    totals = _totals(sample.row_image, sample.row_slot, wt, 2 * n_cat)
    pos = _totals(sample.label_image, sample.label_class, wt, n_cat)
    ap = np.empty((wt.shape[1], n_cat))
    ar = np.empty((wt.shape[1], n_cat))
    _weighted_ap(sample.pred_start, sample.pred_image, sample.pred_tp, totals, pos, wt,
                 np.asarray(REC_THRESHOLDS, np.float64), ap, ar)
    return ap, ar


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
            q = np.nanquantile(np.where(finite, replicates, np.nan)[:, some] if replicates.ndim > 1
                               else replicates[finite], [a, 1.0 - a], axis=0)
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
DRAWS_KEPT = 2  # (N, B) uint8 count matrices kept: 20 MB each at 100k images and 200 resamples


def resampled_counts(n_images: int, n_resamples: int = N_RESAMPLES, *, seed: int = SEED) -> np.ndarray:
    """All ``resample_counts`` draws as one read-only (N, B) matrix (image i's count in replicate b; rows
    contiguous for the kernel), in the smallest unsigned type; the last ``DRAWS_KEPT`` are kept, since the
    draws depend only on (N, B, seed) — not on the thresholds, the classes or the run."""
    key = (int(n_images), int(n_resamples), int(seed))
    with _DRAWS_LOCK:
        if key in _DRAWS:
            _DRAWS.move_to_end(key)
            return _DRAWS[key]
    chunks = [c.astype(np.uint16) if c.size == 0 or c.max() < 2**16 else c
              for c in resample_counts(n_images, n_resamples, seed=seed)]
    top = max((int(c.max()) for c in chunks if c.size), default=0)
    wt = np.empty((n_images, n_resamples), np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.uint32)
    done = 0
    for c in chunks:
        wt[:, done:done + len(c)] = c.T
        done += len(c)
    wt.setflags(write=False)
    with _DRAWS_LOCK:
        _DRAWS[key] = wt
        while len(_DRAWS) > DRAWS_KEPT:
            _DRAWS.popitem(last=False)
    return wt


def _bootstrap(samples: list[ApSample], n_resamples: int, seed: int, confidence: float) -> list[ApBootstrap]:
    """One ``ApBootstrap`` per sample, all from the same draws (the samples share their image list): one compiled
    pass of all replicates per sample."""
    n = samples[0].n_images
    if any(not np.array_equal(s.image_ids, samples[0].image_ids) for s in samples[1:]):
        raise ValueError("paired samples must resample the same images")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, but got {n_resamples}")
    wt = resampled_counts(n, n_resamples, seed=seed)
    ones = np.ones((n, 1), np.uint8)
    out = []
    for s in samples:
        ap0, ar0 = _weighted(s, ones)
        ap_reps, ar_reps = _weighted(s, wt)
        out.append(ApBootstrap(
            category_ids=s.category_ids, map=float(_mean_defined(ap0)[0]), mar=float(_mean_defined(ar0)[0]),
            ap=ap0[0], ar=ar0[0], map_reps=_mean_defined(ap_reps), mar_reps=_mean_defined(ar_reps),
            ap_reps=ap_reps, ar_reps=ar_reps, n_resamples=int(n_resamples), seed=int(seed),
            confidence=float(confidence), n_images=n))
    return out


_BOOTS: OrderedDict = OrderedDict()
BOOTS_KEPT = 6  # bootstraps kept (a few KB each): the Metrics page's run A is the Compare page's A


def _bootstrap_of(match, classes, image_ids, n_resamples: int, seed: int, confidence: float) -> ApBootstrap:
    """``bootstrap_ap`` of one match, remembered per (match object, classes, image list, resamples, seed,
    confidence): a match from ``explorer.analysis.outcomes.match`` is one object per (project view, thresholds),
    and the draws depend only on the number of images, so a kept result is the one a new pass would give."""
    from explorer.evaluation.tables import resolve_classes

    images = sorted_unique(match.image_ids if image_ids is None else
                            image_ids if isinstance(image_ids, np.ndarray) else list(image_ids))
    images_key = (len(images), hash(images.tobytes()))  # None and the same ids spelled out are one key
    cls_key = resolve_classes(classes, match.category_names).tobytes()
    key = (id(match), cls_key, images_key, int(n_resamples), int(seed), float(confidence))
    with _DRAWS_LOCK:
        hit = _BOOTS.get(key)
        if hit is not None and hit[0]() is match:
            _BOOTS.move_to_end(key)
            return hit[1]
    sample = ap_sample(match, classes=classes, image_ids=images)
    out = _bootstrap([sample], n_resamples, seed, confidence)[0]
    with _DRAWS_LOCK:
        _BOOTS[key] = (weakref.ref(match), out)  # weak: the matches' own bounded cache decides their life
        while len(_BOOTS) > BOOTS_KEPT:
            _BOOTS.popitem(last=False)
    return out


def bootstrap_ap(match, *, classes=None, image_ids=None, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                 confidence: float = CONFIDENCE) -> ApBootstrap:
    """Bootstrap (images resampled, module docstring) of mAP, mAR and per-class AP/AR of a ``MatchResult`` at
    its IoU threshold, for the selected ``classes`` and ``image_ids`` (None: all); the last few are kept."""
    return _bootstrap_of(match, classes, image_ids, n_resamples, seed, confidence)


def paired_bootstrap_ap(match_a, match_b, *, classes=None, image_ids=None, n_resamples: int = N_RESAMPLES,
                        seed: int = SEED, confidence: float = CONFIDENCE) -> tuple[ApBootstrap, ApBootstrap]:
    """``bootstrap_ap`` of two matches of the same images with the same image draws (replicate b of both is
    the same resampled image list): ``b.map_reps − a.map_reps`` is the bootstrap of the mAP difference."""
    images = np.union1d(match_a.image_ids, match_b.image_ids) if image_ids is None else image_ids
    return (_bootstrap_of(match_a, classes, images, n_resamples, seed, confidence),
            _bootstrap_of(match_b, classes, images, n_resamples, seed, confidence))
