"""Pascal VOC XML (``Annotations/*.xml``, one file per image) → ``images``, ``categories``, ``labels``.

Each file gives ``filename``, ``size/width``, ``size/height`` and ``object`` elements with ``name``,
``bndbox/{xmin,ymin,xmax,ymax}``, optional ``difficult`` and ``truncated`` (kept as extra boolean label
columns). VOC box corners are 1-based inclusive pixel indices; the conversion to COCO ``[x, y, w, h]`` with
0-based continuous coordinates (the convention of Detectron's VOC→COCO converter) is::

    x = xmin - 1,   y = ymin - 1,   w = xmax - xmin + 1,   h = ymax - ymin + 1,   area = w * h

so a box covering pixels 1..10 becomes ``x = 0, w = 10``. This is the project's one VOC box rule
(``voc_corners_to_xywh``, also used by ``explorer.evaluation.voc.read_voc_txt``): the VOC devkit's "+1 pixel"
happens here, once, and VOC evaluation (``explorer.evaluation.voc``) takes the converted boxes with the plain
continuous IoU, which equals the devkit's IoU on the original corners (fractional corners included).

Categories: the class list given (``classes``: ``data.yaml``/``classes.txt`` or a list) or the sorted set of
names met; ``category_id`` = position in that list (0-based, the same index a YOLO prediction file uses).
Image ids are assigned 1..n in sorted file order. Records are named ``object[k] ('name')`` (k 0-based within
the file) or ``file`` in messages.

Splits: the devkit's ``ImageSets/Main/{train,val,test,trainval}.txt`` beside the ``Annotations`` folder (or
given as ``--splits DIR``), one image id (file stem) per line (``voc_split_lists``). Predictions may be the
devkit's result files ``comp4_det_test_<class>.txt`` (``image_id score xmin ymin xmax ymax``, 1-based corners;
``read_voc_results``).

Parsing is ``defusedxml``'s: a file declaring entities (billion laughs) or referring to an external entity or DTD
(XXE: ``<!ENTITY x SYSTEM "file:///etc/passwd">``) is an ``unsafe_xml`` problem naming the file; nothing it refers
to is fetched or expanded, and the other files are imported.
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import defusedxml
import defusedxml.ElementTree as safe_xml
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from explorer.project import schema
from explorer.errors import ProblemReport, UserError
from explorer.io.coco import Tables
from explorer.io.images import attach_image_files, files_inside
from explorer.io.scan import scan_files, scan_images
from explorer.io.records import MAX_SIDE
from explorer.io.table_files import physical_lines
from explorer.io.validate import check_boxes, check_scores
from explorer.io.yolo import resolve_class_names

_FLAGS = ("difficult", "truncated")


def voc_corners_to_xywh(corners: np.ndarray) -> np.ndarray:
    """VOC ``(n, 4)`` ``xmin, ymin, xmax, ymax`` (1-based inclusive pixel indices, possibly fractional) → project
    ``(n, 4)`` ``x, y, w, h`` (0-based continuous): ``x = xmin − 1, y = ymin − 1, w = xmax − xmin + 1,
    h = ymax − ymin + 1``."""
    corners = np.asarray(corners, dtype=np.float64).reshape(-1, 4)
    return np.stack([corners[:, 0] - 1, corners[:, 1] - 1, corners[:, 2] - corners[:, 0] + 1,
                     corners[:, 3] - corners[:, 1] + 1], axis=1)


def _text(el: ET.Element | None, tag: str) -> str | None:
    child = el.find(tag) if el is not None else None
    return None if child is None or child.text is None else child.text.strip()


def _repeated(el: ET.Element | None, tags: tuple[str, ...]) -> str | None:
    """Why ``el`` is ambiguous: one of ``tags`` given more than once (``find`` would silently take the first,
    as a JSON parser keeps one of two equal keys), or None."""
    for tag in tags if el is not None else ():
        n = len(el.findall(tag))
        if n > 1:
            return f"<{tag}> is given {n} times; which one is meant is ambiguous"
    return None


def _number(el: ET.Element | None, tag: str) -> tuple[float, str | None]:
    text = _text(el, tag)
    if text is None:
        return np.nan, f"missing <{tag}>"
    try:
        return float(text), None
    except ValueError:
        return np.nan, f"<{tag}> must be a number, got {text!r}"


def _parse_file(path: Path, report: ProblemReport) -> ET.Element | None:
    file = str(path)
    try:
        if path.stat().st_size == 0:
            report.add(file, "file", "is empty", "malformed_xml")
            return None
        # forbid_dtd: a VOC annotation never needs a DTD; entities and external references are refused as well
        root = safe_xml.parse(path, forbid_dtd=True, forbid_entities=True, forbid_external=True).getroot()
    except defusedxml.DefusedXmlException as e:
        report.add(file, "file", f"refused: the XML declares a DTD, entities or external references ({e}); "
                   "VOC annotations need none, and they could read other files or expand without end", "unsafe_xml")
        return None
    except ET.ParseError as e:
        line, col = e.position
        report.add(file, "file", f"malformed XML at line {line}, column {col + 1}: {e.msg if hasattr(e, 'msg') else e}", "malformed_xml")
        return None
    except OSError as e:
        report.add(file, "file", f"cannot be read: {e}", "unreadable_file")
        return None
    if root.tag != "annotation":
        report.add(file, "file", f"root element must be <annotation>, got <{root.tag}>", "malformed_xml")
        return None
    return root


def _file_name(root: ET.Element, xml_path: Path, folder: Path, image_names: dict | None) -> str | None:
    """The image's path relative to the image folder: ``<filename>`` (matched by name or stem among the image
    files when an image folder is given), else the XML's stem matched the same way."""
    name = _text(root, "filename")
    if image_names is None:
        return name
    for key in (name, PurePosixPath(name).stem if name else None, xml_path.relative_to(folder).with_suffix("").as_posix(), xml_path.stem):
        if key and key in image_names:
            return image_names[key]
    return name


