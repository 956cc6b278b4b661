"""The selection a view works on: split, classes, thresholds, run and task options (no Streamlit).

A ``Selection`` is small, frozen and hashable, so it can key caches. The app's sidebar builds one
(``explorer.ui.state.selection``); the CLI, export and tests build one directly::

    sel = Selection(split="val", classes=(1, 3), iou_threshold=0.5, run="baseline")
    table = explorer.tasks.get(project.task).outcome_table(project, sel, "labels")
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Selection:
    """What to show. ``None`` means "everything" for ``split``, ``classes`` and ``run`` (the first run).

    ``options``: task-specific outcome parameters as sorted ``(name, value)`` pairs, e.g.
    ``(("tolerance", 0.5),)`` for regression or ``(("target_iou", 0.5),)`` for segmentation; read with
    ``option(name, default)``.
    """

    split: str | None = None
    classes: tuple[int, ...] | None = None
    iou_threshold: float = 0.5
    confidence_threshold: float = 0.0
    run: str | None = None
    options: tuple[tuple[str, object], ...] = field(default_factory=tuple)

    def __post_init__(self):
        # normalise so equal selections hash equal (float noise from sliders, NumPy ints, list classes)
        object.__setattr__(self, "iou_threshold", round(float(self.iou_threshold), 6))
        object.__setattr__(self, "confidence_threshold", round(float(self.confidence_threshold), 6))
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(sorted(int(c) for c in self.classes)))
        object.__setattr__(self, "options", tuple(sorted((str(k), v) for k, v in dict(self.options).items())))

    def option(self, name: str, default=None):
        return dict(self.options).get(name, default)

    def image_ids(self, project) -> np.ndarray | None:
        """Image ids of the selected split, or None for all images (lets engines skip the filter)."""
        if self.split is None:
            return None
        images = project.images
        return images.loc[images["split"] == self.split, "image_id"].to_numpy()

    def class_list(self) -> list[int] | None:
        return None if self.classes is None else list(self.classes)
