"""Every built-in metric on synthetic inputs with a hand-derived answer (one case list per metric name)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import metrics
from metrics import REGISTRY, BoxTable, FrameImage, FrameTable

W, H = 64, 48


def grey(level=128, size=(H, W)):
    return FrameImage.from_bgr(np.full((*size, 3), level, np.uint8))


def rgb(r, g, b, size=(H, W)):
    img = np.zeros((*size, 3), np.uint8)
    img[...] = (b, g, r)
    return FrameImage.from_bgr(img)


def two_level(size=(H, W)):
    """Left half black, right half white."""
    img = np.zeros(size, np.uint8)
    img[:, size[1] // 2:] = 255
    return FrameImage.from_bgr(img)


def checkerboard(size=(160, 160)):
    """1-px black/white checkerboard at the canonical resolution: Laplacian is ±1020 everywhere."""
    return FrameImage.from_bgr((np.indices(size).sum(0) % 2 * 255).astype(np.uint8))


def levels_image(pairs, size=(40, 40)):
    """Rows filled with given luma levels: pairs of (level, number of rows)."""
    img = np.concatenate([np.full((n, size[1]), v, np.uint8) for v, n in pairs])
    return FrameImage.from_bgr(img)


def frame_table(widths, heights, phash=None, labels=None):
    n = len(widths)
    images = pd.DataFrame({"image_id": np.arange(1, n + 1), "width": np.asarray(widths, float),
                           "height": np.asarray(heights, float),
                           "phash": np.zeros(n, np.int64) if phash is None else np.asarray(phash, np.int64),
                           "has_pixels": np.ones(n, bool)})
    return FrameTable(images=images, labels=labels)


def box_table(rows, *, image_size=(100, 100), level="O"):
    """rows: (image_id, category_id, x, y, w, h[, area[, score]])."""
    df = pd.DataFrame([r + (np.nan,) * (8 - len(r)) for r in rows],
                      columns=["image_id", "category_id", "x", "y", "w", "h", "area", "score"])
    df["image_width"], df["image_height"] = float(image_size[0]), float(image_size[1])
    return BoxTable(rows=df, level=level)


def labels_df(rows):
    return pd.DataFrame(rows, columns=["image_id", "category_id", "x", "y", "w", "h"])


def red_frac():
    return 0.3 * math.sqrt(255**2 + 127.5**2)


# metric name -> list of (callable returning the value(s), expected)
CASES = {
    "brightness": [(lambda: metrics.REGISTRY.get("brightness").fn(grey(128)), 128 / 255),
                   (lambda: REGISTRY.get("brightness").fn(two_level()), 0.5)],
    "contrast": [(lambda: REGISTRY.get("contrast").fn(grey(77)), 0.0),
                 (lambda: REGISTRY.get("contrast").fn(two_level()), 0.5)],
    "sharpness": [(lambda: REGISTRY.get("sharpness").fn(checkerboard()), 1020.0**2),
                  (lambda: REGISTRY.get("sharpness").fn(grey(200, (300, 500))), 0.0)],
    "blur_score": [(lambda: REGISTRY.get("blur_score").fn(grey()), 1.0),
                   (lambda: REGISTRY.get("blur_score").fn(checkerboard()), 100 / (100 + 1020.0**2))],
    "is_blurry": [(lambda: REGISTRY.get("is_blurry").fn(grey()), 1.0),
                  (lambda: REGISTRY.get("is_blurry").fn(checkerboard()), 0.0)],
    "colorfulness": [(lambda: REGISTRY.get("colorfulness").fn(rgb(255, 0, 0)), red_frac()),
                     (lambda: REGISTRY.get("colorfulness").fn(grey(90)), 0.0)],
    "saturation": [(lambda: REGISTRY.get("saturation").fn(rgb(255, 0, 0)), 1.0),
                   (lambda: REGISTRY.get("saturation").fn(rgb(200, 100, 50)), 0.75),
                   (lambda: REGISTRY.get("saturation").fn(grey(0)), 0.0)],
    "red_dominance": [(lambda: REGISTRY.get("red_dominance").fn(rgb(255, 0, 0)), 1.0),
                      (lambda: REGISTRY.get("red_dominance").fn(rgb(30, 60, 90)), 30 / 180),
                      (lambda: REGISTRY.get("red_dominance").fn(grey(0)), math.nan)],
    "green_dominance": [(lambda: REGISTRY.get("green_dominance").fn(rgb(30, 60, 90)), 60 / 180),
                        (lambda: REGISTRY.get("green_dominance").fn(grey(50)), 1 / 3)],
    "blue_dominance": [(lambda: REGISTRY.get("blue_dominance").fn(rgb(30, 60, 90)), 90 / 180),
                       (lambda: REGISTRY.get("blue_dominance").fn(grey(0)), math.nan)],
    "entropy": [(lambda: REGISTRY.get("entropy").fn(two_level()), 1.0),
                (lambda: REGISTRY.get("entropy").fn(grey(3)), 0.0),
                (lambda: REGISTRY.get("entropy").fn(levels_image([(0, 10), (80, 10), (160, 10), (240, 10)])), 2.0)],
    "dark_fraction": [(lambda: REGISTRY.get("dark_fraction").fn(levels_image([(31, 10), (32, 30)])), 0.25),
                      (lambda: REGISTRY.get("dark_fraction").fn(grey(0)), 1.0)],
    "overexposed_fraction": [
        (lambda: REGISTRY.get("overexposed_fraction").fn(levels_image([(224, 30), (223, 10)])), 0.75)],
    "image_width": [(lambda: REGISTRY.get("image_width").fn(frame_table([640, np.nan], [480, 10])), [640, np.nan])],
    "image_height": [(lambda: REGISTRY.get("image_height").fn(frame_table([640, 3], [480, 10])), [480, 10])],
    "image_aspect_ratio": [(lambda: REGISTRY.get("image_aspect_ratio").fn(frame_table([640, 3], [480, 0])),
                            [4 / 3, np.nan])],
    "image_area": [(lambda: REGISTRY.get("image_area").fn(frame_table([640, 3], [480, 10])), [307200, 30])],
    "object_count": [(lambda: REGISTRY.get("object_count").fn(frame_table(
        [10, 10, 10], [10, 10, 10], labels=labels_df([(1, 1, 0, 0, 1, 1), (3, 1, 0, 0, 1, 1), (1, 2, 0, 0, 1, 1)]))),
        [2, 0, 1])],
    # two 10x10 boxes overlapping on 5x5 (union 175, sum 200) and one half outside the image (clipped to 50)
    "object_density": [(lambda: REGISTRY.get("object_density").fn(frame_table(
        [100, 100, np.nan], [100, 100, 5],
        labels=labels_df([(1, 1, 0, 0, 10, 10), (1, 1, 5, 5, 10, 10), (2, 1, 95, 0, 10, 10), (3, 1, 0, 0, 2, 2)]))),
        [175 / 10000, 50 / 10000, np.nan])],
    # hashes 0, 0b1111 and all-ones: nearest distances 4, 4 and 60 bits
    "uniqueness": [(lambda: REGISTRY.get("uniqueness").fn(frame_table([1] * 3, [1] * 3, phash=[0, 15, -1])),
                    [4 / 64, 4 / 64, 60 / 64])],
    "relative_area": [(lambda: REGISTRY.get("relative_area").fn(box_table([(1, 1, 0, 0, 10, 20), (1, 1, 0, 0, 10, 20, 50.0)])),
                       [0.02, 0.005])],
    "object_area": [(lambda: REGISTRY.get("object_area").fn(box_table([(1, 1, 0, 0, 10, 20), (1, 1, 0, 0, 10, 20, 50.0)])),
                     [200, 50])],
    "box_aspect_ratio": [(lambda: REGISTRY.get("box_aspect_ratio").fn(box_table([(1, 1, 0, 0, 10, 20), (1, 1, 0, 0, 5, 0)])),
                          [0.5, np.nan])],
    "border_closeness": [(lambda: REGISTRY.get("border_closeness").fn(box_table(
        [(1, 1, 40, 40, 20, 20), (1, 1, 0, 30, 5, 5), (1, 1, 49.5, 49.5, 1, 1), (1, 1, 90, 90, 20, 20)])),
        [0.2, 1.0, 0.01, 1.0])],
    # boxes 0 and 1 same class IoU 1/7; box 2 other class overlaps box 1 with IoU 1/7; box 3 on another image
    "duplicate_iou": [(lambda: REGISTRY.get("duplicate_iou").fn(box_table(
        [(1, 1, 0, 0, 2, 2), (1, 1, 1, 1, 2, 2), (1, 2, 2, 2, 2, 2), (2, 1, 0, 0, 2, 2)])), [1 / 7, 1 / 7, 0, 0])],
    "occlusion_iou": [(lambda: REGISTRY.get("occlusion_iou").fn(box_table(
        [(1, 1, 0, 0, 2, 2), (1, 1, 1, 1, 2, 2), (1, 2, 2, 2, 2, 2), (2, 1, 0, 0, 2, 2)])), [1 / 7, 1 / 7, 1 / 7, 0])],
    "confidence": [(lambda: REGISTRY.get("confidence").fn(box_table([(1, 1, 0, 0, 1, 1, 1.0, 0.25)], level="P")), [0.25])],
    # two_level 64x48: box on the white half, box straddling the halves equally, box outside the image
    "box_brightness": [(lambda: REGISTRY.get("box_brightness").fn(two_level(), np.array(
        [[40, 0, 60, 10], [22, 5, 42, 15], [100, 100, 120, 120.0]])), [1.0, 0.5, np.nan])],
    "box_contrast": [(lambda: REGISTRY.get("box_contrast").fn(two_level(), np.array(
        [[40, 0, 60, 10], [22, 5, 42, 15]])), [0.0, 0.5])],
    "box_sharpness": [(lambda: REGISTRY.get("box_sharpness").fn(checkerboard(), np.array(
        [[0, 0, 160, 160], [10, 10, 30, 30.0]])), [1020.0**2, 1020.0**2]),
        (lambda: REGISTRY.get("box_sharpness").fn(grey(), np.array([[0, 0, 10, 10.0]])), [0.0])],
}


def builtin_names() -> list[str]:
    return sorted(m.name for m in REGISTRY if m.source == "builtin")


def test_every_builtin_metric_has_a_known_answer_case():
    assert len(builtin_names()) >= 20
    assert sorted(CASES) == builtin_names()


@pytest.mark.parametrize("name", sorted(CASES))
def test_known_answer(name):
    for compute, expected in CASES[name]:
        got = np.asarray(compute(), dtype=np.float64)
        np.testing.assert_allclose(got, np.asarray(expected, dtype=np.float64), rtol=1e-12, atol=1e-12,
                                   equal_nan=True, err_msg=name)


def test_sharpness_is_comparable_across_sizes():
    """The same scene at 160 px and at 640 px (16-px squares → 4-px squares by INTER_AREA) has the same sharpness."""
    small = (np.indices((40, 40)).sum(0) % 2 * 255).astype(np.uint8)
    small = np.kron(small, np.ones((4, 4), np.uint8))  # 160 x 160, 4-px squares
    big = np.kron(small, np.ones((4, 4), np.uint8))  # 640 x 640, 16-px squares: INTER_AREA to 160 gives `small`
    s_small = REGISTRY.get("sharpness").fn(FrameImage.from_bgr(small))
    s_big = REGISTRY.get("sharpness").fn(FrameImage.from_bgr(big))
    assert s_big == pytest.approx(s_small, rel=1e-6)


def test_phash_of_identical_images_is_identical_and_differs_for_others():
    a = FrameImage.from_bgr(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1)))
    b = FrameImage.from_bgr(np.tile(np.arange(64, dtype=np.uint8)[::-1] * 4, (48, 1)))
    assert a.phash == FrameImage.from_bgr(a.bgr.copy()).phash
    assert a.phash != b.phash
