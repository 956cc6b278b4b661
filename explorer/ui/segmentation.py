"""Segmentation UI helpers: class colours, mask overlays, cached evaluation.

The per-image outcome is the image's mean IoU over the classes present (``explorer.evaluation.segmentation
.outcomes``); importance and performance by metric need a yes/no outcome, so Y is "mIoU ≥ target" (the task's
outcome table, ``explorer.analysis.outcomes.segmentation_outcomes``) with the target set on the Segmentation page
(``seg_good_iou``, the selection option ``target_iou``; default the task's ``DEFAULT_TARGET_IOU``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.errors import UserError
from explorer.project.folder import Project
from explorer.evaluation import segmentation as seg
from explorer.tasks.segmentation import DEFAULT_TARGET_IOU as DEFAULT_GOOD_IOU
from explorer.ui.state import OPTION_KEYS

GOOD_IOU_KEY = OPTION_KEYS["target_iou"]  # the widget that sets Selection option "target_iou"
IGNORE_RGB = (255, 255, 255)
# distinct colours (Tableau 10, then a golden-angle hue walk for many classes); class 0 is usually background
_BASE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
         (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def palette(num_classes: int) -> np.ndarray:
    """``(num_classes, 3)`` uint8 RGB colour per class index (stable: a class keeps its colour)."""
    import colorsys

    colours = list(_BASE[:num_classes])
    for i in range(len(colours), num_classes):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.65, 0.9)
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return np.asarray(colours, np.uint8).reshape(-1, 3)


def colorize(mask: np.ndarray, colours: np.ndarray, *, ignore_index: int = seg.IGNORE_INDEX) -> np.ndarray:
    """``(H, W, 3)`` uint8 colour image of a class-index mask (one table lookup; ignore and unknown = white)."""
    k = len(colours)
    lut = np.vstack([colours, np.asarray([IGNORE_RGB], np.uint8)])
    index = np.where((mask >= 0) & (mask < k), mask, k)
    return lut[index]


def overlay(image: np.ndarray | None, mask: np.ndarray, colours: np.ndarray, *, alpha: float = 0.5,
            ignore_index: int = seg.IGNORE_INDEX) -> np.ndarray:
    """The mask's colours blended over the RGB image (``alpha`` = mask weight); the mask alone without image."""
    colour = colorize(mask, colours, ignore_index=ignore_index)
    if image is None or image.shape[:2] != mask.shape:
        return colour
    blended = (1 - alpha) * image.astype(np.float32) + alpha * colour.astype(np.float32)
    return np.clip(blended, 0, 255).astype(np.uint8)


def error_map(label: np.ndarray, pred: np.ndarray, *, ignore_index: int = seg.IGNORE_INDEX) -> np.ndarray:
    """``(H, W, 3)``: correct pixels green, wrong pixels red, ignored pixels white."""
    out = np.empty((*label.shape, 3), np.uint8)
    out[:] = (214, 39, 40)
    out[label == pred] = (44, 160, 44)
    out[label == ignore_index] = IGNORE_RGB
    return out


def read_image(project: Project, file_name: str) -> np.ndarray | None:
    """The RGB image, or None when the project has no images or the file cannot be read."""
    from PIL import Image

    if project.images_root is None:
        return None
    try:
        path = project.image_path(file_name)  # refuses a name or link leading outside the image folder
        if not path.is_file():  # missing, or a FIFO / device that would block the reader
            return None
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UserError, OSError, ValueError, Image.DecompressionBombError):
        return None


@st.cache_resource(show_spinner="Evaluating masks…", max_entries=4)
def _confusions(path: str, fingerprint: str) -> seg.ProjectConfusions:
    return seg.project_confusions(Project.load(path))


def confusions(project: Project) -> seg.ProjectConfusions:
    """Per-image pixel confusions of the project (read once per project fingerprint)."""
    return _confusions(str(project.root), project.fingerprint)


def outcomes(project: Project) -> pd.DataFrame:
    """``image_id, miou, pixel_accuracy`` per evaluated image (cached through ``confusions``)."""
    confusions(project)
    return seg.outcomes(project)
