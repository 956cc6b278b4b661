"""COCO ``segmentation`` values: normalisation + validation, and mask area / bounding box with pycocotools' mask API.

A segmentation is either a polygon list ``[[x1, y1, x2, y2, ...], ...]`` (each polygon at least 3 points) or
an RLE dict ``{"size": [h, w], "counts": str | [int, ...]}`` (compressed or uncompressed). Areas and boxes are
computed exactly as pycocotools does (``annToRLE`` then ``mask.area`` / ``mask.toBbox``), so numbers match it.

``normalise_segmentation`` turns what pycocotools accepts from Python callers into plain JSON values: NumPy
arrays / scalars become lists / numbers, ``bytes`` counts become ``str``, and empty polygon parts are dropped
(pycocotools rasterises an empty part as nothing, so the merged mask is the same; it only fails on an empty
*first* part, an order accident). ``[]`` is COCO's "no mask" (None).
"""
from __future__ import annotations

import json
import math

import numpy as np
from pycocotools import mask as mask_utils

from explorer.io.jsonfile import DuplicateKeys
from explorer.io.validate import describe, is_int, is_number

_SEQ = (list, tuple, np.ndarray)
# pycocotools' rleFrPoly works on 5x-upsampled C ints and allocates per unit of perimeter: far-away vertices
# crash it (segfault from ~4e8 px). No image is 10 million pixels wide.
MAX_COORD = 1e7


def _plain_number(v):
    return v if type(v) in (int, float) else (int(v) if isinstance(v, np.integer) else float(v))


def normalise_segmentation(seg, height: float, width: float):
    """``(segmentation, error)``: the segmentation as plain JSON values (or None for "no mask"), and why it is
    unusable (then the segmentation is None), or None when it is fine.

    ``height``/``width`` may be NaN (unknown image size): the RLE size test is then skipped.
    """
    if seg is None or (isinstance(seg, _SEQ) and len(seg) == 0):
        return None, None
    if isinstance(seg, _SEQ):
        parts = []
        for k, poly in enumerate(seg):
            if not isinstance(poly, _SEQ) or not all(is_number(v) for v in poly):
                return None, f"segmentation polygon {k} must be a list of numbers, got {describe(poly)}"
            if len(poly) == 0:
                continue  # an empty part adds nothing to the merged mask
            if len(poly) < 6 or len(poly) % 2:
                return None, f"segmentation polygon {k} has {len(poly)} coordinates; need an even number, at least 6"
            if not all(math.isfinite(v) for v in poly):
                return None, f"segmentation polygon {k} has a NaN or infinite coordinate"
            if not all(-MAX_COORD <= v <= MAX_COORD for v in poly):
                return None, (f"segmentation polygon {k} has a coordinate beyond ±{MAX_COORD:g} px (pycocotools' "
                              "rasteriser overflows on it)")
            parts.append(poly if type(poly) is list and all(type(v) in (int, float) for v in poly)
                         else [_plain_number(v) for v in poly])
        if not parts:
            return None, "segmentation has only empty polygons"
        return parts, None
    if type(seg) is DuplicateKeys:  # (a JSON parser would silently keep the last value)
        twice = ", ".join(f"'{k}' {len(v) + 1} times" for k, v in seg.later.items())
        return None, f"RLE segmentation gives {twice}; which value is meant is ambiguous"
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if not (isinstance(size, _SEQ) and len(size) == 2 and all(is_int(v) and 0 <= v < 2**31 for v in size)):
            return None, f"RLE segmentation needs 'size': [height, width], got {describe(size)}"
        size = [int(v) for v in size]
        if math.isfinite(height) and math.isfinite(width) and (size[0], size[1]) != (height, width):
            return None, (f"RLE segmentation size {size} differs from the image size [{height:g}, {width:g}] "
                          "(height, width)")
        if isinstance(counts, bytes):
            try:
                counts = counts.decode("ascii")
            except UnicodeDecodeError:
                return None, "RLE segmentation 'counts' bytes are not ASCII"
        if type(counts) is str:
            err = compressed_rle_error(counts, size[0] * size[1])
            return (None, err) if err else ({"size": size, "counts": counts}, None)
        if isinstance(counts, _SEQ) and all(is_int(v) and v >= 0 for v in counts):
            counts = [int(v) for v in counts]
            if sum(counts) != size[0] * size[1]:
                return None, f"uncompressed RLE counts sum to {sum(counts)}, expected height*width = {size[0] * size[1]}"
            return {"size": size, "counts": counts}, None
        return None, (f"RLE segmentation needs 'counts' (a string or a list of non-negative integers), "
                      f"got {describe(counts)}")
    return None, f"segmentation must be a polygon list or an RLE dict, got {describe(seg)}"


def compressed_rle_error(counts: str, n_pixels: int) -> str | None:
    """Why ``counts`` is not a compressed COCO RLE of ``n_pixels`` pixels, or None when it is.

    pycocotools' ``rleFrString`` decodes ANY string (it never fails: garbage becomes a mask with an area), so the
    string is decoded here first, vectorised: characters ``'0'..'o'`` (6 bits: value ``c - 48``), a number is a
    run of characters whose bit 0x20 says "more follows", 5 bits each, low bits first, bit 0x10 of its last
    character the sign; from the fourth number on, each is a delta to the number two before it (runs ``x[m] +
    c[m-2]``, i.e. cumulative sums over odd and over even positions from 2). Valid: every run ``>= 0`` and the
    runs sum to ``height * width``.
    """
    if not counts.isascii():
        return "RLE segmentation 'counts' is not a COCO compressed RLE string (non-ASCII characters)"
    b = np.frombuffer(counts.encode("ascii"), np.uint8).astype(np.int64) - 48
    bad = np.flatnonzero((b < 0) | (b > 63))
    if len(bad):
        return (f"RLE segmentation 'counts' is not a COCO compressed RLE string (character {counts[bad[0]]!r} at "
                f"position {bad[0]})")
    if len(b) == 0:
        return None if n_pixels == 0 else f"RLE segmentation 'counts' is empty, expected runs over {n_pixels} pixels"
    more = (b & 0x20) != 0
    if more[-1]:
        return "RLE segmentation 'counts' ends inside a number (truncated compressed RLE string)"
    ends = np.flatnonzero(~more)
    starts = np.r_[0, ends[:-1] + 1]
    k = np.arange(len(b)) - np.repeat(starts, ends - starts + 1)
    if k.max() > 11:  # 12 characters = 60 bits: no run of any image is that long
        return "RLE segmentation 'counts' holds a number too long for any image"
    x = np.add.reduceat((b & 0x1F) << (5 * k), starts)
    negative = (b[ends] & 0x10) != 0
    x = np.where(negative, x | (np.int64(-1) << (5 * (k[ends] + 1))), x)
    runs = x.copy()
    runs[1::2] = np.cumsum(x[1::2])
    runs[2::2] = np.cumsum(x[2::2])
    if (runs < 0).any():
        return "RLE segmentation 'counts' decodes to a negative run length (not a COCO compressed RLE string)"
    total = int(runs.sum())
    if total != n_pixels:
        return f"compressed RLE counts decode to {total} pixels, expected height*width = {n_pixels}"
    return None


def segmentation_error(seg, height: float, width: float) -> str | None:
    """Why ``seg`` is not a usable COCO segmentation for a ``width x height`` image, or None when it is."""
    return normalise_segmentation(seg, height, width)[1]


def to_rle(seg, height: float, width: float) -> dict:
    """The compressed RLE of a valid (normalised) segmentation, like pycocotools' ``COCO.annToRLE``."""
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
