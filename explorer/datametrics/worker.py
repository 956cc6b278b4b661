"""Per-image work of the metrics engine: read one file, skip what is cached, decode once, run image metrics.

Runs in worker processes (``multiprocessing`` pool) or in-process for small jobs. The plan (which metrics,
which cache entries exist) is installed once per process by ``install``; each task then carries only the
image path and its boxes. Returns a small picklable ``ImageResult``.
"""
from __future__ import annotations

import contextlib
import math
import os
import stat
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
    size: tuple | None = None  # (width, height) from the header of an image too large to decode (error set)
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


def read_image_file(path: str) -> bytes | str:
    """The bytes of an image file, or the message saying why it is not read (str).

    Opened non-blocking and checked with ``fstat`` on the open descriptor (no race with a swapped path): a FIFO,
    socket or device is never read (reading a FIFO blocks forever, a device never ends), nor a directory; an
    empty file is named as such. One ``open`` + one ``fstat``: no cost beyond what reading took already.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        return f"cannot read image file: {e.strerror or e}"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return f"{_file_kind(st.st_mode)}, not a regular file: not read"
        if st.st_size == 0:
            return "empty file (0 bytes)"
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
    except OSError as e:
        return f"cannot read image file: {e.strerror or e}"
    finally:
        os.close(fd)
    return data if data else "empty file (0 bytes)"


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


def install(plan: Plan, *, single_thread: bool = True) -> None:
    """Pool initializer: load plugins (no-op when already loaded, e.g. after fork) and keep the plan."""
    global _PLAN
    import cv2

    from metrics import load_plugins

    if single_thread:
        cv2.setNumThreads(1)  # one process per core already; OpenCV threads would oversubscribe
    with contextlib.suppress(AttributeError):  # corrupt files are reported by name; OpenCV's own log is noise
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    load_plugins(plan.plugin_sources)
    _PLAN = plan


def process(task: tuple) -> ImageResult:
    """``task = (pos, path, {level: boxes (n, 4) xyxy})`` → ``ImageResult``."""
    from metrics.image import FrameImage, TooLargeToDecode, decode, header_size

    pos, path, boxes_by_level = task
    plan = _PLAN
    result = ImageResult(pos=pos)
    data = read_image_file(path)
    if isinstance(data, str):
        result.error = data
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
    try:
        decoded = decode(data)
    except TooLargeToDecode as e:  # its size is known (header): size metrics stay, pixel metrics are NaN
        result.error = str(e)
        result.size = (float(e.width), float(e.height))
        return result
    if decoded is None:
        result.error = ("corrupt image, could not be decoded (truncated or inconsistent data)"
                        if header_size(data) is not None
                        else "not an image, could not be decoded (no readable JPEG/PNG/BMP/TIFF/WebP header)")
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