def _image_index(names: list[str]) -> dict[str, str]:
    """Lookup of image files by relative path, bare name, and relative path / bare name without extension
    (ambiguous bare names are left out)."""
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    for n in names:
        p = PurePosixPath(n)
        for key in (p.name, p.stem, str(p.with_suffix(""))):
            seen[key] = seen.get(key, 0) + 1
            out[key] = n
    out = {k: v for k, v in out.items() if seen[k] == 1}
    out.update({n: n for n in names})
    return out


def read_voc_labels(labels: str | Path, *, images_root: Path | None, report: ProblemReport, classes=None) -> Tables:
    """Read a VOC ``Annotations`` folder (or one XML file) into ``Tables``."""
    folder = Path(labels)
    if folder.is_file():
        files, folder = [folder], folder.parent
    elif folder.is_dir():  # hidden files skipped like every scan; a symlink out of the folder is not read
        names = [n for n in scan_files(folder) if n.lower().endswith(".xml")]
        files = sorted(folder / name for name, _ in files_inside(folder, names, report))
    else:
        raise UserError(f"VOC labels {folder} do not exist")
    if not files:
        raise UserError(f"VOC labels folder {folder} holds no .xml files")
    names, _ = resolve_class_names(classes, folder, images_root)
    image_names = _image_index(scan_images(images_root)) if images_root is not None else None

    img_rows, img_files, seen_names = [], [], {}
    objs = []  # (image row, xml file, k, name, xmin, ymin, xmax, ymax, difficult, truncated)
    for path in files:
        file = str(path)
        root = _parse_file(path, report)
        if root is None:
            continue
        twice = _repeated(root, ("filename", "size"))
        if twice:
            report.add(file, "file", f"{twice}; this file is skipped", "malformed_xml")
            continue
        fname = _file_name(root, path, folder, image_names)
        if not fname:
            report.add(file, "file", "missing <filename> and no image file with the same stem", "bad_image")
            continue
        if fname in seen_names:
            report.add(file, "file", f"describes image {fname!r} already described by {seen_names[fname]}; this file is skipped", "duplicate_image")
            continue
        seen_names[fname] = file
        size = root.find("size")
        w, w_err = _number(size, "width")
        h, h_err = _number(size, "height")
        bad = [e for e in (_repeated(size, ("width", "height")), w_err, h_err) if e] + [
            f"<{t}> must be a positive number of at most {MAX_SIDE}, got {v:g}" for t, v in (("width", w), ("height", h))
            if not math.isnan(v) and not 0 < v <= MAX_SIDE]  # (the COCO images' rule: records._size_column)
        row = len(img_rows)
        img_rows.append((row + 1, fname, w if not bad else np.nan, h if not bad else np.nan,
                         ("size: " + "; ".join(bad)) if bad else None))
        img_files.append(file)
        for k, obj in enumerate(root.findall("object")):
            name = _text(obj, "name")
            box = obj.find("bndbox")
            coords, errs = zip(*(_number(box, t) for t in ("xmin", "ymin", "xmax", "ymax")))
            flags = [_text(obj, t) or "0" for t in _FLAGS]
            err = (_repeated(obj, ("name", "bndbox") + _FLAGS) or _repeated(box, ("xmin", "ymin", "xmax", "ymax")) or
                   ("missing <name>" if not name else
                    "missing <bndbox>" if box is None else next((e for e in errs if e), None)))
            if err is None:
                bad_flag = next((f"<{t}> must be 0 or 1, got {v!r}" for t, v in zip(_FLAGS, flags) if v not in ("0", "1")), None)
                err = bad_flag
            record = f"object[{k}]" + (f" ({name!r})" if name else "")
            if err:
                report.add(file, record, err, "bad_object")
                continue
            objs.append((row, file, record, name, *coords, flags[0] == "1", flags[1] == "1"))

    images = pd.DataFrame(img_rows, columns=["image_id", "file_name", "width", "height", "size_error"])
    images["image_id"] = images["image_id"].astype("int64")
    kept = attach_image_files(images, images_root, report, lambda i: img_files[i], lambda i: "file")
    kept["split"] = None
    kept_rows = set(images.index[images["image_id"].isin(kept["image_id"])])

    cat_names = names if names is not None else sorted({o[3] for o in objs})
    cat_index = {n: i for i, n in enumerate(cat_names)}
    categories = pd.DataFrame({"category_id": np.arange(len(cat_names), dtype=np.int64), "name": cat_names, "supercategory": None})
    ok = np.ones(len(objs), dtype=bool)
    for j, o in enumerate(objs):
        if o[0] not in kept_rows:
            report.add(o[1], o[2], "its image record was rejected (see the problem for this file)", "unknown_image")
            ok[j] = False
        elif o[3] not in cat_index:
            report.add(o[1], o[2], f"unknown class name {o[3]!r} (not in the class list)", "unknown_category")
            ok[j] = False
    rows = np.array([o[0] for o in objs], dtype=np.int64)
    corners = np.array([o[4:8] for o in objs], dtype=np.float64).reshape(-1, 4)
    xywh = voc_corners_to_xywh(corners)
    size = kept.set_index("image_id")  # image_id = row + 1; rejected images give NaN sizes (rows already not ok)
    W = size["width"].reindex(rows + 1).to_numpy(np.float64)
    H = size["height"].reindex(rows + 1).to_numpy(np.float64)
    check = check_boxes(xywh, W, H)
    for j in np.flatnonzero(ok & ~check.ok):
        report.add(objs[j][1], objs[j][2], check.rejected[j], "bad_bbox")
        ok[j] = False
    for j in np.flatnonzero(ok & check.has_flag):
        report.warn(objs[j][1], objs[j][2], check.flagged[j], "bbox_outside_image")
    keep = np.flatnonzero(ok)
    labels_df = pd.DataFrame({
        "label_id": np.arange(1, len(keep) + 1, dtype=np.int64), "image_id": rows[keep] + 1,
        "category_id": np.array([cat_index[objs[j][3]] for j in keep], dtype=np.int64),
        "x": xywh[keep, 0], "y": xywh[keep, 1], "w": xywh[keep, 2], "h": xywh[keep, 3],
        "area": xywh[keep, 2] * xywh[keep, 3], "iscrowd": False, "segmentation": None,
        "difficult": np.array([objs[j][8] for j in keep], dtype=bool),
        "truncated": np.array([objs[j][9] for j in keep], dtype=bool),
    })
    image_sets = find_image_sets(Path(labels))
    splits = voc_split_lists(image_sets, kept, report) if image_sets is not None else None
    return Tables(images=kept, categories=categories, labels=schema.conform(labels_df, "labels"), splits=splits)


