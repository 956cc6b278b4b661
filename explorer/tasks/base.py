"""The ``Task`` protocol: everything the rest of the product needs to know about one task type.

A task module (``explorer/tasks/<name>.py``) builds one ``Task`` and calls ``register(task)``. App navigation,
the sidebar, ``import_project``, evaluation, export, importance and performance-by-metric read the registry
(``explorer.tasks.get(name)``, ``explorer.tasks.all_tasks()``); nothing dispatches on the task name.

Callables are plain functions; a task module imports its heavy engines inside them, so importing the
registry stays cheap.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

#: sidebar controls a task may ask for (drawn by the app in this order, each with a fixed session-state key)
CONTROLS = ("run", "iou_threshold", "confidence_threshold")
#: rows an outcome is defined over
TARGETS = ("images", "labels", "predictions")
#: the data-metric level that is a target's own (frame (F) metrics join every target)
TARGET_LEVEL = {"images": "F", "labels": "O", "predictions": "P"}
TARGET_ID = {"images": "image_id", "labels": "label_id", "predictions": "pred_id"}


@dataclass(frozen=True)
class Outcome:
    """A yes/no outcome per row of ``target``: the ``Y`` of importance and performance by metric.

    ``column``: the boolean column of the outcome table (``detected``, ``is_tp``, ``correct``…);
    ``title``: words for charts ("detected", "true positive"); ``rate``: the name of the share of True
    ("TPR", "precision", "accuracy"); ``miss_rate``: the name of the share of False ("FNR", "FDR"…).
    """

    target: str
    column: str
    title: str
    rate: str
    miss_rate: str


@dataclass(frozen=True)
class Page:
    """A navigation entry: ``file`` in ``pages/`` (or an absolute path, for tasks outside the package)."""

    section: str
    file: str
    title: str
    icon: str = ":material/article:"

    @property
    def url_path(self) -> str:
        """The page's URL path: the file's stem (``pages/model_metrics.py`` -> ``model_metrics``)."""
        from pathlib import PurePath

        return PurePath(self.file).stem


@dataclass(frozen=True)
class Task:
    """One task type.

    * ``importer(out, *, images, labels, predictions, splits, name, format, run, **options) -> (Project, ProblemReport)``;
      ``import_options``: the names of the extra options it accepts (others are a usage error);
    * ``evaluate(project, selection) -> dict``: the headline numbers of a selection (JSON-able);
    * ``outcomes``: the outcome definition(s), one per target the task has outcomes for;
    * ``outcome_table(project, selection, target) -> DataFrame``: one row per ``target`` row of the selection,
      index = the target id, the outcome column(s) plus every data-metric column (F metrics joined to O/P rows);
      pages and export both read it;
    * ``export_section(project, selection) -> dict``: the task's part of the all-metrics JSON;
    * ``pages``: navigation entries; ``controls``: the sidebar controls it uses (subset of ``CONTROLS``);
    * ``has_classes``: whether the class filter applies;
    * ``import_formats``: the label formats ``format=`` accepts (empty: the task has one input layout and
      ``format`` is a usage error);
    * ``image_based``: whether the project is made of images (data metrics, metric tables and per-split
      sections apply). A project that is not (training logs) is exported once, ``export_section(project,
      Selection())``, under the task's name instead of per split;
    * ``coco_subset``: whether the selection can be exported as COCO JSON (boxes or masks);
    * ``option_defaults``: the outcome options the task reads from ``Selection.options`` and their defaults
      (None: computed from the data, e.g. the regression tolerance);
    * ``sidebar_caption(project) -> str``: the sidebar's one-line summary of the project (None: counts of images,
      labels and predictions).
    """

    name: str
    title: str
    importer: Callable
    evaluate: Callable
    outcomes: tuple[Outcome, ...]
    outcome_table: Callable
    export_section: Callable
    pages: tuple[Page, ...]
    controls: tuple[str, ...] = ()
    import_options: tuple[str, ...] = ()
    has_classes: bool = True
    import_formats: tuple[str, ...] = ()
    image_based: bool = True
    coco_subset: bool = False
    option_defaults: dict = field(default_factory=dict)
    sidebar_caption: Callable | None = None
    description: str = ""
    extras: dict = field(default_factory=dict)

    def outcome(self, target: str) -> Outcome | None:
        """The outcome defined over ``target`` rows, or None."""
        return next((o for o in self.outcomes if o.target == target), None)

    @property
    def outcome_targets(self) -> tuple[str, ...]:
        return tuple(o.target for o in self.outcomes)
