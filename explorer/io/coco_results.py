"""COCO results JSON (a list of ``{image_id, category_id, bbox | segmentation, score}``) → ``predictions``.

Follows pycocotools' ``COCO.loadRes`` so evaluation on the project equals pycocotools' on the raw files:

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

import numpy as np
import pandas as pd

from explorer.project import schema
from explorer.errors import ProblemReport, UserError
from explorer.io.jsonfile import load_json
from explorer.io.coco_segmentation import mask_area, mask_bbox, segmentation_error, to_json_text
from explorer.io.validate import check_boxes, check_scores, describe, json_kind, is_int, parse_boxes, report_checks


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
    if type(data) is dict and type(data.get("annotations")) is list:
        report.warn(file, "annotations", "results given as a COCO object; its 'annotations' list is read as the results", "results_in_object")
        return data["annotations"]
    raise UserError(f"{file}: expected a COCO results list [{{image_id, category_id, bbox, score}}, ...], got {json_kind(data)}")


def _is_bbox_file(records: list) -> bool:
    """``loadRes``' rule: the first record decides (a non-empty 'bbox' → box results)."""
    first = next((r for r in records if type(r) is dict), {})
    if "bbox" in first and first["bbox"] != []:
        return True
    if "segmentation" in first:
        return False
    return True


def read_coco_results(path: str | Path, *, images: pd.DataFrame, categories: pd.DataFrame,
                      report: ProblemReport, by_name: bool = False) -> pd.DataFrame:
    """Read a COCO results file into a ``predictions`` table for the given ``images`` and ``categories``.

    ``by_name`` also accepts image file names/stems and class names in place of ids.
    """
    file = str(path)
    records = _results_list(load_json(path, what="predictions"), file, report)
    if not records:
        report.warn(file, "results", "the results list is empty: no predictions", "no_predictions")
    bbox_file = _is_bbox_file(records)
    image_ids = set(images["image_id"].astype(int).tolist())
    cat_ids = set(categories["category_id"].astype(int).tolist())
    image_keys = image_key_map(images) if by_name else {}
    cat_names = dict(zip(categories["name"].astype(str), categories["category_id"].astype(int))) if by_name else {}
    size = images.set_index("image_id")[["width", "height"]]

    pos, img_a, cat_a, score_a, bboxes, segs = [], [], [], [], [], []
    for i, rec in enumerate(records):
        name = f"results[{i}]"
        if type(rec) is not dict:
            report.add(file, name, f"must be a JSON object, got {describe(rec)}", "wrong_type")
            continue
        iid, cid, score = rec.get("image_id"), rec.get("category_id", rec.get("category_name")), rec.get("score")
        err, kind = None, "bad_prediction"
        if type(iid) is str and iid in image_keys:
            iid = image_keys[iid]
        if type(cid) is str and cid in cat_names:
            cid = cat_names[cid]
        if iid is None:
            err = "missing 'image_id'"
        elif not is_int(iid):
            err = f"'image_id' {describe(iid)} is not an image id" + (" or a file name in the image set" if by_name else "")
        elif int(iid) not in image_ids:
            err, kind = f"unknown image_id {iid} (not among the project's images)", "unknown_image"
        elif cid is None:
            err = "missing 'category_id'"
        elif not is_int(cid):
            err = f"'category_id' {describe(cid)} is not a category id" + (" or a class name" if by_name else "")
        elif int(cid) not in cat_ids:
            err, kind = f"unknown category_id {cid} (not among the categories)", "unknown_category"
        elif score is None:
            err, kind = "missing 'score'", "bad_score"
        elif type(score) not in (int, float):
            err, kind = f"'score' must be a number, got {describe(score)}", "bad_score"
        if err:
            report.add(file, name, err, kind)
            continue
        seg = rec.get("segmentation")
        pos.append(i)
        img_a.append(int(iid)), cat_a.append(int(cid)), score_a.append(float(score))
        bboxes.append(rec.get("bbox")), segs.append(None if seg == [] else seg)

    n = len(pos)
    img_np = np.array(img_a, dtype=np.int64)
    W = size["width"].reindex(img_np).to_numpy(np.float64)
    H = size["height"].reindex(img_np).to_numpy(np.float64)

    def record(k: int) -> str:
        return f"results[{pos[k]}] (pred_id={pos[k] + 1})"

    ok = np.ones(n, dtype=bool)
    for k in range(n):
        if segs[k] is None:
            if not bbox_file:
                report.add(file, record(k), "missing 'segmentation' (this is a mask results file: its first record has no bbox)", "bad_segmentation")
                ok[k] = False
            continue
        err = segmentation_error(segs[k], H[k], W[k])
        if err:
            report.add(file, record(k), err, "bad_segmentation")
            ok[k] = False
    boxes, box_errors = parse_boxes(bboxes)
    area = np.full(n, np.nan)
    for k in np.flatnonzero(ok):
        if not bbox_file:
            if bboxes[k] is None:
                boxes[k] = mask_bbox(segs[k], H[k], W[k])
            area[k] = mask_area(segs[k], H[k], W[k])
        if box_errors[k] is not None and (bbox_file or bboxes[k] is not None):
            report.add(file, record(k), box_errors[k], "bad_bbox")
            ok[k] = False
    if bbox_file:
        area = boxes[:, 2] * boxes[:, 3]
    checks = [check_scores(np.array(score_a, dtype=np.float64)), check_boxes(boxes, W, H)]
    ok = report_checks(report, file, record, checks, rejected_kind="bad_prediction", flagged_kind="flagged_prediction", ok=ok)
    keep = np.flatnonzero(ok)
    preds = pd.DataFrame({
        "pred_id": np.array(pos, dtype=np.int64)[keep] + 1 if n else np.zeros(0, np.int64),
        "image_id": img_np[keep], "category_id": np.array(cat_a, dtype=np.int64)[keep],
        "x": boxes[keep, 0], "y": boxes[keep, 1], "w": boxes[keep, 2], "h": boxes[keep, 3],
        "area": area[keep], "score": np.array(score_a, dtype=np.float64)[keep],
        "segmentation": [to_json_text(segs[k]) for k in keep],
    })
    return schema.conform(preds, "predictions")
