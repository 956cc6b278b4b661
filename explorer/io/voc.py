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

Parsing is ``defusedxml``'s: a file declaring entities (billion laughs) or referring to an external entity or DTD
(XXE: ``<!ENTITY x SYSTEM "file:///etc/passwd">``) is an ``unsafe_xml`` problem naming the file; nothing it refers
to is fetched or expanded, and the other files are imported.
"""
from __future__ import annotations

import math
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
from explorer.io.validate import check_boxes
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
        bad = [e for e in (w_err, h_err) if e] + [f"<{t}> must be positive, got {v:g}" for t, v in (("width", w), ("height", h))
                                                  if math.isfinite(v) and v <= 0]
        row = len(img_rows)
        img_rows.append((row + 1, fname, w if not bad else np.nan, h if not bad else np.nan,
                         ("size: " + "; ".join(bad)) if bad else None))
        img_files.append(file)
        for k, obj in enumerate(root.findall("object")):
            name = _text(obj, "name")
            box = obj.find("bndbox")
            coords, errs = zip(*(_number(box, t) for t in ("xmin", "ymin", "xmax", "ymax")))
            flags = [_text(obj, t) or "0" for t in _FLAGS]
            err = ("missing <name>" if not name else
                   "missing <bndbox>" if box is None else next((e for e in errs if e), None))
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
    return Tables(images=kept, categories=categories, labels=schema.conform(labels_df, "labels"))
