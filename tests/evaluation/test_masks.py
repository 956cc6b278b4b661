"""The batched mask path equals pycocotools row by row: one ``frPyObjects`` per image (multi-part polygons
merged, RLE rows as ``annToRLE``, rows without a mask as their box polygon) and one ``iou`` per image cut into
its blocks give the same RLE strings and the same IoU bits as a call per row / per block."""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from explorer.errors import UserError
from explorer.evaluation import inputs, layout, masks
from random_coco import random_coco


def _segm_data(seed):
    gt, dt = random_coco(seed, iou_type="segm")
    for r in dt:
        r.setdefault("bbox", [1.0, 2.0, 10.0, 12.0])
    for k, r in enumerate(dt[::3]):  # polygon and box-only rows among the RLE results
        if k % 2:
            r["segmentation"] = [[r["bbox"][0], r["bbox"][1], r["bbox"][0] + 5, r["bbox"][1], r["bbox"][0], r["bbox"][1] + 7]]
        else:
            r.pop("segmentation")
    return inputs.for_iou_type(inputs.from_coco(gt, dt, iou_type="segm"), "segm")


@pytest.mark.parametrize("seed", range(4))
def test_table_rles_equal_row_by_row(seed):
    data = _segm_data(seed)
    sizes = data.image_size()
    for t in (data.labels, data.predictions):
        kinds = {type(s) for s in t.segm}
        assert {list, dict} <= kinds  # polygons (one and two parts) and RLEs in one table
        order = np.random.default_rng(seed).permutation(len(t))  # images interleaved
        t = t.take(order)
        one_by_one = [masks.to_rle(s, *sizes[int(i)], box=b) for s, i, b in zip(t.segm, t.image_id, t.box)]
        assert masks.table_rles(t, sizes, what="x") == one_by_one
    assert any(s is None for s in data.predictions.segm)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("block", ["group", "image"])
def test_iou_blocks_equal_a_call_per_block(seed, block):
    data = _segm_data(seed)
    d, g = data.predictions, data.labels
    img, cat = data.image_ids, data.category_ids
    known = np.isin(d.category_id, cat)
    d = d.take(known)
    lay = layout.build(np.searchsorted(img, d.image_id), np.searchsorted(cat, d.category_id), d.score,
                       np.searchsorted(img, g.image_id), np.searchsorted(cat, g.category_id),
                       n_img=len(img), n_cat=len(cat), block=block)
    layout.fill_ious(lay, d, g, iou_type="segm", sizes=data.image_size())
    sizes = data.image_size()
    dr = [masks.to_rle(s, *sizes[int(i)], box=b) for s, i, b in zip(*(lambda t: (t.segm, t.image_id, t.box))(d.take(lay.dt_rows)))]
    gr = [masks.to_rle(s, *sizes[int(i)], box=b) for s, i, b in zip(*(lambda t: (t.segm, t.image_id, t.box))(g.take(lay.gt_rows)))]
    crowd = g.iscrowd[lay.gt_rows].astype(np.uint8)
    expected = np.zeros_like(lay.ious)
    for b in range(len(lay.blk_d0)):
        d0, d1, g0, g1, off = (int(x[b]) for x in (lay.blk_d0, lay.blk_d1, lay.blk_g0, lay.blk_g1, lay.blk_off))
        if d1 > d0 and g1 > g0:
            expected[off: off + (d1 - d0) * (g1 - g0)] = np.asarray(
                mask_utils.iou(dr[d0:d1], gr[g0:g1], crowd[g0:g1].tolist())).ravel()
    assert (expected > 0).sum() > 10 and crowd.any()
    np.testing.assert_array_equal(lay.ious, expected)


def test_polygon_on_an_image_of_unknown_size_is_named():
    t = inputs.Boxes(np.array([7]), np.array([3]), np.array([1]), np.array([[1.0, 1, 5, 5]]), np.array([25.0]),
                     np.zeros(1, bool), np.array([0.5]), [None])
    with pytest.raises(UserError, match=r"label id=7 \(image 3\)"):
        masks.table_rles(t, {4: (10.0, 10.0)}, what="label")
