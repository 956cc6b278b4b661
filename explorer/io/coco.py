"""COCO instances JSON → ``images``, ``categories`` and ``labels`` tables.

Ids are kept from the file (``image_id``, ``category_id``, ``label_id`` = the annotation ``id``), boxes stay
COCO ``[x, y, w, h]`` pixels, ``area`` is the file's (pycocotools' area ranges use it), ``segmentation`` is kept
verbatim as JSON text (polygons, compressed or uncompressed RLE), ``iscrowd`` defaults to 0 as in pycocotools.
So an evaluation on the project equals pycocotools' on the raw file for every record that passes validation.

Records are named in messages as ``images[3] (id=42)`` / ``annotations[12] (id=1774)`` / ``categories[0]``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.project import schema
from explorer.errors import ProblemReport, UserError
from explorer.io.images import attach_image_files
from explorer.io.jsonfile import load_json
from explorer.io.coco_segmentation import mask_area, mask_bbox, segmentation_error, to_json_text
from explorer.io.validate import check_boxes, describe, json_kind, is_int, is_number, parse_boxes, report_checks


@dataclass
class Tables:
    """The core tables read from label files (``explorer.project.schema`` columns, plus any extra columns)."""

    images: pd.DataFrame
    categories: pd.DataFrame
    labels: pd.DataFrame
    splits: np.ndarray | None = None  # per image row, when the label format carries splits (YOLO data.yaml)


def _name(section: str, i: int, rid=None) -> str:
    return f"{section}[{i}]" + (f" (id={rid})" if rid is not None else "")


def _list_section(data: dict, key: str, file: str, report: ProblemReport, *, required: bool) -> list:
    value = data.get(key)
    if value is None:
        if required:
            raise UserError(f"{file}: no '{key}' list; a COCO labels file needs 'images', 'annotations' and 'categories'")
        report.warn(file, key, f"no '{key}' list: the project has no labels", "no_annotations")
        return []
    if type(value) is not list:
        raise UserError(f"{file}: '{key}' must be a list, got {describe(value)}")
    return value


def _dict_records(items: list, section: str, file: str, report: ProblemReport) -> list[tuple[int, dict]]:
    out = []
    for i, item in enumerate(items):
        if type(item) is dict:
            out.append((i, item))
        else:
            report.add(file, _name(section, i), f"must be a JSON object, got {describe(item)}", "wrong_type")
    return out


def _int_id(rec: dict, key: str) -> tuple[int | None, str | None]:
    v = rec.get(key)
    if v is None:
        return None, f"missing '{key}'"
    if not is_int(v):
        return None, f"'{key}' must be an integer, got {describe(v)}"
    return int(v), None


def read_categories(items: list, file: str, report: ProblemReport) -> pd.DataFrame:
    """``categories`` table; a duplicate id keeps the first record; a missing name becomes the id (flagged)."""
    ids, names, supers, seen = [], [], [], {}
    for i, rec in _dict_records(items, "categories", file, report):
        cid, err = _int_id(rec, "id")
        if err:
            report.add(file, _name("categories", i), err, "bad_category")
            continue
        if cid in seen:
            report.add(file, _name("categories", i, cid), f"duplicate category id {cid} (first at categories[{seen[cid]}])", "duplicate_id")
            continue
        name = rec.get("name")
        if type(name) is not str or not name:
            report.warn(file, _name("categories", i, cid), f"'name' must be a non-empty string, got {describe(name)}; named {cid!s} instead", "bad_category")
            name = str(cid)
        seen[cid] = i
        ids.append(cid)
        names.append(name)
        sup = rec.get("supercategory")
        supers.append(sup if type(sup) is str else None)
    return pd.DataFrame({"category_id": pd.Series(ids, dtype="int64"), "name": names, "supercategory": supers})


def _size_value(rec: dict, key: str) -> tuple[float, str | None]:
    """A width/height value (NaN when absent or invalid) and, when invalid, what is wrong with it."""
    v = rec.get(key)
    if v is None:
        return np.nan, None
    if is_number(v) and math.isfinite(v) and v > 0:
        return float(v), None
    return np.nan, f"'{key}' must be a positive number, got {describe(v)}"


def read_images(items: list, file: str, images_root: Path | None, report: ProblemReport) -> tuple[pd.DataFrame, dict]:
    """``images`` table (checked against the image folder) and ``{rejected image id: record name}``."""
    rows, pos, seen, rejected = [], [], {}, {}
    for i, rec in _dict_records(items, "images", file, report):
        iid, err = _int_id(rec, "id")
        if err:
            report.add(file, _name("images", i), err, "bad_image")
            continue
        record = _name("images", i, iid)
        if iid in seen:
            report.add(file, record, f"duplicate image id {iid} (first at images[{seen[iid]}]); this record is skipped", "duplicate_id")
            continue
        seen[iid] = i
        fname = rec.get("file_name")
        if type(fname) is not str or not fname:
            report.add(file, record, f"'file_name' must be a non-empty string, got {describe(fname)}", "bad_image")
            rejected[iid] = record
            continue
        (w, w_err), (h, h_err) = _size_value(rec, "width"), _size_value(rec, "height")
        rows.append((iid, fname.replace("\\", "/"), w, h, "; ".join(e for e in (w_err, h_err) if e) or None))
        pos.append(i)
    images = pd.DataFrame(rows, columns=["image_id", "file_name", "width", "height", "size_error"])
    images["image_id"] = images["image_id"].astype("int64")

    def record(k: int) -> str:
        return _name("images", pos[k], int(images["image_id"].iat[k]))

    kept = attach_image_files(images, images_root, report, file, record)
    for k in np.flatnonzero(~images["image_id"].isin(kept["image_id"]).to_numpy()):
        rejected[int(images["image_id"].iat[k])] = record(k)
    kept["split"] = None
    return kept, rejected


_ANN_FIELDS = ("id", "image_id", "category_id")


def read_annotations(items: list, file: str, images: pd.DataFrame, rejected_images: dict,
                     categories: pd.DataFrame, report: ProblemReport) -> pd.DataFrame:
    """``labels`` table from COCO ``annotations``; every rejected record is reported, valid ones kept."""
    recs = _dict_records(items, "annotations", file, report)
    pos, ids, img_ids, cat_ids, bboxes, segs, areas, crowds = [], [], [], [], [], [], [], []
    for i, rec in recs:
        values, err = [], None
        for key in _ANN_FIELDS:
            v, err = _int_id(rec, key)
            if err:
                break
            values.append(v)
        seg = rec.get("segmentation")
        area = rec.get("area")
        crowd = rec.get("iscrowd", 0)
        if err is None and area is not None and not (is_number(area) and math.isfinite(area) and area >= 0):
            err = f"'area' must be a finite non-negative number, got {describe(area)}"
        if err is None and not (crowd in (0, 1) and type(crowd) in (int, bool)):
            err = f"'iscrowd' must be 0 or 1, got {describe(crowd)}"
        if err:
            rid = rec.get("id") if is_int(rec.get("id")) else None
            report.add(file, _name("annotations", i, rid), err, "bad_annotation")
            continue
        pos.append(i)
        ids.append(values[0]), img_ids.append(values[1]), cat_ids.append(values[2])
        bboxes.append(rec.get("bbox"))
        segs.append(None if seg == [] else seg)  # [] is COCO's "no mask"
        areas.append(np.nan if area is None else float(area))
        crowds.append(bool(crowd))
    n = len(pos)
    ids_a = np.array(ids, dtype=np.int64)
    img_a = np.array(img_ids, dtype=np.int64)
    cat_a = np.array(cat_ids, dtype=np.int64)

    def record(k: int) -> str:
        return _name("annotations", pos[k], int(ids_a[k]))

    ok = np.ones(n, dtype=bool)
    dup = pd.Series(ids_a).duplicated().to_numpy()
    first = {} if not dup.any() else pd.Series(np.arange(n), index=ids_a)[~dup].to_dict()
    for k in np.flatnonzero(dup):
        report.add(file, record(k), f"duplicate annotation id {ids_a[k]} (first at annotations[{pos[first[ids_a[k]]]}]); this record is skipped", "duplicate_id")
    ok &= ~dup
    image_row = pd.Index(images["image_id"].to_numpy()).get_indexer(img_a)
    for k in np.flatnonzero(ok & (image_row < 0)):
        why = (f"image_id {img_a[k]} refers to an image record that was rejected ({rejected_images[int(img_a[k])]})"
               if int(img_a[k]) in rejected_images else f"unknown image_id {img_a[k]} (not in 'images')")
        report.add(file, record(k), why, "unknown_image")
    ok &= image_row >= 0
    unknown_cat = ~np.isin(cat_a, categories["category_id"].to_numpy())
    for k in np.flatnonzero(ok & unknown_cat):
        report.add(file, record(k), f"unknown category_id {cat_a[k]} (not in 'categories')", "unknown_category")
    ok &= ~unknown_cat
    # index -1 (unknown image) picks the appended NaN
    W = np.append(images["width"].to_numpy(np.float64), np.nan)[image_row]
    H = np.append(images["height"].to_numpy(np.float64), np.nan)[image_row]
    for k in np.flatnonzero(ok):
        if segs[k] is not None:
            err = segmentation_error(segs[k], H[k], W[k])
            if err:
                report.add(file, record(k), err, "bad_segmentation")
                ok[k] = False
    boxes, box_errors = parse_boxes(bboxes)
    for k in np.flatnonzero(ok):
        if box_errors[k] is None:
            continue
        if bboxes[k] is None and segs[k] is not None:  # box-less mask: derive the box like mask.toBbox
            boxes[k] = mask_bbox(segs[k], H[k], W[k])
            report.warn(file, record(k), "missing 'bbox'; computed from the segmentation", "bbox_computed")
        else:
            report.add(file, record(k), box_errors[k], "bad_bbox")
            ok[k] = False
    ok = report_checks(report, file, record, [check_boxes(boxes, W, H)], rejected_kind="bad_bbox",
                       flagged_kind="bbox_outside_image", ok=ok)
    area_a = np.array(areas, dtype=np.float64)
    for k in np.flatnonzero(ok & np.isnan(area_a)):
        if segs[k] is not None:
            area_a[k] = mask_area(segs[k], H[k], W[k])
            report.warn(file, record(k), "missing 'area'; computed as the mask area", "area_computed")
        else:
            area_a[k] = boxes[k, 2] * boxes[k, 3]
            report.warn(file, record(k), "missing 'area'; computed as bbox width*height", "area_computed")
    keep = np.flatnonzero(ok)
    labels = pd.DataFrame({
        "label_id": ids_a[keep], "image_id": img_a[keep], "category_id": cat_a[keep],
        "x": boxes[keep, 0], "y": boxes[keep, 1], "w": boxes[keep, 2], "h": boxes[keep, 3],
        "area": area_a[keep], "iscrowd": np.array(crowds, dtype=bool)[keep] if n else np.zeros(0, bool),
        "segmentation": [to_json_text(segs[k]) for k in keep],
    })
    return schema.conform(labels, "labels")


def read_coco_labels(path: str | Path, *, images_root: Path | None, report: ProblemReport) -> Tables:
    """Read a COCO instances file into ``Tables``; bad records go to ``report``, valid records are kept.

    ``UserError`` when the file as a whole is unusable (missing, empty, malformed JSON, not a COCO object).
    """
    file = str(path)
    data = load_json(path, what="labels")
    if type(data) is not dict:
        hint = " (this looks like a results file: pass it with --predictions)" if type(data) is list else ""
        raise UserError(f"{file}: expected a COCO object with 'images', 'annotations' and 'categories', got {json_kind(data)}{hint}")
    categories = read_categories(_list_section(data, "categories", file, report, required=True), file, report)
    images, rejected = read_images(_list_section(data, "images", file, report, required=True), file, images_root, report)
    labels = read_annotations(_list_section(data, "annotations", file, report, required=False), file, images,
                              rejected, categories, report)
    return Tables(images=images, categories=categories, labels=labels)
