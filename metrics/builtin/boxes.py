"""Object (O) and prediction (P) metrics: box geometry (vectorised over the table) and pixels inside boxes."""
from __future__ import annotations

import math

import numpy as np

from metrics.geometry import max_iou_within_images
from metrics.image import FrameImage, box_mean_std
from metrics.registry import box_metric
from metrics.tables import BoxTable


def _object_area(table: BoxTable) -> np.ndarray:
    """The row's ``area`` (COCO area: mask/polygon area, or ``w·h`` for boxes); ``w·h`` where it is missing."""
    area = table.column("area")
    return np.where(np.isfinite(area), area, table.column("w") * table.column("h"))


@box_metric(name="relative_area", title="Object area – relative", range=(0, math.inf), needs=("boxes", "size"))
def relative_area(table: BoxTable) -> np.ndarray:
    """``area / (image width · image height)``: ~0 tiny, 1 fills the image (may exceed 1 for boxes leaving the
    image); NaN when the image size is unknown."""
    with np.errstate(invalid="ignore", divide="ignore"):
        image_area = table.column("image_width") * table.column("image_height")
        return np.where(image_area > 0, _object_area(table) / image_area, np.nan)


@box_metric(name="object_area", title="Object area – absolute", range=(0, math.inf), unit="px²")
def object_area(table: BoxTable) -> np.ndarray:
    """Area in pixels: the row's ``area`` (mask area for polygons/RLE), else ``w · h``."""
    return _object_area(table)


@box_metric(name="box_aspect_ratio", title="Box aspect ratio", range=(0, math.inf))
def box_aspect_ratio(table: BoxTable) -> np.ndarray:
    """``w / h``; NaN when ``h = 0``."""
    w, h = table.column("w"), table.column("h")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(h > 0, w / h, np.nan)


@box_metric(name="border_closeness", title="Closeness to image border", range=(0, 1), needs=("boxes", "size"))
def border_closeness(table: BoxTable) -> np.ndarray:
    """``1 − d / (min(W, H) / 2)`` clipped to [0, 1], with ``d = max(0, min(x1, y1, W − x2, H − y2))`` the gap
    between the box and the nearest image border: 1 touches (or crosses) the border, 0 is a point at the
    centre. NaN when the image size is unknown."""
    b = table.xyxy
    W, H = table.column("image_width"), table.column("image_height")
    gap = np.clip(np.minimum.reduce([b[:, 0], b[:, 1], W - b[:, 2], H - b[:, 3]]), 0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.minimum(W, H) / 2
        closeness = np.clip(1 - gap / half, 0, 1)
    return np.where(half > 0, closeness, np.nan)


@box_metric(name="duplicate_iou", title="Max IoU with same class (duplicates)", range=(0, 1),
            direction="lower_is_better")
def duplicate_iou(table: BoxTable) -> np.ndarray:
    """``max IoU`` with another row of the same table, image and class — near 1 flags a duplicate annotation
    (or a duplicate prediction). 0 when no other object of that class is in the image."""
    return max_iou_within_images(table.rows["image_id"].to_numpy(), table.xyxy,
                                 same=table.rows["category_id"].to_numpy())


@box_metric(name="occlusion_iou", title="Occlusion (max IoU with any object)", range=(0, 1), direction="lower_is_better")
def occlusion_iou(table: BoxTable) -> np.ndarray:
    """``max IoU`` with any other row of the same table and image (any class). 0 when it is alone."""
    return max_iou_within_images(table.rows["image_id"].to_numpy(), table.xyxy)


@box_metric(name="confidence", title="Confidence", levels=("P",), range=(0, 1), direction="neutral",
            needs=("scores",))
def confidence(table: BoxTable) -> np.ndarray:
    """The prediction's score as given by the model (NaN scores are rejected by the importer)."""
    return table.column("score")


@box_metric(name="box_brightness", title="Brightness in box", range=(0, 1), needs=("pixels", "boxes"))
def box_brightness(image: FrameImage, boxes: np.ndarray) -> np.ndarray:
    """``mean(Y) / 255`` over the working-image pixels the box touches (summed-area tables, O(1) per box);
    NaN for a box outside the image."""
    mean, _ = box_mean_std(image.luma_integrals, image.working_boxes(boxes))
    return mean / 255.0


@box_metric(name="box_contrast", title="Contrast in box (RMS)", range=(0, 0.5), direction="higher_is_better",
            needs=("pixels", "boxes"))
def box_contrast(image: FrameImage, boxes: np.ndarray) -> np.ndarray:
    """``std(Y / 255)`` (population) inside the box; NaN for a box outside the image."""
    _, std = box_mean_std(image.luma_integrals, image.working_boxes(boxes))
    return std / 255.0


@box_metric(name="box_sharpness", title="Sharpness in box", range=(0, math.inf), direction="higher_is_better",
            needs=("pixels", "boxes"))
def box_sharpness(image: FrameImage, boxes: np.ndarray) -> np.ndarray:
    """Variance of the Laplacian (of the working luma, 0..255) over the pixels inside the box; NaN for a box
    outside the image. Uses the working resolution (not the canonical one), so compare within a dataset."""
    _, std = box_mean_std(image.laplacian_integrals, image.working_boxes(boxes))
    return std**2
