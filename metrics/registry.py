"""The data-metric registry: one small documented unit per metric, registered once by a unique name.

A ``Metric`` says what it measures (``title``, docstring formula), at which levels (``F`` frame, ``O`` label
object, ``P`` prediction), its value ``range``, its ``direction`` and what it ``needs``. Its ``kind`` says how
the engine calls its function:

``kind="image"`` (the default when ``needs`` contains ``"pixels"``) — called once per decoded image:
    level F: ``fn(image: FrameImage) -> float``
    level O/P: ``fn(image: FrameImage, boxes: ndarray (n, 4) float64 xyxy in original pixels) -> ndarray (n,)``
``kind="table"`` (the default otherwise) — vectorised over a whole table, in the main process:
    level F: ``fn(table: FrameTable) -> ndarray (n_images,)``
    level O/P: ``fn(table: BoxTable) -> ndarray (n_rows,)``

Undefined values are NaN (never a silent 0); each metric's docstring states when it is NaN.

Users add metrics without editing the package, from their own file::

    from metrics import frame_metric

    @frame_metric(name="green_share", title="Green share", range=(0, 1), direction="neutral")
    def green_share(image):
        '''Mean of the green channel / 255 (working image).'''
        return float(image.bgr[..., 1].mean() / 255)

and run ``explorer metrics PROJECT --metrics-plugin my_metrics.py``. Registering a name twice is an error.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable




class MetricError(ValueError):
    """A metric definition or a metrics plugin is wrong; the message names the metric or the file.

    The ``metrics`` package stands alone (it imports nothing from ``explorer``); the explorer CLI and engine
    report this error like any other usage error.
    """


LEVELS = ("F", "O", "P")
LEVEL_NAMES = {"F": "frame", "O": "object", "P": "prediction"}
DIRECTIONS = ("higher_is_better", "lower_is_better", "neutral")
NEEDS = ("pixels", "size", "boxes", "labels", "scores")
KINDS = ("image", "table")
BUILTIN = "builtin"


@dataclass(frozen=True)
class Metric:
    """One registered data metric (see the module docstring for how ``fn`` is called)."""

    name: str  # column name, unique over all levels
    title: str  # UI name without the level, e.g. "Object area – relative"
    levels: tuple[str, ...]
    fn: Callable
    range: tuple[float, float] = (-math.inf, math.inf)
    direction: str = "neutral"
    needs: tuple[str, ...] = ()
    kind: str = ""  # "image" | "table"; derived from needs when empty
    version: int = 1  # bump when the formula changes: cached values are then recomputed
    source: str = ""  # "builtin", a plugin file path, or "user" (registered in-process); stamped by register()
    description: str = field(default="", compare=False)
    unit: str = field(default="", compare=False)  # e.g. "px", "px²", "bits"; "" for ratios, scores and flags

    def __post_init__(self):
        if not self.name.isidentifier():
            raise MetricError(f"metric name {self.name!r} must be a Python identifier (it is a column name)")
        levels = tuple(self.levels)
        bad = [lv for lv in levels if lv not in LEVELS]
        if not levels or bad:
            raise MetricError(f"metric {self.name!r}: levels must be a non-empty subset of {LEVELS}, got {self.levels!r}")
        if self.direction not in DIRECTIONS:
            raise MetricError(f"metric {self.name!r}: direction must be one of {DIRECTIONS}, got {self.direction!r}")
        needs = tuple(self.needs)
        if any(n not in NEEDS for n in needs):
            raise MetricError(f"metric {self.name!r}: needs must be a subset of {NEEDS}, got {self.needs!r}")
        kind = self.kind or ("image" if "pixels" in needs else "table")
        if kind not in KINDS:
            raise MetricError(f"metric {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if "F" in levels and len(levels) > 1:
            raise MetricError(f"metric {self.name!r}: a frame (F) metric cannot also be an O/P metric (different inputs)")
        lo, hi = (float(v) for v in self.range)
        if not lo <= hi:
            raise MetricError(f"metric {self.name!r}: range must be (lo, hi) with lo <= hi, got {self.range!r}")
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "needs", needs)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "range", (lo, hi))
        if not self.description:
            object.__setattr__(self, "description", inspect.cleandoc(self.fn.__doc__ or "").strip())

    @property
    def key(self) -> str:
        """Cache key: name, version and a hash of the function's code, so an edited metric is recomputed."""
        key = self.__dict__.get("_key")
        if key is None:
            key = self._compute_key()
            object.__setattr__(self, "_key", key)
        return key

    def _compute_key(self) -> str:
        try:
            code = inspect.getsource(self.fn).encode()
        except (OSError, TypeError):
            code = getattr(self.fn, "__code__", None)
            code = code.co_code if code is not None else repr(self.fn).encode()
        digest = hashlib.blake2b(code, digest_size=6).hexdigest()
        return f"{self.name}-v{self.version}-{digest}"

    def __reduce_ex__(self, protocol):
        # A plugin's functions live in a module that worker processes cannot import by name, so a plugin metric
        # travels by reference: the worker loads the plugin file and looks the metric up in its own registry.
        if self.source not in (BUILTIN, "user"):
            return (_plugin_metric, (self.source, self.name))
        return super().__reduce_ex__(protocol)

    @property
    def is_frame(self) -> bool:
        return self.levels == ("F",)

    def display_name(self, level: str) -> str:
        """The UI name, e.g. ``"Object area – relative (O)"``."""
        return f"{self.title} ({level})"


