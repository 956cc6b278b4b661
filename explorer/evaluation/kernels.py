"""Compiled (numba) kernels of the evaluation engine: box IoU blocks, greedy matching, COCO accumulation.

Layout shared by the kernels. Predictions ("dt") and labels ("gt") are held in flat arrays sorted so that every
*group* (one image and one category) is a contiguous range of rows: dt rows ``d0 <= d < d1`` in descending
score order (stable), gt rows ``g0 <= g < g1`` in input order. IoUs live in *blocks* (one per group for the
COCO evaluation, one per image for the ``Matcher``, which also needs cross-class IoUs): the IoU of dt ``d`` and
gt ``g`` in a block is ``ious[off + (d - bd0) * ncols + (g - bg0)]`` with ``bd0, bg0`` the block's first rows.

Every floating-point operation mirrors pycocotools 2.0.11 (``maskApi.c: bbIou`` and ``cocoeval.py``) in the
same order, so the results are bit-identical; ``cache=True`` keeps the compiled code on disk.
"""
from __future__ import annotations

import os
import threading

import numpy as np

EPS = np.spacing(1)  # pycocotools: pr = tp / (fp + tp + np.spacing(1))
# Parallel kernels split their items (groups, blocks, (class, threshold) pairs) into LANES lanes of about equal
# work and run the lanes with prange (static schedule: each thread gets a run of lanes). A constant, not
# numba.get_num_threads(), so the compiled code can be cached on disk.
LANES = 64

# Small inputs run the same functions as plain Python: importing numba and loading the cached machine code
# costs ~1 s, which a 5-image ``explorer evaluate`` should not pay. The first call on an input of at least
# SMALL items (the length of the kernel's ``items`` argument, its first by default) compiles every kernel
# (``_compile``); from then on all calls are compiled. Same operations in the same order on IEEE doubles either way: the same bits (tested both ways).
# ``$EXPLORER_KERNELS``: ``python`` or ``numba`` forces one mode (tests), default ``auto``.
SMALL = 300
prange = range  # numba.prange once compiled
# OpenMP threads that spin while waiting steal the core the other thread needs when the machine is shared
# (re-match of 100k predictions at load 3 on 2 cores: 37 ms spinning, 15 ms passive). Read when libgomp loads,
# so set before numba (or anything else) loads it; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_LOCK = threading.Lock()


class LazyKernels:
    """The lazy-kernel rule of one module of numba kernels (this one, ``match_kernels``): a kernel made with
    ``@module_kernels(...)`` runs as its Python function while its first argument has fewer than ``SMALL`` items
    (or ``$EXPLORER_KERNELS=python``), else every kernel of the module is compiled (``compile``) and the call goes
    to the compiled one. ``namespace``: the module's globals — kernels call each other and ``prange`` through
    them, so compiled code calls compiled code. ``functions``: name → (Python function, numba options)."""

    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.functions: dict = {}

    def __call__(self, *, inner: bool = False, items: int = 0, **options):
        """Decorator: register ``fn`` with its numba ``options``; ``inner``: a helper only kernels call;
        ``items``: the position of the argument whose length is the kernel's item count (default the first; a
        kernel whose first argument is a flat buffer — every coordinate, every count — names its per-row one)."""
        def wrap(fn):
            self.functions[fn.__name__] = (fn, options)
            return _Kernel(fn, inner, self, items)
        return wrap

    def compile(self) -> None:
        """Replace every kernel of the module by its numba dispatcher (``cache=True``: machine code from disk
        after the first time) and ``prange`` by numba's."""
        g = self.namespace
        with _LOCK:
            if g["prange"] is not range:
                return
            import numba

            for name, (fn, options) in self.functions.items():
                g[name] = numba.njit(cache=True, nogil=True, **options)(fn)
            g["prange"] = numba.prange


