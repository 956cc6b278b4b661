"""Builders of small real input files (PNG images, COCO JSON) for the importer tests."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from explorer.errors import Problem, ProblemReport


def write_image(path: Path, width: int, height: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(path)
    return path


def compressed_rle(height: int, width: int, x0: int, y0: int, x1: int, y1: int) -> dict:
    """Compressed RLE (counts as str) of the filled rectangle [x0, x1) x [y0, y1)."""
    m = np.zeros((height, width), np.uint8, order="F")
    m[y0:y1, x0:x1] = 1
    rle = mask_utils.encode(m)
    return {"size": rle["size"], "counts": rle["counts"].decode()}


def base_coco() -> dict:
    """Two images, non-contiguous category ids, a box, a polygon, an uncompressed crowd RLE, a compressed RLE."""
    return {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "sub/b.png", "width": 50, "height": 20},
        ],
        "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog", "supercategory": "animal"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 3, "bbox": [1, 2, 10, 5], "area": 50, "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 7, "bbox": [5, 5, 10, 10], "area": 100.0, "iscrowd": 0,
             "segmentation": [[5, 5, 15, 5, 15, 15, 5, 15]]},
            {"id": 12, "image_id": 2, "category_id": 3, "bbox": [0, 0, 1, 2], "area": 2, "iscrowd": 1,
             "segmentation": {"size": [20, 50], "counts": [0, 2, 998]}},
            {"id": 13, "image_id": 2, "category_id": 7, "bbox": [10, 4, 6, 3], "area": 18, "iscrowd": 0,
             "segmentation": compressed_rle(20, 50, 10, 4, 16, 7)},
        ],
    }


def base_results() -> list:
    return [
        {"image_id": 1, "category_id": 3, "bbox": [1, 2, 10, 5], "score": 0.9},
        {"image_id": 2, "category_id": 7, "bbox": [10, 5, 20, 10], "score": 0.5},
        {"image_id": 2, "category_id": 3, "bbox": [0, 0, 2, 2], "score": 0.25},
    ]


def write_coco_inputs(tmp: Path, coco: dict | None = None, results: list | None = None, *, images: bool = True):
    """Write images/, labels.json, predictions.json under ``tmp``; return their paths (images None if not)."""
    coco = copy.deepcopy(base_coco() if coco is None else coco)
    root = None
    if images:
        root = tmp / "images"
        write_image(root / "a.png", 40, 30)
        write_image(root / "sub" / "b.png", 50, 20)
    labels = tmp / "labels.json"
    labels.write_text(json.dumps(coco))
    preds = tmp / "predictions.json"
    preds.write_text(json.dumps(base_results() if results is None else results))
    return root, labels, preds


def problems_for(report: ProblemReport, record: str) -> list[Problem]:
    return [p for p in report.problems if p.record == record]


def only_problem(report: ProblemReport, record: str) -> Problem:
    found = problems_for(report, record)
    assert len(found) == 1, f"expected one problem for {record}, got {report.problems}"
    return found[0]
