"""COCO results JSON (a list of ``{image_id, category_id, bbox | segmentation, score}``) → ``predictions``.

Parsed by THE COCO record model (``explorer.io.records.parse_results``, also used by ``explorer evaluate``),
which follows pycocotools' ``COCO.loadRes`` so evaluation on the project equals pycocotools' on the raw files:

- ``pred_id`` is the 1-based position of the record in the file (``loadRes`` assigns ``id = i + 1``); a
  rejected record leaves a gap rather than renumbering the rest.
- The file's kind is decided by its first record, as ``loadRes`` does: a non-empty ``bbox`` there makes every
  record a box result with ``area = w * h`` (a ``segmentation`` on it is kept, not used for the area);
  otherwise records are mask results with ``area = mask.area(segmentation)`` and, when absent,
  ``bbox = mask.toBbox(segmentation)``.
- ``iscrowd`` is always 0 for predictions (not stored).

For projects imported from YOLO or VOC (whose image ids are assigned by the importer), ``image_id`` may also
be a string: the image's ``file_name`` or its stem; ``category_id`` may be a class name string.
Records are named ``results[i]`` in messages.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

import pandas as pd

from explorer.project import schema
from explorer.errors import ProblemReport, UserError
from explorer.io import records
from explorer.io.json_chunks import NotChunkable, list_chunks
from explorer.io.jsonfile import gc_paused, load_json, report_duplicate_keys
from explorer.io.coco_segmentation import to_json_text
from explorer.io.validate import json_kind


def image_key_map(images: pd.DataFrame) -> dict[str, int]:
    """``file_name`` and unique stems → ``image_id`` (for results that name images instead of numbering them)."""
    names = images["file_name"].astype(str).tolist()
    ids = images["image_id"].astype(int).tolist()
    stems = pd.Series([PurePosixPath(n).stem for n in names])
    unique = ~stems.duplicated(keep=False).to_numpy()
    out = {s: i for s, i, u in zip(stems, ids, unique) if u}
    out.update(zip(names, ids))
    return out


def _results_list(data, file: str, report: ProblemReport) -> list:
    if type(data) is list:
        return data
    if isinstance(data, dict) and type(data.get("annotations")) is list:
        report_duplicate_keys(data, file, report)
        report.warn(file, "annotations", "results given as a COCO object; its 'annotations' list is read as the results", "results_in_object")
        return data["annotations"]
    raise UserError(f"{file}: expected a COCO results list [{{image_id, category_id, bbox, score}}, ...], got {json_kind(data)}")


def read_coco_results(path: str | Path, *, images: pd.DataFrame, categories: pd.DataFrame,
                      report: ProblemReport, by_name: bool = False) -> pd.DataFrame:
    """Read a COCO results file into a ``predictions`` table for the given ``images`` and ``categories``
    (``records.parse_results``: the same rules as ``explorer evaluate``; predictions of a category that is not
    in the project are rejected, since a project names every class).

    ``by_name`` also accepts image file names/stems and class names in place of ids.
    """
    file = str(path)
    image_keys = image_key_map(images) if by_name else None
    cat_names = dict(zip(categories["name"].astype(str), categories["category_id"].astype(int))) if by_name else None
    options = {"categories": categories, "image_keys": image_keys, "category_names": cat_names}
    chunks = list_chunks(path)
    if chunks is not None:  # a large file: one chunk of records at a time (json_chunks), or read whole below
        problems = ProblemReport()
        try:  # (the collector paused until each chunk's objects are freed: it would walk them all, often)
            with gc_paused():
                preds = records.parse_results_chunks(chunks, file, images, problems, finish=_finish, **options)
        except NotChunkable:
            pass
        else:
            report.extend(problems)
            return preds
    items = _results_list(load_json(path, what="predictions"), file, report)
    if not items:
        report.warn(file, "results", "the results list is empty: no predictions", "no_predictions")
    return _finish(records.parse_results(items, file, images, report, **options))


def _finish(preds: pd.DataFrame) -> pd.DataFrame:
    """The record model's table as the project's ``predictions`` table (segmentations as JSON text)."""
    preds["segmentation"] = [to_json_text(s) for s in preds["segmentation"]]
    return schema.conform(preds.drop(columns=["pos"]), "predictions")