class _Kernel:
    """A kernel before compilation: runs ``fn`` in Python on small inputs, else compiles its module's kernels.
    ``inner``: a helper only kernels call (always its Python function until compiled)."""

    def __init__(self, fn, inner: bool, module: LazyKernels, items: int = 0):
        self.fn = fn
        self.inner = inner
        self.module = module
        self.items = items
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def __call__(self, *args):
        if self.inner:
            return self.fn(*args)
        mode = os.environ.get("EXPLORER_KERNELS", "auto")
        if mode == "python" or (mode != "numba" and len(args[self.items]) < SMALL):
            return self.fn(*args)
        self.module.compile()
        return self.module.namespace[self.__name__](*args)


_kernel = LazyKernels(globals())
_compile = _kernel.compile


@_kernel(inner=True)
def _lanes(cost):
    """Bounds ``(LANES + 1,)`` cutting items ``0..len(cost)`` into contiguous runs of about equal total ``cost``
    (contiguous, not round-robin: neighbouring groups share cache lines of the output arrays)."""
    total = np.cumsum(cost)
    out = np.empty(LANES + 1, np.int64)
    out[0] = 0
    whole = total[-1] if total.shape[0] else 0
    for i in range(1, LANES + 1):
        out[i] = np.searchsorted(total, whole * i / LANES, side="right") if i < LANES else cost.shape[0]
        out[i] = max(out[i], out[i - 1])
    return out


@_kernel(parallel=True)
def box_iou_blocks(dt_box, gt_box, gt_crowd, blk_d0, blk_d1, blk_g0, blk_g1, blk_off, out):
    """Fill ``out`` with the IoU of every (dt, gt) pair of every block (boxes ``x, y, w, h``).

    ``iou = inter / union`` with ``union = da + ga - inter``, or ``union = da`` (the prediction's area) for a
    crowd label; no overlap (``w <= 0`` or ``h <= 0``) gives 0. Same operations as pycocotools' ``bbIou``.
    Blocks run in parallel lanes (see ``LANES``).
    """
    bounds = _lanes((blk_d1 - blk_d0) * (blk_g1 - blk_g0) + 1)
    for p in prange(LANES):
        for b in range(bounds[p], bounds[p + 1]):
            _iou_block(dt_box, gt_box, gt_crowd, blk_d0[b], blk_d1[b], blk_g0[b], blk_g1[b], blk_off[b], out)


@_kernel(inner=True)
def _iou_block(dt_box, gt_box, gt_crowd, d0, d1, g0, g1, off, out):
    ncols = g1 - g0
    for d in range(d0, d1):
        dx = dt_box[d, 0]
        dy = dt_box[d, 1]
        dw = dt_box[d, 2]
        dh = dt_box[d, 3]
        da = dw * dh
        row = off + (d - d0) * ncols
        for g in range(g0, g1):
            gx = gt_box[g, 0]
            gy = gt_box[g, 1]
            gw = gt_box[g, 2]
            gh = gt_box[g, 3]
            o = 0.0
            w = min(dw + dx, gw + gx) - max(dx, gx)
            if w > 0:
                h = min(dh + dy, gh + gy) - max(dy, gy)
                if h > 0:
                    i = w * h
                    if gt_crowd[g]:
                        u = da
                    else:
                        u = da + gw * gh - i
                    o = i / u
            out[row + (g - g0)] = o


