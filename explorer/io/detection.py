"""Detection import: labels (COCO / YOLO / VOC) + optional predictions + splits → a project folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from explorer.project import schema
from explorer.errors import ProblemReport, UserError
from explorer.io.coco import Tables, read_coco_labels
from explorer.io.coco_results import read_coco_results
from explorer.io.images import attach_image_files, image_folder, scan_images
from explorer.io.splits import assign_splits
from explorer.project.folder import Project

FORMATS = ("coco", "yolo", "voc")


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
    names = scan_images(root)
    images = pd.DataFrame({"image_id": np.arange(1, len(names) + 1, dtype=np.int64), "file_name": names,
                           "width": np.nan, "height": np.nan})
    images = attach_image_files(images, root, report, str(root), lambda k: names[k],
                                no_size_reason="its size cannot be known")
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


def _read_predictions(path, tables: Tables, fmt: str, report: ProblemReport) -> pd.DataFrame:
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return read_coco_results(path, images=tables.images, categories=tables.categories, report=report,
                                 by_name=fmt != "coco")
    if path.is_dir():
        from explorer.io.yolo import read_yolo_predictions

        return read_yolo_predictions(path, images=tables.images, categories=tables.categories, report=report)
    if not path.exists():
        raise UserError(f"predictions {path} does not exist")
    raise UserError(f"predictions {path}: expected a COCO results .json file or a folder of YOLO .txt files")


def _report_unlisted_images(root: Path, tables: Tables, labels, report: ProblemReport) -> None:
    """Image files under ``root`` the label file does not list are not imported: say so, one per file."""
    listed = set(tables.images["file_name"].astype(str))
    for name in scan_images(root):
        if name not in listed:
            report.add(str(root), name, f"image file is not listed in {labels}; not imported", "image_not_in_labels")


def import_detection(out, *, images=None, labels=None, predictions=None, format=None, splits=None, name=None,
                     classes=None) -> tuple[Project, ProblemReport]:
    """Build a detection project; see ``explorer.io.import_project``."""
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
    preds = _read_predictions(predictions, tables, fmt, report) if predictions is not None else None
    split_source = splits if splits is not None else tables.splits
    image_table = assign_splits(tables.images, split_source, report)
    report.kept.update({"images": len(image_table), "categories": len(tables.categories),
                        "labels": len(tables.labels)})
    if preds is not None:
        report.kept["predictions"] = len(preds)
    if len(image_table) == 0:
        raise UserError("nothing imported: no valid image record. " + (report.format(limit=5) or "no images found"))
    sources = {"format": fmt, "images": _abs(images), "labels": _abs(labels), "predictions": _abs(predictions),
               "splits": splits if splits == "folders" else _abs(splits)}
    project = Project.create(out, task="detection", images=image_table, categories=tables.categories,
                             labels=tables.labels, predictions=preds, images_root=root, name=name,
                             sources=sources, report=report)
    return project, report


def _abs(path) -> str | None:
    return None if path is None else str(Path(path).resolve())
