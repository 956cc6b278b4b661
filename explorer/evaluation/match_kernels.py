"""The ``Matcher``'s re-match as one compiled pass: greedy assignment and outcome columns, straight into the result.

``Matcher.match(t, confidence_threshold=c)`` used to run ``kernels.greedy_match`` (every area range and
threshold, writing ``(1, 1, n)`` arrays) and then ``kernels.match_outcomes`` over its result. Here both are one
loop writing the result's columns: no intermediate per-row arrays and no initialisation pass (every output
entry is written exactly once).

Only a *labelled* group (an image-class with at least one label; ~450k of 1.4M groups at 100k images) needs
matching; the rows between labelled groups (classes the image has no label of) are unmatched whatever the
threshold. Threshold-independent inputs, prepared once per Matcher (``Rematch.build``):

- per labelled group ``k``: rows ``d0[k] <= d < end[k]`` (score order), of which ``d < d1[k]`` are before the
  ``max_dets`` cut, labels ``g0[k] <= g < g1[k]``;
- the IoUs of their own (prediction, label) pairs copied out of the image blocks into one contiguous array:
  ``pair_ious[off + (d - d0[k]) * ng + (g - g0[k])]`` with ``ng = g1[k] - g0[k]`` and ``off`` the pairs of the
  labelled groups before ``k`` (2.3M pairs instead of 15M image pairs at 100k images);
- ``row_ignored``: the outcome ``ignored`` of an unmatched row (past the cut, or outside the area range);
- lanes (``kernels.LANES``): contiguous runs of labelled groups of about equal work, run with prange; lane ``p``
  covers rows ``lane_r0[p]:lane_r0[p + 1]`` and its groups' pairs from ``lane_off[p]``, and its kept rows go to
  the output from ``lane_j[p]`` (the kept rows before ``lane_r0[p]``).

Small inputs run as plain Python (same rule and ``$EXPLORER_KERNELS`` as ``explorer.evaluation.kernels``):
the same operations in the same order, the same bits.
"""
from __future__ import annotations

import numpy as np

from explorer.evaluation import kernels

prange = range  # numba.prange once compiled
_kernel = kernels.LazyKernels(globals())  # kernels.py's lazy-compilation rule, for this module's kernels


def lanes(cost: np.ndarray) -> np.ndarray:
    """Bounds ``(LANES + 1,)`` cutting items ``0..len(cost)`` into contiguous runs of about equal total ``cost``
    (``kernels._lanes``' rule, computed once per Matcher in NumPy instead of in every call)."""
    total = np.cumsum(cost)
    whole = total[-1] if len(total) else 0
    cut = np.searchsorted(total, whole * np.arange(1, kernels.LANES) / kernels.LANES, side="right")
    return np.maximum.accumulate(np.concatenate(([0], cut, [len(cost)]))).astype(np.int64)


@_kernel(parallel=True)
def pair_ious(d0, d1, g0, g1, blk, blk_d0, blk_g0, blk_ncols, blk_off, ious, bounds, lane_off, out):
    """Copy each labelled group's own IoUs out of its image block ``blk[k]`` (layout in the module docstring):
    ``out[off + (d - d0) * ng + (g - g0)] = ious[blk_off + (d - blk_d0) * ncols + (g - blk_g0)]``."""
    for p in prange(bounds.shape[0] - 1):
        o = lane_off[p]
        for k in range(bounds[p], bounds[p + 1]):
            b = blk[k]
            ng = g1[k] - g0[k]
            for d in range(d0[k], d1[k]):
                row = blk_off[b] + (d - blk_d0[b]) * blk_ncols[b] + (g0[k] - blk_g0[b])
                for i in range(ng):
                    out[o + i] = ious[row + i]
                o += ng


