"""Frame (F) metrics computed from the pixels of one decoded image (``kind="image"``).

All read the working image (see ``metrics.image``): luma ``Y`` is the 8-bit BT.601 luma of that image. The
statistics are computed once per image and shared (``FrameImage.luma_stats``: one luma histogram gives mean, std,
entropy and the dark/overexposed fractions; ``channel_sums`` gives the channel means and colour moments).
"""
from __future__ import annotations

import math

import cv2

from metrics.image import DARK_LEVEL, OVEREXPOSED_LEVEL, FrameImage  # noqa: F401 (thresholds re-exported)
from metrics.registry import frame_metric

BLUR_THRESHOLD = 100.0  # Laplacian variance (canonical resolution) below which an image is called blurry


@frame_metric(name="brightness", title="Brightness", range=(0, 1), direction="neutral")
def brightness(image: FrameImage) -> float:
    """Mean luma: ``mean(Y) / 255`` in [0, 1] (0 black, 1 white). Working resolution."""
    return image.luma_stats[0]


@frame_metric(name="contrast", title="Contrast (RMS)", range=(0, 0.5), direction="higher_is_better")
def contrast(image: FrameImage) -> float:
    """RMS contrast: population std of luma, ``std(Y / 255)`` in [0, 0.5] (0 for a flat image). Working resolution."""
    return image.luma_stats[1]


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
    # Exact integer sums (float64 holds them exactly), then population moments: mean = S/N, var = Q/N − mean².
    # S from the channel sums; Q = Σ rg² and Σ (2·yb)² as squared L2 distances R↔G and (R + G)↔2B.
    b, g, r = image.channels
    n = b.size
    s_b, s_g, s_r = image.channel_sums
    mu_rg = (s_r - s_g) / n
    mu_yb = (s_r + s_g - 2.0 * s_b) / (2 * n)
    q_rg = cv2.norm(r, g, cv2.NORM_L2SQR)
    q_yb = cv2.norm(cv2.add(r, g, dtype=cv2.CV_16U), cv2.add(b, b, dtype=cv2.CV_16U), cv2.NORM_L2SQR) / 4
    var_rg = max(q_rg / n - mu_rg * mu_rg, 0.0)
    var_yb = max(q_yb / n - mu_yb * mu_yb, 0.0)
    return float(math.sqrt(var_rg + var_yb) + 0.3 * math.sqrt(mu_rg**2 + mu_yb**2))


@frame_metric(name="saturation", title="Saturation", range=(0, 1), direction="neutral")
def saturation(image: FrameImage) -> float:
    """Mean HSV saturation ``(max − min) / max`` over pixels (0 where ``max = 0``), in [0, 1]. Working resolution."""
    b, g, r = image.channels
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


@frame_metric(name="entropy", title="Entropy", range=(0, 8), direction="higher_is_better", unit="bits")
def entropy(image: FrameImage) -> float:
    """Shannon entropy of the 256-level luma histogram, ``−Σ p_k log2 p_k`` bits, in [0, 8].

    A flat image has 0 bits; an image half black, half white has exactly 1 bit.
    """
    return image.luma_stats[2]


@frame_metric(name="dark_fraction", title="Dark fraction", range=(0, 1), direction="lower_is_better")
def dark_fraction(image: FrameImage) -> float:
    """Fraction of pixels with luma ``Y < 32``, in [0, 1]. Working resolution."""
    return image.luma_stats[3]


@frame_metric(name="overexposed_fraction", title="Overexposed fraction", range=(0, 1), direction="lower_is_better")
def overexposed_fraction(image: FrameImage) -> float:
    """Fraction of pixels with luma ``Y >= 224``, in [0, 1]. Working resolution."""
    return image.luma_stats[4]
