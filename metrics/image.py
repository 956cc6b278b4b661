"""The decoded image that per-image metrics read, and how it is decoded.

Every per-image metric reads one decoded buffer, the *working image*. Large images are decoded at reduced
resolution (``cv2.IMREAD_REDUCED_COLOR_{2,4,8}``: the JPEG decoder scales the DCT blocks, which is both fast
and an area-average): the factor ``f`` is the largest of 1, 2, 4, 8 that keeps the long side ≥ ``WORK_LONG_SIDE``
(160 px). A 640×480 photo is thus analysed at 160×120 (this is what makes the engine faster than a
plain full-resolution ``cv2.imread`` loop). Width and height always come from the file header
(original pixels). Means and fractions barely change under area-averaging; each metric's docstring says
which resolution it uses. Sharpness is measured at a fixed canonical resolution (long side
``CANONICAL_LONG_SIDE`` = 160 px) so that values compare across image sizes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from metrics.headers import MAX_PIXELS, TooLargeToDecode, header_size, too_large  # noqa: F401 (re-exported)

WORK_LONG_SIDE = 160
_LEVELS = np.arange(256, dtype=np.float64) / 255.0
DARK_LEVEL = 32  # luma below this is "dark"
OVEREXPOSED_LEVEL = 224  # luma at or above this is "overexposed"
CANONICAL_LONG_SIDE = 160
_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def reduction_factor(width: int, height: int) -> int:
    """Largest ``f`` in (1, 2, 4, 8) with ``max(width, height) / f >= WORK_LONG_SIDE`` and ``min(width, height) >= f``
    (a reduced decode of a 1-pixel-wide image would have zero columns: OpenCV asserts)."""
    long_side, short_side = max(width, height), min(width, height)
    for f in (8, 4, 2):
        if long_side / f >= WORK_LONG_SIDE and short_side >= f:
            return f
    return 1


def decode(data: bytes) -> tuple[np.ndarray, int, int] | None:
    """Decode the working image: ``(bgr (h, w, 3) uint8, original_width, original_height)``, None if corrupt.

    Native decoding is guarded (``metrics.headers``): nothing is decoded unless the header gives a size (else
    None: not an image of a known format), an image whose header announces more than ``MAX_PIXELS`` raises
    ``TooLargeToDecode`` (with the header's size) before any pixel is touched, and an OpenCV error (truncated or
    inconsistent data) means None, never an exception.
    """
    size = header_size(data)
    if size is None:
        return None
    if too_large(*size):
        raise TooLargeToDecode(*size)
    buf = np.frombuffer(data, np.uint8)
    factor = reduction_factor(*size)
    bgr = _imdecode(buf, _REDUCED[factor])
    if bgr is None and factor != 1:
        bgr = _imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        return None
    return bgr, int(size[0]), int(size[1])


def decode_full(data: bytes) -> np.ndarray | None:
    """The image at full resolution, ``bgr (h, w, 3) uint8`` (for display), under ``decode``'s guards: None
    without a readable header or on corrupt data, ``TooLargeToDecode`` above ``MAX_PIXELS``."""
    size = header_size(data)
    if size is None:
        return None
    if too_large(*size):
        raise TooLargeToDecode(*size)
    bgr = _imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if bgr is None or bgr.size == 0 else bgr


def _imdecode(buf: np.ndarray, flags: int) -> np.ndarray | None:
    try:
        return cv2.imdecode(buf, flags)
    except cv2.error:  # OpenCV asserts on some corrupt data instead of returning None
        return None


@dataclass
class FrameImage:
    """One decoded image as per-image metrics see it.

    ``bgr``: working image, ``(h, w, 3)`` uint8, BGR order (OpenCV), possibly reduced (see module docstring).
    ``width``, ``height``: original size in pixels. Derived buffers are computed once and shared by metrics.
    """

    bgr: np.ndarray
    width: int
    height: int

    @classmethod
    def from_bgr(cls, bgr: np.ndarray) -> "FrameImage":
        """A full-resolution FrameImage of an in-memory array (tests, notebooks)."""
        bgr = np.ascontiguousarray(bgr, dtype=np.uint8)
        if bgr.ndim == 2:
            bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
        return cls(bgr=bgr, width=bgr.shape[1], height=bgr.shape[0])

    @property
    def scale(self) -> tuple[float, float]:
        """``(sx, sy)``: working pixels per original pixel."""
        return self.bgr.shape[1] / self.width, self.bgr.shape[0] / self.height

    @cached_property
    def luma(self) -> np.ndarray:
        """``(h, w)`` uint8 luma ``Y = 0.299 R + 0.587 G + 0.114 B`` rounded to 8 bits (OpenCV BT.601)."""
        return cv2.cvtColor(self.bgr, cv2.COLOR_BGR2GRAY)

    @cached_property
    def luma_histogram(self) -> np.ndarray:
        """``(256,)`` int64 counts of each luma level."""
        if self.luma.size < 1 << 24:  # float32 counts of calcHist are exact below 2**24
            return cv2.calcHist([self.luma], [0], None, [256], [0, 256]).ravel().astype(np.int64)
        return np.bincount(self.luma.ravel(), minlength=256)

    @cached_property
    def luma_stats(self) -> tuple[float, float, float, float, float]:
        """``(mean, std, entropy, dark, overexposed)`` of luma, all from one pass over ``luma_histogram``.

        ``mean = Σ p_k k / 255``, ``std = sqrt(Σ p_k (k/255 − mean)²)`` (population), ``entropy = −Σ p_k log2 p_k``
        (p_k > 0), ``dark = Σ_{k<32} p_k``, ``overexposed = Σ_{k≥224} p_k``, with ``p_k = count_k / N``.
        """
        hist = self.luma_histogram
        n = self.luma.size
        p = hist / n
        mean = float(np.dot(p, _LEVELS))
        d = _LEVELS - mean
        std = math.sqrt(max(float(np.dot(p, d * d)), 0.0))
        q = p[hist > 0]
        entropy = float(-np.dot(q, np.log2(q))) + 0.0
        cum = np.cumsum(hist)
        dark = float(cum[DARK_LEVEL - 1] / n)
        over = float((n - cum[OVEREXPOSED_LEVEL - 1]) / n)
        return mean, std, entropy, dark, over

    @cached_property
    def channels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(B, G, R)`` planes of the working image, ``(h, w)`` uint8 each (one ``cv2.split``, shared)."""
        return tuple(cv2.split(self.bgr))

    @cached_property
    def channel_sums(self) -> np.ndarray:
        """``(3,)`` float64 exact sums of the B, G, R channels."""
        return np.asarray(cv2.sumElems(self.bgr)[:3], dtype=np.float64)

    @cached_property
    def channel_means(self) -> np.ndarray:
        """``(3,)`` float64 means of the B, G, R channels."""
        return self.channel_sums / (self.bgr.shape[0] * self.bgr.shape[1])

    @cached_property
    def canonical_luma(self) -> np.ndarray:
        """Luma resized to long side ``CANONICAL_LONG_SIDE`` (160 px), float32 in 0..255.

        ``INTER_AREA`` when shrinking by more than 2× (averages all source pixels), ``INTER_LINEAR`` for a
        milder shrink or an enlargement (much faster than ``INTER_AREA`` at non-integer ratios).
        """
        luma = self.luma
        h, w = luma.shape
        long_side = max(h, w)
        if long_side != CANONICAL_LONG_SIDE:
            s = CANONICAL_LONG_SIDE / long_side
            size = (max(1, round(w * s)), max(1, round(h * s)))
            luma = cv2.resize(luma, size, interpolation=cv2.INTER_AREA if s <= 0.5 else cv2.INTER_LINEAR)
        return luma.astype(np.float32)

    @cached_property
    def canonical_laplacian_variance(self) -> float:
        """Variance of the Laplacian of ``canonical_luma`` (shared by the sharpness and blur metrics)."""
        _, std = cv2.meanStdDev(cv2.Laplacian(self.canonical_luma, cv2.CV_32F, ksize=1))  # float64 accumulation
        return float(std[0, 0]) ** 2

    @cached_property
    def phash(self) -> int:
        """64-bit perceptual hash: DCT-II of the canonical luma resized to 32×32 (``INTER_AREA``); bit k is set
        when the k-th of the 8×8 lowest-frequency coefficients (row-major) exceeds their median. As int64."""
        small = cv2.resize(self.canonical_luma, (32, 32), interpolation=cv2.INTER_AREA)
        low = cv2.dct(small)[:8, :8].ravel()
        mid = np.sort(low)[31:33]
        median = (mid[0] + mid[1]) / np.float32(2)  # = np.median(low) (float32 mean of the two middle values)
        return int(np.packbits(low > median, bitorder="little").view("<i8")[0])  # bit k = coefficient k

    @cached_property
    def laplacian(self) -> np.ndarray:
        """``(h, w)`` float32 Laplacian (kernel [[0,1,0],[1,-4,1],[0,1,0]], reflect-101 border) of the working luma."""
        return cv2.Laplacian(self.luma, cv2.CV_32F, ksize=1)

    @cached_property
    def luma_integrals(self) -> tuple[np.ndarray, np.ndarray]:
        """Summed-area tables ``(h+1, w+1)`` float64 of luma and luma², for box statistics in O(1) per box."""
        s, sq = cv2.integral2(self.luma, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
        return s, sq

    @cached_property
    def laplacian_integrals(self) -> tuple[np.ndarray, np.ndarray]:
        """Summed-area tables of the Laplacian and its square."""
        s, sq = cv2.integral2(self.laplacian, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
        return s, sq

    def working_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes ``(n, 4)`` xyxy in original pixels → integer pixel bounds ``(n, 4)`` in the working image.

        ``x1 = floor(x1·sx)``, ``x2 = ceil(x2·sx)`` (every touched pixel counts), clipped to the image;
        a box outside the image becomes empty (``x2 <= x1``).
        """
        sx, sy = self.scale
        h, w = self.luma.shape
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        x1 = np.clip(np.floor(b[:, 0] * sx), 0, w)
        y1 = np.clip(np.floor(b[:, 1] * sy), 0, h)
        x2 = np.clip(np.ceil(b[:, 2] * sx), 0, w)
        y2 = np.clip(np.ceil(b[:, 3] * sy), 0, h)
        out = np.stack([x1, y1, x2, y2], axis=1)
        return np.nan_to_num(out, nan=0).astype(np.int64)


def box_mean_std(integrals: tuple[np.ndarray, np.ndarray], boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std of a buffer inside integer boxes ``(n, 4)``, from its summed-area tables.

    ``mean = S / N``, ``std = sqrt(max(SQ / N - mean², 0))`` with ``S``, ``SQ`` the box sums of the values and
    their squares and ``N`` the pixel count; NaN for empty boxes (``N = 0``).
    """
    s, sq = integrals
    x1, y1, x2, y2 = boxes.T
    n = ((x2 - x1) * (y2 - y1)).astype(np.float64)
    total = s[y2, x2] - s[y1, x2] - s[y2, x1] + s[y1, x1]
    total_sq = sq[y2, x2] - sq[y1, x2] - sq[y2, x1] + sq[y1, x1]
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = (x2 > x1) & (y2 > y1)
        mean = np.where(valid, total / np.where(valid, n, 1), np.nan)
        var = np.where(valid, np.maximum(total_sq / np.where(valid, n, 1) - mean**2, 0.0), np.nan)
    return mean, np.sqrt(var)
