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

That pycocotools path is the reference and the fallback; the evaluation runs the compiled one: ``mask_inputs``
(every needed row's polygons as flat coordinates, RLE rows decoded) and ``mask_kernels.mask_iou_blocks`` (one
pass per block, rasterising only the rows that can overlap a row on the other side), the same bits.
"""
from __future__ import annotations

import math
from itertools import chain
from typing import NamedTuple

import numpy as np
from pycocotools import mask as mask_utils

from explorer.errors import UserError
from explorer.evaluation.inputs import Boxes, Polygons
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


def _polygon_rows(image_id: np.ndarray, ids: np.ndarray, segm: list, sizes: dict, *, what: str):
    """``(H, W, poly, rows)``: per-row image sizes (``_row_sizes``), whether each row is a polygon row (a polygon
    list, or None: the box polygon) and those rows' positions; ``UserError`` naming the first polygon row whose
    image size is unknown."""
    H, W = _row_sizes(image_id, sizes)
    kinds = {list} if type(segm) is Polygons else set(map(type, segm))
    if kinds <= {list, type(None)} or len(kinds) == 1:  # one kind throughout: no Python step per row
        poly = np.full(len(segm), kinds <= {list, type(None)})
    else:
        poly = np.fromiter((s is None or type(s) is list for s in segm), bool, len(segm))
    rows = np.flatnonzero(poly)
    unknown = rows[~(np.isfinite(H[rows]) & np.isfinite(W[rows]))]
    if len(unknown):  # inputs.for_iou_type leaves such rows out; reaching here is a caller skipping it
        i = int(unknown[0])
        raise UserError(f"{what} id={int(ids[i])} (image {int(image_id[i])}): a polygon mask needs the "
                        "image height and width, which are unknown")
    return H, W, poly, rows


def table_rles(table: Boxes, sizes: dict[int, tuple[float, float]], *, what: str) -> list:
    """RLEs of every row of ``table`` (``sizes``: image id -> (height, width)), equal to ``to_rle`` row by row.

    Polygon rows (a polygon list, or None: the box polygon) are rasterised per image: all their parts in one
    ``frPyObjects(parts, h, w)`` call, a row of ``m > 1`` parts then ``merge``-d; RLE dicts row by row."""
    n = len(table)
    segm = table.segm if table.segm is not None else [None] * n
    out = [None] * n
    H, W, poly, rows = _polygon_rows(table.image_id, table.ids, segm, sizes, what=what)
    for i in np.flatnonzero(~poly).tolist():
        out[i] = to_rle(segm[i], H[i], W[i], box=table.box[i])
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


# ---- compiled: masks as flat arrays (explorer.evaluation.mask_kernels) -------------------------------------
class MaskInputs(NamedTuple):
    """Masks for ``mask_kernels``: mask ``m`` is polygon row ``src[m] >= 0`` (its parts ``row_part[p]:row_part[p
    + 1]``, part ``q`` the x, y pairs ``coords[part_off[q]:part_off[q + 1]]``) or the decoded RLE ``r = -1 -
    src[m]`` (counts ``rle_cnt[rle_off[r]:rle_off[r] + rle_len[r]]``), on an ``h[m] x w[m]`` image (int64)."""

    coords: np.ndarray
    part_off: np.ndarray
    row_part: np.ndarray
    rle_cnt: np.ndarray
    rle_off: np.ndarray
    rle_len: np.ndarray
    src: np.ndarray
    h: np.ndarray
    w: np.ndarray


def mask_inputs(tables: list, sizes: dict[int, tuple[float, float]]) -> MaskInputs | None:
    """The masks of ``tables`` (``[(table, rows, what), ...]``: rows ``rows`` of each ``Boxes``, one after the
    other; ``what`` names a row in an error) as ``MaskInputs``: polygons and box polygons (a row without
    segmentation) as flat coordinates, RLE rows by pycocotools' ``to_rle`` and decoded by
    ``mask_kernels.string_counts``. None when a polygon part is not one ``normalise_segmentation`` keeps (fewer
    than 6 or an odd number of coordinates, or a row without parts: then ``table_rles``' pycocotools path
    decides); ``UserError`` for a polygon on an image of unknown size."""
    from explorer.evaluation import mask_kernels as mk

    segm, box, H, W, poly, n_parts, part_lens, flat = [], [], [], [], [], [], [], []
    for table, rows, what in tables:
        rows = np.asarray(rows, np.int64)
        if type(table.segm) is Polygons:  # every row a polygon list, already flat: gathered, not walked
            seg = table.segm.take(rows)
            n_parts.append(np.diff(seg.row_part))
            part_lens.append(np.diff(seg.part_off))
            flat.append(seg.coords)
        else:
            seg = [None] * len(rows) if table.segm is None else [table.segm[i] for i in rows.tolist()]
        h, w, p, _ = _polygon_rows(table.image_id[rows], table.ids[rows], seg, sizes, what=what)
        b = table.box[rows]
        if type(seg) is Polygons:
            seg = [None] * len(rows)  # (no RLE row)
        else:  # polygon rows' parts (a row without segmentation: its box polygon), walked in Python
            parts_of = [seg[i] if seg[i] is not None else _box_polygon(b[i].tolist()) for i in np.flatnonzero(p).tolist()]
            parts = list(chain.from_iterable(parts_of))
            n_parts.append(np.fromiter(map(len, parts_of), np.int64, len(parts_of)))
            part_lens.append(np.fromiter(map(len, parts), np.int64, len(parts)))
            flat.append(np.fromiter(chain.from_iterable(parts), np.float64, int(part_lens[-1].sum())))
        segm += seg
        box.append(b)
        H.append(h)
        W.append(w)
        poly.append(p)
    box, H, W, poly = (np.concatenate(x) if x else np.zeros(0) for x in (box, H, W, poly))
    n_parts, part_len = (np.concatenate(x) if x else np.zeros(0, np.int64) for x in (n_parts, part_lens))
    poly = poly.astype(bool)
    n = len(segm)
    rows = np.flatnonzero(poly)
    row_part = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(n_parts, out=row_part[1:])
    if (len(part_len) and (part_len.min() < 6 or (part_len % 2).any())) or (n_parts == 0).any():
        return None
    part_off = np.zeros(len(part_len) + 1, np.int64)
    np.cumsum(part_len, out=part_off[1:])
    coords = np.concatenate(flat) if flat else np.zeros(0)
    src = np.empty(n, np.int64)
    src[rows] = np.arange(len(rows))
    h = np.zeros(n, np.int64)
    w = np.zeros(n, np.int64)
    h[rows], w[rows] = H[rows].astype(np.int64), W[rows].astype(np.int64)
    rle_rows = np.flatnonzero(~poly)
    strings = []
    for i in rle_rows.tolist():
        rle = to_rle(segm[i], H[i], W[i], box=box[i])
        c = rle["counts"]
        strings.append(c.encode() if isinstance(c, str) else bytes(c))
        h[i], w[i] = int(rle["size"][0]), int(rle["size"][1])
    src[rle_rows] = -1 - np.arange(len(rle_rows))
    str_len = np.fromiter(map(len, strings), np.int64, len(strings))
    str_off = np.zeros(len(strings) + 1, np.int64)
    np.cumsum(str_len, out=str_off[1:])
    rle_off = np.zeros(len(strings) + 1, np.int64)
    np.cumsum(str_len + 1, out=rle_off[1:])  # (a count takes at least one character)
    rle_cnt = np.empty(int(rle_off[-1]), np.int64)
    rle_len = np.zeros(len(strings), np.int64)
    if strings:
        mk.string_counts(np.frombuffer(b"".join(strings), np.uint8), str_off, rle_off, rle_cnt, rle_len)
    return MaskInputs(coords, part_off, row_part, rle_cnt, rle_off[:-1], rle_len, src, h, w)


def table_counts(table: Boxes, sizes: dict[int, tuple[float, float]], *, what: str):
    """The masks of every row of ``table`` as ``(cnt, off, n, h, w)``: row ``i``'s counts are
    ``cnt[off[i]:off[i] + n[i]]`` on an ``h[i] x w[i]`` image — the counts of ``table_rles``' RLE, row by row
    (``mask_inputs`` rasterised by ``mask_kernels.mask_counts``). None when ``mask_inputs`` declines."""
    from explorer.evaluation import mask_kernels as mk

    m = mask_inputs([(table, np.arange(len(table)), what)], sizes)
    if m is None:
        return None
    room = np.empty(len(m.src), np.int64)
    mk.mask_rooms(m.coords, m.part_off, m.row_part, m.rle_len, m.src, room)
    off = np.zeros(len(room) + 1, np.int64)
    np.cumsum(room, out=off[1:])
    cnt = np.empty(int(off[-1]), np.int64)
    counts = np.empty(len(room), np.int64)
    mk.mask_counts(m.coords, m.part_off, m.row_part, m.rle_cnt, m.rle_off, m.rle_len, m.src, m.h, m.w, off, cnt,
                   counts)
    return cnt, off[:-1], counts, m.h, m.w


def fill_block_ious(layout, dt: Boxes, gt: Boxes, gt_crowd: np.ndarray, sizes) -> None:
    """``layout.ious`` for ``iou_type="segm"``: pycocotools' mask IoU of every pair of every block. Only the
    rows of blocks with both sides get a mask (~half a detector's predictions have no label of their class in
    their image), by ``mask_inputs``; ``mask_kernels.mask_iou_blocks`` rasterises, in one pass per block, only
    the rows whose polygon comes near one on the other side and gives the same bits as ``mask_utils.iou``.
    When ``mask_inputs`` declines: ``table_rles`` + ``mask_iou_blocks`` (pycocotools)."""
    from explorer.evaluation import mask_kernels as mk
    from explorer.evaluation.match_kernels import lanes

    nd, ng = layout.blk_d1 - layout.blk_d0, layout.blk_g1 - layout.blk_g0
    live = (nd > 0) & (ng > 0)
    d_need = _in_ranges(len(layout.dt_rows), layout.blk_d0[live], layout.blk_d1[live])
    g_need = _in_ranges(len(layout.gt_rows), layout.blk_g0[live], layout.blk_g1[live])
    m = mask_inputs([(dt, layout.dt_rows[d_need], "prediction"), (gt, layout.gt_rows[g_need], "label")], sizes)
    if m is None:
        dt_rles, gt_rles = [None] * len(layout.dt_rows), [None] * len(layout.gt_rows)
        for out, need, table, rows, what in ((dt_rles, d_need, dt, layout.dt_rows, "prediction"),
                                             (gt_rles, g_need, gt, layout.gt_rows, "label")):
            for i, rle in zip(need.tolist(), table_rles(table.take(rows[need]), sizes, what=what)):
                out[i] = rle
        blk_img = np.zeros(len(layout.blk_d0), np.int64)
        blk_img[layout.grp_blk] = layout.grp_img  # a block holds one image (a group, or an image's groups)
        mask_iou_blocks(dt_rles, gt_rles, gt_crowd, layout.blk_d0, layout.blk_d1, layout.blk_g0, layout.blk_g1,
                        layout.blk_off, layout.ious, blk_img)
        return
    dt_mask = np.full(len(layout.dt_rows), -1, np.int64)
    gt_mask = np.full(len(layout.gt_rows), -1, np.int64)
    dt_mask[d_need] = np.arange(len(d_need))
    gt_mask[g_need] = len(d_need) + np.arange(len(g_need))
    nd, ng = np.where(live, nd, 0), np.where(live, ng, 0)
    mk.mask_iou_blocks(m.coords, m.part_off, m.row_part, m.rle_cnt, m.rle_off, m.rle_len, m.src, m.h, m.w,
                       dt_mask, gt_mask, gt_crowd.astype(np.bool_), layout.blk_d0, layout.blk_d1, layout.blk_g0,
                       layout.blk_g1, layout.blk_off, lanes(nd + ng + nd * ng + 1), layout.ious)


def _in_ranges(n: int, r0: np.ndarray, r1: np.ndarray) -> np.ndarray:
    """Positions ``0..n`` inside any of the ranges ``r0:r1``, ascending."""
    mark = np.zeros(n + 1, np.int64)
    np.add.at(mark, r0, 1)
    np.add.at(mark, r1, -1)
    return np.flatnonzero(np.cumsum(mark[:-1]) > 0)
