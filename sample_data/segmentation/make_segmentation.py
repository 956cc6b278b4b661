"""Generate the bundled semantic segmentation sample (deterministic: same files on every run).

60 synthetic 128x128 scenes: a tinted gradient background (class 0) with 1-4 shapes — disc (1), square (2),
triangle (3) — each a noisy colour close to its class colour (triangles are orange, close to the red discs, so
the model confuses them). Each scene has its own brightness (x0.35..x1.25) and noise level (sigma 2..28).
Labels are PNG class-index masks with a 1-pixel ignore border (255) around every shape, as in Pascal VOC.

Predictions come from a real model trained here: a per-pixel logistic regression on colour (raw and 5x5-blurred
RGB) fitted on a subsample of the training split's pixels, then a 3x3 median filter. Its mistakes are real and
depend on the data: dark and noisy scenes are segmented worse, so brightness and noise drive per-image IoU.

Run from anywhere: ``python3 sample_data/segmentation/make_segmentation.py``.
"""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).resolve().parent
SIZE = 128
N_IMAGES = 60
SPLITS = ["train"] * 36 + ["val"] * 12 + ["test"] * 12
CLASSES = ["background", "disc", "square", "triangle"]
COLOURS = {1: (200, 40, 40), 2: (40, 150, 200), 3: (225, 120, 30)}  # RGB class colours
IGNORE = 255


def scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One RGB uint8 image ``(SIZE, SIZE, 3)`` and its label mask ``(SIZE, SIZE)`` (0..3, 255 on borders)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    tint = rng.uniform(60, 200, 3)
    slope = rng.uniform(-50, 50, 3)
    image = tint[None, None, :] + slope[None, None, :] * (0.6 * xx + 0.4 * yy)[..., None]
    label = np.zeros((SIZE, SIZE), np.uint8)
    for _ in range(rng.integers(1, 5)):
        cls = int(rng.integers(1, 4))
        shape = np.zeros((SIZE, SIZE), np.uint8)
        cx, cy = rng.integers(20, SIZE - 20, 2)
        r = int(rng.integers(10, 26))
        if cls == 1:
            cv2.circle(shape, (int(cx), int(cy)), r, 1, -1)
        elif cls == 2:
            cv2.rectangle(shape, (int(cx - r), int(cy - r)), (int(cx + r), int(cy + r)), 1, -1)
        else:
            pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
            cv2.fillPoly(shape, [pts], 1)
        inside = shape.astype(bool)
        colour = np.array(COLOURS[cls], np.float32) + rng.normal(0, 12, 3)
        image[inside] = colour
        label[inside] = cls
    # ignore band: pixels whose 3x3 neighbourhood holds more than one class
    grown = cv2.dilate(label, np.ones((3, 3), np.uint8))
    shrunk = cv2.erode(label, np.ones((3, 3), np.uint8))
    image = image * rng.uniform(0.35, 1.25) + rng.normal(0, rng.uniform(2, 28), image.shape)
    label[grown != shrunk] = IGNORE
    return np.clip(image, 0, 255).astype(np.uint8), label


def features(image: np.ndarray) -> np.ndarray:
    """Per-pixel features ``(H*W, 6)``: RGB and 5x5-blurred RGB, scaled to [0, 1]."""
    blurred = cv2.blur(image, (5, 5))
    return np.concatenate([image.reshape(-1, 3), blurred.reshape(-1, 3)], axis=1).astype(np.float64) / 255.0


def main() -> None:
    rng = np.random.default_rng(20240611)
    for sub in ("images", "labels", "predictions"):
        (HERE / sub).mkdir(exist_ok=True)
        for old in (HERE / sub).glob("*.*"):
            old.unlink()
    scenes = [scene(rng) for _ in range(N_IMAGES)]
    names = [f"scene_{i:03d}" for i in range(N_IMAGES)]

    # train a per-pixel colour classifier on a subsample of labelled training pixels
    xs, ys = [], []
    for (image, label), split in zip(scenes, SPLITS):
        if split != "train":
            continue
        keep = np.flatnonzero(label.ravel() != IGNORE)
        pick = rng.choice(keep, size=600, replace=False)
        xs.append(features(image)[pick])
        ys.append(label.ravel()[pick])
    model = LogisticRegression(max_iter=500, C=10.0).fit(np.concatenate(xs), np.concatenate(ys))

    for name, (image, label) in zip(names, scenes):
        pred = model.predict(features(image)).reshape(SIZE, SIZE).astype(np.uint8)
        pred = cv2.medianBlur(pred, 3)
        Image.fromarray(image).save(HERE / "images" / f"{name}.jpg", quality=85)
        Image.fromarray(label, mode="L").save(HERE / "labels" / f"{name}.png", optimize=True)
        Image.fromarray(pred, mode="L").save(HERE / "predictions" / f"{name}.png", optimize=True)
    (HERE / "labels" / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    with open(HERE / "splits.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file_name", "split"])
        writer.writerows((f"{n}.jpg", s) for n, s in zip(names, SPLITS))


if __name__ == "__main__":
    main()
