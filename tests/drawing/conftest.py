"""A tiny detection project with real image files, built from hand-written tables."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from explorer.project.folder import Project


@pytest.fixture
def tiny_project(tmp_path) -> Project:
    """Two 64×48 grey images (plus one listed but missing) with labels and predictions chosen by hand."""
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(images_dir / name), np.full((48, 64, 3), 100, np.uint8))
    images = pd.DataFrame({"image_id": [1, 2, 3], "file_name": ["a.png", "b.png", "gone.png"],
                           "width": [64.0, 64, 64], "height": [48.0, 48, 48], "split": ["val"] * 3})
    categories = pd.DataFrame({"category_id": [1, 2], "name": ["cat", "dog"], "supercategory": [None, None]})
    labels = pd.DataFrame({
        "label_id": [10, 11, 12, 13], "image_id": [1, 1, 2, 3], "category_id": [1, 2, 1, 2],
        "x": [4.0, 30, 10, 5], "y": [4.0, 20, 10, 5], "w": [10.0, 20, 20, 10], "h": [10.0, 20, 20, 10],
        "area": [100.0, 400, 400, 100], "iscrowd": [False, False, False, False], "segmentation": [None] * 4})
    predictions = pd.DataFrame({
        "pred_id": [100, 101, 102, 103], "image_id": [1, 1, 2, 2], "category_id": [1, 1, 2, 1],
        "x": [4.0, 31, 10, 40], "y": [4.0, 21, 10, 30], "w": [10.0, 18, 20, 10], "h": [10.0, 18, 20, 10],
        "area": [100.0, 324, 400, 100], "score": [0.9, 0.8, 0.7, 0.3], "segmentation": [None] * 4})
    return Project.create(tmp_path / "project", task="detection", images=images, categories=categories,
                          labels=labels, predictions=predictions, images_root=images_dir)


@pytest.fixture
def tiny_match():
    """A MatchResult-shaped pair of tables for ``tiny_project`` at IoU 0.5, filled in by hand (engine columns):
    100 matches 10 (TP); 101 overlaps dog label 11 as a cat (FP wrong class, IoU 324/400); 102 is a dog on cat
    label 12 (FP wrong class, IoU 1); 103 overlaps nothing (FP background); labels 11, 12 and 13 are missed."""
    predictions = pd.DataFrame({
        "pred_id": [100, 101, 102, 103], "image_id": [1, 1, 2, 2], "category_id": [1, 1, 2, 1],
        "score": [0.9, 0.8, 0.7, 0.3], "is_tp": [True, False, False, False], "label_id": pd.array([10, None, None, None], dtype="Int64"),
        "iou": [1.0, np.nan, np.nan, np.nan], "fp_reason": [None, "wrong_class", "wrong_class", "background"],
        "ignored": [False] * 4, "max_iou_same_class": [1.0, 0.0, 0.0, 0.0],
        "max_iou_other_class": [0.0, 0.81, 1.0, 0.0]})
    labels = pd.DataFrame({
        "label_id": [10, 11, 12, 13], "image_id": [1, 1, 2, 3], "category_id": [1, 2, 1, 2],
        "iscrowd": [False] * 4, "detected": [True, False, False, False], "pred_id": pd.array([100, None, None, None], dtype="Int64"),
        "iou": [1.0, np.nan, np.nan, np.nan], "ignored": [False] * 4})
    return predictions, labels
