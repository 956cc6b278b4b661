"""Generate the classification sample: 360 scikit-learn digits as 32×32 PNGs, degraded, with a real model's
predictions.

Deterministic (fixed seeds). Run from anywhere: ``python3 sample_data/classification/make_classification.py``.

* Images: digits not used for training, upscaled 8×8 → 32×32 (cubic), then degraded per image with a random
  brightness gain (0.2–1.0), Gaussian blur (40 % of images, sigma 0.8–2.2) and sensor noise (std 0–30) — so
  errors depend on data metrics (brightness, sharpness, contrast).
* Model: scikit-learn LogisticRegression trained on the other 1,437 clean digits at generation time; it
  predicts from the saved PNGs (read back and area-averaged to 8×8), so predictions are what the model does
  with exactly these pixels.
* Files: ``images/NNNN.png``, ``labels.csv`` (image,label), ``predictions.csv`` (image,prediction,score_0 …
  score_9: class probabilities), ``splits.csv`` (file_name,split: 180 train, 180 val).
* Attribution maps: ``attributions/NNNN.npy`` (float32, 8×8 — the model's input resolution): input × gradient
  of the predicted class's logit, ``x ⊙ w_c`` (``z_c = w_c·x + b_c``, so the map sums to ``z_c − b_c`` exactly:
  for a linear model it is the exact per-pixel share of the logit, what Grad-CAM approximates for a CNN).

``--maps-only`` rewrites only ``attributions/`` (the model and features are recomputed from the committed
images; the other files are left untouched).
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).resolve().parent
N_SAMPLE = 360
SIZE = 32


def degrade(digit8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One 8×8 digit (0..16) → degraded 32×32 uint8 image."""
    img = cv2.resize((digit8 / 16.0 * 255.0).astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.4:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=rng.uniform(0.8, 2.2))
    img = img * rng.uniform(0.2, 1.0) + rng.normal(0.0, rng.uniform(0.0, 30.0), img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def features(img: np.ndarray) -> np.ndarray:
    """The model's input: the image area-averaged to 8×8 and scaled to the digits' 0..16 range, ``(64,)``."""
    return cv2.resize(img.astype(np.float32), (8, 8), interpolation=cv2.INTER_AREA).reshape(-1) / 255.0 * 16.0


def input_x_gradient(model: LogisticRegression, x: np.ndarray, predicted: int) -> np.ndarray:
    """``x ⊙ ∂z_c/∂x = x ⊙ w_c`` as an 8×8 float32 map, ``c`` = the predicted class (the linear logit's gradient
    is its weight row)."""
    c = int(np.flatnonzero(model.classes_ == predicted)[0])
    return (x * model.coef_[c]).reshape(8, 8).astype(np.float32)


def write_maps(model: LogisticRegression, names: list[str], X: np.ndarray, predicted: np.ndarray) -> None:
    folder = HERE / "attributions"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.npy"):
        old.unlink()
    for name, x, c in zip(names, X, predicted):
        np.save(folder / (Path(name).stem + ".npy"), input_x_gradient(model, x, c))


def main(maps_only: bool = False) -> None:
    digits = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(digits.target))
    sample, train = order[:N_SAMPLE], order[N_SAMPLE:]
    model = LogisticRegression(max_iter=5000, C=0.05, random_state=0).fit(digits.data[train], digits.target[train])

    image_dir = HERE / "images"
    image_dir.mkdir(exist_ok=True)
    if not maps_only:
        for old in image_dir.glob("*.png"):
            old.unlink()
    names, X = [], []
    for k, i in enumerate(sample):
        img = degrade(digits.images[i], rng)
        name = f"{k:04d}.png"
        if not maps_only:
            cv2.imwrite(str(image_dir / name), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        names.append(name)
        X.append(features(cv2.imread(str(image_dir / name), cv2.IMREAD_GRAYSCALE)))
    proba = model.predict_proba(np.array(X))
    predicted = model.classes_[np.argmax(proba, axis=1)]
    truth = digits.target[sample]
    write_maps(model, names, np.array(X), predicted)
    if maps_only:
        print(f"{len(names)} attribution maps")
        return

    with open(HERE / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "label"])
        w.writerows(zip(names, truth))
    with open(HERE / "predictions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "prediction", *(f"score_{c}" for c in model.classes_)])
        for name, p, row in zip(names, predicted, proba):
            w.writerow([name, p, *(f"{v:.6f}" for v in row)])
    with open(HERE / "splits.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_name", "split"])
        w.writerows((name, "train" if k < N_SAMPLE // 2 else "val") for k, name in enumerate(names))
    print(f"{len(names)} images, accuracy {np.mean(predicted == truth):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps-only", action="store_true", help="rewrite only attributions/")
    main(maps_only=parser.parse_args().maps_only)
