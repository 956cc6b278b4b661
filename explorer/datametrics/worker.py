"""Per-image work of the metrics engine: read one file, skip what is cached, decode once, run image metrics.

Runs in worker processes (``multiprocessing`` pool) or in-process for small jobs. The plan (which metrics,
which cache entries exist) is installed once per process by ``install``; each task then carries only the
image path and its boxes. Returns a small picklable ``ImageResult``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from explorer.errors import ProblemReport
from explorer.datametrics.fingerprints import boxes_hash, content_hash


@dataclass
class Plan:
    """What to compute per image, and what the cache already holds (sets of cache items per key)."""

    frame_metrics: list  # image-kind F metrics
    box_metrics: dict  # level -> image-kind O/P metrics
    use_cache: bool
    base_done: set = field(default_factory=set)
    frame_done: dict = field(default_factory=dict)
    box_done: dict = field(default_factory=dict)
    plugin_sources: tuple = ()


@dataclass
class ImageResult:
    """Outcome for one image. ``error`` is set (and nothing else) when the file could not be read or decoded."""

    pos: int
    item: str = ""
    error: str | None = None
    base: tuple | None = None  # (width, height, phash) when decoded
    frame: dict = field(default_factory=dict)  # metric key -> value
    boxes: dict = field(default_factory=dict)  # level -> (box item, {metric key: ndarray (n,)})
    box_items: dict = field(default_factory=dict)  # level -> box item (also when cached)
    metric_errors: list = field(default_factory=list)  # (metric name, message)
    decoded: bool = False


@dataclass
class MetricsStats:
    """What a run did. ``*_computed`` count work actually done (cache misses), not cache hits."""

    images: int = 0
    images_decoded: int = 0  # images whose pixels were decoded (some metric value was missing)
    frame_values_computed: int = 0  # (image, F metric) values computed
    frame_images_computed: int = 0  # images with ≥ 1 F metric computed
    box_images_computed: dict = field(default_factory=lambda: {"O": 0, "P": 0})  # images whose O/P box metrics ran
    box_values_computed: dict = field(default_factory=lambda: {"O": 0, "P": 0})  # (box, metric) values computed
    unreadable: int = 0
    seconds: float = 0.0
    problems: ProblemReport = field(default_factory=ProblemReport)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")

    def format(self) -> str:
        return (f"{self.images} images in {self.seconds:.2f} s ({self.images_per_second:.0f} images/s); "
                f"decoded {self.images_decoded}, unreadable {self.unreadable}")


_PLAN: Plan | None = None


def install(plan: Plan, *, single_thread: bool = True) -> None:
    """Pool initializer: load plugins (no-op when already loaded, e.g. after fork) and keep the plan."""
    global _PLAN
    import cv2

    from metrics import load_plugins

    if single_thread:
        cv2.setNumThreads(1)  # one process per core already; OpenCV threads would oversubscribe
    load_plugins(plan.plugin_sources)
    _PLAN = plan


def process(task: tuple) -> ImageResult:
    """``task = (pos, path, {level: boxes (n, 4) xyxy})`` → ``ImageResult``."""
    from metrics.image import FrameImage, decode

    pos, path, boxes_by_level = task
    plan = _PLAN
    result = ImageResult(pos=pos)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        result.error = f"cannot read image file: {e.strerror or e}"
        return result
    item = content_hash(data) if plan.use_cache else ""
    result.item = item
    todo_frame = [m for m in plan.frame_metrics if item not in plan.frame_done.get(m.key, ())]
    todo_boxes = {}
    for level, boxes in boxes_by_level.items():
        box_item = boxes_hash(item, level, boxes) if plan.use_cache else ""
        result.box_items[level] = box_item
        todo = [m for m in plan.box_metrics.get(level, []) if box_item not in plan.box_done.get(m.key, ())]
        if todo and len(boxes):
            todo_boxes[level] = (box_item, boxes, todo)
    need_base = not plan.use_cache or item not in plan.base_done
    if not (todo_frame or todo_boxes or need_base):
        return result
    decoded = decode(data)
    if decoded is None:
        result.error = "corrupt or unsupported image (could not be decoded)"
        return result
    bgr, width, height = decoded
    image = FrameImage(bgr=bgr, width=width, height=height)
    result.decoded = True
    result.base = (float(width), float(height), image.phash)
    for m in todo_frame:
        try:
            value = float(m.fn(image))
        except Exception as e:  # a metric's bug must not lose the other metrics of this image
            result.metric_errors.append((m.name, f"{type(e).__name__}: {e}"))
            value = math.nan
        result.frame[m.key] = value
    for level, (box_item, boxes, todo) in todo_boxes.items():
        values = {}
        for m in todo:
            try:
                v = np.asarray(m.fn(image, boxes), dtype=np.float64).reshape(-1)
                if len(v) != len(boxes):
                    raise ValueError(f"returned {len(v)} values for {len(boxes)} boxes")
            except Exception as e:
                result.metric_errors.append((m.name, f"{type(e).__name__}: {e}"))
                v = np.full(len(boxes), np.nan)
            values[m.key] = v
        result.boxes[level] = (box_item, values)
    return result
