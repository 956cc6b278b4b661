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

import numba
import numpy as np

EPS = np.spacing(1)  # pycocotools: pr = tp / (fp + tp + np.spacing(1))


@numba.njit(cache=True, nogil=True)
def box_iou_blocks(dt_box, gt_box, gt_crowd, blk_d0, blk_d1, blk_g0, blk_g1, blk_off, out):
    """Fill ``out`` with the IoU of every (dt, gt) pair of every block (boxes ``x, y, w, h``).

    ``iou = inter / union`` with ``union = da + ga - inter``, or ``union = da`` (the prediction's area) for a
    crowd label; no overlap (``w <= 0`` or ``h <= 0``) gives 0. Same operations as pycocotools' ``bbIou``.
    """
    for b in range(blk_d0.shape[0]):
        d0 = blk_d0[b]
        g0 = blk_g0[b]
        ncols = blk_g1[b] - g0
        off = blk_off[b]
        for d in range(d0, blk_d1[b]):
            dx = dt_box[d, 0]
            dy = dt_box[d, 1]
            dw = dt_box[d, 2]
            dh = dt_box[d, 3]
            da = dw * dh
            row = off + (d - d0) * ncols
            for g in range(g0, blk_g1[b]):
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


@numba.njit(cache=True, nogil=True)
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
    n_area = gt_ignore.shape[0]
    n_thr = thresholds.shape[0]
    for k in range(grp_d0.shape[0]):
        d0 = grp_d0[k]
        d1 = grp_d1[k]
        g0 = grp_g0[k]
        g1 = grp_g1[k]
        if d1 == d0 and g1 == g0:
            continue
        b = grp_blk[k]
        bd0 = blk_d0[b]
        bg0 = blk_g0[b]
        ncols = blk_ncols[b]
        off = blk_off[b]
        for a in range(n_area):
            for t in range(n_thr):
                thr = thresholds[t]
                for d in range(d0, d1):
                    row = off + (d - bd0) * ncols - bg0
                    best = thr
                    m = -1
                    for ign_pass in range(2):
                        if ign_pass == 1 and m >= 0:
                            break
                        for g in range(g0, g1):
                            if gt_ignore[a, g] != (ign_pass == 1):
                                continue
                            if gt_match[a, t, g] >= 0 and not gt_crowd[g]:
                                continue
                            v = ious[row + g]
                            if v < best:
                                continue
                            best = v
                            m = g
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


@numba.njit(cache=True, nogil=True)
def accumulate(order, cat_start, dt_rank, dt_tp, dt_ignore, npig, has_any, max_dets, rec_thrs,
               precision, recall):
    """pycocotools' ``accumulate``: 101-point interpolated precision and final recall per (t, k, a, m).

    ``order[cat_start[k]:cat_start[k+1]]`` lists the category-``k`` predictions in pycocotools' accumulation
    order (stable descending score over images in id order); ``dt_rank`` is each prediction's position in its
    image-category, so ``rank < maxDet`` reproduces the per-image ``maxDet`` cut. ``npig[k, a]`` counts the
    non-ignored labels; ``has_any[k]`` says whether the category has any label or prediction at all.
    With ``tp, fp`` the cumulative counts (as float64): ``rc = tp / npig``, ``pr = tp / (fp + tp + eps)``,
    ``pr`` is made non-increasing from the right, and ``precision[t, r] = pr[searchsorted(rc, r, 'left')]``
    (0 past the end). Entries left at -1 mean "undefined" (no labels), as in pycocotools.
    """
    n_cat = cat_start.shape[0] - 1
    n_area = npig.shape[1]
    n_thr = dt_tp.shape[1]
    n_rec = rec_thrs.shape[0]
    longest = 0
    for k in range(n_cat):
        longest = max(longest, cat_start[k + 1] - cat_start[k])
    rc = np.empty(longest)
    pr = np.empty(longest)
    for k in range(n_cat):
        if not has_any[k]:
            continue
        s0 = cat_start[k]
        s1 = cat_start[k + 1]
        for a in range(n_area):
            n_pos = npig[k, a]
            if n_pos == 0:
                continue
            for mi in range(max_dets.shape[0]):
                max_det = max_dets[mi]
                for t in range(n_thr):
                    tp = 0
                    fp = 0
                    nd = 0
                    for j in range(s0, s1):
                        d = order[j]
                        if dt_rank[d] >= max_det:
                            continue
                        if not dt_ignore[a, t, d]:
                            if dt_tp[a, t, d]:
                                tp += 1
                            else:
                                fp += 1
                        tpf = float(tp)
                        rc[nd] = tpf / n_pos
                        pr[nd] = tpf / (float(fp) + tpf + EPS)
                        nd += 1
                    recall[t, k, a, mi] = rc[nd - 1] if nd > 0 else 0.0
                    for i in range(nd - 1, 0, -1):
                        if pr[i] > pr[i - 1]:
                            pr[i - 1] = pr[i]
                    for r in range(n_rec):
                        v = rec_thrs[r]
                        lo = 0
                        hi = nd
                        while lo < hi:
                            mid = (lo + hi) >> 1
                            if rc[mid] < v:
                                lo = mid + 1
                            else:
                                hi = mid
                        precision[t, r, k, a, mi] = pr[lo] if lo < nd else 0.0


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
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
