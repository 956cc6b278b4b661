"""Small synthetic projects and images for the metrics tests (real files on disk, no mocks)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from explorer.project.folder import Project


def write_images(folder: Path, n: int, *, size=(48, 64), seed: int = 0, ext: str = ".png") -> list[str]:
    """``n`` random-noise-plus-gradient images (lossless PNG by default); returns their file names."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    h, w = size
    for i in range(n):
        ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
        img = np.clip(ramp * (i % 3 + 1) / 3 + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)
        name = f"img_{i:03d}{ext}"
        cv2.imwrite(str(folder / name), img)
        names.append(name)
    return names


def make_project(root: Path, names: list[str], *, images_root: Path | None, labels=None, predictions=None,
                 order=None) -> Project:
    """A detection project over ``names`` (image_id = 1 + index); ``order`` permutes the table rows."""
    images = pd.DataFrame({"image_id": np.arange(1, len(names) + 1), "file_name": names,
                           "width": 64.0, "height": 48.0, "split": "train"})
    if order is not None:
        images = images.iloc[order].reset_index(drop=True)
    categories = pd.DataFrame({"category_id": [1, 5], "name": ["cat", "dog"], "supercategory": [None, None]})
    return Project.create(root, task="detection", images=images, categories=categories, labels=labels,
                          predictions=predictions, images_root=images_root)


def boxes_frame(rows, *, id_col: str, score: bool = False) -> pd.DataFrame:
    """rows: (id, image_id, category_id, x, y, w, h[, score])."""
    cols = [id_col, "image_id", "category_id", "x", "y", "w", "h"] + (["score"] if score else [])
    df = pd.DataFrame(rows, columns=cols)
    df["area"] = df["w"] * df["h"]
    df["segmentation"] = None
    if id_col == "label_id":
        df["iscrowd"] = False
    return df


def standard_labels() -> pd.DataFrame:
    return boxes_frame([
        (10, 1, 1, 0, 0, 20, 20), (11, 1, 1, 10, 10, 20, 20), (12, 1, 5, 30, 20, 10, 10),
        (13, 2, 5, 5, 5, 30, 30), (14, 4, 1, 40, 30, 24, 18),
    ], id_col="label_id")


def standard_predictions() -> pd.DataFrame:
    return boxes_frame([
        (100, 1, 1, 1, 1, 20, 20, 0.9), (101, 2, 5, 5, 5, 28, 30, 0.6), (102, 3, 1, 0, 0, 8, 8, 0.3),
    ], id_col="pred_id", score=True)
