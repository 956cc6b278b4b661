"""Detection import: labels (COCO / YOLO / VOC) + optional predictions + splits → a project folder; more runs.

``import_detection`` builds the project (its predictions become one run, named by ``run``); ``add_predictions``
adds another model's predictions to an existing project as a new run, read and validated by the same reader.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from explorer.project import schema
from explorer.errors import ProblemReport, UserError
from explorer.io.coco import Tables, read_coco_labels
from explorer.io.coco_results import read_coco_results
from explorer.io.images import folder_images, image_folder
from explorer.io.scan import scan_images
from explorer.io.splits import assign_splits
from explorer.project.folder import Project, check_run_name

FORMATS = ("coco", "yolo", "voc")
#: prediction formats: a COCO results JSON file, a folder of YOLO txt files with a confidence column, or Pascal
#: VOC devkit result files (``comp4_det_test_<class>.txt``, a file or a folder of them)
PREDICTION_FORMATS = ("coco", "yolo", "voc")
#: problem kinds that mean a label record itself was rejected (not an image record or a file-level note)
LABEL_REJECTIONS = {"unmatched_file", "bad_line", "bad_class", "bad_bbox", "bad_object", "unknown_category",
                    "unknown_image", "bad_annotation", "bad_segmentation"}
_PREDICTION_HELP = ("a COCO results .json file, a folder of YOLO .txt files (class cx cy w h conf), or VOC devkit "
                    "result files (comp4_det_test_<class>.txt: image_id score xmin ymin xmax ymax)")


def guess_format(labels: str | Path) -> str:
    """``coco`` for a ``.json`` file, ``voc`` for a folder of ``.xml``, ``yolo`` for a folder of ``.txt``."""
    path = Path(labels)
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "coco"
        if path.suffix.lower() == ".xml":
            return "voc"
        raise UserError(f"cannot tell the format of labels file {path}; pass --format coco|yolo|voc")
    if not path.is_dir():
        raise UserError(f"labels {path} does not exist")
    has_xml = next(path.rglob("*.xml"), None) is not None
    has_txt = any(p.name != "classes.txt" for p in path.rglob("*.txt"))
    if has_xml and has_txt:
        raise UserError(f"labels folder {path} holds both .xml and .txt files; pass --format voc or --format yolo")
    if has_xml:
        return "voc"
    if has_txt:
        return "yolo"
    raise UserError(f"labels folder {path} holds no .xml (VOC) or .txt (YOLO) label files")


def images_only(root: Path | None, report: ProblemReport) -> Tables:
    """A project of images without labels (data metrics only): every image file under ``root``."""
    if root is None:
        raise UserError("nothing to import: give --images, --labels or both")
    images = folder_images(root, report, no_size_reason="its size cannot be known")
    images["split"] = None
    return Tables(images, schema.empty("categories"), schema.empty("labels"))


def _read_labels(fmt: str, labels, root: Path | None, report: ProblemReport, classes) -> Tables:
    if fmt == "coco":
        return read_coco_labels(labels, images_root=root, report=report)
    if fmt == "yolo":
        from explorer.io.yolo import read_yolo_labels

        return read_yolo_labels(labels, images_root=root, report=report, classes=classes)
    from explorer.io.voc import read_voc_labels

    return read_voc_labels(labels, images_root=root, report=report, classes=classes)


def prediction_format(path) -> str:
    """``coco`` for a ``.json`` results file, ``voc`` for devkit result files (``comp4_det_test_<class>.txt``,
    or a folder holding them), ``yolo`` for another folder of txt files (``UserError`` otherwise)."""
    from explorer.io.voc import result_files

    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return "coco"
    if result_files(path):
        return "voc"
    if path.is_dir():
        return "yolo"
    if not path.exists():
        raise UserError(f"predictions {path} does not exist")
    raise UserError(f"predictions {path}: expected {_PREDICTION_HELP}")


def _read_predictions(path, tables: Tables, fmt: str | None, report: ProblemReport,
                      pred_format: str | None = None) -> pd.DataFrame:
    """Read and validate predictions for ``tables``' images and categories (``fmt``: the labels' format; COCO
    results of YOLO/VOC projects may name images and classes). ``pred_format``: ``coco | yolo`` (default:
    guessed from the path; a given format must match it)."""
    guessed = prediction_format(path)
    if pred_format is not None and pred_format != guessed:
        if pred_format not in PREDICTION_FORMATS:
            raise UserError(f"unknown predictions format {pred_format!r}; expected one of {', '.join(PREDICTION_FORMATS)}")
        raise UserError(f"predictions {path}: --format {pred_format} expects "
                        + {"coco": "a COCO results .json file", "yolo": "a folder of YOLO .txt files",
                           "voc": "VOC devkit result files comp4_det_test_<class>.txt"}[pred_format])
    if guessed == "voc":
        from explorer.io.voc import read_voc_results

        return read_voc_results(path, images=tables.images, categories=tables.categories, report=report)
    if guessed == "coco":
        return read_coco_results(path, images=tables.images, categories=tables.categories, report=report,
                                 by_name=fmt != "coco")
    from explorer.io.yolo import read_yolo_predictions

    return read_yolo_predictions(path, images=tables.images, categories=tables.categories, report=report)


def _report_unlisted_images(root: Path, tables: Tables, labels, report: ProblemReport) -> None:
    """Image files under ``root`` the label file does not list are not imported: say so, one per file. When
    the folder holds none of the listed images at all, it is not the folder these labels describe: a
    ``UserError`` paragraph (nothing is written)."""
    listed = set(tables.images["file_name"].astype(str))
    on_disk = scan_images(root)
    if listed and not listed.intersection(on_disk):
        examples = ", ".join(sorted(listed)[:3])
        found = ", ".join(on_disk[:3]) or "no image file"
        raise UserError(f"nothing of --images {root} matches --labels {labels}: none of the {len(listed)} image(s) "
                        f"the labels list (e.g. {examples}) is in the folder, which holds {len(on_disk)} other "
                        f"image file(s) ({found}). File names are matched relative to --images: pass the folder "
                        "the labels' file_name values are relative to. Nothing was written.")
    for name in on_disk:
        if name not in listed:
            report.add(str(root), name, f"image file is not listed in {labels}; not imported", "image_not_in_labels")


def import_detection(out, *, images=None, labels=None, predictions=None, format=None, splits=None, name=None,
                     classes=None, run=None) -> tuple[Project, ProblemReport]:
    """Build a detection project; see ``explorer.io.import_project``. ``run``: the name of the predictions' run
    (default ``"default"``); more runs are added with ``add_predictions``."""
    if run is not None:
        check_run_name(run)
        if predictions is None:
            raise UserError(f"--run {run} names a set of predictions: pass --predictions too")
    report = ProblemReport()
    root = image_folder(images) if images is not None else None
    if labels is None:
        if predictions is not None:
            raise UserError("predictions need labels: pass --labels too")
        fmt, tables = None, images_only(root, report)
    else:
        fmt = format or guess_format(labels)
        if fmt not in FORMATS:
            raise UserError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        tables = _read_labels(fmt, labels, root, report, classes)
        if root is not None and fmt in ("coco", "voc"):
            _report_unlisted_images(root, tables, labels, report)
    if labels is not None and len(tables.images) and len(tables.labels) == 0 and LABEL_REJECTIONS & set(report.summary()):
        raise UserError(nothing_kept(f"--labels {labels}", "labels", report, images=images))
    before = len(report.skipped)
    preds = _read_predictions(predictions, tables, fmt, report) if predictions is not None else None
    # an empty results file is a flagged, legitimate "no predictions"; records that were all rejected are not
    if preds is not None and len(preds) == 0 and len(report.skipped) > before:
        raise UserError(nothing_kept(f"--predictions {predictions}", "predictions", report,
                                     hint=f"Predictions are read as {_PREDICTION_HELP}."))
    split_source = splits if splits is not None else tables.splits
    if isinstance(splits, (str, Path)) and splits != "folders" and Path(splits).is_dir():  # VOC ImageSets/Main
        from explorer.io.voc import voc_split_lists

        split_source = voc_split_lists(Path(splits), tables.images, report, required=True)
    image_table = assign_splits(tables.images, split_source, report)
    report.kept.update({"images": len(image_table), "categories": len(tables.categories),
                        "labels": len(tables.labels)})
    if preds is not None:
        report.kept["predictions"] = len(preds)
    if len(image_table) == 0:
        raise UserError("nothing imported: no valid image record. " + nothing_kept(
            f"--labels {labels}" if labels is not None else f"--images {images}", "images", report, images=images))
    sources = {"format": fmt, "images": _abs(images), "labels": _abs(labels), "predictions": _abs(predictions),
               "splits": splits if splits == "folders" else _abs(splits)}
    if preds is not None:
        run = run or schema.DEFAULT_RUN
        sources["runs"] = {run: _run_source(predictions, prediction_format(predictions))}
    project = Project.create(out, task="detection", images=image_table, categories=tables.categories,
                             labels=tables.labels, predictions=preds, run=run, images_root=root, name=name,
                             sources=sources, report=report)
    return project, report


def add_predictions(project, predictions, *, run: str, format: str | None = None,
                    replace: bool = False) -> tuple[Project, ProblemReport]:
    """Add the predictions file ``predictions`` (COCO results JSON or YOLO txt folder; ``format`` ``coco | yolo``,
    guessed when None) to a detection ``project`` (a ``Project`` or its folder) as run ``run``.

    Read and validated exactly as ``import_detection`` reads ``--predictions`` (bad records are skipped and
    reported; the report is written to ``<project>/import_report_<run>.json``). An existing run name is refused
    unless ``replace``; a file without one valid prediction is a ``UserError``. Returns the view of the new run
    (written to the folder) and the report; the project's data metrics do not cover the new predictions until
    ``compute_metrics`` runs again.
    """
    project = project if isinstance(project, Project) else Project.load(project)
    if project.task != "detection":
        raise UserError(f"project {project.name!r} is a {project.task} project; adding runs of predictions "
                        "is supported for detection projects")
    check_run_name(run)
    if run in project.runs and not replace:  # before reading the file: say it at once
        raise UserError(f"project {project.name!r} already has a run {run!r} (its runs: {', '.join(project.runs)}); "
                        "pass --replace to replace it, or choose another --run")
    report = ProblemReport()
    tables = Tables(project.images, project.categories, project.labels)
    preds = _read_predictions(predictions, tables, project.manifest.get("sources", {}).get("format"), report, format)
    report.kept["predictions"] = len(preds)
    if len(preds) == 0:
        raise UserError(f"no valid prediction in {predictions}; nothing added. " + nothing_kept(
            f"predictions {predictions}", "predictions", report, hint=f"Predictions are read as {_PREDICTION_HELP}."
        ).replace("Nothing was written.", "Nothing was added."))
    view = project.add_predictions(preds, run=run, replace=replace,
                                   source=_run_source(predictions, format or prediction_format(predictions)))
    (view.root / f"import_report_{run}.json").write_text(json.dumps(report.to_dict(), indent=1))
    return view, report


def nothing_kept(what: str, kept: str, report: ProblemReport, *, images=None, hint: str = "") -> str:
    """The one-paragraph summary of an import that kept nothing of an input the user asked for: what was given,
    why each record went (counts per problem kind), the first problems, what to check, and that nothing was
    written."""
    skipped = report.skipped
    why = ", ".join(f"{n} {kind}" for kind, n in sorted(report.summary().items())) or "no records found"
    first = "; ".join(str(p) for p in skipped[:3])
    unmatched = {"unmatched_file", "missing_image", "unknown_image", "image_not_in_labels"} & set(report.summary())
    if unmatched and images is not None:
        hint = (f"The label/prediction records name images that are not under --images {images}: check that it "
                "is the image folder these files describe. " + hint)
    return (f"nothing of {what} was kept: 0 {kept} ({len(skipped)} record(s) skipped: {why})"
            + (f"; first: {first}" if first else "") + ". " + (hint + " " if hint else "") + "Nothing was written.")


def _run_source(path, fmt: str) -> dict:
    """What the manifest records about where a run came from (``sources.runs[run]``)."""
    return {"predictions": _abs(path), "format": fmt}


def _abs(path) -> str | None:
    return None if path is None else str(Path(path).resolve())
