"""COCO ``segmentation`` values: validation, and mask area / bounding box with pycocotools' mask API.

A segmentation is either a polygon list ``[[x1, y1, x2, y2, ...], ...]`` (each polygon at least 3 points) or
an RLE dict ``{"size": [h, w], "counts": str | [int, ...]}`` (compressed or uncompressed). Areas and boxes are
computed exactly as pycocotools does (``annToRLE`` then ``mask.area`` / ``mask.toBbox``), so numbers match it.
"""
from __future__ import annotations

import json
import math

import numpy as np
from pycocotools import mask as mask_utils

from explorer.io.validate import describe, is_int


def segmentation_error(seg, height: float, width: float) -> str | None:
    """Why ``seg`` is not a valid COCO segmentation for an ``width x height`` image, or None when it is.

    ``height``/``width`` may be NaN (unknown image size): the RLE size test is then skipped.
    """
    if type(seg) is list:
        if not seg:
            return "segmentation is an empty polygon list"
        for k, poly in enumerate(seg):
            if type(poly) is not list or not all(type(v) in (int, float) for v in poly):
                return f"segmentation polygon {k} must be a list of numbers, got {describe(poly)}"
            if len(poly) < 6 or len(poly) % 2:
                return f"segmentation polygon {k} has {len(poly)} coordinates; need an even number, at least 6"
            if not all(math.isfinite(v) for v in poly):
                return f"segmentation polygon {k} has a NaN or infinite coordinate"
        return None
    if type(seg) is dict:
        size, counts = seg.get("size"), seg.get("counts")
        if not (type(size) is list and len(size) == 2 and all(is_int(v) and v >= 0 for v in size)):
            return f"RLE segmentation needs 'size': [height, width], got {describe(size)}"
        if math.isfinite(height) and math.isfinite(width) and (size[0], size[1]) != (height, width):
            return f"RLE segmentation size {size} differs from the image size [{height:g}, {width:g}] (height, width)"
        if type(counts) is str:
            return None
        if type(counts) is list and all(type(v) is int and v >= 0 for v in counts):
            if sum(counts) != size[0] * size[1]:
                return f"uncompressed RLE counts sum to {sum(counts)}, expected height*width = {size[0] * size[1]}"
            return None
        return f"RLE segmentation needs 'counts' (a string or a list of non-negative integers), got {describe(counts)}"
    return f"segmentation must be a polygon list or an RLE dict, got {describe(seg)}"


def to_rle(seg, height: float, width: float) -> dict:
    """The compressed RLE of a valid segmentation, like pycocotools' ``COCO.annToRLE``."""
    if type(seg) is list:
        return mask_utils.merge(mask_utils.frPyObjects(seg, int(height), int(width)))
    if type(seg["counts"]) is list:
        return mask_utils.frPyObjects(seg, *seg["size"])
    return seg


def mask_area(seg, height: float, width: float) -> float:
    """Mask area in pixels (``pycocotools.mask.area``); polygons need the image size."""
    return float(mask_utils.area(to_rle(seg, height, width)))


def mask_bbox(seg, height: float, width: float) -> list[float]:
    """Tight ``[x, y, w, h]`` box of a mask (``pycocotools.mask.toBbox``)."""
    return [float(v) for v in np.asarray(mask_utils.toBbox(to_rle(seg, height, width))).ravel()]


def needs_image_size(seg) -> bool:
    """Polygons are rasterised at the image size; RLEs carry their own size."""
    return type(seg) is list


def to_json_text(seg) -> str | None:
    """The stored form of a segmentation (``schema.LABELS['segmentation']``): compact JSON text, or None."""
    return None if seg is None else json.dumps(seg, separators=(",", ":"))
