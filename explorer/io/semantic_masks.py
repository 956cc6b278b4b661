"""Import a semantic segmentation project: images plus PNG class-index masks for labels and predictions.

Layout::

    images/       a/b.jpg ...           (optional: without images, evaluation still works)
    labels/       a/b.png ...           class index per pixel, 255 = ignore; optional classes.txt
    predictions/  a/b.png ...           same format, same size as the label mask

Masks are matched to images by relative path without the extension (``a/b``), so ``a/b.jpg`` pairs with
``a/b.png``. Class names come from the ``classes`` option (a list or a text file), else ``labels/classes.txt``
(one name per line, line ``i`` = class index ``i``), else ``num_classes`` (names ``class_0`` ...), else the
largest label value + 1. Every bad mask becomes a ``Problem`` naming the file and what is wrong (unreadable,
not PNG, colour instead of class indices, wrong size, values outside ``[0, num_classes)``, missing or unmatched
prediction); the image is kept without that mask and the valid masks are kept.

Images (and, without an image folder, label masks) are listed by the one scanner (``explorer.io.scan``: hidden
files skipped, natural order = image id order); splits come from the one split assigner
(``explorer.io.splits.assign_splits``: a CSV ``file_name,split`` or ``"folders"``).

Tables: ``images`` gains ``label_mask`` and ``pred_mask`` (mask paths relative to the manifest's
``segmentation.label_root`` / ``pred_root``, read through ``safe_join``); ``labels`` and ``predictions`` hold one
row per (image, class present) with the class region's box, pixel area and RLE (``score`` is NaN: a semantic
mask has no confidence).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.errors import ProblemReport, UserError
from explorer.evaluation.segmentation import IGNORE_INDEX
from explorer.io.images import files_inside, header_sizes
from explorer.io.scan import scan_files, scan_images
from explorer.io.splits import assign_splits
from explorer.io.table_files import class_list

MASK_MODES = {"L", "P", "I", "I;16", "1"}  # single-channel integer PIL modes


def _key(rel: Path) -> str:
    return rel.with_suffix("").as_posix()


def _scan(folder: Path, suffixes: set[str], report: ProblemReport, what: str) -> dict[str, Path]:
    """Mask files under ``folder`` by key (relative path without extension), in the scanner's order (the same walk
    as the images: ``explorer.io.scan``); a non-PNG file or a duplicate key is a problem."""
    found: dict[str, Path] = {}
    names = [n for n in scan_files(folder) if n.rpartition("/")[2] != "classes.txt"]  # (read by _class_names)
    for rel, _ in files_inside(folder, names, report):  # a mask symlinked from outside is not read
        path = folder / rel
        if path.suffix.lower() not in suffixes:
            report.add(path, rel, f"not a PNG {what} mask (suffix {path.suffix or 'none'}); lossy or other "
                       "formats would change class indices", "not_png")
            continue
        key = _key(Path(rel))
        if key in found:
            report.add(path, rel, f"same name as {found[key].name}; only the first is used", "duplicate")
            continue
        found[key] = path
    return found


#: class indices a PNG mask can hold (8- or 16-bit greyscale / palette: 0..65535)
MAX_CLASSES = 65536


def _int_option(name: str, value, lo: int, hi: int) -> int:
    """An integer option (``--option num_classes=21`` arrives as text) within ``[lo, hi]``; ``UserError`` else."""
    text = str(value).strip()
    if isinstance(value, bool) or not (isinstance(value, int) or text.lstrip("+-").isdigit()) or len(text) > 12 \
            or not lo <= int(text) <= hi:
        raise UserError(f"option {name} must be an integer {lo}..{hi} (a PNG mask holds class values up to "
                        f"{MAX_CLASSES - 1}), got {value!r}")
    return int(text)


def _class_names(labels: Path | None, classes, num_classes, report: ProblemReport) -> list[str] | None:
    if classes is not None:
        names = class_list(classes)
    elif labels is not None and (labels / "classes.txt").is_file() and files_inside(labels, ["classes.txt"], report):
        names = class_list(labels / "classes.txt")  # (a classes.txt linked from outside the folder is not read)
    elif num_classes is not None:
        names = [f"class_{i}" for i in range(int(num_classes))]
    else:
        return None
    if num_classes is not None and len(names) != int(num_classes):
        raise UserError(f"{len(names)} class names given but num_classes={num_classes}")
    return names


def _read_mask(path: Path, report: ProblemReport, what: str) -> np.ndarray | None:
    """A class-index PNG as an int64 ``(H, W)`` array, or None with a problem recorded."""
    from PIL import Image, UnidentifiedImageError

    from explorer.io.images import read_size
    from metrics.headers import too_large, too_large_message

    try:  # header first, from a regular file only (a FIFO would block): the pixel bound holds before decoding
        size = read_size(path)
    except (OSError, ValueError) as e:
        report.add(path, path.name, f"unreadable {what} mask ({e})", "unreadable")
        return None
    if too_large(*size):
        report.add(path, path.name, f"{what} mask is {too_large_message(*size)}", "too_large")
        return None
    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                report.add(path, path.name, f"{what} mask is {im.format}, not PNG (lossy formats change class indices)",
                           "not_png")
                return None
            if im.mode not in MASK_MODES:
                report.add(path, path.name, f"{what} mask has mode {im.mode} (colour or alpha); expected a "
                           "single-channel class-index PNG (mode L, P or I;16)", "not_class_index")
                return None
            return np.asarray(im).astype(np.int64)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        report.add(path, path.name, f"unreadable {what} mask ({e})", "unreadable")
        return None


def _check_values(mask: np.ndarray, k: int, ignore: int, path: Path, report: ProblemReport, what: str) -> bool:
    bad = ((mask < 0) | (mask >= k)) & (mask != ignore)
    if bad.any():
        values = np.unique(mask[bad])
        report.add(path, path.name, f"{what} mask has class values {values[:10].tolist()} outside 0..{k - 1} "
                   f"(num_classes={k}, ignore index {ignore}) in {int(bad.sum())} pixels", "bad_class_index")
        return False
    return True


def _regions(mask: np.ndarray, image_id: int, k: int) -> list[dict]:
    """One row per class present in ``mask``: box (COCO xywh), pixel area, RLE. Loops over classes, not pixels."""
    from pycocotools import mask as mask_utils

    counts = np.bincount(mask[(mask >= 0) & (mask < k)].ravel(), minlength=k)
    rows = []
    for c in np.flatnonzero(counts):
        binary = mask == c
        ys = np.flatnonzero(binary.any(axis=1))
        xs = np.flatnonzero(binary.any(axis=0))
        rle = mask_utils.encode(np.asfortranarray(binary.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("ascii")
        rows.append({"image_id": image_id, "category_id": int(c), "x": float(xs[0]), "y": float(ys[0]),
                     "w": float(xs[-1] - xs[0] + 1), "h": float(ys[-1] - ys[0] + 1), "area": float(counts[c]),
                     "segmentation": json.dumps(rle)})
    return rows


def import_project(out, *, images=None, labels=None, predictions=None, splits=None, name=None, classes=None,
                   num_classes=None, ignore_index: int = IGNORE_INDEX, run=None, **task_options):
    """Build a segmentation project in ``out``; return ``(Project, ProblemReport)``.

    images / labels / predictions: folders (labels required). Options: ``classes`` (list or text file),
    ``num_classes``, ``ignore_index`` (default 255). See the module docstring for matching and validation.
    """
    if task_options:
        raise UserError(f"unknown segmentation option(s) {sorted(task_options)}; "
                        "expected classes, num_classes, ignore_index")
    if labels is None:
        raise UserError("a segmentation import needs labels: a folder of PNG class-index masks")
    folders = {}
    for what, value in (("images", images), ("labels", labels), ("predictions", predictions)):
        if value is not None:
            folders[what] = Path(value).resolve()
            if not folders[what].is_dir():
                raise UserError(f"{what} folder {value} not found (a segmentation import takes folders)")
    report = ProblemReport()
    ignore = _int_option("ignore_index", ignore_index, 0, MAX_CLASSES - 1)
    num_classes = None if num_classes is None else _int_option("num_classes", num_classes, 1, MAX_CLASSES)
    label_files = _scan(folders["labels"], {".png"}, report, "label")
    pred_files = _scan(folders["predictions"], {".png"}, report, "prediction") if "predictions" in folders else {}
    image_files = _scan_images(folders["images"], report) if "images" in folders else {}
    names = _class_names(folders["labels"], classes, num_classes, report)

    keys = list(image_files) if image_files else list(label_files)  # image ids follow the scanner's order
    if image_files:
        for key in sorted(set(label_files) - set(image_files)):
            report.add(label_files[key], key, "label mask has no image of the same name; skipped", "unmatched_label")
    for key in sorted(set(pred_files) - set(keys)):
        report.add(pred_files[key], key, "prediction mask has no image of the same name; skipped", "unmatched_prediction")

    label_masks = {key: _read_mask(label_files[key], report, "label") for key in keys if key in label_files}
    if names is None:  # infer the classes from the largest label value (documented fallback)
        top = max((int(m[m != ignore].max()) for m in label_masks.values() if m is not None and (m != ignore).any()),
                  default=0)
        names = [f"class_{i}" for i in range(top + 1)]
    k = len(names)

    file_names = [image_files[key].relative_to(folders["images"]).as_posix() for key in keys] if image_files \
        else [label_files[key].relative_to(folders["labels"]).as_posix() for key in keys]
    if image_files:
        widths, heights = header_sizes(folders["images"], file_names, report)
    image_rows, label_rows, pred_rows = [], [], []
    for image_id, (key, file_name) in enumerate(zip(keys, file_names), start=1):
        size = (float(widths[image_id - 1]), float(heights[image_id - 1])) if image_files else None
        if size is not None and np.isnan(size[0]):  # unreadable image (flagged by header_sizes)
            size = None
        row = {"image_id": image_id, "file_name": file_name, "width": np.nan, "height": np.nan, "split": None,
               "label_mask": None, "pred_mask": None}
        if size is not None:
            row["width"], row["height"] = size
        label = label_masks.get(key)
        if key not in label_files:
            report.add(image_files[key], file_name, "image has no label mask; kept unlabelled", "missing_label")
        elif label is not None and size is not None and (label.shape[1], label.shape[0]) != size:
            report.add(label_files[key], key, f"label mask is {label.shape[1]}x{label.shape[0]} but the image is "
                       f"{int(size[0])}x{int(size[1])}; image kept without label", "wrong_size")
            label = None
        elif label is not None and not _check_values(label, k, ignore, label_files[key], report, "label"):
            label = None
        if label is not None:
            row["label_mask"] = label_files[key].relative_to(folders["labels"]).as_posix()
            if size is None:
                row["width"], row["height"] = float(label.shape[1]), float(label.shape[0])
            label_rows += _regions(label, image_id, k)
        if "predictions" in folders:
            _add_prediction(row, key, label, size, pred_files, folders["predictions"], k, ignore, report, pred_rows)
        image_rows.append(row)

    report.kept.update({"images": len(image_rows),
                        "label masks": sum(r["label_mask"] is not None for r in image_rows),
                        "prediction masks": sum(r["pred_mask"] is not None for r in image_rows)})
    return _create(out, image_rows, label_rows, pred_rows, names, folders, ignore, name, report, splits, run), report


def _scan_images(folder: Path, report: ProblemReport) -> dict[str, Path]:
    """Images under ``folder`` by key, in the scanner's order; a second image with the same key is a problem."""
    found: dict[str, Path] = {}
    for rel, _ in files_inside(folder, scan_images(folder), report):  # an image linked from outside is not read
        key = _key(Path(rel))
        if key in found:
            report.add(folder / rel, rel, f"same name as {found[key].name} apart from the extension; masks cannot "
                       "tell them apart, skipped", "duplicate")
            continue
        found[key] = folder / rel
    return found


