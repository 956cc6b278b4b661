"""Vectorised box geometry: within-image pairwise IoU and the exact area of a union of boxes.

No Python loop runs over boxes: pairs are generated with ``np.repeat`` arithmetic per chunk of images.
"""
from __future__ import annotations

import numpy as np

MAX_PAIRS_PER_CHUNK = 4_000_000  # bounds memory: ~8 float64 arrays of this length at once


def _group_pairs(starts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs ``(i, j)`` of rows inside each group (rows ``starts[g] .. starts[g]+sizes[g]-1``).

    Returns two int64 arrays of length ``Σ sizes²`` (self pairs included).
    """
    rows = np.repeat(starts, sizes) + (np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes))
    row_group_size = np.repeat(sizes, sizes)  # size of each row's group
    row_group_start = np.repeat(starts, sizes)
    i = np.repeat(rows, row_group_size)
    block_start = np.cumsum(row_group_size) - row_group_size
    j = np.repeat(row_group_start, row_group_size) + (np.arange(row_group_size.sum()) - np.repeat(block_start, row_group_size))
    return i, j


def max_iou_within_images(image_ids: np.ndarray, xyxy: np.ndarray, *, same: np.ndarray | None = None) -> np.ndarray:
    """For each box, the max IoU with another box of the same image (and the same ``same`` key if given).

    ``image_ids``: (n,) ints; ``xyxy``: (n, 4) float; ``same``: optional (n,) key (e.g. category id).
    ``IoU = |A ∩ B| / |A ∪ B|``; a pair with empty union has IoU 0. A box with no other box to compare
    with gets 0 (nothing overlaps it). Returns (n,) float64 in [0, 1]; NaN where the box itself has a NaN
    coordinate.
    """
    n = len(image_ids)
    out = np.zeros(n, dtype=np.float64)
    if n == 0:
        return out
    key = np.asarray(image_ids, dtype=np.int64)
    order = np.lexsort((same,) + (key,)) if same is not None else np.argsort(key, kind="stable")
    k = key[order]
    s = np.asarray(same)[order] if same is not None else None
    b = np.asarray(xyxy, dtype=np.float64)[order]
    boundary = np.r_[True, k[1:] != k[:-1]]
    if s is not None:
        boundary |= np.r_[True, s[1:] != s[:-1]]
    starts = np.flatnonzero(boundary)
    sizes = np.diff(np.r_[starts, n])
    result = np.zeros(n, dtype=np.float64)
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    multi = sizes > 1
    starts, sizes = starts[multi], sizes[multi]
    # chunk the groups so that Σ sizes² stays bounded
    cum = np.cumsum(sizes.astype(np.int64) ** 2)
    chunk_id = cum // MAX_PAIRS_PER_CHUNK
    for c in np.unique(chunk_id):
        sel = chunk_id == c
        i, j = _group_pairs(starts[sel], sizes[sel])
        keep = i != j
        i, j = i[keep], j[keep]
        iw = np.clip(np.minimum(b[i, 2], b[j, 2]) - np.maximum(b[i, 0], b[j, 0]), 0, None)
        ih = np.clip(np.minimum(b[i, 3], b[j, 3]) - np.maximum(b[i, 1], b[j, 1]), 0, None)
        inter = iw * ih
        union = area[i] + area[j] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        np.maximum.at(result, i, iou)
    result[np.isnan(b).any(axis=1)] = np.nan
    out[order] = result
    return out


def union_area(xyxy: np.ndarray) -> float:
    """Exact area of the union of boxes ``(n, 4)`` (already clipped), by coordinate compression.

    The distinct x and y edges cut the plane into cells; a 2-D difference array marks each box's cells
    (+1/−1 at its corners, then cumulative sums), and the union is the summed area of covered cells.
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    b = b[(b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])]
    if len(b) == 0:
        return 0.0
    xs = np.unique(b[:, [0, 2]])
    ys = np.unique(b[:, [1, 3]])
    x1, x2 = np.searchsorted(xs, b[:, 0]), np.searchsorted(xs, b[:, 2])
    y1, y2 = np.searchsorted(ys, b[:, 1]), np.searchsorted(ys, b[:, 3])
    diff = np.zeros((len(ys), len(xs)), dtype=np.int64)
    np.add.at(diff, (y1, x1), 1)
    np.add.at(diff, (y1, x2), -1)
    np.add.at(diff, (y2, x1), -1)
    np.add.at(diff, (y2, x2), 1)
    covered = diff.cumsum(axis=0).cumsum(axis=1)[:-1, :-1] > 0
    cell = np.outer(np.diff(ys), np.diff(xs))
    return float(cell[covered].sum())
