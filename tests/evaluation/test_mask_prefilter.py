"""``mask_kernels.mask_iou_blocks`` rasterises only the rows whose polygon comes near a mask on the other side of
their block (``_near_box``: the vertices' box grown by 2 px; an RLE's own box) and writes 0 for the others' pairs.
These sets are built to sit on that edge — shapes that touch, miss by a fraction of a pixel or share one pixel
edge, half-pixel and integer vertices (rounding ties), empty masks (outside the image, degenerate, all-zero RLE
runs), RLEs of another size (-1), crowd labels — and every IoU must have pycocotools' bits, compiled and as
plain Python."""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from explorer.evaluation import inputs, layout, masks

SHIFTS = np.array([-2.5, -2, -1.5, -1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3])


def _rect(x, y, w, h):
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def _uncompressed(m):
    flat = m.flatten(order="F")
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    runs = np.diff(np.concatenate([[0], change, [len(flat)]])).tolist()
    return ([0] + runs) if flat[0] else runs


def _shape(rng, h, w, anchor):
    """A segmentation near ``anchor`` (x, y, w, h): touching it on a side or a corner, shifted by a fraction of a
    pixel, or one of the odd kinds."""
    ax, ay, aw, ah = anchor
    kind = int(rng.integers(0, 12))
    if kind <= 4:  # a rectangle beside the anchor: its near edge at the anchor's far edge + a shift
        bw, bh = float(rng.integers(1, 12)), float(rng.integers(1, 12))
        dx, dy = rng.choice(SHIFTS, 2)
        side = int(rng.integers(0, 4))
        x = {0: ax + aw + dx, 1: ax - bw - dx}.get(side, ax + rng.uniform(-bw, aw))
        y = {2: ay + ah + dy, 3: ay - bh - dy}.get(side, ay + rng.uniform(-bh, ah))
        if rng.random() < 0.3:  # a corner
            y = ay + ah + dy
        return [_rect(x, y, bw, bh)]
    if kind == 5:  # a triangle whose tip reaches toward the anchor's right edge
        x = ax + aw + float(rng.choice(SHIFTS))
        return [[x, ay + ah / 2, x + 6, ay, x + 6, ay + ah]]
    if kind == 6:  # outside the image: an empty mask
        return [_rect(-20.0, -20.0, 5, 5)] if rng.random() < 0.5 else [_rect(w + 3.0, h + 3.0, 4, 4)]
    if kind == 7:  # degenerate: every point the same (zero-length edges), or a zero-height sliver
        x, y = ax + aw + float(rng.choice(SHIFTS)), ay + float(rng.integers(0, max(int(ah), 1)))
        return [[x, y, x, y, x, y]] if rng.random() < 0.5 else [[x, y, x + 5, y, x + 2, y]]
    if kind == 8:  # two parts, one touching
        x = ax + aw + float(rng.choice(SHIFTS))
        return [_rect(x, ay, 3, 3), _rect(float(rng.uniform(0, w)), float(rng.uniform(0, h)), 4, 2)]
    if kind == 9:  # an RLE of the image's size (or one row more: -1 against overlapping boxes) beside the anchor
        hh, ww = (int(h), int(w)) if rng.random() < 0.7 else (int(h) + 1, int(w))
        m = np.zeros((hh, ww), bool)
        x0 = int(np.clip(ax + aw + rng.integers(-1, 3), 0, ww - 1))
        y0 = int(np.clip(ay + rng.integers(-2, 3), 0, hh - 1))
        m[y0:y0 + int(rng.integers(1, 6)), x0:x0 + int(rng.integers(1, 6))] = True
        return {"size": [hh, ww], "counts": _uncompressed(m)}
    if kind == 10:  # an RLE whose only foreground runs are empty (C's wrapped box), of this size or another
        hh, ww = (int(h), int(w)) if rng.random() < 0.5 else (int(h), int(w) + 1)
        return {"size": [hh, ww], "counts": [3, 0, hh * ww - 3]}
    return None  # no segmentation: the box is the polygon


def _tables(rng, sizes, n_gt, per_gt):
    ids = sorted(sizes)
    g_img, g_box, g_seg = [], [], []
    for _ in range(n_gt):
        image = ids[int(rng.integers(0, len(ids)))]
        h, w = sizes[image]
        half = rng.random() < 0.5  # half-pixel or integer vertices
        x, y = np.round(rng.uniform(-3, w - 4), 0) + (0.5 if half else 0), np.round(rng.uniform(-3, h - 4), 0)
        bw, bh = float(rng.integers(1, 15)), float(rng.integers(1, 15))
        g_img.append(image)
        g_box.append([x, y, bw, bh])
        kind = rng.random()
        g_seg.append(None if kind < 0.15 else _shape(rng, h, w, (x - bw, y, bw, bh)) if kind < 0.35
                     else [_rect(x, y, bw, bh)])
    d_img, d_box, d_seg = [], [], []
    for i in range(n_gt):
        h, w = sizes[g_img[i]]
        for _ in range(per_gt):
            d_img.append(g_img[i])
            seg = _shape(rng, h, w, g_box[i])
            d_seg.append(seg)
            x, y, bw, bh = g_box[i]
            d_box.append([x + bw + float(rng.choice(SHIFTS)), y, 3.0, 3.0])  # (the box polygon when seg is None)
    n_dt = len(d_img)
    gt = inputs.Boxes(np.arange(1, n_gt + 1), np.array(g_img), rng.integers(0, 2, n_gt), np.array(g_box),
                      np.ones(n_gt), rng.random(n_gt) < 0.3, np.full(n_gt, np.nan), g_seg)
    dt = inputs.Boxes(np.arange(1, n_dt + 1), np.array(d_img), rng.integers(0, 2, n_dt), np.array(d_box),
                      np.ones(n_dt), np.zeros(n_dt, bool), rng.random(n_dt), d_seg)
    return dt, gt


