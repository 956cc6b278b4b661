"""Read ground truth and predictions (COCO JSON, COCO results, project tables) into one columnar form.

Every input ends up as an ``EvalData``: the images and categories of the ground truth plus two ``Boxes``
tables (labels and predictions) of parallel NumPy arrays. Bad records are skipped and reported in
``EvalData.problems`` (file, record, what is wrong); valid records are kept. Predictions follow pycocotools'
``COCO.loadRes`` conventions exactly (decided by the first record, as pycocotools does):

- box results (the first record has a non-empty ``bbox``): ``area = w * h``, a missing ``segmentation`` becomes
  the box polygon ``[[x1, y1, x1, y2, x2, y2, x2, y1]]``;
- mask results: ``area = mask area`` (``pycocotools.mask.area``), a missing ``bbox`` is ``mask.toBbox``;
- ids are ``1..n`` in file order, ``iscrowd = 0``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.errors import ProblemReport, UserError


@dataclass
class Boxes:
    """Labels or predictions as parallel arrays (one row each), in input order.

    ``box``: ``(n, 4)`` float64 ``x, y, w, h``; ``area``: COCO area (area ranges use it); ``iscrowd``: bool
    (always False for predictions); ``score``: float64 (NaN for labels); ``segm``: the raw segmentation
    (polygon list / RLE dict, or None) per row, or None when no row has one.
    """

    ids: np.ndarray
    image_id: np.ndarray
    category_id: np.ndarray
    box: np.ndarray
    area: np.ndarray
    iscrowd: np.ndarray
    score: np.ndarray
    segm: list | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray) -> "Boxes":
        """Rows ``index`` (a bool mask or integer positions) as a new table."""
        index = np.flatnonzero(index) if np.asarray(index).dtype == bool else np.asarray(index, dtype=np.int64)
        segm = None if self.segm is None else [self.segm[i] for i in index]
        return Boxes(self.ids[index], self.image_id[index], self.category_id[index], self.box[index],
                     self.area[index], self.iscrowd[index], self.score[index], segm)

    @classmethod
    def empty(cls) -> "Boxes":
        i = np.zeros(0, np.int64)
        f = np.zeros(0, np.float64)
        return cls(i, i, i, np.zeros((0, 4)), f, np.zeros(0, bool), f, None)


@dataclass
class EvalData:
    """Everything an evaluation needs: ground-truth images/categories, labels, predictions, problems.

    ``label_id_counts`` is False for labels whose id is 0 in a COCO file: pycocotools stores matches as label
    ids and reads 0 as "unmatched", so such a match counts as a false positive there (we mirror it for
    COCO input so numbers stay identical; project labels always count).
    """

    image_ids: np.ndarray
    heights: np.ndarray
    widths: np.ndarray
    category_ids: np.ndarray
    category_names: dict[int, str]
    labels: Boxes
    predictions: Boxes
    problems: ProblemReport = field(default_factory=ProblemReport)
    label_id_counts: np.ndarray | None = None
    source: str = ""

    def image_size(self) -> dict[int, tuple[float, float]]:
        return {int(i): (h, w) for i, h, w in zip(self.image_ids, self.heights, self.widths)}


# ---- JSON reading ---------------------------------------------------------------------------------------------
def read_json(path: str | Path, what: str):
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file {path} does not exist")
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_box(bb) -> str | None:
    if not isinstance(bb, (list, tuple)) or len(bb) != 4 or not all(_is_number(v) for v in bb):
        return f"bbox must be 4 finite numbers [x, y, w, h], got {bb!r}"
    if bb[2] < 0 or bb[3] < 0:
        return f"bbox has a negative width or height: {bb!r}"
    return None


def _check_segm(s) -> str | None:
    if isinstance(s, list):
        if not all(isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 and all(_is_number(v) for v in p) for p in s):
            return "segmentation polygons must be lists of at least 3 (x, y) number pairs"
        return None
    if isinstance(s, dict) and "counts" in s and "size" in s:
        return None
    return f"segmentation must be a polygon list or an RLE dict with 'counts' and 'size', got {type(s).__name__}"


def _unique_records(records: list, kind: str, what: str, source: str, report: ProblemReport) -> list[dict]:
    """Records of ``kind`` with an integer ``id``, first of each id kept; the others reported."""
    kept, seen = [], set()
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or not _is_int(rec.get("id")):
            report.add(source, _record_name(kind, i, rec), f"{what} needs an integer 'id'", f"bad_{what}")
        elif rec["id"] in seen:
            report.add(source, _record_name(kind, i, rec), f"duplicate {what} id; first kept", "duplicate_id")
        else:
            seen.add(rec["id"])
            kept.append(rec)
    return kept


def _record_name(kind: str, i: int, rec) -> str:
    rid = rec.get("id") if isinstance(rec, dict) else None
    return f"{kind}[{i}]" + (f" (id={rid})" if rid is not None else "")


def _numeric(values, *, kinds: str):
    """``np.array(values)`` if it is a clean numeric array of one of ``kinds`` (dtype kinds), else None."""
    try:
        arr = np.array(values)
    except (ValueError, TypeError):
        return None
    return arr if arr.dtype.kind in kinds else None


def _fast_boxes(recs: list, *, is_gt: bool, image_ids: np.ndarray, category_ids: np.ndarray | None):
    """Vectorised validation + conversion of clean box records; None if anything needs the per-record path.

    Checks exactly what the per-record path checks (keys, integer ids, 4 finite box numbers, w, h >= 0,
    known image / category, finite area / score, iscrowd 0/1, unique label ids), so clean input — the common
    case — skips the slow path and dirty input gets per-record messages.
    """
    n = len(recs)
    try:
        img = _numeric([r["image_id"] for r in recs], kinds="iu")
        cat = _numeric([r["category_id"] for r in recs], kinds="iu")
        box = _numeric([r["bbox"] for r in recs], kinds="iuf")
        if is_gt:
            ids = _numeric([r["id"] for r in recs], kinds="iu")
            area = _numeric([r["area"] for r in recs], kinds="iuf")
            crowd = _numeric([r.get("iscrowd", 0) for r in recs], kinds="iub")
            score = np.full(n, np.nan)
        else:
            ids, area, crowd = np.zeros(n, np.int64), np.zeros(n), np.zeros(n, bool)
            score = _numeric([r["score"] for r in recs], kinds="iuf")
    except (KeyError, TypeError):
        return None
    if any(a is None for a in (img, cat, box, ids, area, crowd, score)) or box.shape != (n, 4):
        return None
    box = box.astype(np.float64)
    area, score = area.astype(np.float64), score.astype(np.float64)
    ok = (np.isfinite(box).all() and (box[:, 2:] >= 0).all() and np.isin(img, image_ids).all()
          and (category_ids is None or np.isin(cat, category_ids).all()))
    if is_gt:
        ok = ok and np.isfinite(area).all() and np.isin(crowd, (0, 1)).all() and len(np.unique(ids)) == n
    else:
        ok = ok and np.isfinite(score).all()
    if not ok:
        return None
    return Boxes(ids=ids.astype(np.int64), image_id=img.astype(np.int64), category_id=cat.astype(np.int64), box=box,
                 area=area, iscrowd=crowd.astype(bool), score=score, segm=None)


def load_coco_gt(gt, *, iou_type: str) -> tuple[dict, ProblemReport]:
    """Validate a COCO ground-truth dict; return ``{images, categories, annotations}`` of valid records."""
    source = "ground truth"
    if isinstance(gt, (str, Path)):
        source = str(gt)
        gt = read_json(gt, "ground-truth")
    if not isinstance(gt, dict) or not isinstance(gt.get("images"), list) or not isinstance(gt.get("categories"), list):
        raise UserError(f"{source}: a COCO ground-truth file needs 'images' and 'categories' lists")
    report = ProblemReport()
    images = _unique_records(gt["images"], "images", "image", source, report)
    cats = _unique_records(gt["categories"], "categories", "category", source, report)
    seen, cat_seen = {im["id"] for im in images}, {c["id"] for c in cats}
    raw = gt.get("annotations") or []
    fast = None
    if iou_type == "bbox" and isinstance(raw, list) and raw:
        fast = _fast_boxes(raw, is_gt=True, image_ids=np.fromiter(seen, np.int64, len(seen)),
                           category_ids=np.fromiter(cat_seen, np.int64, len(cat_seen)))
    anns, ann_seen = ([], set()) if fast is None else (raw, ())
    for i, a in enumerate(raw if fast is None else ()):
        msg = None
        if not isinstance(a, dict):
            msg = "annotation must be an object"
        elif not _is_int(a.get("id")):
            msg = "annotation needs an integer 'id'"
        elif a["id"] in ann_seen:
            msg = "duplicate annotation id (an earlier annotation has it)"
        elif a.get("image_id") not in seen:
            msg = f"image_id {a.get('image_id')!r} is not in 'images'"
        elif a.get("category_id") not in cat_seen:
            msg = f"category_id {a.get('category_id')!r} is not in 'categories'"
        elif (msg := _check_box(a.get("bbox"))) is not None:
            pass
        elif "area" in a and not _is_number(a["area"]):
            msg = f"area must be a finite number, got {a['area']!r}"
        elif a.get("iscrowd", 0) not in (0, 1, True, False):
            msg = f"iscrowd must be 0 or 1, got {a.get('iscrowd')!r}"
        elif iou_type == "segm" and (msg := _check_segm(a.get("segmentation"))) is not None:
            pass
        if msg is not None:
            report.add(source, _record_name("annotations", i, a), msg, "bad_annotation")
            continue
        ann_seen.add(a["id"])
        anns.append(a)
    report.kept.update({"images": len(images), "categories": len(cats), "labels": len(anns)})
    return {"images": images, "categories": cats, "annotations": anns, "source": source, "labels": fast}, report


def load_coco_results(results, *, image_ids: set, iou_type: str, report: ProblemReport) -> list[dict]:
    """Validate COCO results (list, or a dataset dict with 'annotations'); return the valid records."""
    source = "predictions"
    if isinstance(results, (str, Path)):
        source = str(results)
        results = read_json(results, "predictions")
    if isinstance(results, dict) and isinstance(results.get("annotations"), list):
        results = results["annotations"]
    if not isinstance(results, list):
        raise UserError(f"{source}: COCO results must be a list of objects (or a dataset with 'annotations')")
    box_mode = bool(results) and isinstance(results[0], dict) and bool(results[0].get("bbox"))
    if box_mode and iou_type == "bbox":
        fast = _fast_boxes(results, is_gt=False, image_ids=np.fromiter(image_ids, np.int64, len(image_ids)),
                           category_ids=None)
        if fast is not None:
            report.kept["predictions"] = len(results)
            return fast, box_mode, source
    kept = []
    for i, r in enumerate(results):
        msg = None
        if not isinstance(r, dict):
            msg = "result must be an object"
        elif r.get("image_id") not in image_ids:
            msg = f"image_id {r.get('image_id')!r} is not an image of the ground truth"
        elif not _is_int(r.get("category_id")):
            msg = f"category_id must be an integer, got {r.get('category_id')!r}"
        elif not _is_number(r.get("score")):
            msg = f"score must be a finite number, got {r.get('score')!r}"
        elif box_mode:
            msg = _check_box(r.get("bbox"))
            if msg is None and iou_type == "segm" and "segmentation" in r:
                msg = _check_segm(r["segmentation"])
        else:
            s = r.get("segmentation")
            if not (isinstance(s, dict) and "counts" in s and "size" in s):
                msg = "a mask result needs an RLE 'segmentation' {'size', 'counts'} (or give every result a 'bbox')"
            elif "bbox" in r and _check_box(r["bbox"]) is not None:
                msg = _check_box(r["bbox"])
        if msg is not None:
            report.add(source, f"[{i}]", msg, "bad_prediction")
            continue
        kept.append(r)
    report.kept["predictions"] = len(kept)
    return kept, box_mode, source


def _boxes_from_records(recs: list[dict], *, crowd: bool) -> Boxes:
    n = len(recs)
    if n == 0:
        return Boxes.empty()
    box = np.array([r["bbox"] for r in recs], dtype=np.float64).reshape(n, 4)
    return Boxes(
        ids=np.array([r.get("id", 0) for r in recs], dtype=np.int64),
        image_id=np.array([r["image_id"] for r in recs], dtype=np.int64),
        category_id=np.array([r["category_id"] for r in recs], dtype=np.int64),
        box=box,
        area=np.array([r.get("area", np.nan) for r in recs], dtype=np.float64),
        iscrowd=np.array([bool(r.get("iscrowd", 0)) for r in recs], dtype=bool) if crowd else np.zeros(n, bool),
        score=np.array([r.get("score", np.nan) for r in recs], dtype=np.float64),
        segm=[r.get("segmentation") for r in recs],
    )


def from_coco(gt, predictions, *, iou_type: str) -> EvalData:
    """``EvalData`` from a COCO ground truth (path or dict) and COCO results (path, list, or None)."""
    from pycocotools import mask as mask_utils

    data, report = load_coco_gt(gt, iou_type=iou_type)
    images = data["images"]
    image_ids = np.array([im["id"] for im in images], dtype=np.int64)
    heights = np.array([im.get("height", np.nan) for im in images], dtype=np.float64)
    widths = np.array([im.get("width", np.nan) for im in images], dtype=np.float64)
    cats = data["categories"]
    names = {int(c["id"]): str(c.get("name", c["id"])) for c in cats}
    labels = data["labels"] if data["labels"] is not None else _boxes_from_records(data["annotations"], crowd=True)
    no_area = np.isnan(labels.area)
    if no_area.any():  # pycocotools would fail; COCO's area is the mask area, else the box area
        for i in np.flatnonzero(no_area):
            report.add(data["source"], _record_name("annotations", int(i), data["annotations"][i]),
                       "no 'area': used w*h of the bbox (record kept)", "filled_area")
        labels.area[no_area] = labels.box[no_area, 2] * labels.box[no_area, 3]

    preds = Boxes.empty()
    if predictions is not None:
        recs, box_mode, source = load_coco_results(predictions, image_ids=set(image_ids.tolist()),
                                                   iou_type=iou_type, report=report)
        if isinstance(recs, Boxes):  # clean box results, already converted
            preds = recs
            preds.area = preds.box[:, 2] * preds.box[:, 3]
            preds.ids = np.arange(1, len(preds) + 1, dtype=np.int64)
        elif recs:
            if box_mode:
                preds = _boxes_from_records(recs, crowd=False)
                preds.area = preds.box[:, 2] * preds.box[:, 3]
                preds.segm = [r.get("segmentation") for r in recs]
            else:
                rles = [r["segmentation"] for r in recs]
                areas = np.array([mask_utils.area(r) for r in rles], dtype=np.float64)  # list input overflows in 2.0.11
                bb = [r["bbox"] if "bbox" in r else mask_utils.toBbox(r["segmentation"]).tolist() for r in recs]
                preds = Boxes(
                    ids=np.zeros(len(recs), np.int64),
                    image_id=np.array([r["image_id"] for r in recs], dtype=np.int64),
                    category_id=np.array([r["category_id"] for r in recs], dtype=np.int64),
                    box=np.array(bb, dtype=np.float64).reshape(len(recs), 4),
                    area=areas, iscrowd=np.zeros(len(recs), bool),
                    score=np.array([r["score"] for r in recs], dtype=np.float64), segm=rles)
            preds.ids = np.arange(1, len(recs) + 1, dtype=np.int64)
        unknown = ~np.isin(preds.category_id, np.fromiter(names, np.int64, count=len(names)))
        for c in np.unique(preds.category_id[unknown]):
            report.add(source, f"category_id {int(c)}", f"{int(unknown[preds.category_id == c].sum())} "
                       "prediction(s) of a category that is not in the ground truth (kept, not evaluated)",
                       "unknown_category")
    return EvalData(image_ids=image_ids, heights=heights, widths=widths,
                    category_ids=np.array(sorted(names), dtype=np.int64), category_names=names,
                    labels=labels, predictions=preds, problems=report,
                    label_id_counts=labels.ids != 0, source=data["source"])


def _segm_column(df) -> list | None:
    if "segmentation" not in df or len(df) == 0:
        return None
    out = []
    for v in df["segmentation"].tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif isinstance(v, str):
            out.append(json.loads(v))
        else:
            out.append(v)
    return out


def from_tables(labels, predictions, *, images=None, categories=None) -> EvalData:
    """``EvalData`` from project tables (``explorer.project.schema`` columns); ``images``/``categories`` optional.

    Labels and predictions keep their own ids and ``area`` column (a NaN prediction area becomes ``w * h``).
    Without an images table the images are those that hold a label or prediction (sizes unknown).
    """
    def boxes(df, *, is_pred: bool) -> Boxes:
        if df is None or len(df) == 0:
            return Boxes.empty()
        box = df[["x", "y", "w", "h"]].to_numpy(np.float64)
        area = df["area"].to_numpy(np.float64).copy() if "area" in df else box[:, 2] * box[:, 3]
        area = np.where(np.isnan(area), box[:, 2] * box[:, 3], area)
        return Boxes(
            ids=df["pred_id" if is_pred else "label_id"].to_numpy(np.int64),
            image_id=df["image_id"].to_numpy(np.int64),
            category_id=df["category_id"].to_numpy(np.int64),
            box=box, area=area,
            iscrowd=np.zeros(len(df), bool) if is_pred else df["iscrowd"].to_numpy(bool),
            score=df["score"].to_numpy(np.float64) if is_pred else np.full(len(df), np.nan),
            segm=_segm_column(df))

    lab = boxes(labels, is_pred=False)
    pred = boxes(predictions, is_pred=True)
    if images is not None and len(images):
        image_ids = images["image_id"].to_numpy(np.int64)
        heights = images["height"].to_numpy(np.float64) if "height" in images else np.full(len(images), np.nan)
        widths = images["width"].to_numpy(np.float64) if "width" in images else np.full(len(images), np.nan)
    else:
        image_ids = np.unique(np.concatenate([lab.image_id, pred.image_id]))
        heights = widths = np.full(len(image_ids), np.nan)
    if categories is not None and len(categories):
        names = dict(zip(categories["category_id"].astype(int), categories["name"].astype(str)))
    else:
        names = {int(c): str(int(c)) for c in np.unique(np.concatenate([lab.category_id, pred.category_id]))}
    report = ProblemReport()
    bad = ~np.isfinite(pred.score) | ~np.isfinite(pred.box).all(axis=1)
    for i in np.flatnonzero(bad):
        report.add("predictions table", f"pred_id={int(pred.ids[i])}", "NaN score or box (skipped)", "bad_prediction")
    if bad.any():
        pred = pred.take(~bad)
    return EvalData(image_ids=image_ids, heights=heights, widths=widths,
                    category_ids=np.array(sorted(names), dtype=np.int64), category_names=names,
                    labels=lab, predictions=pred, problems=report,
                    label_id_counts=np.ones(len(lab), bool), source="project")


def from_project(project) -> EvalData:
    """``EvalData`` from an ``explorer.project.folder.Project``."""
    return from_tables(project.labels, project.predictions, images=project.images, categories=project.categories)
