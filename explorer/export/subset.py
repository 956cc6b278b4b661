"""A COCO JSON subset of a project: chosen images, labels and predictions, with their ids preserved.

``coco_subset(project, image_ids=..., label_ids=..., pred_ids=...)`` returns a ``CocoSubset`` whose
``ground_truth`` is a COCO instances dict (``images``, ``categories``, ``annotations``) and whose ``results``
is the predictions as a COCO results list (``image_id, category_id, bbox, score[, segmentation], id``).
``to_dict()`` is one JSON document: the ground truth plus a ``"predictions"`` key holding the results; it is
still a valid COCO ground-truth file (pycocotools ignores unknown keys).

Which records go in:

* ``image_ids`` — these images with **all** their labels and predictions (so evaluating the subset equals
  evaluating the full project restricted to these images);
* ``label_ids`` / ``pred_ids`` — exactly these records plus the images they lie on; with
  ``whole_images=True`` those images also bring all their other labels and predictions (the context needed to
  re-evaluate them).

COCO results files carry a box (``bbox`` results) or a mask (``segm`` results). By default a result holds
both when the prediction has a mask; ``results_type="segm"`` leaves the box out, because pycocotools' ``loadRes``
takes a result's ``area`` from its box whenever a ``bbox`` key is present, which would change which mask
predictions fall in the small/medium/large ranges of a ``segm`` evaluation.

Ids are preserved: image ``id`` = ``image_id``, annotation ``id`` = ``label_id``, result ``id`` = ``pred_id``,
category ``id`` = ``category_id``. Every category is kept so ids resolve in any tool. An id that is not in the
project is a ``UserError`` naming it (nothing is dropped silently).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd

from explorer.errors import UserError
from explorer.project.folder import Project


@dataclass
class CocoSubset:
    """A COCO ground-truth dict and a COCO results list for the same images."""

    ground_truth: dict
    results: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """One document: the ground truth with the results under ``"predictions"``."""
        return {**self.ground_truth, "predictions": self.results}

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @property
    def counts(self) -> dict[str, int]:
        return {"images": len(self.ground_truth["images"]), "labels": len(self.ground_truth["annotations"]),
                "predictions": len(self.results)}


def _ids(values: Iterable | None, known: pd.Series, what: str) -> np.ndarray:
    """Unique ids as int64, checked against the project's ``known`` ids (``UserError`` names the unknown)."""
    if values is None:
        return np.empty(0, np.int64)
    ids = np.unique(np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.int64))
    unknown = np.setdiff1d(ids, known.to_numpy(np.int64))
    if len(unknown):
        shown = ", ".join(str(i) for i in unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise UserError(f"{len(unknown)} {what} id(s) not in the project: {shown}")
    return ids


def _segmentation(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return json.loads(value) if isinstance(value, str) else value


def _number(value: float):
    """JSON-friendly number: an integral float becomes an int (COCO writes widths as ints)."""
    value = float(value)
    return int(value) if value.is_integer() else value


def _images(df: pd.DataFrame) -> list[dict]:
    out = []
    for row in df.itertuples(index=False):
        image = {"id": int(row.image_id), "file_name": str(row.file_name)}
        for key in ("width", "height"):
            value = getattr(row, key)
            if pd.notna(value):  # unknown sizes stay absent rather than becoming 0
                image[key] = _number(value)
        if isinstance(row.split, str):
            image["split"] = row.split
        out.append(image)
    return out


def _records(df: pd.DataFrame, *, kind: str, with_box: bool = True) -> list[dict]:
    """COCO annotations (``kind="labels"``) or results (``kind="predictions"``) from a project table."""
    id_col = "label_id" if kind == "labels" else "pred_id"
    cols = {c: df[c].to_numpy() for c in (id_col, "image_id", "category_id", "x", "y", "w", "h", "area", "segmentation")}
    extra = df["iscrowd"].to_numpy() if kind == "labels" else df["score"].to_numpy(np.float64)
    out = []
    for i in range(len(df)):
        record = {
            "id": int(cols[id_col][i]),
            "image_id": int(cols["image_id"][i]),
            "category_id": int(cols["category_id"][i]),
        }
        segmentation = _segmentation(cols["segmentation"][i])
        if with_box or segmentation is None:
            record["bbox"] = [float(cols[c][i]) for c in ("x", "y", "w", "h")]
        if kind == "labels":
            record["area"] = float(cols["area"][i])
            record["iscrowd"] = int(bool(extra[i]))
        else:
            record["score"] = float(extra[i])
        if segmentation is not None:
            record["segmentation"] = segmentation
        out.append(record)
    return out


def coco_subset(project: Project, *, image_ids: Iterable[int] | None = None, label_ids: Iterable[int] | None = None,
                pred_ids: Iterable[int] | None = None, whole_images: bool = False,
                results_type: str = "bbox") -> CocoSubset:
    """The COCO subset of ``project`` for the given ids (see the module docstring for which records go in).

    Images, annotations and results are sorted by id. ``results_type`` is ``"bbox"`` (every result has its box,
    plus its mask when it has one) or ``"segm"`` (mask results without the box). Raises ``UserError`` when an
    id is unknown.
    """
    if results_type not in ("bbox", "segm"):
        raise UserError(f"results_type must be 'bbox' or 'segm', got {results_type!r}")
    labels, predictions, images = project.labels, project.predictions, project.images
    image_ids = _ids(image_ids, images["image_id"], "image")
    label_ids = _ids(label_ids, labels["label_id"], "label")
    pred_ids = _ids(pred_ids, predictions["pred_id"], "prediction")

    label_rows = labels["label_id"].isin(label_ids).to_numpy()
    pred_rows = predictions["pred_id"].isin(pred_ids).to_numpy()
    record_images = np.union1d(labels.loc[label_rows, "image_id"].to_numpy(np.int64),
                               predictions.loc[pred_rows, "image_id"].to_numpy(np.int64))
    whole = np.union1d(image_ids, record_images) if whole_images else image_ids
    label_rows = label_rows | labels["image_id"].isin(whole).to_numpy()
    pred_rows = pred_rows | predictions["image_id"].isin(whole).to_numpy()
    all_images = np.union1d(image_ids, record_images)

    chosen_images = images[images["image_id"].isin(all_images)].sort_values("image_id")
    chosen_labels = labels[label_rows].sort_values("label_id")
    chosen_predictions = predictions[pred_rows].sort_values("pred_id")
    categories = [
        {"id": int(c.category_id), "name": str(c.name),
         **({"supercategory": str(c.supercategory)} if isinstance(c.supercategory, str) else {})}
        for c in project.categories.sort_values("category_id").itertuples(index=False)
    ]
    ground_truth = {
        "info": {"description": f"subset of project {project.name!r}", "project_fingerprint": project.fingerprint},
        "images": _images(chosen_images),
        "categories": categories,
        "annotations": _records(chosen_labels, kind="labels"),
    }
    return CocoSubset(ground_truth=ground_truth, results=_records(chosen_predictions, kind="predictions",
                                                                  with_box=results_type == "bbox"))