def _reference(lay, dt, gt, sizes):
    dr = masks.table_rles(dt.take(lay.dt_rows), sizes, what="x")
    gr = masks.table_rles(gt.take(lay.gt_rows), sizes, what="x")
    crowd = gt.iscrowd[lay.gt_rows].astype(np.uint8)
    expected = np.zeros_like(lay.ious)
    for b in range(len(lay.blk_d0)):
        d0, d1, g0, g1, o = (int(x[b]) for x in (lay.blk_d0, lay.blk_d1, lay.blk_g0, lay.blk_g1, lay.blk_off))
        if d1 > d0 and g1 > g0:
            iou = mask_utils.iou(dr[d0:d1], gr[g0:g1], crowd[g0:g1].tolist())
            expected[o: o + (d1 - d0) * (g1 - g0)] = np.asarray(iou).ravel()
    return expected


@pytest.mark.parametrize("mode", ["numba", "python"])
@pytest.mark.parametrize("block", ["group", "image"])
@pytest.mark.parametrize("seed", range(3))
def test_touching_and_empty_masks_are_pycocotools(seed, block, mode, monkeypatch):
    monkeypatch.setenv("EXPLORER_KERNELS", mode)
    rng = np.random.default_rng(500 + seed)
    sizes = {i: (float(rng.integers(12, 48)), float(rng.integers(12, 48))) for i in range(1, 4)}
    dt, gt = _tables(rng, sizes, 40 if mode == "numba" else 16, 6)  # (python: below kernels.SMALL masks)
    img = np.array(sorted(sizes))
    lay = layout.build(np.searchsorted(img, dt.image_id), dt.category_id, dt.score, np.searchsorted(img, gt.image_id),
                       gt.category_id, n_img=len(img), n_cat=2, block=block)
    layout.fill_ious(lay, dt, gt, iou_type="segm", sizes=sizes)
    expected = _reference(lay, dt, gt, sizes)
    assert lay.ious.view(np.int64).tolist() == expected.view(np.int64).tolist()
    # the sets do sit on the edge: overlaps, zeros beside them, -1 (sizes differ), crowd labels, empty masks
    assert (expected > 0).sum() >= 10 and (expected == 0).sum() >= 10 and ((expected == -1).any() or mode == "python")
    assert gt.iscrowd.any() and any(isinstance(s, dict) and s["counts"][1:2] == [0] for s in dt.segm)


def test_masks_one_pixel_apart_and_one_pixel_over():
    """Rectangles side by side at every sub-pixel offset: the pixels C fills for ``[x, x + w)`` end where the
    next shape's begin, so pairs one pixel apart are 0 and pairs sharing one column of pixels are not — the
    prefilter must keep both kinds."""
    sizes = {1: (20.0, 40.0)}
    g_seg = [[_rect(5.0, 5.0, 10.0, 6.0)]]
    d_seg = [[_rect(15.0 + s, 5.0, 6.0, 6.0)] for s in np.arange(-1.5, 3.01, 0.125)]
    d_seg += [[_rect(5.0, 11.0 + s, 10.0, 4.0)] for s in np.arange(-1.5, 3.01, 0.125)]
    n = len(d_seg)
    gt = inputs.Boxes(np.array([1]), np.array([1]), np.array([1]), np.array([[5.0, 5, 10, 6]]), np.ones(1),
                      np.zeros(1, bool), np.full(1, np.nan), g_seg)
    dt = inputs.Boxes(np.arange(1, n + 1), np.ones(n, np.int64), np.ones(n, np.int64), np.tile([15.0, 5, 6, 6], (n, 1)),
                      np.ones(n), np.zeros(n, bool), np.linspace(1, 0, n), d_seg)
    for mode in ("numba", "python"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("EXPLORER_KERNELS", mode)
            lay = layout.build(np.zeros(n, np.int64), np.zeros(n, np.int64), dt.score, np.zeros(1, np.int64),
                               np.zeros(1, np.int64), n_img=1, n_cat=1, block="group", max_dets=n)
            layout.fill_ious(lay, dt, gt, iou_type="segm", sizes=sizes)
            expected = _reference(lay, dt, gt, sizes)
            assert lay.ious.view(np.int64).tolist() == expected.view(np.int64).tolist(), mode
            assert (expected > 0).sum() >= 8 and (expected == 0).sum() >= 8