@_kernel(parallel=True)
def rematch(d0s, d1s, ends, g0s, g1s, ious, bounds, lane_r0, lane_off, lane_j, row_ignored, score, pred_ids,
            best_same, best_other, gt_crowd, gt_ignore, gt_counts, gt_ids, dt_outside, thr, confidence,
            out_tp, out_label, out_label_na, out_iou, out_ignored, out_code,
            label_pred, label_na, label_iou, label_detected):
    """Greedy matching at the (capped) IoU threshold ``thr`` and the outcome of every kept row, in one pass.

    Matching (pycocotools' ``evaluateImg`` at area "all"; ``kernels.greedy_match`` with one area and one
    threshold): in each labelled group the rows before the cut, in score order, each take the free label (a
    crowd label is always free, others until taken) with the highest IoU ``>= thr`` among the labels with
    ``gt_ignore`` False, or if there is none among the ignored ones (ties: the later label). Rows with ``score <
    confidence`` are skipped: in a group they come after every kept row (descending score), so they never change
    a kept row's match. Rows past the cut, and rows outside labelled groups, are unmatched.

    Outputs, kept row ``j`` (rows with ``score >= confidence`` in row order), with ``m`` its label (or none) and
    ``counted = gt_counts[m]``: ``ignored = gt_ignore[m]`` if matched, else ``row_ignored[d]`` (cut or
    ``dt_outside``), and True when not counted and ``dt_outside[d]``; ``out_tp = counted and not ignored``;
    ``out_ignored = ignored or gt_crowd[m]``; ``out_code`` 0 unless FP (neither TP nor ignored), else
    ``_fp_code``; ``out_label`` = ``gt_ids[m]`` (0 and ``out_label_na`` True when none); ``out_iou`` the IoU
    with ``m`` (NaN when none). Per label row ``g``: the last (lowest-score) kept row matched to it gives
    ``label_pred = pred_ids[d]`` and ``label_iou``; ``label_na`` when none (then 0 and NaN);
    ``label_detected = matched and gt_counts[g]``.
    """
    n_lanes = bounds.shape[0] - 1
    for p in prange(n_lanes):
        j = lane_j[p]
        o = lane_off[p]
        r = lane_r0[p]  # next row of the lane not written yet
        for k in range(bounds[p], bounds[p + 1] + 1):
            # the unmatched rows up to group k (after the lane's last group: up to the lane's end)
            stop = d0s[k] if k < bounds[p + 1] else lane_r0[p + 1]
            for d in range(r, stop):
                if not score[d] >= confidence:
                    continue
                ignored = row_ignored[d]
                out_label[j] = 0
                out_label_na[j] = True
                out_iou[j] = np.nan
                out_tp[j] = False
                out_ignored[j] = ignored
                out_code[j] = 0 if ignored else _fp_code(best_same[d], best_other[d], thr)
                j += 1
            if k == bounds[p + 1]:
                break
            d0 = d0s[k]
            d1 = d1s[k]
            g0 = g0s[k]
            g1 = g1s[k]
            ng = g1 - g0
            for g in range(g0, g1):
                label_pred[g] = 0
                label_na[g] = True
                label_iou[g] = np.nan
                label_detected[g] = False
            r = ends[k]
            for d in range(d0, r):
                if not score[d] >= confidence:
                    break
                m = -1  # the best free label among the non-ignored ones, else among the ignored ones
                best = thr
                m_ign = -1
                best_ign = thr
                if d < d1:
                    row = o + (d - d0) * ng - g0
                    for g in range(g0, g1):
                        v = ious[row + g]
                        if label_na[g] or gt_crowd[g]:
                            if gt_ignore[g]:
                                if v >= best_ign:
                                    best_ign = v
                                    m_ign = g
                            elif v >= best:
                                best = v
                                m = g
                    if m < 0:
                        m = m_ign
                        best = best_ign
                if m >= 0:
                    ignored = gt_ignore[m]
                    counted = gt_counts[m]
                    crowd = gt_crowd[m]
                    label_pred[m] = pred_ids[d]
                    label_na[m] = False
                    label_iou[m] = best
                    label_detected[m] = counted
                    out_label[j] = gt_ids[m]
                    out_label_na[j] = False
                    out_iou[j] = best
                else:
                    ignored = row_ignored[d]
                    counted = False
                    crowd = False
                    out_label[j] = 0
                    out_label_na[j] = True
                    out_iou[j] = np.nan
                if not counted and dt_outside[d]:
                    ignored = True
                tp = counted and not ignored
                out_tp[j] = tp
                out_ignored[j] = ignored or crowd
                out_code[j] = 0 if tp or ignored else _fp_code(best_same[d], best_other[d], thr)
                j += 1
            o += (d1 - d0) * ng