# ---- ImageSets/Main split lists -------------------------------------------------------------------------------
#: the devkit's split list files, in the order a split is given (an image in train.txt and trainval.txt is train)
SPLIT_LISTS = ("train", "val", "test", "trainval")


def find_image_sets(labels: Path) -> Path | None:
    """``ImageSets/Main`` beside an ``Annotations`` folder (``VOC2012/Annotations`` → ``VOC2012/ImageSets/Main``),
    when it holds at least one of the split lists."""
    base = labels.parent if labels.is_file() else labels
    for folder in (base.parent / "ImageSets" / "Main", base / "ImageSets" / "Main"):
        if any((folder / f"{name}.txt").is_file() for name in SPLIT_LISTS):
            return folder
    return None


def voc_split_lists(folder: Path, images: pd.DataFrame, report: ProblemReport, *, required: bool = False
                    ) -> np.ndarray | None:
    """Split of each image (``(n,)`` object array, None where not listed) from the devkit's
    ``ImageSets/Main/{train,val,test,trainval}.txt`` (one image id — the file stem — per line; the per-class
    lists ``<class>_train.txt`` are not splits and are ignored). ``trainval`` names a split only for images in
    neither ``train`` nor ``val``. Ids that are not images of the project are one flagged summary per list; a
    list matching no image is a ``missing_split`` problem, and when ``required`` (the user gave the folder as
    ``--splits``) a ``UserError`` if no list matches any image.
    """
    folder = Path(folder)
    stems = images["file_name"].astype(str).map(lambda n: PurePosixPath(n).stem)
    unique = ~stems.duplicated(keep=False).to_numpy()
    row_of = {s: i for i, (s, u) in enumerate(zip(stems, unique)) if u}
    split = np.full(len(images), None, dtype=object)
    lists = [(name, folder / f"{name}.txt") for name in SPLIT_LISTS if (folder / f"{name}.txt").is_file()]
    if not lists:
        if required:
            raise UserError(f"--splits {folder}: no ImageSets/Main split list ({', '.join(n + '.txt' for n in SPLIT_LISTS)})")
        return None
    for name, path in lists:
        try:
            ids = [ln.split()[0] for ln in physical_lines(path.read_text(encoding="utf-8-sig")) if ln.strip()]
        except (OSError, UnicodeDecodeError) as e:
            report.add(str(path), "file", f"cannot be read: {e}", "unreadable_file")
            continue
        rows = np.array([row_of.get(i, -1) for i in ids], dtype=np.int64)
        unknown = [i for i, r in zip(ids, rows) if r < 0]
        if unknown and len(unknown) < len(ids):
            report.warn(str(path), f"{len(unknown)} id(s)", f"{len(unknown)} of {len(ids)} listed image ids are not "
                        f"images of the project (e.g. {', '.join(unknown[:3])})", "unknown_file")
        if len(ids) and len(unknown) == len(ids):
            report.add(str(path), "file", f"none of its {len(ids)} image ids (e.g. {', '.join(ids[:3])}) is an image "
                       "of the project; the split is not used", "missing_split")
        rows = rows[rows >= 0]
        free = rows[np.equal(split[rows], None)]
        split[free] = name
    if not np.not_equal(split, None).any():
        if required:
            problems = "; ".join(str(p) for p in report.problems if p.kind == "missing_split")
            raise UserError(f"--splits {folder}: no listed image id matches an image of the project ({problems}). "
                            "Ids are matched to the images' file names without extension. Nothing was written.")
        return None
    return split