@_kernel(parallel=True)
def greedy_match(grp_d0, grp_d1, grp_g0, grp_g1, grp_blk, blk_d0, blk_g0, blk_ncols, blk_off, ious,
                 gt_crowd, gt_ignore, dt_outside, gt_counts, thresholds,
                 dt_match, dt_ignore, dt_tp, gt_match, dt_iou, store_iou):
    """pycocotools' ``evaluateImg`` matching for every group, area range ``a`` and IoU threshold ``t``.

    Inputs ``gt_ignore[a, g]`` (crowd or area outside range ``a``), ``dt_outside[a, d]`` (prediction area
    outside range ``a``), ``gt_counts[g]`` (False for a label whose id is 0: pycocotools stores matches as ids
    and reads 0 as "unmatched"), ``thresholds[t]`` (already capped at ``1 - 1e-10``).

    Each prediction, in score order, scans first the non-ignored labels and then the ignored ones, skipping
    non-crowd labels already taken, and keeps the label with the highest IoU ``>= t`` (ties: the later label,
    as in pycocotools); once it holds a non-ignored label it does not look at ignored ones.

    Outputs (``[a, t, row]``): ``dt_match`` matched gt row or -1, ``dt_ignore`` (matched to an ignored label,
    or unmatched and outside the area range), ``dt_tp`` (matched, counted as a match by pycocotools),
    ``gt_match`` (dt row of the last prediction matched to it, or -1), ``dt_iou`` if ``store_iou``.
    """
    lo = thresholds.min() if thresholds.shape[0] else 1.0
    widest = 1  # the most (prediction, label) pairs and predictions of one group: scratch sizes
    tallest = 1
    for k in range(grp_d0.shape[0]):
        widest = max(widest, (grp_d1[k] - grp_d0[k]) * (grp_g1[k] - grp_g0[k]))
        tallest = max(tallest, grp_d1[k] - grp_d0[k])
    bounds = _lanes((grp_d1 - grp_d0) * (grp_g1 - grp_g0 + 2) + 1)
    for p in prange(LANES):
        cand = np.empty(widest, np.int64)
        cand_end = np.empty(tallest, np.int64)
        for k in range(bounds[p], bounds[p + 1]):
            b = grp_blk[k]
            _match_group(grp_d0[k], grp_d1[k], grp_g0[k], grp_g1[k], blk_d0[b], blk_g0[b], blk_ncols[b], blk_off[b],
                         ious, gt_crowd, gt_ignore, dt_outside, gt_counts, thresholds, lo,
                         dt_match, dt_ignore, dt_tp, gt_match, dt_iou, store_iou, cand, cand_end)


@_kernel(inner=True, inline="always")  # inlined: ~1.4M tiny groups at 100k images, a call each cost ~40%
def _match_group(d0, d1, g0, g1, bd0, bg0, ncols, off, ious, gt_crowd, gt_ignore, dt_outside, gt_counts,
                 thresholds, lo, dt_match, dt_ignore, dt_tp, gt_match, dt_iou, store_iou, cand, cand_end):
    """``greedy_match`` of one group (its rows only: groups write disjoint entries, so they run in parallel).

    The IoUs are read once: each prediction's candidates (labels with IoU ``>= lo``, the lowest threshold,
    in label order) go to ``cand[cand_end[d - d0 - 1]:cand_end[d - d0]]``; every (area, threshold) pass scans
    only those, in the same order, so the choices (ties included) are those of the full scan.
    """
    n_area = gt_ignore.shape[0]
    n_thr = thresholds.shape[0]
    if d1 == d0:
        return
    n = 0
    for d in range(d0, d1):
        row = off + (d - bd0) * ncols - bg0
        for g in range(g0, g1):
            if ious[row + g] >= lo:
                cand[n] = g
                n += 1
        cand_end[d - d0] = n
    for a in range(n_area):
        for t in range(n_thr):
            thr = thresholds[t]
            c0 = 0
            for d in range(d0, d1):
                c1 = cand_end[d - d0]
                row = off + (d - bd0) * ncols - bg0
                best = thr
                m = -1
                for ign_pass in range(2):
                    if ign_pass == 1 and m >= 0:
                        break
                    for c in range(c0, c1):
                        g = cand[c]
                        if gt_ignore[a, g] != (ign_pass == 1):
                            continue
                        if gt_match[a, t, g] >= 0 and not gt_crowd[g]:
                            continue
                        v = ious[row + g]
                        if v < best:
                            continue
                        best = v
                        m = g
                c0 = c1
                ig = False
                counted = False
                if m >= 0:
                    ig = gt_ignore[a, m]
                    counted = gt_counts[m]
                    gt_match[a, t, m] = d
                    dt_match[a, t, d] = m
                    if store_iou:
                        dt_iou[a, t, d] = best
                if not counted and dt_outside[a, d]:
                    ig = True
                dt_ignore[a, t, d] = ig
                dt_tp[a, t, d] = counted and not ig


