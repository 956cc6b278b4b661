"""Importers: build a project folder from images, labels and predictions (one entry for every task).

Detection formats: COCO instances JSON (``coco``), YOLO txt folders (``yolo``), Pascal VOC XML (``voc``);
predictions as COCO results JSON or YOLO txt with a confidence column. Every importer validates each record:
a bad record becomes a ``Problem`` naming the file, the record and what is wrong, and is skipped; valid
records are kept; suspicious-but-usable records (a box partly outside its image, a score above 1) are kept
and flagged. See ``docs/importing.md``.
"""
from __future__ import annotations

from pathlib import Path

from explorer.errors import ProblemReport, UserError

__all__ = ["import_project"]


def import_project(out: str | Path, *, task: str = "detection", images=None, labels=None, predictions=None,
                   format: str | None = None, splits=None, name: str | None = None, run: str | None = None,
                   **task_options) -> tuple["Project", ProblemReport]:  # noqa: F821 - Project imported lazily
    """Import inputs into a new project folder ``out``; return the loaded ``Project`` and its ``ProblemReport``.

    ``images``: image folder (recursive) or None (evaluation-only project, sizes from the label file).
    ``labels``: COCO JSON file, YOLO labels folder or VOC ``Annotations`` folder (None: images only).
    ``predictions``: COCO results JSON or a YOLO txt folder. ``format``: ``coco | yolo | voc``, guessed when
    None (only tasks with several label formats accept it: ``Task.import_formats``). ``splits``: CSV
    ``file_name,split``, ``"folders"`` or None (YOLO: ``data.yaml`` train/val/test). ``run``: the name of the
    predictions' run (tasks with predictions), or the MLflow run of a training log. ``task_options``: the task's
    own options (``Task.import_options``, e.g. detection's ``classes`` for YOLO/VOC); any other is a ``UserError``.

    The task's importer is ``explorer.tasks.get(task).importer``. Raises ``UserError`` when the inputs as a whole
    are unusable or nothing valid remains.
    """
    from explorer import tasks

    spec = tasks.get(task)  # UserError naming the known tasks
    if format is not None and not spec.import_formats:
        raise UserError(f"--format applies to detection labels only, not to task {task!r}")
    unknown = set(task_options) - set(spec.import_options)
    if unknown:
        known = ", ".join(spec.import_options) or "none"
        raise UserError(f"unknown option(s) for {task} import: {', '.join(sorted(unknown))} (known: {known})")
    if spec.import_formats:
        task_options["format"] = format
    if run is not None:
        task_options["run"] = run
    try:
        return spec.importer(out, images=images, labels=labels, predictions=predictions, splits=splits, name=name,
                             **task_options)
    except ModuleNotFoundError as e:
        # an installation without one of our importer modules: say so, not a traceback
        if not (e.name or "").startswith("explorer."):
            raise
        raise UserError(f"importing {task} projects is not available in this installation ({e.name} is missing)") from None
