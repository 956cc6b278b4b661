"""Masks for ``iou_type="segm"``: COCO segmentations to RLE and mask IoU blocks, via ``pycocotools.mask``.

The conversion is pycocotools' ``COCO.annToRLE`` (``explorer.io.coco_segmentation.to_rle``, the importer's
one, on segmentations the record model normalised): a polygon list is rasterised with ``frPyObjects(poly, h, w)``
and its parts merged; an uncompressed RLE (``counts`` a list) goes through ``frPyObjects``; a compressed RLE is
used as is. A row without segmentation uses its box as a polygon (what ``loadRes`` does for box results).
Mask IoU is ``pycocotools.mask.iou`` (crowd labels: intersection over the prediction's area), so it is exact.
"""
from __future__ import annotations

import math

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


def table_rles(table: Boxes, sizes: dict[int, tuple[float, float]], *, what: str) -> list:
    """RLEs of every row of ``table`` (``sizes``: image id -> (height, width))."""
    segm = table.segm if table.segm is not None else [None] * len(table)
    out = []
    for i, (s, img) in enumerate(zip(segm, table.image_id.tolist())):
        h, w = sizes.get(img, (math.nan, math.nan))
        out.append(to_rle(s, h, w, box=table.box[i], where=f"{what} id={int(table.ids[i])} (image {img})"))
    return out


def mask_iou_blocks(dt_rles, gt_rles, gt_crowd, blk_d0, blk_d1, blk_g0, blk_g1, blk_off, out) -> None:
    """Fill ``out`` (flat, row-major per block) with ``pycocotools.mask.iou`` of every block."""
    crowd = gt_crowd.astype(np.uint8)
    for b in range(len(blk_d0)):
        d0, d1, g0, g1 = int(blk_d0[b]), int(blk_d1[b]), int(blk_g0[b]), int(blk_g1[b])
        if d1 == d0 or g1 == g0:
            continue
        iou = mask_utils.iou(dt_rles[d0:d1], gt_rles[g0:g1], crowd[g0:g1].tolist())
        out[blk_off[b]: blk_off[b] + (d1 - d0) * (g1 - g0)] = np.asarray(iou, dtype=np.float64).ravel()