@_kernel(inner=True, inline="always")
def _fp_code(best_same, best_other, thr):
    """FP reason code: 1 duplicate (``best_same >= thr``), 2 wrong class (``best_other >= thr``), 3 localisation
    (``best_same > 0``), 4 background; as selects rather than branches (the reasons of neighbouring rows are
    unpredictable)."""
    code = 3 if best_same > 0 else 4
    code = 2 if best_other >= thr else code
    return 1 if best_same >= thr else code


class Rematch:
    """The threshold-independent inputs of ``rematch`` for one ``Layout`` (module docstring), and the call."""

    def __init__(self, lay, dt_rank, dt_outside, gt_ignore, max_dets: int):
        n_dt = len(lay.dt_rows)
        ng = lay.grp_g1 - lay.grp_g0
        labelled = np.flatnonzero(ng > 0)
        self.d0, self.d1, self.g0, self.g1 = (np.ascontiguousarray(a[labelled]) for a in
                                              (lay.grp_d0, lay.grp_d1, lay.grp_g0, lay.grp_g1))
        self.end = np.append(lay.grp_d0, n_dt)[labelled + 1]  # groups' rows are contiguous and in order
        ng = ng[labelled]
        pairs = (self.d1 - self.d0) * ng
        # work of a labelled group: its pairs and rows, and the unmatched rows before it
        before = self.d0 - np.append(0, self.end[:-1])
        self.bounds = lanes(pairs + (self.end - self.d0) + ng + before + 1)
        off = np.zeros(len(labelled) + 1, np.int64)
        np.cumsum(pairs, out=off[1:])
        self.lane_off = off[self.bounds]
        self.lane_r0 = np.append(self.d0, n_dt)[self.bounds]
        self.lane_r0[0] = 0
        self.ious = np.empty(int(off[-1]), np.float64)
        pair_ious(self.d0, self.d1, self.g0, self.g1, np.ascontiguousarray(lay.grp_blk[labelled]), lay.blk_d0,
                  lay.blk_g0, lay.blk_ncols, lay.blk_off, lay.ious, self.bounds, self.lane_off, self.ious)
        self.row_ignored = (dt_rank >= max_dets) | dt_outside
        self.dt_outside = np.ascontiguousarray(dt_outside)
        self.gt_ignore = np.ascontiguousarray(gt_ignore)

    #: the arrays ``__init__`` derives from the layout (what ``arrays`` gives and ``from_arrays`` takes back)
    SAVED = ("d0", "d1", "g0", "g1", "end", "bounds", "lane_off", "lane_r0", "ious", "row_ignored")

    def arrays(self) -> dict:
        """``{name: array}`` of ``SAVED`` (threshold-independent: the Matcher keeps them in its saved folder)."""
        return {name: getattr(self, name) for name in self.SAVED}

    @classmethod
    def from_arrays(cls, arrays: dict, lay, dt_rank, dt_outside, gt_ignore, max_dets: int) -> "Rematch | None":
        """The ``Rematch`` of ``lay`` from ``arrays`` (as ``arrays()`` gave them, e.g. memory-mapped), or None
        when they are incomplete or do not fit ``lay`` (sizes checked: a fingerprint names the tables)."""
        if any(name not in arrays for name in cls.SAVED):
            return None
        self = cls.__new__(cls)
        for name in cls.SAVED:
            setattr(self, name, arrays[name])
        n_labelled = int(np.count_nonzero(lay.grp_g1 > lay.grp_g0))
        if (any(len(getattr(self, k)) != n_labelled for k in ("d0", "d1", "g0", "g1", "end"))
                or len(self.row_ignored) != len(dt_rank) or len(self.bounds) != kernels.LANES + 1
                or len(self.ious) != int(np.sum((self.d1 - self.d0) * (self.g1 - self.g0)))):
            return None
        self.dt_outside = np.ascontiguousarray(dt_outside)
        self.gt_ignore = np.ascontiguousarray(gt_ignore)
        return self

    def __call__(self, thr: float, confidence: float, lane_j, score, pred_ids, best_same, best_other, gt_crowd,
                 gt_counts, gt_ids, n_keep: int) -> tuple[np.ndarray, ...]:
        """``rematch`` into fresh arrays: ``(is_tp, label, label_na, iou, ignored, code)`` of the ``n_keep`` kept
        rows, then ``(label_pred, label_na, label_iou, detected)`` of every label row."""
        n_gt = len(gt_ids)
        out = (np.empty(n_keep, bool), np.empty(n_keep, np.int64), np.empty(n_keep, bool), np.empty(n_keep),
               np.empty(n_keep, bool), np.empty(n_keep, np.int8),
               np.empty(n_gt, np.int64), np.empty(n_gt, bool), np.empty(n_gt), np.empty(n_gt, bool))
        rematch(self.d0, self.d1, self.end, self.g0, self.g1, self.ious, self.bounds, self.lane_r0, self.lane_off,
                lane_j, self.row_ignored, score, pred_ids, best_same, best_other, gt_crowd, self.gt_ignore,
                gt_counts, gt_ids, self.dt_outside, thr, confidence, *out)
        return out


