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


#: the options every task's import takes (``Task.import_options`` adds the task's own)
COMMON_OPTIONS = ("task", "images", "labels", "predictions", "format", "splits", "name", "run", "overwrite",
                  "attributions", "attributions_key")
_PATH_OPTIONS = ("images", "labels", "predictions", "splits")
_TEXT_OPTIONS = ("format", "name", "run")


def import_project(out: str | Path, *args, task: str = "detection", images=None, labels=None, predictions=None,
                   format: str | None = None, splits=None, name: str | None = None, run: str | None = None,
                   overwrite: bool = True, attributions=None, attributions_key: str | None = None,
                   **task_options) -> tuple["Project", ProblemReport]:  # noqa: F821
    """Import inputs into a new project folder ``out``; return the loaded ``Project`` and its ``ProblemReport``.

    ``images``: image folder (recursive) or None (evaluation-only project, sizes from the label file).
    ``labels``: COCO JSON file, YOLO labels folder or VOC ``Annotations`` folder (None: images only).
    ``predictions``: COCO results JSON or a YOLO txt folder. ``format``: ``coco | yolo | voc``, guessed when
    None (only tasks with several label formats accept it: ``Task.import_formats``). ``splits``: CSV
    ``file_name,split``, ``"folders"`` or None (YOLO: ``data.yaml`` train/val/test). ``run``: the name of the
    predictions' run (tasks with predictions), or the MLflow run of a training log. ``overwrite``: False refuses
    an ``out`` that already is a project (checked under the lock, so two concurrent imports cannot both write it).
    ``task_options``: the task's own options (``Task.import_options``, e.g. detection's ``classes`` for
    YOLO/VOC). Every option is keyword-only: a positional one, an unknown one, or a path given as something
    other than a path is a ``UserError`` listing the known options, never a ``TypeError``.

    The task's importer is ``explorer.tasks.get(task).importer``; it runs holding the project's write lock
    (``explorer.project.lock``): a second import (or ``explorer metrics``) on the same ``out`` meanwhile refuses.
    ``attributions``: a folder of per-image attribution maps (image-based tasks; ``explorer.io.attributions``,
    NPZ array ``attributions_key``); a map that is unusable, or a folder with none, is a problem of the report.
    Raises ``UserError`` when the inputs as a whole are unusable or nothing valid remains.
    """
    import os

    from explorer import tasks
    from explorer.project.lock import project_lock

    if not isinstance(task, str):
        raise UserError(f"task must be a task name (str), got {type(task).__name__}")
    spec = tasks.get(task)  # UserError naming the known tasks
    known = ", ".join((*COMMON_OPTIONS, *spec.import_options))
    if args:
        raise UserError(f"import_project takes the output folder as its only positional argument, got "
                        f"{len(args)} more; pass options by name (known options: {known})")
    unknown = set(task_options) - set(spec.import_options)
    if unknown:
        own = ", ".join(spec.import_options) or "none"
        raise UserError(f"unknown option(s) for {task} import: {', '.join(sorted(unknown))} (known: {own}). "
                        f"Options of every import: {', '.join(COMMON_OPTIONS)}")
    given = {"images": images, "labels": labels, "predictions": predictions, "splits": splits}
    for key in _PATH_OPTIONS:
        if given[key] is not None and not isinstance(given[key], (str, os.PathLike)):
            raise UserError(f"option {key} must be a path (str or os.PathLike), got {type(given[key]).__name__}")
    for key, value in (("format", format), ("name", name), ("run", run)):
        if value is not None and not isinstance(value, str):
            raise UserError(f"option {key} must be a string, got {type(value).__name__}")
    if not isinstance(out, (str, os.PathLike)):
        raise UserError(f"out must be a path (str or os.PathLike), got {type(out).__name__}")
    if attributions is not None:
        if not isinstance(attributions, (str, os.PathLike)) or not Path(attributions).is_dir():
            raise UserError(f"option attributions must be a folder of attribution maps, got {attributions!r}")
        if not spec.image_based:
            raise UserError(f"attribution maps apply to image-based tasks, not to task {task!r}")
    if format is not None and not spec.import_formats:
        raise UserError(f"--format applies to detection labels only, not to task {task!r}")
    if spec.import_formats:
        task_options["format"] = format
    if run is not None:
        task_options["run"] = run
    from explorer.project.folder import MANIFEST

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    created = not out.exists()
    try:
        with project_lock(out, "import", create=True):
            if not overwrite and (out / MANIFEST).is_file():
                raise UserError(f"{out} is already a project; pass --overwrite to replace its tables, or choose "
                                "another --out")
            result = spec.importer(out, images=images, labels=labels, predictions=predictions, splits=splits,
                                   name=name, **task_options)
            if attributions is not None:
                from explorer.io.attributions import import_into

                import_into(*result, attributions, key=attributions_key)
            return result
    except ModuleNotFoundError as e:
        # an installation without one of our importer modules: say so, not a traceback
        if not (e.name or "").startswith("explorer."):
            raise
        raise UserError(f"importing {task} projects is not available in this installation ({e.name} is missing)") from None
    finally:
        if created and not (out / MANIFEST).is_file():  # a failed import leaves no folder behind it made
            _remove_if_only_lock(out)


def _remove_if_only_lock(out: Path) -> None:
    from explorer.project.lock import LOCK_NAME

    try:
        if [p.name for p in out.iterdir()] == [LOCK_NAME]:
            (out / LOCK_NAME).unlink()
            out.rmdir()
    except OSError:  # someone else is writing there now: leave it
        pass
