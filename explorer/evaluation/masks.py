"""Masks for ``iou_type="segm"``: COCO segmentations to RLE and mask IoU blocks, via ``pycocotools.mask``.

The conversion is pycocotools' ``COCO.annToRLE`` (``explorer.io.coco_segmentation.to_rle``, the importer's
one, on segmentations the record model normalised): a polygon list is rasterised with ``frPyObjects(poly, h, w)``
and its parts merged; an uncompressed RLE (``counts`` a list) goes through ``frPyObjects``; a compressed RLE is
used as is. A row without segmentation uses its box as a polygon (what ``loadRes`` does for box results).
Mask IoU is ``pycocotools.mask.iou`` (crowd labels: intersection over the prediction's area), so it is exact.

Batched, same bits: pycocotools' mask API works on lists, and each call costs ~20-100 µs of Python around its C
loop, so ``table_rles`` rasterises every polygon of one image in ONE ``frPyObjects`` call (a polygon's RLE does
not depend on the others in the list; ``merge`` of one RLE is that RLE, so only multi-part rows are merged), and
``mask_iou_blocks`` makes one ``iou`` call per image for all of its blocks (each block is a sub-matrix of the
image's matrix: ``rleIou`` computes every pair on its own).
"""
from __future__ import annotations

import math
from itertools import chain

import numpy as np
from pycocotools import mask as mask_utils

from explorer.errors import UserError
from explorer.evaluation.inputs import Boxes
from explorer.io import coco_segmentation


def _box_polygon(b) -> list:
    x1, y1 = b[0], b[1]
    x2, y2 = b[0] + b[2], b[1] + b[3]
    return [[x1, y1, x1, y2, x2, y2, x2, y1]]


def to_rle(segm, h: float, w: float, *, box=None, where: str = ""):
    """One COCO segmentation (polygons / RLE / None) as a compressed RLE dict, like ``COCO.annToRLE``."""
    if segm is None:
        segm = _box_polygon(box)
    if isinstance(segm, list) and not (math.isfinite(h) and math.isfinite(w)):
        # inputs.for_iou_type leaves such rows out; reaching here is a caller skipping it
        raise UserError(f"{where}: a polygon mask needs the image height and width, which are unknown")
    return coco_segmentation.to_rle(segm, h, w)


def _row_sizes(image_id: np.ndarray, sizes: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W)`` float64 per row from ``sizes`` (image id -> (height, width)); NaN where unknown."""
    from explorer.evaluation.layout import lookup

    keys = np.fromiter(sizes.keys(), np.int64, len(sizes))
    hw = np.array(list(sizes.values()), np.float64).reshape(-1, 2)
    at = lookup(keys, image_id)
    hw = np.vstack([hw, [[np.nan, np.nan]]])[at]  # -1 (unknown image): the NaN row
    return hw[:, 0], hw[:, 1]


def table_rles(table: Boxes, sizes: dict[int, tuple[float, float]], *, what: str) -> list:
    """RLEs of every row of ``table`` (``sizes``: image id -> (height, width)), equal to ``to_rle`` row by row.

    Polygon rows (a polygon list, or None: the box polygon) are rasterised per image: all their parts in one
    ``frPyObjects(parts, h, w)`` call, a row of ``m > 1`` parts then ``merge``-d; RLE dicts row by row."""
    n = len(table)
    segm = table.segm if table.segm is not None else [None] * n
    out = [None] * n
    H, W = _row_sizes(table.image_id, sizes)
    poly = np.fromiter((s is None or type(s) is list for s in segm), bool, n)
    for i in np.flatnonzero(~poly).tolist():
        out[i] = to_rle(segm[i], H[i], W[i], box=table.box[i])
    rows = np.flatnonzero(poly)
    unknown = rows[~(np.isfinite(H[rows]) & np.isfinite(W[rows]))]
    if len(unknown):  # inputs.for_iou_type leaves such rows out; reaching here is a caller skipping it
        i = int(unknown[0])
        raise UserError(f"{what} id={int(table.ids[i])} (image {int(table.image_id[i])}): a polygon mask needs the "
                        "image height and width, which are unknown")
    if len(rows) == 0:
        return out
    rows = rows[np.argsort(table.image_id[rows], kind="stable")]
    img = table.image_id[rows]
    cuts = np.flatnonzero(img[1:] != img[:-1]) + 1
    box = table.box
    parts_of = [segm[i] if segm[i] is not None else _box_polygon(box[i].tolist()) for i in rows.tolist()]
    n_parts = np.fromiter(map(len, parts_of), np.int64, len(parts_of))
    h_of, w_of = H[rows].astype(np.int64).tolist(), W[rows].astype(np.int64).tolist()
    for a, b in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(rows)].tolist()):
        rles = mask_utils.frPyObjects(list(chain.from_iterable(parts_of[a:b])), h_of[a], w_of[a])
        k = 0
        for j in range(a, b):
            m = int(n_parts[j])
            out[rows[j]] = rles[k] if m == 1 else mask_utils.merge(rles[k:k + m])
            k += m
    return out


def mask_iou_blocks(dt_rles, gt_rles, gt_crowd, blk_d0, blk_d1, blk_g0, blk_g1, blk_off, out, blk_img=None) -> None:
    """Fill ``out`` (flat, row-major per block) with ``pycocotools.mask.iou`` of every block.

    ``blk_img`` (the image of each block; None: each block is its own image): the blocks of one image are
    computed by one ``iou`` call over the union of their rows and cut out of its matrix."""
    crowd = gt_crowd.astype(np.uint8)
    nd, ng = blk_d1 - blk_d0, blk_g1 - blk_g0
    live = np.flatnonzero((nd > 0) & (ng > 0))
    if len(live) == 0:
        return
    img = live if blk_img is None else np.asarray(blk_img)[live]
    live = live[np.argsort(img, kind="stable")]
    img = img[np.argsort(img, kind="stable")]
    starts = np.r_[0, np.flatnonzero(img[1:] != img[:-1]) + 1, len(live)].tolist()
    d0, d1, g0, g1, off = (x[live].tolist() for x in (blk_d0, blk_d1, blk_g0, blk_g1, blk_off))
    for s, e in zip(starts[:-1], starts[1:]):
        if e - s == 1:  # one block in the image: its rows are contiguous
            iou = mask_utils.iou(dt_rles[d0[s]:d1[s]], gt_rles[g0[s]:g1[s]], crowd[g0[s]:g1[s]].tolist())
            out[off[s]: off[s] + (d1[s] - d0[s]) * (g1[s] - g0[s])] = np.asarray(iou, dtype=np.float64).ravel()
            continue
        d_rows = list(chain.from_iterable(range(d0[b], d1[b]) for b in range(s, e)))
        g_rows = list(chain.from_iterable(range(g0[b], g1[b]) for b in range(s, e)))
        iou = np.asarray(mask_utils.iou([dt_rles[d] for d in d_rows], [gt_rles[g] for g in g_rows],
                                        crowd[g_rows].tolist()), dtype=np.float64)
        di = gi = 0
        for b in range(s, e):
            m, n = d1[b] - d0[b], g1[b] - g0[b]
            out[off[b]: off[b] + m * n] = iou[di:di + m, gi:gi + n].ravel()
            di += m
            gi += n
