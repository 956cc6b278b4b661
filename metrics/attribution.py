"""Attribution-map metrics (Grad-CAM, saliency, input × gradient, …): pure NumPy, no ``explorer`` import.

An attribution map ``A`` is a 2-D array ``(h, w)`` of a model's per-pixel attribution for one image, at any
resolution. Only its **non-negative part** ``A⁺ = max(A, 0)`` counts (Grad-CAM's ReLU: a negative value is
evidence *against* the class, not attention). The map covers the whole image: cell ``(i, j)`` is the image
rectangle ``[j·W/w, (j+1)·W/w) × [i·H/h, (i+1)·H/h)`` and is constant over it (nearest-neighbour up-sampling),
so every metric is exact at any map resolution, without resizing the map to the image.

* ``box_energy(A, boxes, W, H)`` — the *energy pointing game* (Wang et al., Score-CAM, 2020) of each box:
  ``∫_box A⁺ / ∫_image A⁺`` in [0, 1], with a cell cut by the box edge counted by the share of its area inside
  (exact: the integral of a piecewise-constant map is the bilinear interpolation of its summed-area table).
  An image-sized box gives 1; a box covering half of a uniform map 0.5.
* ``entropy(A)`` — Shannon entropy of ``p = A⁺ / ΣA⁺`` over the cells, ``−Σ p log2 p`` bits, divided by
  ``log2(h·w)`` (its maximum), in [0, 1]: 1 for a uniform map, 0 when one cell holds all the mass.
* ``spread(A)`` — the share of the cells in the smallest set holding at least half of the mass (cells taken
  from the largest value down), in (0, 1]: ``1/(h·w)`` when one cell holds ≥ 50 %, 0.5 for a uniform map with
  an even number of cells.

All three are NaN when the map has no positive mass (all zeros or negative: nothing to point with), and
``entropy`` also for a one-cell map (``log2 1 = 0``). The maps reaching these functions are finite (the
importer refuses NaN/inf).

``ATTRIBUTION_METRICS``: their ``metrics.Metric`` descriptions (name, title, levels, range, direction, unit),
for the explorer's catalogue; they are not in the image registry (``metrics.REGISTRY``) because their input is
the map, not the image.
"""
from __future__ import annotations

import numpy as np

from metrics.registry import BUILTIN, Metric

__all__ = ["ATTRIBUTION_METRICS", "box_energy", "entropy", "map_metrics", "positive_mass", "spread"]


def positive_mass(attribution: np.ndarray) -> np.ndarray:
    """``max(A, 0)`` as float64 ``(h, w)``."""
    return np.maximum(np.asarray(attribution, dtype=np.float64), 0.0)


def _summed_area(pos: np.ndarray) -> np.ndarray:
    """``S`` (h+1, w+1): ``S[r, c] = Σ_{i<r, j<c} pos[i, j]``."""
    h, w = pos.shape
    s = np.zeros((h + 1, w + 1), np.float64)
    np.cumsum(np.cumsum(pos, axis=0), axis=1, out=s[1:, 1:])
    return s


