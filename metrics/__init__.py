"""Data metrics: a registry of small documented units (frame F, object O, prediction P) and the built-ins.

Public API for users' plugin files::

    from metrics import Metric, register, frame_metric, box_metric, FrameImage, FrameTable, BoxTable

See ``metrics.registry`` for how each kind of metric is called and ``docs/metrics.md`` for the list.
"""
from metrics.image import FrameImage
from metrics.registry import (
    DIRECTIONS,
    LEVELS,
    REGISTRY,
    Metric,
    box_metric,
    frame_metric,
    load_plugin,
    load_plugins,
    register,
)
from metrics.tables import BoxTable, FrameTable

import metrics.builtin  # noqa: E402,F401  (registers the built-ins)

__all__ = [
    "DIRECTIONS", "LEVELS", "REGISTRY", "Metric", "register", "frame_metric", "box_metric", "load_plugin",
    "load_plugins", "FrameImage", "FrameTable", "BoxTable",
]
