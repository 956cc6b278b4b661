"""Known-pixel tests of explorer.drawing.render on synthetic images."""
from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from explorer.errors import UserError
from explorer.drawing.render import (
    FN_COLOUR, FP_COLOUR, TP_COLOUR, DrawItem, context_window, crop_to_context, decode_segmentation,
    draw_annotations, draw_boxes, paint_masks, render_tile, resize, thumbnail_scale,
)

GREY = 100


def grey(h=60, w=80):
    return np.full((h, w, 3), GREY, np.uint8)


def test_box_edge_has_colour_and_rest_is_untouched():
    image = grey()
    out = draw_boxes(image, [[10, 20, 30, 15]], colours=TP_COLOUR, thickness=1)
    # box covers columns 10..39 and rows 20..34; the outline is the ring just inside
    ring = np.zeros(image.shape[:2], bool)
    ring[20, 10:40] = ring[34, 10:40] = True
    ring[20:35, 10] = ring[20:35, 39] = True
    assert (out[ring] == TP_COLOUR).all()
    assert (out[~ring] == GREY).all()
    assert (image == GREY).all(), "the input must not be modified"


def test_thickness_grows_outwards():
    out = draw_boxes(grey(), [[10, 20, 30, 15]], colours=[FP_COLOUR], thickness=3)
    assert (out[18, 8:42] == FP_COLOUR).all()  # two rings outside the top edge
    assert (out[17, :] == GREY).all()
    assert (out[21:34, 11:39] == GREY).all()  # the object's own pixels stay visible


def test_fractional_box_rounds_to_pixels():
    out = draw_boxes(grey(), [[4.4, 5.6, 10.2, 3.9]], colours=FN_COLOUR, thickness=1)
    # x: round(4.4)=4 .. round(14.6)-1=14 ; y: round(5.6)=6 .. round(9.5)-1=9 (banker's rounding: 10-1)
    ys, xs = np.nonzero((out != GREY).any(axis=2))
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (4, 14, 6, 9)


def test_polygon_mask_fills_the_right_pixels():
    image = grey(40, 40)
    poly = [[10, 10, 30, 10, 30, 30, 10, 30]]
    mask = decode_segmentation(json.dumps(poly), 40, 40)
    expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(poly, 40, 40))).astype(bool)
    assert (mask == expected).all() and mask.sum() > 300
    item = DrawItem(10, 10, 20, 20, colour=(0, 0, 200), segmentation=json.dumps(poly), thickness=1)
    out = draw_annotations(image, [item], fill_alpha=0.5)
    inside = out[15:25, 15:25]
    assert (inside == [50, 50, 150]).all()  # 0.5 * 100 + 0.5 * (0, 0, 200)
    assert (out[0:5, 0:5] == GREY).all() and (out[35:, 35:] == GREY).all()


def test_rle_masks_compressed_and_uncompressed():
    truth = np.zeros((30, 50), np.uint8)
    truth[5:12, 20:40] = 1
    compressed = mask_utils.encode(np.asfortranarray(truth))
    compressed = {"size": compressed["size"], "counts": compressed["counts"].decode()}
    flat = truth.flatten(order="F")
    changes = np.flatnonzero(np.diff(np.r_[0, flat, 1 - flat[-1]]))  # run boundaries
    counts = np.diff(np.r_[0, changes]).tolist()
    uncompressed = {"size": [30, 50], "counts": counts[: len(counts)]}
    for seg in (compressed, json.dumps(compressed), uncompressed):
        assert (decode_segmentation(seg, 30, 50) == truth.astype(bool)).all()
    masks = np.stack([truth.astype(bool)])
    out = paint_masks(grey(30, 50), masks, np.array([[0, 200, 0]]), alpha=1.0, outline=False)
    assert (out[truth.astype(bool)] == [0, 200, 0]).all()
    assert (out[~truth.astype(bool)] == GREY).all()


def test_overlapping_masks_later_wins_and_outline_is_boundary():
    a = np.zeros((20, 20), bool); a[2:12, 2:12] = True
    b = np.zeros((20, 20), bool); b[8:18, 8:18] = True
    out = paint_masks(grey(20, 20), np.stack([a, b]), np.array([[255, 0, 0], [0, 0, 255]]), alpha=1.0)
    assert (out[10, 10] == [0, 0, 255]).all()  # inside both: b drawn on top
    assert (out[5, 5] == [255, 0, 0]).all()
    assert (out[0, 0] == GREY).all()
    # outline of a: its border pixels; with alpha=1 the fill has the same colour, so check alpha<1
    out = paint_masks(grey(20, 20), np.stack([a]), np.array([[0, 0, 200]]), alpha=0.5)
    assert (out[2, 5] == [0, 0, 200]).all()  # on the boundary: full colour
    assert (out[5, 5] == [50, 50, 150]).all()  # inside: blended


def test_bad_segmentation_is_a_user_error():
    with pytest.raises(UserError, match="RLE mask size"):
        decode_segmentation({"size": [10, 10], "counts": [100]}, 20, 20)
    with pytest.raises(UserError, match="not valid JSON"):
        decode_segmentation("{oops", 20, 20)
    assert decode_segmentation(None, 5, 5) is None
    assert decode_segmentation(float("nan"), 5, 5) is None


def test_context_crop_and_thumbnail():
    image = grey(200, 300)
    x0, y0, x1, y1 = context_window([100, 80, 20, 10], image.shape, margin=1.0)
    # centre (110, 85); half side = 20 * 1.5 = 30 -> [80, 140) x [55, 115)
    assert (x0, y0, x1, y1) == (80, 55, 140, 115)
    crop, offset = crop_to_context(image, [0, 0, 10, 10], margin=1.0, min_side=48)
    # centre (5, 5), half side max(15, 24) = 24 -> [0, 29) after clipping at the image corner
    assert offset == (0, 0) and crop.shape[:2] == (29, 29)
    assert thumbnail_scale((200, 300), max_side=150) == 0.5
    assert thumbnail_scale((10, 10), max_side=150) == 4.0
    assert resize(image, 0.5).shape == (100, 150, 3)


def test_render_tile_draws_at_thumbnail_resolution():
    image = grey(200, 300)
    item = DrawItem(100, 80, 20, 10, colour=TP_COLOUR, thickness=1)
    tile = render_tile(image, [item], focus=(100, 80, 20, 10), max_side=120)
    # crop is 60x60 at (80, 55) -> scale 2: box maps to x 40..79, y 50..69
    assert tile.shape == (120, 120, 3)
    assert (tile[50, 40:80] == TP_COLOUR).all() and (tile[69, 40:80] == TP_COLOUR).all()
    assert (tile[55:65, 45:75] == GREY).all()
    assert (tile[:45] == GREY).all()


def test_caption_is_drawn_and_non_ascii_is_safe():
    out = draw_annotations(grey(), [DrawItem(20, 30, 20, 20, colour=FP_COLOUR, caption="café 0.91", thickness=1)])
    # the caption band sits above the box in the box colour
    assert (out[5:29, 20:40] == FP_COLOUR).all(axis=2).any()