def _integral_at(s: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``∫_{[0, cols] × [0, rows]} A⁺`` in cell units: bilinear interpolation of ``s`` (exact, see module doc)."""
    h, w = s.shape[0] - 1, s.shape[1] - 1
    r0 = np.clip(np.floor(rows), 0, max(h - 1, 0)).astype(np.int64)
    c0 = np.clip(np.floor(cols), 0, max(w - 1, 0)).astype(np.int64)
    fr, fc = rows - r0, cols - c0
    return ((1 - fr) * (1 - fc) * s[r0, c0] + fr * (1 - fc) * s[r0 + 1, c0]
            + (1 - fr) * fc * s[r0, c0 + 1] + fr * fc * s[r0 + 1, c0 + 1])


def box_energy(attribution: np.ndarray, boxes_xywh: np.ndarray, image_width: float, image_height: float
               ) -> np.ndarray:
    """Energy pointing game of each box: share of ``A⁺`` inside it, ``(n,)`` float64 in [0, 1].

    ``boxes_xywh`` (n, 4): ``x, y, w, h`` in image pixels (COCO); ``image_width``/``image_height``: the image's
    size in pixels, which the map covers. Boxes are clipped to the image. NaN for a box with a non-finite
    coordinate, for an image of unknown/zero size, and for every box when ``ΣA⁺ = 0``.
    """
    pos = positive_mass(attribution)
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    n = len(boxes)
    total = float(pos.sum())
    W, H = float(image_width), float(image_height)
    if n == 0 or total <= 0 or not (np.isfinite(W) and np.isfinite(H) and W > 0 and H > 0):
        return np.full(n, np.nan)
    h, w = pos.shape
    s = _summed_area(pos)
    finite = np.isfinite(boxes).all(axis=1)
    boxes = np.where(finite[:, None], boxes, 0.0)  # computed as empty boxes, then NaN
    x1 = np.clip(boxes[:, 0] * (w / W), 0, w)
    y1 = np.clip(boxes[:, 1] * (h / H), 0, h)
    x2 = np.clip((boxes[:, 0] + boxes[:, 2]) * (w / W), 0, w)
    y2 = np.clip((boxes[:, 1] + boxes[:, 3]) * (h / H), 0, h)
    x2, y2 = np.maximum(x2, x1), np.maximum(y2, y1)
    inside = (_integral_at(s, y2, x2) - _integral_at(s, y1, x2) - _integral_at(s, y2, x1)
              + _integral_at(s, y1, x1))
    out = np.clip(inside / total, 0.0, 1.0)
    out[~finite] = np.nan
    return out


def entropy(attribution: np.ndarray) -> float:
    """Normalised Shannon entropy ``−Σ p log2 p / log2(h·w)`` of ``p = A⁺ / ΣA⁺`` over the map's cells, in [0, 1].

    NaN when ``ΣA⁺ = 0`` or the map has one cell. Uniform map: 1; one hot cell: 0; two equal hot cells of a
    4-cell map: ``1 / 2``.
    """
    pos = positive_mass(attribution).ravel()
    total = pos.sum()
    if total <= 0 or pos.size < 2:
        return float("nan")
    p = pos[pos > 0] / total
    return float(max(0.0, -(p * np.log2(p)).sum()) / np.log2(pos.size))


def spread(attribution: np.ndarray) -> float:
    """Share of the cells in the smallest set holding ≥ 50 % of ``ΣA⁺`` (largest cells first), in (0, 1].

    ``k / (h·w)`` with ``k`` the least count such that the ``k`` largest cells sum to ``≥ ΣA⁺ / 2``. NaN when
    ``ΣA⁺ = 0``. Uniform 4-cell map: 0.5; one hot cell: ``1 / (h·w)``.
    """
    pos = positive_mass(attribution).ravel()
    total = pos.sum()
    if total <= 0:
        return float("nan")
    cum = np.cumsum(np.sort(pos)[::-1])
    k = int(np.searchsorted(cum, 0.5 * cum[-1], side="left")) + 1
    return float(min(k, pos.size) / pos.size)


def map_metrics(attribution: np.ndarray) -> tuple[float, float]:
    """``(entropy(A), spread(A))``: the frame (F) values of one map."""
    return entropy(attribution), spread(attribution)


def _entropy_doc(attribution):
    """Normalised Shannon entropy of the non-negative attribution map: ``H = −Σ p log2 p / log2(N)`` with
    ``p = A⁺ / ΣA⁺`` over the map's ``N = h·w`` cells (bits per bit of the maximum), in [0, 1]: 1 = attention
    spread evenly over the image, 0 = one cell holds it all. NaN without an attribution map or with no positive
    mass."""


def _spread_doc(attribution):
    """Share of the image area (map cells) in the smallest set holding half of the non-negative attribution mass,
    largest cells first, in (0, 1]: small = focused attention. NaN without a map or with no positive mass."""


def _energy_doc(attribution, boxes):
    """Energy pointing game: ``∫_box A⁺ / ∫_image A⁺`` — the share of the non-negative attribution mass inside the
    box (the map covers the image, each cell constant; cells cut by the box edge count by their area inside),
    in [0, 1]: 1 = the model looks only inside the object. NaN without a map, with no positive mass or an
    unknown image size."""


ATTRIBUTION_METRICS = (
    Metric(name="attribution_in_box", title="Attribution mass inside the box", levels=("O", "P"), fn=_energy_doc,
           range=(0.0, 1.0), direction="higher_is_better", source=BUILTIN),
    Metric(name="attribution_entropy", title="Attribution entropy (normalised)", levels=("F",), fn=_entropy_doc,
           range=(0.0, 1.0), direction="neutral", source=BUILTIN, unit="bits/bit"),
    Metric(name="attribution_spread", title="Attribution spread (area share of 50 % mass)", levels=("F",),
           fn=_spread_doc, range=(0.0, 1.0), direction="neutral", source=BUILTIN),
)