def _add_prediction(row, key, label, size, pred_files, pred_root, k, ignore, report, pred_rows) -> None:
    """Validate the prediction mask of one image and add it to ``row`` / ``pred_rows`` when valid."""
    if key not in pred_files:
        if row["label_mask"] is not None:
            report.add(pred_root, row["file_name"], f"no prediction mask {key}.png for this image; "
                       "the image is kept but not evaluated", "missing_prediction")
        return
    path = pred_files[key]
    pred = _read_mask(path, report, "prediction")
    if pred is None:
        return
    expected = (label.shape[1], label.shape[0]) if label is not None else (
        (int(size[0]), int(size[1])) if size is not None else None)
    if expected is not None and (pred.shape[1], pred.shape[0]) != tuple(int(v) for v in expected):
        report.add(path, key, f"prediction mask is {pred.shape[1]}x{pred.shape[0]} but the "
                   f"{'label' if label is not None else 'image'} is {int(expected[0])}x{int(expected[1])}; skipped",
                   "wrong_size")
        return
    if not _check_values(pred, k, ignore, path, report, "prediction"):
        return
    row["pred_mask"] = path.relative_to(pred_root).as_posix()
    if np.isnan(row["width"]):
        row["width"], row["height"] = float(pred.shape[1]), float(pred.shape[0])
    pred_rows += _regions(pred, row["image_id"], k)


