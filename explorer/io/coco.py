"""COCO instances JSON → ``images``, ``categories`` and ``labels`` tables.

Records are parsed, validated and normalised by THE COCO record model, ``explorer.io.records`` (the evaluator
uses the same one, so a project keeps exactly the records ``explorer evaluate`` keeps on the file). Ids are kept
from the file (``image_id``, ``category_id``, ``label_id`` = the annotation ``id``, so pycocotools' id-0 rule
can follow the source id), boxes stay COCO ``[x, y, w, h]`` pixels, ``area`` is the file's (pycocotools' area
ranges use it), ``segmentation`` is stored as JSON text (polygons, compressed or uncompressed RLE),
``iscrowd`` defaults to 0 as in pycocotools. The importer adds only what a project needs beyond evaluation:
every image record needs a ``file_name``, checked against the image folder.

Records are named in messages as ``images[3] (id=42)`` / ``annotations[12] (id=1774)`` / ``categories[0]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.project import schema
from explorer.errors import ProblemReport, UserError
from explorer.io.images import attach_image_files
from explorer.io.scan import file_name_error
from explorer.io.jsonfile import load_json, report_duplicate_keys
from explorer.io import records
from explorer.io.coco_segmentation import to_json_text
from explorer.io.validate import describe, json_kind


@dataclass
class Tables:
    """The core tables read from label files (``explorer.project.schema`` columns, plus any extra columns)."""

    images: pd.DataFrame
    categories: pd.DataFrame
    labels: pd.DataFrame
    splits: np.ndarray | None = None  # per image row, when the label format carries splits (YOLO data.yaml)


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


def read_images(items: list, file: str, images_root: Path | None, report: ProblemReport) -> tuple[pd.DataFrame, dict]:
    """``images`` table (``records.parse_images``, then checked against the image folder) and
    ``{rejected image id: record name}``. A project also needs each image's ``file_name`` (the evaluator does
    not), so a record without one is rejected here."""
    parsed = records.parse_images(items, file, report)
    names = [records.record_name("images", int(p), int(i)) for p, i in zip(parsed["pos"], parsed["image_id"])]
    rejected = {}
    no_name = parsed["file_name"].isna().to_numpy()
    for k in np.flatnonzero(no_name):
        given = items[int(parsed["pos"].iat[k])].get("file_name")
        why = (file_name_error(given) if type(given) is str and given else None) or \
            f"'file_name' must be a non-empty string, got {describe(given)}"
        report.add(file, names[k], why, "bad_image")
        rejected[int(parsed["image_id"].iat[k])] = names[k]
    images = parsed[~no_name].drop(columns=["pos"]).reset_index(drop=True)
    names = [n for n, bad in zip(names, no_name) if not bad]
    kept = attach_image_files(images, images_root, report, file, lambda k: names[k], unknown_size_ok=True)
    for k in np.flatnonzero(~images["image_id"].isin(kept["image_id"]).to_numpy()):
        rejected[int(images["image_id"].iat[k])] = names[k]
    kept["split"] = None
    return kept, rejected


def read_annotations(items: list, file: str, images: pd.DataFrame, rejected_images: dict,
                     categories: pd.DataFrame, report: ProblemReport) -> pd.DataFrame:
    """``labels`` table from COCO ``annotations`` (``records.parse_annotations``), segmentations as JSON text."""
    labels = records.parse_annotations(items, file, images, categories, report, rejected_images=rejected_images)
    labels["segmentation"] = [to_json_text(s) for s in labels["segmentation"]]
    return schema.conform(labels.drop(columns=["pos"]), "labels")


def read_coco_labels(path: str | Path, *, images_root: Path | None, report: ProblemReport) -> Tables:
    """Read a COCO instances file into ``Tables``; bad records go to ``report``, valid records are kept.

    ``UserError`` when the file as a whole is unusable (missing, empty, malformed JSON, not a COCO object).
    """
    file = str(path)
    data = load_json(path, what="labels")
    if not isinstance(data, dict):  # (a dict, or jsonfile.DuplicateKeys)
        hint = " (this looks like a results file: pass it with --predictions)" if type(data) is list else ""
        raise UserError(f"{file}: expected a COCO object with 'images', 'annotations' and 'categories', got {json_kind(data)}{hint}")
    report_duplicate_keys(data, file, report)
    categories = records.parse_categories(_list_section(data, "categories", file, report, required=True), file, report)
    images, rejected = read_images(_list_section(data, "images", file, report, required=True), file, images_root, report)
    labels = read_annotations(_list_section(data, "annotations", file, report, required=False), file, images,
                              rejected, categories, report)
    return Tables(images=images, categories=categories, labels=labels)
