"""What table (``kind="table"``) metrics receive: whole tables, so they vectorise over rows."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: keeps 'import metrics' (and every metrics worker) free of pandas
    import pandas as pd


@dataclass(frozen=True)
class FrameTable:
    """Input of a table F metric.

    ``images``: one row per image with ``image_id``, ``width``, ``height`` (original pixels, NaN when unknown)
    and ``phash`` (int64 perceptual hash, see ``FrameImage.phash``; ``has_pixels`` False where the image
    could not be read). ``labels``: the project's labels table (``image_id, category_id, x, y, w, h, ...``),
    or None in a bare image folder.
    """

    images: pd.DataFrame
    labels: pd.DataFrame | None = None

    @property
    def width(self) -> np.ndarray:
        return self.images["width"].to_numpy(np.float64)

    @property
    def height(self) -> np.ndarray:
        return self.images["height"].to_numpy(np.float64)


@dataclass(frozen=True)
class BoxTable:
    """Input of a table O/P metric: one row per label (``level="O"``) or prediction (``level="P"``).

    ``rows`` carries the project's columns (``image_id, category_id, x, y, w, h, area[, score]``) plus
    ``image_width`` and ``image_height`` of the row's image (NaN when unknown).
    """

    rows: pd.DataFrame
    level: str

    def column(self, name: str) -> np.ndarray:
        return self.rows[name].to_numpy(np.float64)

    @property
    def xyxy(self) -> np.ndarray:
        """``(n, 4)`` float64 boxes ``x1, y1, x2, y2`` in pixels."""
        x, y, w, h = (self.column(c) for c in ("x", "y", "w", "h"))
        return np.stack([x, y, x + w, y + h], axis=1)
