"""Pascal VOC average precision (every-point and 11-point interpolation), an alternative to COCO AP.

Per class, predictions in descending confidence (ties: input order) each take the label of their image with
the highest IoU (ties: the first); if that IoU >= threshold and the label is still free it is a TP, otherwise
a FP (a taken label does not pass on to the next best). With cumulative counts ``rec = TP / n_labels`` and
``prec = TP / (TP + FP)``:

- every point: ``AP = sum_i (r_{i+1} - r_i) * max_{r >= r_{i+1}} prec`` over the recall steps, with recall
  padded by 0 and 1 and precision by 0 and 0 (VOC 2010+);
- 11 point: ``AP = 1/11 * sum_{r in 0, 0.1, ..., 1} max(prec[rec >= r])`` (0 when no recall reaches r).

Boxes are ``x, y, w, h`` in pixels; IoU uses the VOC "+1 pixel" convention: ``x2 = x + w``, the area of
``[x1, x2]`` is ``x2 - x1 + 1`` wide, and boxes that do not touch have IoU 0.
"""
from __future__ import annotations

from pathlib import Path

import numba
import numpy as np
import pandas as pd

from explorer.errors import UserError


@numba.njit(cache=True)
def _voc_match(det_img, det_box, gt_start, gt_stop, gt_box, threshold, is_tp):
    """Greedy VOC assignment of predictions (already in confidence order) to their image's labels."""
    taken = np.zeros(gt_box.shape[0], np.bool_)
    for d in range(det_img.shape[0]):
        a0, a1, a2, a3 = det_box[d, 0], det_box[d, 1], det_box[d, 2], det_box[d, 3]
        best = 0.0
        m = -1
        i = det_img[d]
        for g in range(gt_start[i], gt_stop[i]):
            b0, b1, b2, b3 = gt_box[g, 0], gt_box[g, 1], gt_box[g, 2], gt_box[g, 3]
            if a0 > b2 or b0 > a2 or a3 < b1 or a1 > b3:
                iou = 0.0
            else:
                inter = (min(a2, b2) - max(a0, b0) + 1) * (min(a3, b3) - max(a1, b1) + 1)
                union = (a2 - a0 + 1) * (a3 - a1 + 1) + (b2 - b0 + 1) * (b3 - b1 + 1) - inter
                iou = inter / union
            if iou > best:
                best = iou
                m = g
        if m >= 0 and best >= threshold and not taken[m]:
            taken[m] = True
            is_tp[d] = True


def _every_point(rec: np.ndarray, prec: np.ndarray) -> float:
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps]))


def _eleven_point(rec: np.ndarray, prec: np.ndarray) -> float:
    total = 0.0
    for r in np.linspace(0, 1, 11)[::-1]:
        above = prec[rec >= r]
        total += float(above.max()) if len(above) else 0.0
    return total / 11


def _frame(boxes, *, what: str, need_score: bool) -> pd.DataFrame:
    df = pd.DataFrame(boxes) if not isinstance(boxes, pd.DataFrame) else boxes
    cols = ["image", "class", "x", "y", "w", "h"] + (["score"] if need_score else [])
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise UserError(f"{what} need columns {cols}; missing {missing}")
    return df


def evaluate_voc(gt_boxes, predictions, *, iou_threshold: float = 0.5, interpolation: str = "all") -> dict:
    """VOC AP per class: ``{class: AP}`` (NaN for a class with predictions but no labels).

    ``gt_boxes``: DataFrame (or records) with ``image, class, x, y, w, h``; ``predictions``: the same plus
    ``score``. ``interpolation``: ``"all"`` (every point) or ``"11"``.
    """
    if interpolation not in ("all", "11"):
        raise UserError(f"interpolation must be 'all' or '11', got {interpolation!r}")
    gt = _frame(gt_boxes, what="labels", need_score=False)
    dt = _frame(predictions, what="predictions", need_score=True)
    images = pd.Index(pd.unique(pd.concat([gt["image"], dt["image"]], ignore_index=True)))
    out = {}
    for cls in sorted(set(gt["class"]) | set(dt["class"]), key=str):
        g = gt[gt["class"] == cls]
        d = dt[dt["class"] == cls]
        g_img = images.get_indexer(g["image"])
        g_order = np.argsort(g_img, kind="stable")
        g_img = g_img[g_order]
        gb = g[["x", "y", "w", "h"]].to_numpy(np.float64)[g_order]
        gb[:, 2:] += gb[:, :2]
        n_img = len(images)
        gt_start = np.searchsorted(g_img, np.arange(n_img), "left")
        gt_stop = np.searchsorted(g_img, np.arange(n_img), "right")
        d_order = np.argsort(-d["score"].to_numpy(np.float64), kind="stable")
        db = d[["x", "y", "w", "h"]].to_numpy(np.float64)[d_order]
        db[:, 2:] += db[:, :2]
        is_tp = np.zeros(len(d), bool)
        _voc_match(images.get_indexer(d["image"])[d_order], db, gt_start, gt_stop, gb, float(iou_threshold), is_tp)
        if len(g) == 0:
            out[cls] = np.nan
            continue
        tp = np.cumsum(is_tp)
        fp = np.cumsum(~is_tp)
        rec = tp / len(g)
        prec = np.divide(tp, fp + tp, out=np.zeros(len(tp)), where=(fp + tp) > 0)
        out[cls] = _every_point(rec, prec) if interpolation == "all" else _eleven_point(rec, prec)
    return out


def read_voc_txt(folder: str | Path, *, with_scores: bool) -> pd.DataFrame:
    """Read a folder of per-image text files (``class x y w h`` or ``class score x y w h`` per line) into the
    frame ``evaluate_voc`` takes; ``image`` is the file stem. A malformed line raises ``UserError`` naming it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder")
    rows = []
    n = 6 if with_scores else 5
    for path in sorted(folder.glob("*.txt")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != n:
                raise UserError(f"{path}: line {lineno}: expected {n} fields, got {len(parts)}: {line!r}")
            try:
                nums = [float(v) for v in parts[1:]]
            except ValueError:
                raise UserError(f"{path}: line {lineno}: not numbers: {line!r}") from None
            row = {"image": path.stem, "class": parts[0]}
            if with_scores:
                row["score"] = nums.pop(0)
            row.update(zip("xywh", nums))
            rows.append(row)
    return pd.DataFrame(rows, columns=["image", "class"] + (["score"] if with_scores else []) + list("xywh"))