class Registry:
    """Metrics by name; a duplicate name is an error (a plugin file loaded again is skipped, not re-registered)."""

    def __init__(self):
        self._metrics: dict[str, Metric] = {}

    def register(self, metric: Metric) -> Metric:
        if metric.name in self._metrics:
            other = self._metrics[metric.name]
            raise MetricError(
                f"metric {metric.name!r} is already registered (by {other.source}); "
                f"pick another name for the one from {metric.source}"
            )
        self._metrics[metric.name] = metric
        return metric

    def unregister(self, name: str) -> None:
        self._metrics.pop(name, None)

    def get(self, name: str) -> Metric:
        try:
            return self._metrics[name]
        except KeyError:
            raise MetricError(f"unknown metric {name!r}; known: {', '.join(sorted(self._metrics))}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._metrics

    def __iter__(self):
        return iter(list(self._metrics.values()))

    def __len__(self) -> int:
        return len(self._metrics)

    def selected(self, *, sources: tuple[str, ...] = ()) -> list[Metric]:
        """Built-in metrics, metrics registered in-process (``"user"``) and those of the given plugin files."""
        wanted = {BUILTIN, "user", *sources}
        return [m for m in self._metrics.values() if m.source in wanted]


REGISTRY = Registry()
_current_source = ["user"]  # the plugin file being loaded (registrations are stamped with it)
_loaded_plugins: dict[str, object] = {}


class registering_as:
    """Context manager stamping the metrics registered inside it with ``source`` (used for the built-ins)."""

    def __init__(self, source: str):
        self.source = source

    def __enter__(self):
        _current_source.append(self.source)

    def __exit__(self, *exc):
        _current_source.pop()


def register(metric: Metric) -> Metric:
    """Add a metric to the global registry (``MetricError`` if the name is taken)."""
    if not metric.source:
        object.__setattr__(metric, "source", _current_source[-1])
    return REGISTRY.register(metric)


def _decorator(levels, *, name, title, range, direction, needs, kind="", version=1, unit=""):
    def wrap(fn):
        register(Metric(name=name or fn.__name__, title=title, levels=tuple(levels), fn=fn, range=range,
                        direction=direction, needs=tuple(needs), kind=kind, version=version, unit=unit))
        return fn

    return wrap


def frame_metric(*, name: str | None = None, title: str, range=(-math.inf, math.inf), direction: str = "neutral",
                 needs=("pixels",), kind: str = "", version: int = 1, unit: str = ""):
    """Register ``fn(image: FrameImage) -> float`` (or a table function when ``needs`` lacks pixels) as an F metric."""
    return _decorator(("F",), name=name, title=title, range=range, direction=direction, needs=needs, kind=kind,
                      version=version, unit=unit)


def box_metric(*, name: str | None = None, title: str, levels=("O", "P"), range=(-math.inf, math.inf),
               direction: str = "neutral", needs=("boxes",), kind: str = "", version: int = 1, unit: str = ""):
    """Register an O/P metric: ``fn(table: BoxTable)`` (vectorised) or, with pixels, ``fn(image, boxes)``."""
    return _decorator(levels, name=name, title=title, range=range, direction=direction, needs=needs, kind=kind,
                      version=version, unit=unit)


def load_plugin(path: str | Path) -> str:
    """Import a user's metric file (its metrics register themselves); return its source id (resolved path).

    Loading the same file twice in one process is a no-op. Errors in the file become a ``MetricError`` naming it.
    """
    path = Path(path).expanduser().resolve()
    source = str(path)
    if source in _loaded_plugins:
        return source
    if not path.is_file():
        raise MetricError(f"metrics plugin {path} not found")
    spec = importlib.util.spec_from_file_location(f"explorer_metric_plugin_{len(_loaded_plugins)}", path)
    module = importlib.util.module_from_spec(spec)
    _current_source.append(source)
    try:
        spec.loader.exec_module(module)
    except MetricError as e:
        raise MetricError(f"metrics plugin {path}: {e}") from None
    except Exception as e:  # a user's file: report it by name, not as our traceback
        raise MetricError(f"metrics plugin {path} failed to load: {type(e).__name__}: {e}") from None
    finally:
        _current_source.pop()
    _loaded_plugins[source] = module
    return source


def load_plugins(paths) -> tuple[str, ...]:
    return tuple(load_plugin(p) for p in paths)


def _plugin_metric(source: str, name: str) -> Metric:
    """Unpickle a plugin metric in another process: load its file (once), then look it up."""
    load_plugin(source)
    return REGISTRY.get(name)
