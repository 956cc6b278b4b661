"""Importers: build a project folder from images, labels and predictions (one entry for every task).

Detection formats: COCO instances JSON (``coco``), YOLO txt folders (``yolo``), Pascal VOC XML (``voc``);
predictions as COCO results JSON or YOLO txt with a confidence column. Every importer validates each record:
a bad record becomes a ``Problem`` naming the file, the record and what is wrong, and is skipped; valid
records are kept; suspicious-but-usable records (a box partly outside its image, a score above 1) are kept
and flagged. See ``docs/importing.md``.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from explorer.errors import ProblemReport, UserError

__all__ = ["import_project"]


def import_project(out: str | Path, *, task: str = "detection", images=None, labels=None, predictions=None,
                   format: str | None = None, splits=None, name: str | None = None,
                   **task_options) -> tuple["Project", ProblemReport]:  # noqa: F821 - Project imported lazily
    """Import inputs into a new project folder ``out``; return the loaded ``Project`` and its ``ProblemReport``.

    ``images``: image folder (recursive) or None (evaluation-only project, sizes from the label file).
    ``labels``: COCO JSON file, YOLO labels folder or VOC ``Annotations`` folder (None: images only).
    ``predictions``: COCO results JSON or a YOLO txt folder. ``format``: ``coco | yolo | voc``, guessed when
    None. ``splits``: CSV ``file_name,split``, ``"folders"`` or None (YOLO: ``data.yaml`` train/val/test).
    ``task_options``: for detection only ``classes`` (a ``data.yaml``/``classes.txt`` path or a list of
    names) for YOLO/VOC; other tasks receive them unchanged.

    For ``task != "detection"`` this delegates to ``explorer.tasks.<task>_io.import_project``. Raises
    ``UserError`` when the inputs as a whole are unusable or nothing valid remains.
    """
    from explorer.project.folder import TASKS

    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if task != "detection":
        if format is not None:
            raise UserError(f"--format applies to detection labels only, not to task {task!r}")
        module_name = {"classification": "explorer.io.classification", "segmentation": "explorer.io.semantic_masks",
                       "regression": "explorer.io.regression", "training": "explorer.io.training_logs"}[task]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            raise UserError(f"importing {task} projects is not available in this installation ({module_name} is missing)") from None
        return module.import_project(out, images=images, labels=labels, predictions=predictions, splits=splits,
                                     name=name, **task_options)
    unknown = set(task_options) - {"classes"}
    if unknown:
        raise UserError(f"unknown option(s) for detection import: {', '.join(sorted(unknown))} (known: classes)")
    from explorer.io.detection import import_detection

    return import_detection(out, images=images, labels=labels, predictions=predictions, format=format,
                            splits=splits, name=name, classes=task_options.get("classes"))
