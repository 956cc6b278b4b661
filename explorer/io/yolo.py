"""YOLO txt labels and predictions: one ``.txt`` per image, one object per line.

Labels: ``class cx cy w h``; predictions: ``class cx cy w h conf``; coordinates normalised to ``[0, 1]`` by the
image width/height (read from the image header, no decoding). Conversion to COCO pixels::

    x = (cx - w / 2) * W,   y = (cy - h / 2) * H,   w_px = w * W,   h_px = h * H,   area = w_px * h_px

A txt file belongs to the image with the same relative path without extension (``labels/train/a.txt`` ↔
``images/train/a.jpg`` when ``--labels labels --images images``), else to the image with the same stem when
that stem is unique. An empty txt file is an image without objects (YOLO's convention for background images).

Class names come from ``data.yaml`` (``names`` as a list or an ``{index: name}`` dict) or ``classes.txt`` (one
name per line), given explicitly or found beside the labels/images, read by the importers' one class-list reader
(``explorer.io.table_files.class_list``: non-empty, unique names); ``category_id`` is the class index.
Splits come from ``data.yaml``'s ``train``/``val``/``test`` folders (or image-list files, or lists of either)
when present, relative to its ``path:`` as ultralytics resolves them (``dataset_root``, ``yaml_splits``); a split
listed there that labels no imported image stops the import with a ``UserError``.
Image ids are assigned 1..n in the image scanner's natural file order (``explorer.io.scan``); label/prediction
ids 1..n in (file, line) order.
Records are named ``line N`` of their txt file in messages.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from explorer.project import schema
from explorer.errors import ProblemReport, UserError
from explorer.io.coco import Tables
from explorer.io.images import files_inside, folder_images
from explorer.io.scan import scan_files
from explorer.io.table_files import class_list, physical_lines, read_yaml
from explorer.io.validate import check_boxes, check_scores

CLASS_FILES = ("data.yaml", "dataset.yaml", "classes.txt")


MAX_CLASS_INDEX = 2**31 - 1  # class indices without a class list: int32, as every YOLO tool stores them


# ---- class names ---------------------------------------------------------------------------------------------
def find_class_file(*folders: Path | None) -> Path | None:
    """The first ``data.yaml``/``dataset.yaml``/``classes.txt`` in ``folders`` (then their parents)."""
    candidates = [f for f in folders if f is not None] + [f.parent for f in folders if f is not None]
    for folder in candidates:
        for name in CLASS_FILES:
            if (folder / name).is_file():
                return folder / name
    return None


def resolve_class_names(classes, *folders: Path | None) -> tuple[list[str] | None, Path | None]:
    """``classes`` (list of names, or a class file path) or the class file found beside the inputs."""
    if isinstance(classes, (list, tuple)):
        return class_list(classes), None
    path = Path(classes) if classes is not None else find_class_file(*folders)
    return (class_list(path), path) if path is not None else (None, None)


# ---- splits from data.yaml -----------------------------------------------------------------------------------
SPLIT_KEYS = ("train", "val", "test")


def dataset_root(data: dict, yaml_path: Path, report: ProblemReport) -> Path:
    """The dataset root ``data.yaml``'s ``path:`` names, resolved as ultralytics' ``check_det_dataset`` does,
    with the yaml's own folder tried first (a yaml names its dataset relative to itself far more often than to
    the shell's current folder).

    No ``path:`` → the yaml's folder. An absolute ``path:`` (``~`` and ``$VARS`` expanded) is taken as is; a
    relative one (``../datasets/name``) is tried against the yaml's folder, then the current folder
    (ultralytics' own order is the current folder, then its ``datasets_dir`` setting). A ``path:`` that exists
    nowhere (the folder of the machine the model was trained on) is a ``missing_split`` problem and the yaml's
    folder is used instead, so a dataset copied with its yaml still finds ``train: images/train``.
    """
    raw = data.get("path")
    if raw is None or str(raw).strip() == "":
        return yaml_path.parent
    given = Path(os.path.expandvars(str(raw))).expanduser()
    tried = [given] if given.is_absolute() else [yaml_path.parent / given, Path.cwd() / given]
    for candidate in tried:
        if candidate.is_dir():
            return candidate.resolve()
    report.add(str(yaml_path), "path", f"dataset root {raw!r} not found (looked at "
               f"{', '.join(str(c) for c in tried)}); train/val/test are read relative to the yaml's folder instead",
               "missing_split")
    return yaml_path.parent


def split_targets(root: Path, entry: str, yaml_dir: Path) -> Path | None:
    """The folder or list file one ``train``/``val``/``test`` entry names: ``root / entry`` (ultralytics' rule,
    with its retry of an entry starting ``../`` without that prefix, which Roboflow exports rely on), else the
    same relative to the yaml's folder; None when none exists."""
    entry = os.path.expandvars(str(entry))
    candidates = [root / entry]
    if entry.startswith("../"):
        candidates.append(root / entry[3:])
    if yaml_dir.resolve() != root.resolve():
        candidates.append(yaml_dir / entry)
    return next((c.resolve() for c in candidates if c.exists()), None)


def _listed_images(list_file: Path, root: Path) -> set[Path]:
    """Image paths of a split list file (one per line): ``./x`` relative to the list's folder (ultralytics'
    rule), an absolute path as is, any other relative line against the list's folder and the dataset root."""
    out = set()
    bases = (list_file.parent, root)
    for line in physical_lines(list_file.read_text(encoding="utf-8-sig", errors="replace")):
        line = line.strip()
        if not line:
            continue
        if line.startswith("./"):
            out.add((list_file.parent / line[2:]).resolve())
        elif Path(line).is_absolute():
            out.add(Path(line).resolve())
        else:
            out.update((b / line).resolve() for b in bases)
    return out


def yaml_splits(yaml_path: Path | None, images_root: Path, file_names: list[str], report: ProblemReport | None = None
                ) -> np.ndarray | None:
    """Split of each image (``(n,)`` object array, None where unassigned) from ``data.yaml``'s ``train`` / ``val``
    / ``test`` entries: a folder, an image-list ``.txt`` file, or a list of those; ``path:`` is the root they are
    relative to (``dataset_root``). An image in several splits keeps the first (train, then val, then test).

    Outside-root rule: ``path:`` and the entries only *label* images already found under ``--images``; nothing is
    read from a split folder, and a list file's lines are compared with the images' resolved paths, never opened.
    So a split outside the image folder, or a list naming files outside it, assigns nothing — and says so.

    Loud failures: an entry that does not exist, or lies wholly outside the image folder, is a ``missing_split``
    problem; a listed split none of whose entries is usable that way is a ``UserError`` (no project is written:
    the user asked for that split).
    """
    if yaml_path is None or yaml_path.suffix.lower() not in (".yaml", ".yml"):
        return None
    report = report if report is not None else ProblemReport()
    data = read_yaml(yaml_path)
    if not isinstance(data, dict) or not any(data.get(k) for k in SPLIT_KEYS):
        return None
    file = str(yaml_path)
    root = dataset_root(data, yaml_path, report)
    top = Path(images_root).resolve()
    paths = [(top / n).resolve() for n in file_names]
    split = np.full(len(paths), None, dtype=object)
    unusable = []
    for name in SPLIT_KEYS:
        entries = data.get(name)
        entries = [entries] if isinstance(entries, (str, Path)) else entries if isinstance(entries, list) else []
        used = 0
        for k, entry in enumerate(entries):
            record = name if len(entries) == 1 else f"{name}[{k}]"
            target = split_targets(root, str(entry), yaml_path.parent)
            if target is None:
                report.add(file, record, f"{name} entry {str(entry)!r} not found under the dataset root {root}",
                           "missing_split")
                continue
            if target.is_dir():
                inside = np.array([p.is_relative_to(target) for p in paths], dtype=bool)
                reachable = target.is_relative_to(top) or top.is_relative_to(target)
            else:
                listed = _listed_images(target, root)
                inside = np.array([p in listed for p in paths], dtype=bool)
                reachable = any(q.is_relative_to(top) for q in listed)
            if not reachable:
                report.add(file, record, f"{name} entry {str(entry)!r} ({target}) is outside the image folder "
                           f"{images_root}: none of its images can be given the split", "missing_split")
            split[inside & np.equal(split, None)] = name
            used += int(reachable)  # inside the image folder: its images may all have been rejected, said elsewhere
        if entries and used == 0:
            unusable.append(name)
    if unusable:
        problems = "; ".join(str(p) for p in report.skipped if p.kind == "missing_split")
        raise UserError(
            f"{yaml_path} lists the split(s) {', '.join(unusable)} but none of their images could be used: "
            f"{problems}. Entries are resolved as ultralytics does (relative to 'path:', itself relative to the "
            f"yaml's folder), and only images under --images {images_root} can be given a split. Fix the yaml or "
            "--images, or pass --splits CSV|folders instead. Nothing was written.")
    return split if np.not_equal(split, None).any() else None


# ---- txt files -----------------------------------------------------------------------------------------------
def _txt_files(folder: Path, report: ProblemReport) -> list[Path]:
    """The label txt files under ``folder`` (hidden ones skipped, like every scan), sorted; a file whose symlink
    leads outside ``folder`` is a problem and is not read (``files_inside``)."""
    names = [n for n in scan_files(folder) if n.lower().endswith(".txt") and n.rpartition("/")[2] != "classes.txt"]
    return sorted(folder / name for name, _ in files_inside(folder, names, report))


def match_files(txt_files: list[Path], folder: Path, images: pd.DataFrame) -> list[int | None]:
    """Row of ``images`` for each txt file: same relative path without extension, else a unique equal stem."""
    keys = images["file_name"].astype(str).map(lambda n: str(PurePosixPath(n).with_suffix(""))).tolist()
    by_key = {k: i for i, k in enumerate(keys)}
    stems = pd.Series([PurePosixPath(k).name for k in keys])
    by_stem = {s: i for i, (s, d) in enumerate(zip(stems, stems.duplicated(keep=False))) if not d}
    out = []
    for t in txt_files:
        rel = t.relative_to(folder).with_suffix("").as_posix()
        out.append(by_key.get(rel, by_stem.get(t.stem)))
    return out


def _parse_lines(path: Path, n_fields: tuple[int, ...], report: ProblemReport, kind_label: str):
    """Numeric rows of one txt file: ``[(line, [floats...]), ...]``; bad lines reported with their number."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        report.add(file, "file", f"cannot be read: {e}", "unreadable_file")
        return []
    rows = []
    expected = " or ".join(str(n) for n in n_fields)
    for line_no, line in enumerate(physical_lines(text), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in n_fields:
            hint = " (segmentation polygons are not supported)" if len(fields) > 6 else ""
            report.add(file, f"line {line_no}", f"expected {expected} fields ({kind_label}), got {len(fields)}: {line.strip()!r}{hint}", "bad_line")
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            bad = next(v for v in fields if not _is_float(v))
            report.add(file, f"line {line_no}", f"non-numeric value {bad!r} in {line.strip()!r}", "bad_line")
            continue
        rows.append((line_no, values))
    return rows


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_txt_objects(folder: Path, images: pd.DataFrame, categories: pd.DataFrame | None, report: ProblemReport, *,
                     with_score: bool) -> tuple[pd.DataFrame, set[int]]:
    """Objects of every txt file under ``folder`` converted to pixel boxes on the matched ``images`` rows.

    ``categories`` (sorted by id) maps class index k → ``category_id`` of row k; None accepts any index ≥ 0
    (the index is the id). Returns the table (``id`` 1..n, ``image_id``, ``category_id``, ``x, y, w, h, area``
    [, ``score``]) and the set of image rows that have a txt file.
    """
    files = _txt_files(folder, report)
    rows = match_files(files, folder, images)
    cat_ids = None if categories is None else np.sort(categories["category_id"].to_numpy(np.int64))
    fields = (6,) if with_score else (5,)
    what = "class cx cy w h conf" if with_score else "class cx cy w h"
    recs, files_of, lines_of = [], [], []
    matched = set()
    for path, row in zip(files, rows):
        if row is None:
            report.add(str(path), "file", f"no readable image in the image folder matches this {'prediction' if with_score else 'label'} file", "unmatched_file")
            continue
        matched.add(row)
        for line_no, values in _parse_lines(path, fields, report, what):
            recs.append([row, *values])
            files_of.append(str(path))
            lines_of.append(line_no)
    n_cols = 7 if with_score else 6
    arr = np.array(recs, dtype=np.float64).reshape(-1, n_cols)
    row_a = arr[:, 0].astype(np.int64)

    def record(k: int) -> str:
        return f"line {lines_of[k]}"

    cls = arr[:, 1]
    W = images["width"].to_numpy(np.float64)[row_a]
    H = images["height"].to_numpy(np.float64)[row_a]
    ok = np.ones(len(arr), dtype=bool)
    n_classes = None if cat_ids is None else len(cat_ids)
    # without a class list any index is a class of its own, up to int32 (a class index of 1e30 is garbage, and
    # would wrap around as an int64 category id)
    bad_cls = ~np.isfinite(cls) | (cls != np.round(cls)) | (cls < 0) | (cls > MAX_CLASS_INDEX)
    if n_classes is not None:
        bad_cls |= cls >= n_classes
    for k in np.flatnonzero(bad_cls):
        limit = f"0..{n_classes - 1}" if n_classes else f"an integer 0..{MAX_CLASS_INDEX}"
        report.add(files_of[k], record(k), f"class index {cls[k]:g} is out of range (expected {limit})", "bad_class")
    ok &= ~bad_cls
    cx, cy, bw, bh = arr[:, 2], arr[:, 3], arr[:, 4], arr[:, 5]
    with np.errstate(over="ignore", invalid="ignore"):  # (1e308 * W is inf: check_boxes names the line)
        boxes = np.stack([(cx - bw / 2) * W, (cy - bh / 2) * H, bw * W, bh * H], axis=1)
    checks = [check_boxes(boxes, W, H)]
    if with_score:
        checks.insert(0, check_scores(arr[:, 6]))
    # each row may come from a different file: report per row with its own file name
    for check in checks:
        for k in np.flatnonzero(ok & ~check.ok):
            report.add(files_of[k], record(k), check.rejected[k], "bad_prediction" if with_score else "bad_bbox")
            ok[k] = False
    for check in checks:
        for k in np.flatnonzero(ok & check.has_flag):
            report.warn(files_of[k], record(k), check.flagged[k], "flagged_prediction" if with_score else "bbox_outside_image")
    keep = np.flatnonzero(ok)
    idx = cls[keep].astype(np.int64)
    out = pd.DataFrame({
        "id": np.arange(1, len(keep) + 1, dtype=np.int64),
        "image_id": images["image_id"].to_numpy(np.int64)[row_a[keep]],
        "category_id": idx if cat_ids is None else cat_ids[idx],
        "x": boxes[keep, 0], "y": boxes[keep, 1], "w": boxes[keep, 2], "h": boxes[keep, 3],
        "area": boxes[keep, 2] * boxes[keep, 3],
    })
    if with_score:
        out["score"] = arr[keep, 6]
    return out, matched


def read_yolo_labels(labels: str | Path, *, images_root: Path | None, report: ProblemReport, classes=None) -> Tables:
    """Read a YOLO labels folder against the images under ``images_root`` into ``Tables``."""
    folder = Path(labels)
    if images_root is None:
        raise UserError("YOLO labels are normalised to the image size: pass --images so sizes can be read")
    if not folder.is_dir():
        raise UserError(f"YOLO labels {folder} must be a folder of .txt files")
    names, class_file = resolve_class_names(classes, folder, images_root)
    images = folder_images(images_root, report, no_size_reason="YOLO's normalised boxes need it")
    categories = None if names is None else pd.DataFrame(
        {"category_id": np.arange(len(names), dtype=np.int64), "name": names, "supercategory": None})
    objects, matched = read_txt_objects(folder, images, categories, report, with_score=False)
    if categories is None:
        used = np.unique(objects["category_id"].to_numpy())
        categories = pd.DataFrame({"category_id": used.astype(np.int64), "name": [str(c) for c in used], "supercategory": None})
        report.warn(str(folder), "classes", "no data.yaml or classes.txt found (pass --classes); classes are named by their index", "no_class_names")
    unlabelled = [i for i in range(len(images)) if i not in matched]
    if unlabelled:
        examples = ", ".join(images["file_name"].iloc[unlabelled[:3]])
        report.warn(str(folder), f"{len(unlabelled)} image(s)", f"{len(unlabelled)} image(s) have no label file (e.g. {examples}); "
                    "imported as images without objects", "no_label_file")
    labels_df = objects.rename(columns={"id": "label_id"}).assign(iscrowd=False, segmentation=None)
    images["split"] = None
    splits = yaml_splits(class_file, images_root, images["file_name"].tolist(), report)
    return Tables(images=images, categories=categories, labels=schema.conform(labels_df, "labels"), splits=splits)


def read_yolo_predictions(folder: str | Path, *, images: pd.DataFrame, categories: pd.DataFrame,
                          report: ProblemReport) -> pd.DataFrame:
    """Read a folder of YOLO prediction txt files (``class cx cy w h conf``) for the project's ``images``.

    The class index k maps to the k-th category in id order (for YOLO and VOC projects that is the index itself).
    """
    folder = Path(folder)
    if not any(n.lower().endswith(".txt") for n in scan_files(folder)):  # (an empty folder: not "no detections")
        raise UserError(f"predictions folder {folder} holds no .txt prediction files; expected YOLO txt files "
                        "(class cx cy w h conf), a COCO results .json file or VOC devkit result files")
    objects, _ = read_txt_objects(folder, images, categories, report, with_score=True)
    preds = objects.rename(columns={"id": "pred_id"}).assign(segmentation=None)
    return schema.conform(preds, "predictions")