def _create(out, image_rows, label_rows, pred_rows, names, folders, ignore, name, report, splits, run=None):
    from explorer.project.folder import Project

    images = pd.DataFrame(image_rows, columns=["image_id", "file_name", "width", "height", "split", "label_mask",
                                               "pred_mask"])
    images = assign_splits(images, splits, report)
    categories = pd.DataFrame({"category_id": np.arange(len(names)), "name": names, "supercategory": ""})
    region_cols = ["image_id", "category_id", "x", "y", "w", "h", "area", "segmentation"]
    labels = pd.DataFrame(label_rows, columns=region_cols)
    labels.insert(0, "label_id", np.arange(1, len(labels) + 1))
    labels["iscrowd"] = False
    preds = pd.DataFrame(pred_rows, columns=region_cols)
    preds.insert(0, "pred_id", np.arange(1, len(preds) + 1))
    preds["score"] = np.nan
    report.kept.update({"labels": len(labels), "predictions": len(preds)})
    sources = {k: str(v) for k, v in folders.items()}
    if splits is not None:
        sources["splits"] = str(splits)
    project = Project.create(out, task="segmentation", images=images, categories=categories, labels=labels,
                             predictions=preds, run=run, images_root=folders.get("images"), name=name,
                             sources=sources, report=report)
    project.manifest["segmentation"] = {
        "num_classes": len(names), "ignore_index": ignore,
        "label_root": str(folders["labels"]), "pred_root": str(folders["predictions"]) if "predictions" in folders else None,
    }
    project.save()
    return project