@_kernel(parallel=True)
def accumulate(order, cat_start, dt_rank, dt_tp, dt_ignore, npig, has_any, max_dets, rec_thrs,
               precision, recall):
    """pycocotools' ``accumulate``: 101-point interpolated precision and final recall per (t, k, a, m).

    ``order[cat_start[k]:cat_start[k+1]]`` lists the category-``k`` predictions in pycocotools' accumulation
    order (stable descending score over images in id order); ``dt_rank`` is each prediction's position in its
    image-category, so ``rank < maxDet`` reproduces the per-image ``maxDet`` cut. ``npig[k, a]`` counts the
    non-ignored labels; ``has_any[k]`` says whether the category has any label or prediction at all.
    With ``tp, fp`` the cumulative counts (as float64) over the non-ignored predictions: ``rc = tp / npig``,
    ``pr = tp / (fp + tp + eps)``, ``pr`` is made non-increasing from the right, and
    ``precision[t, r] = pr[searchsorted(rc, r, 'left')]`` (0 past the end; ``rec_thrs`` ascending);
    ``recall = rc[-1]`` (0 without predictions). Entries left at -1 mean "undefined" (no labels).

    Only the true positives' entries are computed: an ignored prediction adds no entry (pycocotools' entry
    repeats the one before it), and a false positive's entry has the ``rc`` of the entry before it and a ``pr``
    no larger (0 before the first true positive), so it is never the one ``searchsorted`` picks nor the maximum
    to its right. The same divisions on the same counts: the same bits, with far fewer of them.
    The (category, threshold) items run in parallel lanes; each writes only its own entries.
    """
    n_cat = cat_start.shape[0] - 1
    n_thr = dt_tp.shape[1]
    longest = 1
    for k in range(n_cat):
        longest = max(longest, cat_start[k + 1] - cat_start[k])
    n_items = n_cat * n_thr
    cost = np.empty(n_items, np.int64)
    for item in range(n_items):
        k = item // n_thr
        cost[item] = (cat_start[k + 1] - cat_start[k]) + 1
    bounds = _lanes(cost)
    n_m = max_dets.shape[0]
    for p in prange(LANES):
        rank = np.empty(longest, np.int64)
        rc = np.empty((n_m, longest))
        pr = np.empty((n_m, longest))
        tp = np.empty(n_m, np.int64)
        nd = np.empty(n_m, np.int64)
        for item in range(bounds[p], bounds[p + 1]):
            k = item // n_thr
            if has_any[k]:
                _accumulate_one(k, item % n_thr, order, cat_start, dt_rank, dt_tp, dt_ignore, npig, max_dets,
                                rec_thrs, precision, recall, rank, rc, pr, tp, nd)


