"""Frame (F) metrics computed from tables: image size, objects per image, near-duplicates (``kind="table"``)."""
from __future__ import annotations

import math

import numpy as np

from metrics.geometry import union_area
from metrics.registry import frame_metric
from metrics.tables import FrameTable


@frame_metric(name="image_width", title="Image width", range=(1, math.inf), needs=("size",), unit="px")
def image_width(table: FrameTable) -> np.ndarray:
    """Width in pixels (file header, or the images table when there are no image files); NaN when unknown."""
    return table.width


@frame_metric(name="image_height", title="Image height", range=(1, math.inf), needs=("size",), unit="px")
def image_height(table: FrameTable) -> np.ndarray:
    """Height in pixels (file header, or the images table when there are no image files); NaN when unknown."""
    return table.height


@frame_metric(name="image_aspect_ratio", title="Image aspect ratio", range=(0, math.inf), needs=("size",))
def image_aspect_ratio(table: FrameTable) -> np.ndarray:
    """``width / height`` (1 for a square image); NaN when the size is unknown."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(table.height > 0, table.width / table.height, np.nan)


@frame_metric(name="image_area", title="Image area", range=(1, math.inf), needs=("size",), unit="px²")
def image_area(table: FrameTable) -> np.ndarray:
    """``width · height`` in pixels; NaN when the size is unknown."""
    return table.width * table.height


@frame_metric(name="object_count", title="Object count", range=(0, math.inf), needs=("labels",), unit="objects")
def object_count(table: FrameTable) -> np.ndarray:
    """Number of labels (crowd labels included) on the image; 0 for an image without labels."""
    counts = table.labels["image_id"].value_counts()
    return counts.reindex(table.images["image_id"].to_numpy(), fill_value=0).to_numpy(np.float64)


@frame_metric(name="object_density", title="Object density", range=(0, 1), needs=("labels", "size"))
def object_density(table: FrameTable) -> np.ndarray:
    """``|∪ boxes| / (width · height)``: exact area of the union of the label boxes clipped to the image
    (overlaps counted once, unlike a sum), over the image area; 0 without labels, NaN when the size is unknown."""
    labels = table.labels
    ids = table.images["image_id"].to_numpy()
    w, h = table.width, table.height
    density = np.zeros(len(ids), dtype=np.float64)
    if len(labels):
        pos = {int(i): k for k, i in enumerate(ids)}
        x1 = labels["x"].to_numpy(np.float64)
        y1 = labels["y"].to_numpy(np.float64)
        x2 = x1 + labels["w"].to_numpy(np.float64)
        y2 = y1 + labels["h"].to_numpy(np.float64)
        boxes = np.stack([x1, y1, x2, y2], axis=1)
        img = labels["image_id"].to_numpy()
        order = np.argsort(img, kind="stable")
        img, boxes = img[order], boxes[order]
        cuts = np.flatnonzero(np.r_[True, img[1:] != img[:-1], True])
        for a, b in zip(cuts[:-1], cuts[1:]):  # one vectorised union per image
            k = pos.get(int(img[a]))
            if k is None or not (w[k] > 0 and h[k] > 0):
                continue
            clipped = np.clip(boxes[a:b], 0, [w[k], h[k], w[k], h[k]])
            density[k] = union_area(clipped) / (w[k] * h[k])
    density[~((w > 0) & (h > 0))] = np.nan
    return density


HASH_BITS = 64
_ROWS_PER_BLOCK = 2048


@frame_metric(name="uniqueness", title="Uniqueness (near-duplicate distance)", range=(0, 1),
              direction="higher_is_better", needs=("pixels",), kind="table")
def uniqueness(table: FrameTable) -> np.ndarray:
    """Hamming distance of the image's 64-bit perceptual hash to the nearest other image's, over 64.

    ``min_{j≠i} popcount(h_i XOR h_j) / 64`` in [0, 1]: 0 for an exact or near duplicate. NaN for an
    unreadable image or when no other readable image exists. All pairs, vectorised in row blocks.
    """
    images = table.images
    ok = images["has_pixels"].to_numpy(bool)
    hashes = images["phash"].to_numpy(np.int64).view(np.uint64)
    out = np.full(len(images), np.nan)
    idx = np.flatnonzero(ok)
    if len(idx) < 2:
        return out
    h = hashes[idx]
    best = np.empty(len(idx))
    for start in range(0, len(idx), _ROWS_PER_BLOCK):
        block = h[start:start + _ROWS_PER_BLOCK]
        dist = np.bitwise_count(block[:, None] ^ h[None, :]).astype(np.int16)
        dist[np.arange(len(block)), np.arange(start, start + len(block))] = HASH_BITS + 1  # not itself
        best[start:start + len(block)] = dist.min(axis=1)
    out[idx] = best / HASH_BITS
    return out