# ---- devkit detection results ---------------------------------------------------------------------------------
#: ``comp4_det_test_car.txt`` (and comp3, any image set): the class is what follows the image set
RESULT_FILE = re.compile(r"^comp\d+_det_[^_]+_(?P<cls>.+)\.txt$", re.IGNORECASE)


def result_files(path: str | Path) -> list[Path]:
    """The devkit result files at ``path`` (one such file, or the ones in a folder); [] when there are none."""
    path = Path(path)
    if path.is_file():
        return [path] if RESULT_FILE.match(path.name) else []
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and RESULT_FILE.match(p.name))
    return []


def read_voc_results(path: str | Path, *, images: pd.DataFrame, categories: pd.DataFrame,
                     report: ProblemReport) -> pd.DataFrame:
    """Pascal VOC devkit detection results → ``predictions``.

    One file per class, ``comp4_det_<imageset>_<class>.txt``, one detection per line::

        <image id> <score> <xmin> <ymin> <xmax> <ymax>

    with VOC's 1-based inclusive pixel corners, converted by the one VOC box rule (``voc_corners_to_xywh``).
    The class is the file name's, matched to the project's class names; the image id is the image's file name
    without extension. Records are named ``line N`` of their file; ``pred_id`` is 1..n in (file, line) order.
    """
    files = result_files(path)
    if not files:
        raise UserError(f"predictions {path}: no VOC devkit result file (comp4_det_test_<class>.txt)")
    stems = images["file_name"].astype(str).map(lambda n: PurePosixPath(n).stem)
    unique = ~stems.duplicated(keep=False).to_numpy()
    image_of = {s: int(i) for s, i, u in zip(stems, images["image_id"], unique) if u}
    cat_of = dict(zip(categories["name"].astype(str), categories["category_id"].astype(np.int64)))
    recs, where = [], []
    for file in files:
        cls = RESULT_FILE.match(file.name)["cls"]
        if cls not in cat_of:
            report.add(str(file), "file", f"class {cls!r} (from the file name) is not a class of the project "
                       f"({', '.join(list(cat_of)[:8])}{', …' if len(cat_of) > 8 else ''})", "unknown_category")
            continue
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            report.add(str(file), "file", f"cannot be read: {e}", "unreadable_file")
            continue
        for n, line in enumerate(physical_lines(text), start=1):
            parts = line.split()
            if not parts:
                continue
            record = f"line {n}"
            if len(parts) != 6:
                report.add(str(file), record, f"expected 6 fields 'image_id score xmin ymin xmax ymax', got "
                           f"{len(parts)}: {line.strip()!r}", "bad_line")
                continue
            try:
                values = [float(v) for v in parts[1:]]
            except ValueError:
                report.add(str(file), record, f"non-numeric value in {line.strip()!r}", "bad_line")
                continue
            image_id = image_of.get(parts[0])
            if image_id is None:
                report.add(str(file), record, f"image id {parts[0]!r} is not an image of the project", "unknown_image")
                continue
            recs.append([image_id, cat_of[cls], *values])
            where.append((str(file), record))
    arr = np.array(recs, dtype=np.float64).reshape(-1, 7)
    xywh = voc_corners_to_xywh(arr[:, 3:7])
    size = images.set_index("image_id")
    ids = arr[:, 0].astype(np.int64)
    W = size["width"].reindex(ids).to_numpy(np.float64)
    H = size["height"].reindex(ids).to_numpy(np.float64)
    ok = np.ones(len(arr), dtype=bool)
    for check, rejected, flagged in ((check_scores(arr[:, 2]), "bad_prediction", "flagged_prediction"),
                                     (check_boxes(xywh, W, H), "bad_prediction", "flagged_prediction")):
        for k in np.flatnonzero(ok & ~check.ok):
            report.add(*where[k], check.rejected[k], rejected)
            ok[k] = False
        for k in np.flatnonzero(ok & check.has_flag):
            report.warn(*where[k], check.flagged[k], flagged)
    keep = np.flatnonzero(ok)
    preds = pd.DataFrame({
        "pred_id": np.arange(1, len(keep) + 1, dtype=np.int64), "image_id": ids[keep],
        "category_id": arr[keep, 1].astype(np.int64), "x": xywh[keep, 0], "y": xywh[keep, 1],
        "w": xywh[keep, 2], "h": xywh[keep, 3], "area": xywh[keep, 2] * xywh[keep, 3], "score": arr[keep, 2],
        "segmentation": None,
    })
    return schema.conform(preds, "predictions")