@_kernel(inner=True)
def _accumulate_one(k, t, order, cat_start, dt_rank, dt_tp, dt_ignore, npig, max_dets, rec_thrs,
                    precision, recall, rank, rc, pr, tp, nd):
    """``accumulate`` for category ``k`` at threshold ``t`` (every area range and maxDets); scratch arrays given.
    One pass over the predictions per area range serves every maxDets (``tp[m], nd[m]``: the counts within
    ``max_dets[m]``); ``rc[m, i], pr[m, i]``: the entry of its ``(i+1)``-th true positive."""
    s0 = cat_start[k]
    n = cat_start[k + 1] - s0
    n_rec = rec_thrs.shape[0]
    n_m = max_dets.shape[0]
    for j in range(n):
        rank[j] = dt_rank[order[s0 + j]]
    for a in range(npig.shape[1]):
        n_pos = npig[k, a]
        if n_pos == 0:
            continue
        for mi in range(n_m):
            tp[mi] = 0
            nd[mi] = 0
        for j in range(n):
            d = order[s0 + j]
            if dt_ignore[a, t, d]:
                continue
            hit = dt_tp[a, t, d]
            r = rank[j]
            for mi in range(n_m):
                if r < max_dets[mi]:
                    nd[mi] += 1
                    if hit:
                        tp[mi] += 1
                        c = tp[mi]
                        tpf = float(c)
                        rc[mi, c - 1] = tpf / n_pos
                        pr[mi, c - 1] = tpf / (float(nd[mi] - c) + tpf + EPS)
        for mi in range(n_m):
            c = tp[mi]
            recall[t, k, a, mi] = rc[mi, c - 1] if c > 0 else 0.0
            for i in range(c - 1, 0, -1):
                if pr[mi, i] > pr[mi, i - 1]:
                    pr[mi, i - 1] = pr[mi, i]
            i = 0
            for r in range(n_rec):  # searchsorted(rc, r, 'left') for ascending r: one forward sweep
                v = rec_thrs[r]
                while i < c and rc[mi, i] < v:
                    i += 1
                precision[t, r, k, a, mi] = pr[mi, i] if i < c else 0.0


@_kernel()
def overlap_stats(grp_d0, grp_d1, grp_g0, grp_g1, grp_blk, blk_d0, blk_g0, blk_ncols, blk_off, ious,
                  img_g0, img_g1, best_same, best_other):
    """Per prediction: highest IoU with any label of its own class and with any label of another class.

    The group (image, class) of prediction ``d`` covers gt rows ``g0:g1`` inside its image's rows
    ``img_g0:img_g1``; the block is the image's, so every label of the image is reachable. No label: 0.
    """
    for k in range(grp_d0.shape[0]):
        b = grp_blk[k]
        bd0 = blk_d0[b]
        bg0 = blk_g0[b]
        ncols = blk_ncols[b]
        off = blk_off[b]
        for d in range(grp_d0[k], grp_d1[k]):
            row = off + (d - bd0) * ncols - bg0
            same = 0.0
            other = 0.0
            for g in range(img_g0[k], img_g1[k]):
                v = ious[row + g]
                if grp_g0[k] <= g < grp_g1[k]:
                    if v > same:
                        same = v
                elif v > other:
                    other = v
            best_same[d] = same
            best_other[d] = other


@_kernel()
def cross_class_match(img_d0, img_d1, img_g0, img_g1, blk_off, ious, dt_order, dt_free, gt_free,
                      dt_cat, gt_cat, threshold, out_gt):
    """Second greedy pass of the detection confusion matrix, per image.

    Free predictions (``dt_free``: unmatched, not ignored) in descending score order (``dt_order`` lists the
    image's dt rows in that order) each take the free label (``gt_free``) *of another class* with the highest
    IoU ``>= threshold`` (ties: the first label); each label is taken once. ``out_gt[d]`` = gt row or -1.
    """
    for i in range(img_d0.shape[0]):
        d0 = img_d0[i]
        g0 = img_g0[i]
        ncols = img_g1[i] - g0
        off = blk_off[i]
        for j in range(d0, img_d1[i]):
            d = dt_order[j]
            if not dt_free[d]:
                continue
            best = threshold
            m = -1
            row = off + (d - d0) * ncols - g0
            for g in range(g0, img_g1[i]):
                if not gt_free[g] or gt_cat[g] == dt_cat[d]:
                    continue
                v = ious[row + g]
                if v >= best and (m < 0 or v > best):
                    best = v
                    m = g
            if m >= 0:
                gt_free[m] = False
                out_gt[d] = m
