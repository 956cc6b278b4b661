"""The compiled mask path (``explorer.evaluation.mask_kernels`` via ``masks.table_counts`` /
``masks.fill_block_ious``) equals pycocotools: the same run-length counts as ``COCO.annToRLE`` for every row
(polygons of every kind — repeated points, parts beyond the image, negative coordinates, slivers, several parts —
box polygons and compressed / uncompressed RLEs), the same mask boxes and areas, and the same IoU bits as
``mask_utils.iou`` (crowd labels and masks of another size included)."""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from explorer.evaluation import inputs, layout, mask_kernels, masks


def _polygon(rng, h, w):
    kind = rng.integers(0, 6)
    k = int(rng.integers(3, 12))
    cx, cy, r = rng.uniform(-20, w + 20), rng.uniform(-20, h + 20), rng.uniform(0.2, 60)
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    pts = np.stack([cx + r * np.cos(ang), cy + r * np.sin(ang)], 1)
    if kind == 1:  # repeated points (zero-length edges), the first point again at the end
        pts = np.concatenate([pts[:2], pts[1:2], pts[2:], pts[:1]])
    elif kind == 2:  # integer and half-pixel coordinates (ties of the rounding)
        pts = np.round(pts * 2) / 2
    elif kind == 3:  # a sliver
        pts[:, 1] = cy + rng.uniform(-0.3, 0.3, len(pts))
    elif kind == 4:  # self-intersecting
        pts = pts[rng.permutation(len(pts))]
    return np.round(pts, int(rng.integers(0, 4))).ravel().tolist()


def _table(rng, n, sizes):
    ids = list(sizes)
    segm, img, box = [], [], []
    for i in range(n):
        image = ids[int(rng.integers(0, len(ids)))]
        h, w = sizes[image]
        kind = rng.integers(0, 10)
        b = [float(rng.uniform(-5, w)), float(rng.uniform(-5, h)), float(rng.uniform(0.5, 80)), float(rng.uniform(0.5, 80))]
        if kind == 0:
            s = None  # the box as its polygon
        elif kind == 1:
            s = [_polygon(rng, h, w) for _ in range(int(rng.integers(2, 4)))]
        elif kind == 2:  # compressed RLE of the image's size
            s = mask_utils.merge(mask_utils.frPyObjects([_polygon(rng, h, w)], int(h), int(w)))
            s = {"size": s["size"], "counts": s["counts"].decode()}
        elif kind == 3:  # uncompressed RLE (a crowd region), sometimes of another size
            hh, ww = (int(h), int(w)) if rng.random() < 0.8 else (int(h) + 1, int(w))
            m = rng.random((hh, ww)) < 0.02
            m[int(hh * 0.2):int(hh * 0.6), int(ww * 0.3):int(ww * 0.5)] = True
            enc = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            s = {"size": [hh, ww], "counts": _uncompressed(m)}
            assert mask_utils.frPyObjects(s, hh, ww)["counts"] == enc["counts"]
        else:
            s = [_polygon(rng, h, w)]
        segm.append(s)
        img.append(image)
        box.append(b)
    return inputs.Boxes(np.arange(1, n + 1), np.array(img), np.ones(n, np.int64), np.array(box), np.ones(n),
                        rng.random(n) < 0.2, np.full(n, 0.5), segm)


def _uncompressed(m):
    flat = m.flatten(order="F")
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    runs = np.diff(np.concatenate([[0], change, [len(flat)]])).tolist()
    return ([0] + runs) if flat[0] else runs


def _sizes(rng):
    return {int(i): (float(rng.integers(5, 120)), float(rng.integers(5, 120))) for i in range(1, 6)}


@pytest.mark.parametrize("seed", range(5))
def test_counts_boxes_and_areas_are_pycocotools(seed):
    rng = np.random.default_rng(seed)
    sizes = _sizes(rng)
    table = _table(rng, 400, sizes)
    cnt, off, n, h, w = masks.table_counts(table, sizes, what="x")
    expected = masks.table_rles(table, sizes, what="x")
    for i, rle in enumerate(expected):
        ours = {"size": [int(h[i]), int(w[i])], "counts": cnt[off[i]:off[i] + n[i]].tolist()}
        theirs = rle["counts"].encode() if isinstance(rle["counts"], str) else rle["counts"]
        assert mask_utils.frPyObjects(ours, int(h[i]), int(w[i]))["counts"] == theirs, (i, table.segm[i])
        assert ours["size"] == list(rle["size"])
    box = np.empty((len(n), 4))
    area = np.empty(len(n), np.int64)
    mask_kernels.boxes_and_areas(cnt, off, n, h, w, box, area)
    np.testing.assert_array_equal(box, mask_utils.toBbox(expected))
    np.testing.assert_array_equal(area, [mask_utils.area(r) for r in expected])  # (its list form overflows past 255)
    assert {type(s) for s in table.segm} == {list, dict, type(None)}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("block", ["group", "image"])
def test_iou_blocks_are_pycocotools(seed, block):
    rng = np.random.default_rng(100 + seed)
    sizes = _sizes(rng)
    dt, gt = _table(rng, 300, sizes), _table(rng, 120, sizes)
    dt.category_id, gt.category_id = rng.integers(0, 2, len(dt)), rng.integers(0, 2, len(gt))
    img = np.array(sorted(sizes))
    lay = layout.build(np.searchsorted(img, dt.image_id), dt.category_id, dt.score, np.searchsorted(img, gt.image_id),
                       gt.category_id, n_img=len(img), n_cat=2, block=block)
    layout.fill_ious(lay, dt, gt, iou_type="segm", sizes=sizes)
    dr, gr = masks.table_rles(dt.take(lay.dt_rows), sizes, what="x"), masks.table_rles(gt.take(lay.gt_rows), sizes, what="x")
    crowd = gt.iscrowd[lay.gt_rows].astype(np.uint8)
    expected = np.zeros_like(lay.ious)
    for b in range(len(lay.blk_d0)):
        d0, d1, g0, g1, o = (int(x[b]) for x in (lay.blk_d0, lay.blk_d1, lay.blk_g0, lay.blk_g1, lay.blk_off))
        if d1 > d0 and g1 > g0:
            expected[o: o + (d1 - d0) * (g1 - g0)] = np.asarray(mask_utils.iou(dr[d0:d1], gr[g0:g1], crowd[g0:g1].tolist())).ravel()
    assert (expected > 0).sum() > 50 and (expected == -1).any() and crowd.any()
    assert lay.ious.view(np.int64).tolist() == expected.view(np.int64).tolist()


def test_unusual_parts_go_to_pycocotools():
    t = inputs.Boxes(np.array([1, 2]), np.array([1, 1]), np.array([1, 1]), np.array([[1.0, 1, 5, 5]] * 2),
                     np.ones(2), np.zeros(2, bool), np.ones(2), [[[1, 1, 5, 1, 5]], None])
    assert masks.table_counts(t, {1: (10.0, 10.0)}, what="x") is None
