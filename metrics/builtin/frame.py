"""Frame (F) metrics computed from the pixels of one decoded image (``kind="image"``).

All read the working image (see ``metrics.image``): luma ``Y`` is the 8-bit BT.601 luma of that image.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from metrics.image import FrameImage
from metrics.registry import frame_metric

BLUR_THRESHOLD = 100.0  # Laplacian variance (canonical resolution) below which an image is called blurry
DARK_LEVEL = 32  # luma below this is "dark"
OVEREXPOSED_LEVEL = 224  # luma at or above this is "overexposed"


@frame_metric(name="brightness", title="Brightness", range=(0, 1), direction="neutral")
def brightness(image: FrameImage) -> float:
    """Mean luma: ``mean(Y) / 255`` in [0, 1] (0 black, 1 white). Working resolution."""
    return float(np.dot(image.luma_histogram, np.arange(256)) / image.luma.size / 255.0)


@frame_metric(name="contrast", title="Contrast (RMS)", range=(0, 0.5), direction="higher_is_better")
def contrast(image: FrameImage) -> float:
    """RMS contrast: population std of luma, ``std(Y / 255)`` in [0, 0.5] (0 for a flat image). Working resolution."""
    levels = np.arange(256, dtype=np.float64) / 255.0
    p = image.luma_histogram / image.luma.size
    mean = float(np.dot(p, levels))
    return float(math.sqrt(max(float(np.dot(p, (levels - mean) ** 2)), 0.0)))


@frame_metric(name="sharpness", title="Sharpness (Laplacian variance)", range=(0, math.inf), direction="higher_is_better")
def sharpness(image: FrameImage) -> float:
    """Variance of the Laplacian of luma at the canonical resolution (long side 160 px, values 0..255).

    ``var(L)`` with ``L = Y[i-1,j] + Y[i+1,j] + Y[i,j-1] + Y[i,j+1] - 4 Y[i,j]`` (reflect-101 border).
    A 1-px black/white checkerboard gives ``1020² = 1040400``; a flat image 0.
    """
    return image.canonical_laplacian_variance


@frame_metric(name="blur_score", title="Blur score", range=(0, 1), direction="lower_is_better")
def blur_score(image: FrameImage) -> float:
    """``T / (T + sharpness)`` with ``T = 100``: 1 for a flat image, 0.5 at the blur threshold, → 0 when sharp."""
    return float(BLUR_THRESHOLD / (BLUR_THRESHOLD + image.canonical_laplacian_variance))


@frame_metric(name="is_blurry", title="Blurry flag", range=(0, 1), direction="lower_is_better")
def is_blurry(image: FrameImage) -> float:
    """1.0 when ``sharpness < 100`` (Laplacian variance at the canonical resolution), else 0.0."""
    return float(image.canonical_laplacian_variance < BLUR_THRESHOLD)


@frame_metric(name="colorfulness", title="Colorfulness (Hasler–Süsstrunk)", range=(0, math.inf), direction="neutral")
def colorfulness(image: FrameImage) -> float:
    """Hasler & Süsstrunk (2003): ``sqrt(σ_rg² + σ_yb²) + 0.3·sqrt(μ_rg² + μ_yb²)``.

    ``rg = R − G``, ``yb = (R + G)/2 − B`` on 0..255 values, population statistics over the working image.
    Pure red (255, 0, 0): ``0.3·sqrt(255² + 127.5²) ≈ 85.53``; any grey image: 0.
    """
    b, g, r = cv2.split(image.bgr)
    rg = cv2.subtract(r, g, dtype=cv2.CV_16S)  # exact integers; yb2 = 2·yb = R + G − 2B
    yb2 = cv2.subtract(cv2.add(r, g, dtype=cv2.CV_16S), cv2.add(b, b, dtype=cv2.CV_16S), dtype=cv2.CV_16S)
    (mu_rg,), (sd_rg,) = (v.ravel() for v in cv2.meanStdDev(rg))  # float64 accumulation
    (mu_yb,), (sd_yb,) = (v.ravel() / 2 for v in cv2.meanStdDev(yb2))
    return float(math.sqrt(sd_rg**2 + sd_yb**2) + 0.3 * math.sqrt(mu_rg**2 + mu_yb**2))


@frame_metric(name="saturation", title="Saturation", range=(0, 1), direction="neutral")
def saturation(image: FrameImage) -> float:
    """Mean HSV saturation ``(max − min) / max`` over pixels (0 where ``max = 0``), in [0, 1]. Working resolution."""
    b, g, r = cv2.split(image.bgr)
    mx = cv2.max(cv2.max(b, g), r)
    mn = cv2.min(cv2.min(b, g), r)
    s = cv2.divide(cv2.subtract(mx, mn), mx, dtype=cv2.CV_32F)
    cv2.patchNaNs(s, 0)  # 0 / 0 where max = 0 (black): S = 0 by definition
    return float(cv2.mean(s)[0])


def _dominance(image: FrameImage, channel: int) -> float:
    total = float(image.channel_means.sum())
    return float(image.channel_means[channel] / total) if total > 0 else math.nan


@frame_metric(name="red_dominance", title="Red dominance", range=(0, 1), direction="neutral")
def red_dominance(image: FrameImage) -> float:
    """Share of red: ``mean(R) / (mean(R) + mean(G) + mean(B))``; 1/3 for grey, 1 for pure red, NaN for black."""
    return _dominance(image, 2)


@frame_metric(name="green_dominance", title="Green dominance", range=(0, 1), direction="neutral")
def green_dominance(image: FrameImage) -> float:
    """Share of green: ``mean(G) / (mean(R) + mean(G) + mean(B))``; 1/3 for grey, NaN for black."""
    return _dominance(image, 1)


@frame_metric(name="blue_dominance", title="Blue dominance", range=(0, 1), direction="neutral")
def blue_dominance(image: FrameImage) -> float:
    """Share of blue: ``mean(B) / (mean(R) + mean(G) + mean(B))``; 1/3 for grey, NaN for black."""
    return _dominance(image, 0)


@frame_metric(name="entropy", title="Entropy", range=(0, 8), direction="higher_is_better")
def entropy(image: FrameImage) -> float:
    """Shannon entropy of the 256-level luma histogram, ``−Σ p_k log2 p_k`` bits, in [0, 8].

    A flat image has 0 bits; an image half black, half white has exactly 1 bit.
    """
    p = image.luma_histogram[image.luma_histogram > 0] / image.luma.size
    return float(-(p * np.log2(p)).sum()) + 0.0


@frame_metric(name="dark_fraction", title="Dark fraction", range=(0, 1), direction="lower_is_better")
def dark_fraction(image: FrameImage) -> float:
    """Fraction of pixels with luma ``Y < 32``, in [0, 1]. Working resolution."""
    return float(image.luma_histogram[:DARK_LEVEL].sum() / image.luma.size)


@frame_metric(name="overexposed_fraction", title="Overexposed fraction", range=(0, 1), direction="lower_is_better")
def overexposed_fraction(image: FrameImage) -> float:
    """Fraction of pixels with luma ``Y >= 224``, in [0, 1]. Working resolution."""
    return float(image.luma_histogram[OVEREXPOSED_LEVEL:].sum() / image.luma.size)
