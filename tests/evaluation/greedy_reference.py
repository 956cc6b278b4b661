"""The Matcher's raw greedy assignment by the evaluation kernel itself: the reference the compiled re-match
(``match_kernels.rematch``) and the confusion assignment are checked against."""
from __future__ import annotations

import numpy as np

from explorer.evaluation import kernels


def greedy_assign(matcher, iou_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(gt row or -1, IoU, ignored)`` per sorted prediction row of ``matcher`` at one threshold
    (``kernels.greedy_match``: pycocotools' greedy rule over every same-image IoU)."""
    lay = matcher.layout
    n_dt, n_gt = len(lay.dt_rows), len(lay.gt_rows)
    dt_match = np.full((1, 1, n_dt), -1, np.int64)
    gt_match = np.full((1, 1, n_gt), -1, np.int64)
    dt_ignore = np.zeros((1, 1, n_dt), bool)
    dt_tp = np.zeros((1, 1, n_dt), bool)
    dt_iou = np.full((1, 1, n_dt), np.nan)
    thr = np.array([min(float(iou_threshold), 1 - 1e-10)])
    kernels.greedy_match(lay.grp_d0, lay.grp_d1, lay.grp_g0, lay.grp_g1, lay.grp_blk, lay.blk_d0, lay.blk_g0,
                         lay.blk_ncols, lay.blk_off, lay.ious, matcher.gt_crowd, matcher.gt_ignore, matcher.dt_outside,
                         matcher.gt_counts, thr, dt_match, dt_ignore, dt_tp, gt_match, dt_iou, True)
    return dt_match[0, 0], dt_iou[0, 0], dt_ignore[0, 0]