# ---- the outcome tables' per-image counts (``explorer.analysis.outcomes``) -------------------
@_kernel()
def per_image_counts(at, ignored, hit, hit_na, n_out, k_out):
    """Per image position ``p``: ``n_out[p]`` = rows with ``at == p`` and not ``ignored``, ``k_out[p]`` = those
    of them with ``hit`` True and ``hit_na`` False (``at`` int (n,), -1 = an image not counted; outputs zeroed by
    the caller). ``np.bincount(at[keep])`` and ``np.bincount(at[keep & hit])`` in one pass."""
    for i in range(at.shape[0]):
        p = at[i]
        if p >= 0 and not ignored[i]:
            n_out[p] += 1
            if hit[i] and not hit_na[i]:
                k_out[p] += 1


@_kernel(parallel=True)
def outcome_columns(r, present, ignored, hit, id_na, ids, iou, code, out_ignored, out_hit, out_hit_na, out_id,
                    out_id_na, out_iou, out_code):
    """The outcome columns of an outcome table's rows from a match's columns, one pass (``r`` read once; the
    gathers jump about — project order against the match's order — so each is a cache miss per row): row ``i``
    takes match row ``d = r[i]`` when ``present[i]``: ``out_ignored = out_hit_na = ignored[d]``, ``out_hit =
    hit[d]``, ``out_id = ids[d]``, ``out_id_na = id_na[d]``, ``out_iou = iou[d]``, ``out_code = code[d]`` (when
    ``code`` has rows; else 0); a row the match does not hold is ignored, undefined (``out_hit`` True under its
    mask), without id (0) or IoU (NaN), code 0. Shapes: ``r, present`` (n,); the match's columns (m,); outputs
    (n,)."""
    with_code = code.shape[0] > 0
    for i in prange(r.shape[0]):
        if present[i]:
            d = r[i]
            ign = ignored[d]
            out_ignored[i] = ign
            out_hit[i] = hit[d]
            out_hit_na[i] = ign
            out_id[i] = ids[d]
            out_id_na[i] = id_na[d]
            out_iou[i] = iou[d]
            out_code[i] = code[d] if with_code else 0
        else:
            out_ignored[i] = True
            out_hit[i] = True
            out_hit_na[i] = True
            out_id[i] = 0
            out_id_na[i] = True
            out_iou[i] = np.nan
            out_code[i] = 0
