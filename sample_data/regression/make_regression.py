"""Generate the regression sample: 300 synthetic 48×48 images of a disk; the target is the disk's radius.

Deterministic (fixed seeds). Run: ``python3 sample_data/regression/make_regression.py``.

* Images: a bright disk of radius 5–20 px at a random position on a dark, smoothly shaded background, times a
  brightness gain (0.15–1.0), plus sensor noise (std 0–12).
* Model: scikit-learn Ridge regression on the image area-averaged to 12×12, trained at generation time on 1,500
  other images of the same kind but well lit only (gain 0.7–1.0) — so it predicts dark images poorly: the error
  depends on the brightness data metric.
* Files: ``images/NNNN.png``, ``regression.csv`` (image,target,prediction), ``splits.csv`` (150 train, 150 val).
"""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
from sklearn.linear_model import Ridge

HERE = Path(__file__).resolve().parent
SIZE = 48
N_SAMPLE = 300


def draw(rng: np.random.Generator, gain_range: tuple[float, float]) -> tuple[np.ndarray, float]:
    """One image and its target radius (px)."""
    radius = rng.uniform(5.0, 20.0)
    cx, cy = rng.uniform(radius, SIZE - radius, 2)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    background = 30.0 + 25.0 * (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / SIZE
    # anti-aliased disk: coverage ramps over one pixel at the edge
    coverage = np.clip(radius + 0.5 - np.hypot(xx + 0.5 - cx, yy + 0.5 - cy), 0.0, 1.0)
    img = background + coverage * 200.0
    img = img * rng.uniform(*gain_range) + rng.normal(0.0, rng.uniform(0.0, 12.0), img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), float(radius)


def features(img: np.ndarray) -> np.ndarray:
    """The model's input: the image area-averaged to 12×12, ``(144,)`` in 0..1."""
    return cv2.resize(img.astype(np.float32), (12, 12), interpolation=cv2.INTER_AREA).reshape(-1) / 255.0


def main() -> None:
    rng = np.random.default_rng(1)
    train = [draw(rng, (0.7, 1.0)) for _ in range(1500)]
    model = Ridge(alpha=1.0).fit(np.array([features(im) for im, _ in train]), np.array([r for _, r in train]))

    image_dir = HERE / "images"
    image_dir.mkdir(exist_ok=True)
    for old in image_dir.glob("*.png"):
        old.unlink()
    rows = []
    for k in range(N_SAMPLE):
        img, radius = draw(rng, (0.15, 1.0))
        name = f"{k:04d}.png"
        cv2.imwrite(str(image_dir / name), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        prediction = float(model.predict(features(cv2.imread(str(image_dir / name), cv2.IMREAD_GRAYSCALE))[None])[0])
        rows.append((name, f"{radius:.4f}", f"{prediction:.4f}"))
    with open(HERE / "regression.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "target", "prediction"])
        w.writerows(rows)
    with open(HERE / "splits.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_name", "split"])
        w.writerows((name, "train" if k < N_SAMPLE // 2 else "val") for k, (name, _, _) in enumerate(rows))
    err = np.array([float(p) - float(t) for _, t, p in rows])
    print(f"{N_SAMPLE} images, MAE {np.mean(np.abs(err)):.2f} px, mean error {err.mean():+.2f} px")


if __name__ == "__main__":
    main()
