"""Read ground truth and predictions (COCO JSON, COCO results, project tables) into one columnar form.

Every input ends up as an ``EvalData``: the images and categories of the ground truth plus two ``Boxes``
tables (labels and predictions) of parallel NumPy arrays. COCO files and dicts are parsed by THE record model
``explorer.io.records`` — the importers' one — so a file keeps the same records whether it is evaluated
directly or imported first; project tables get the same box/score rules (``records.check_tables``). Bad
records are skipped and reported in ``EvalData.problems`` (file, record, what is wrong); valid records are
kept. Predictions follow pycocotools' ``COCO.loadRes`` conventions (decided by the first record):

- box results (the first record has a non-empty ``bbox``): ``area = w * h``, a missing ``segmentation`` becomes
  the box polygon ``[[x1, y1, x1, y2, x2, y2, x2, y1]]``;
- mask results: ``area = mask area`` (``pycocotools.mask.area``), a missing ``bbox`` is ``mask.toBbox``;
- ids are the 1-based positions in the file, ``iscrowd = 0``.

pycocotools' id-0 rule: it stores a match as the label's id and reads 0 as "unmatched", so a prediction
matched to a label whose (source) id is 0 is a false positive and the label stays missed — though it was
taken. ``EvalData.label_id_counts`` is False for those labels, on every input (file, dict, project).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path

import numpy as np
import orjson

from explorer.errors import ProblemReport, UserError
from explorer.io.coco_segmentation import MAX_COORD, normalise_segmentation
from explorer.io.jsonfile import gc_paused, load_json, report_duplicate_keys
from explorer.io.validate import check_boxes, check_scores


class Polygons:
    """Polygon segmentations of ``n`` rows as flat arrays, read-only and list-like (``seg[i]`` is row ``i``'s
    polygon list, built when asked for): row ``i``'s parts are ``row_part[i]:row_part[i + 1]`` (``(n + 1,)``
    int64), part ``q``'s x, y coordinates ``coords[part_off[q]:part_off[q + 1]]`` (``(P + 1,)`` int64,
    float64). What ``json_columns.decode_records`` reads a ``"polygons"`` field into; ``masks.mask_inputs``
    takes the arrays as they are."""

    __slots__ = ("row_part", "part_off", "coords")

    def __init__(self, row_part: np.ndarray, part_off: np.ndarray, coords: np.ndarray):
        self.row_part, self.part_off, self.coords = row_part, part_off, coords

    def __len__(self) -> int:
        return len(self.row_part) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        i = range(len(self))[i]  # (negative positions, IndexError)
        po = self.part_off[self.row_part[i]:self.row_part[i + 1] + 1].tolist()
        return [self.coords[a:b].tolist() for a, b in zip(po[:-1], po[1:])]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __eq__(self, other):
        return isinstance(other, (list, Polygons)) and len(other) == len(self) and list(self) == list(other)

    def tolist(self) -> list:
        return list(self)

    def clean(self) -> bool:
        """True when ``normalise_segmentation`` keeps every row unchanged: at least one part per row, each of an
        even number >= 6 of finite coordinates within ``±MAX_COORD`` (``_clean_polygons``' rule)."""
        sizes = np.diff(self.part_off)
        return bool(not (np.diff(self.row_part) == 0).any() and not ((sizes < 6) | (sizes % 2 == 1)).any()
                    and np.all(np.abs(self.coords) <= MAX_COORD))  # (NaN fails too)

    def take(self, index) -> "Polygons":
        """Rows ``index`` (integer positions) as a new ``Polygons``: ranges gathered by ``_ranges``."""
        index = np.asarray(index, np.int64)
        parts = _ranges(self.row_part[index], self.row_part[index + 1])
        row_part = np.zeros(len(index) + 1, np.int64)
        np.cumsum(self.row_part[index + 1] - self.row_part[index], out=row_part[1:])
        sizes = self.part_off[parts + 1] - self.part_off[parts]
        part_off = np.zeros(len(parts) + 1, np.int64)
        np.cumsum(sizes, out=part_off[1:])
        return Polygons(row_part, part_off, self.coords[_ranges(self.part_off[parts], self.part_off[parts + 1])])


def _ranges(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """The positions ``start[k]:stop[k]`` of every ``k``, one range after the other (int64)."""
    size = stop - start
    total = int(size.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    keep = size > 0
    start, size = start[keep], size[keep]
    step = np.ones(total, np.int64)
    first = np.zeros(len(size), np.int64)
    np.cumsum(size[:-1], out=first[1:])
    step[0] = start[0]
    step[first[1:]] = start[1:] - (start[:-1] + size[:-1] - 1)
    return np.cumsum(step)


@dataclass
class Boxes:
    """Labels or predictions as parallel arrays (one row each), in input order.

    ``box``: ``(n, 4)`` float64 ``x, y, w, h``; ``area``: COCO area (area ranges use it); ``iscrowd``: bool
    (always False for predictions); ``score``: float64 (NaN for labels); ``segm``: the raw segmentation
    (polygon list / RLE dict, or None) per row — a list, or ``Polygons`` when a file's rows are all plain
    polygons —, or None when no row has one.
    """

    ids: np.ndarray
    image_id: np.ndarray
    category_id: np.ndarray
    box: np.ndarray
    area: np.ndarray
    iscrowd: np.ndarray
    score: np.ndarray
    segm: list | Polygons | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray) -> "Boxes":
        """Rows ``index`` (a bool mask or integer positions) as a new table."""
        index = np.flatnonzero(index) if np.asarray(index).dtype == bool else np.asarray(index, dtype=np.int64)
        segm = (self.segm.take(index) if type(self.segm) is Polygons else
                None if self.segm is None else [self.segm[i] for i in index])
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

    ``label_id_counts`` is False for labels whose source id is 0: pycocotools stores matches as label ids and
    reads 0 as "unmatched", so such a match counts as a false positive (mirrored on every input).
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
        return dict(zip(self.image_ids.tolist(), zip(self.heights.tolist(), self.widths.tolist())))


# ---- COCO files and dicts: THE record model (explorer.io.records) ----------------------------------------------
def _records():
    """``explorer.io.records`` (imported when first needed: it brings pandas, which a clean file never needs)."""
    from explorer.io import records

    return records


_MAX_SIDE = 2**31 - 1  # records.MAX_SIDE: pycocotools' mask API holds image sizes as C ints (a test holds them equal)


def read_json(path: str | Path, what: str):
    """A JSON file (``UserError`` naming the file, and line/column of a syntax error)."""
    return load_json(path, what=what)


def _boxes(df, *, is_pred: bool) -> Boxes:
    """``Boxes`` from a records/project table (``explorer.project.schema`` columns, parsed segmentations)."""
    if df is None or len(df) == 0:
        return Boxes.empty()
    segm = df["segmentation"].tolist() if "segmentation" in df else None
    if segm is not None and set(map(type, segm)) <= {type(None)}:
        segm = None
    n = len(df)
    return Boxes(
        ids=df["pred_id" if is_pred else "label_id"].to_numpy(np.int64),
        image_id=df["image_id"].to_numpy(np.int64), category_id=df["category_id"].to_numpy(np.int64),
        box=df[["x", "y", "w", "h"]].to_numpy(np.float64),
        area=df["area"].to_numpy(np.float64).copy() if "area" in df else np.full(n, np.nan),
        iscrowd=df["iscrowd"].to_numpy(bool) if not is_pred and "iscrowd" in df else np.zeros(n, bool),
        score=df["score"].to_numpy(np.float64) if is_pred else np.full(n, np.nan), segm=segm)


def _results_records(predictions, report: ProblemReport) -> tuple[list, str]:
    source = "predictions"
    if isinstance(predictions, (str, Path)):
        source = str(predictions)
        predictions = read_json(predictions, "predictions")
    if isinstance(predictions, dict) and isinstance(predictions.get("annotations"), list):
        report_duplicate_keys(predictions, source, report)
        predictions = predictions["annotations"]
    if not isinstance(predictions, (list, tuple)):
        raise UserError(f"{source}: COCO results must be a list of objects (or a dataset with 'annotations')")
    return list(predictions), source


def _add_results(data: "EvalData", predictions, *, columnar: bool = True) -> None:
    """Parse COCO results for ``data``'s images into ``data.predictions`` (categories not in the ground truth
    are kept and noted: evaluated only when asked for, like pycocotools' ``catIds``)."""
    preds = _typed_results(predictions, data) if columnar else None
    if preds is None:
        results, source = _results_records(predictions, data.problems)
        preds = _columnar_results(results, source, data) if columnar else None
    if preds is None:  # something unusual: the record model decides (and names) every record
        import pandas as pd

        images = pd.DataFrame({"image_id": data.image_ids, "width": data.widths, "height": data.heights})
        table = _records().parse_results(results, source, images, data.problems)
        preds = _boxes(table, is_pred=True)
    data.problems.kept["predictions"] = len(preds)
    data.predictions = preds
    unknown = ~np.isin(preds.category_id, data.category_ids)
    for c in np.unique(preds.category_id[unknown]):
        rows = preds.ids[unknown & (preds.category_id == c)] - 1  # pred_id = position + 1
        shown = ", ".join(f"results[{p}]" for p in rows[:20].tolist()) + (f" and {len(rows) - 20} more" if len(rows) > 20 else "")
        data.problems.add(source, f"category_id {int(c)}", f"{len(rows)} prediction(s) of a category that is not in "
                          f"the ground truth (kept, not evaluated): {shown}", "unknown_category")


def from_coco(gt, predictions, *, iou_type: str, columnar: bool = True) -> EvalData:
    """``EvalData`` from a COCO ground truth (path or dict) and COCO results (path, list, or None), parsed by
    the record model ``explorer.io.records`` (the importers' rules, ``loadRes`` conventions).

    ``columnar``: well-formed sections (every record an object with integer ids, number fields and 4-number
    boxes, unique ids, known images; see ``_columnar_ground_truth`` / ``_columnar_results``) are read straight
    into arrays, skipping the record model's per-record bookkeeping; any section with something unusual is
    read by the record model. Both give the same arrays and the same problems (tests/evaluation/test_columnar_inputs.py).
    The cyclic GC stays paused throughout, and parsed files are freed before it resumes: 100k parsed records
    are ~1M containers that each collection would otherwise walk (longer than the parse itself).
    """
    with gc_paused():
        data = _from_coco(gt, predictions, columnar=columnar)
        del gt, predictions  # a parsed file dies here, while the GC is still paused
    return data


def _from_coco(gt, predictions, *, columnar: bool) -> EvalData:
    source = "ground truth"
    cols = None
    if isinstance(gt, (str, Path)):
        source = str(gt)
        typed = _typed_ground_truth(gt) if columnar else None
        gt, cols = typed if typed is not None else (read_json(gt, "ground-truth"), None)
    if not isinstance(gt, dict) or not isinstance(gt.get("images"), list) or not isinstance(gt.get("categories"), list):
        raise UserError(f"{source}: a COCO ground-truth file needs 'images' and 'categories' lists")
    if gt.get("annotations") is not None and not isinstance(gt["annotations"], list):
        raise UserError(f"{source}: 'annotations' must be a list")
    data = _columnar_ground_truth(gt, source, cols) if columnar else None
    if data is None and cols is not None:  # the typed reading left the annotations out: the whole file, as before
        gt = read_json(source, "ground-truth")
    if data is None:
        data = _records_ground_truth(gt, source)
    if predictions is not None:
        _add_results(data, predictions, columnar=columnar)
    return data


def _records_ground_truth(gt: dict, source: str) -> EvalData:
    """The record model's reading of a ground-truth dict (every check, every problem named)."""
    report = ProblemReport()
    report_duplicate_keys(gt, source, report)
    parsed = _records().parse_ground_truth(gt, source, report)
    report.kept.update({"images": len(parsed.images), "categories": len(parsed.categories),
                        "labels": len(parsed.labels)})
    cats = parsed.categories
    names = dict(zip(cats["category_id"].astype(int).tolist(), cats["name"].astype(str).tolist()))
    labels = _boxes(parsed.labels, is_pred=False)
    return EvalData(image_ids=parsed.images["image_id"].to_numpy(np.int64),
                    heights=parsed.images["height"].to_numpy(np.float64),
                    widths=parsed.images["width"].to_numpy(np.float64),
                    category_ids=np.array(sorted(names), dtype=np.int64), category_names=names,
                    labels=labels, predictions=Boxes.empty(), problems=report,
                    label_id_counts=labels.ids != 0, source=source)


# ---- the columnar path: well-formed sections straight to arrays ------------------------------------------------
# Each helper returns None at the first thing the record model would reject, flag, convert or repair (a bool
# or an integral float as an id, a missing area, a duplicate id, ...): that section is then read by the record
# model, so the columnar path only ever decides files on which both agree. Values are read with C-level passes
# (itemgetter / type sets / np.fromiter), one per field, never a Python step per record.
def _field(recs: list, key: str) -> list:
    """``recs[i][key]`` (None where absent) for every record."""
    try:
        return list(map(itemgetter(key), recs))
    except KeyError:
        return list(map(dict.get, recs, repeat(key)))


def _int_array(values: list) -> np.ndarray | None:
    """int64 of a list of JSON integers (not bools), or None."""
    if not set(map(type, values)) <= {int}:
        return None
    try:
        return np.fromiter(values, np.int64, len(values))
    except OverflowError:  # beyond int64
        return None


def _number_array(values: list) -> np.ndarray | None:
    """float64 of a list of JSON numbers (not bools, not None), or None."""
    if not set(map(type, values)) <= {int, float}:
        return None
    try:
        return np.fromiter(values, np.float64, len(values))
    except OverflowError:
        return None


def _box_array(values: list) -> np.ndarray | None:
    """``(n, 4)`` float64 of a list of ``[x, y, w, h]`` lists of JSON numbers, or None."""
    if not (set(map(type, values)) <= {list} and set(map(len, values)) <= {4}
            and set(map(type, chain.from_iterable(values))) <= {int, float}):
        return None
    try:
        return np.fromiter(chain.from_iterable(values), np.float64, 4 * len(values)).reshape(len(values), 4)
    except OverflowError:
        return None


def _unique(ids: np.ndarray) -> bool:
    return len(ids) < 2 or bool(np.all(np.diff(np.sort(ids)) != 0))


def _rows_of(ids: np.ndarray, keys: np.ndarray) -> np.ndarray | None:
    """Position of each of ``ids`` in the unique ``keys``, or None when one is not there. Ids in a compact
    range (COCO's 1..N) are looked up in a table (one gather), others by binary search."""
    if len(ids) == 0:
        return np.zeros(0, np.int64)
    if len(keys) == 0:
        return None
    lo, hi = int(keys.min()), int(keys.max())
    if hi - lo < 4 * len(keys) + 1024:
        table = np.full(hi - lo + 1, -1, np.int64)
        table[keys - lo] = np.arange(len(keys))
        inside = (ids >= lo) & (ids <= hi)
        if not inside.all():
            return None
        row = table[ids - lo]
        return None if (row < 0).any() else row
    order = np.argsort(keys, kind="stable")
    pos = np.minimum(np.searchsorted(keys, ids, sorter=order), len(keys) - 1)
    return None if np.any(keys[order[pos]] != ids) else order[pos]


def _masks(segs: list, H: np.ndarray, W: np.ndarray) -> list | None | bool:
    """Normalised segmentations (the record model's one rule, ``normalise_segmentation``) or None when no record
    has one; False when one is unusable (the record model flags it). A column of polygon lists is checked at
    once (``_clean_polygons``); anything else, record by record."""
    if type(segs) is Polygons:
        return segs if segs.clean() else False
    if set(map(type, segs)) <= {type(None)}:
        return None
    if _clean_polygons(segs):
        return list(segs)
    out = [None] * len(segs)
    for i, seg in enumerate(segs):
        if seg is not None:
            out[i], err = normalise_segmentation(seg, H[i], W[i])
            if err:
                return False
    return None if out.count(None) == len(out) else out


def _clean_polygons(segs: list) -> bool:
    """True when every entry is a non-empty list of polygons that ``normalise_segmentation`` returns unchanged:
    lists of an even number >= 6 of finite JSON numbers within ``±MAX_COORD`` (no empty part)."""
    if not set(map(type, segs)) <= {list} or 0 in map(len, segs):
        return False
    parts = list(chain.from_iterable(segs))
    if not set(map(type, parts)) <= {list}:
        return False
    sizes = np.fromiter(map(len, parts), np.int64, len(parts))
    if np.any((sizes < 6) | (sizes % 2 == 1)) or not set(map(type, chain.from_iterable(parts))) <= {int, float}:
        return False
    try:
        coords = np.fromiter(chain.from_iterable(parts), np.float64, int(sizes.sum()))
    except OverflowError:
        return False
    return bool(np.all(np.abs(coords) <= MAX_COORD))  # (NaN fails too)


def _flags(report: ProblemReport, file: str, n: int, checks: list, name) -> None:
    """Report the kept-but-flagged rows of ``checks`` (``(BoxCheck, kind)``) as the record model does."""
    if not any(c.has_flag.any() for c, _ in checks):
        return
    from explorer.io.records import _Verdicts  # the record model's one flag format (100 per check, then a count)

    v = _Verdicts(n)
    for check, kind in checks:
        v.flag_rows(np.flatnonzero(check.has_flag), check.flagged, kind)
    v.report(report, file, name)


def _columnar_ground_truth(gt: dict, source: str, cols: dict | None = None) -> EvalData | None:
    """``EvalData`` of a well-formed ground truth, or None (see the section comment). ``cols``: the annotations
    already decoded into arrays (``_typed_ground_truth``; ``gt`` then has no ``annotations``)."""
    if type(gt) is not dict:  # a key given twice (jsonfile.DuplicateKeys)
        return None
    images, cats, anns = gt["images"], gt["categories"], gt.get("annotations") or []
    if not all(set(map(type, recs)) <= {dict} for recs in (images, cats, anns)):
        return None
    n_anns = len(anns) if cols is None else len(cols["id"])
    cat_ids, names = _int_array(_field(cats, "id")), _field(cats, "name")
    if cat_ids is None or not _unique(cat_ids) or not set(map(type, names)) <= {str} or "" in names:
        return None
    image_ids = _int_array(_field(images, "id"))
    widths, heights = _number_array(_field(images, "width")), _number_array(_field(images, "height"))
    if image_ids is None or widths is None or heights is None or not _unique(image_ids):
        return None
    with np.errstate(invalid="ignore"):
        if not np.all((widths > 0) & (widths <= _MAX_SIDE) & (heights > 0) & (heights <= _MAX_SIDE)):
            return None  # (NaN fails too)
    if cols is None:
        cols = _typed_list(anns, _LABEL_FIELDS)
    if cols is not None:  # the common shape, decoded from its serialisation (no segmentation: None)
        ids, img, cat, area, box, crowd = (cols[k] for k in _LABEL_FIELDS)
        segmentations = Polygons(*cols["segmentation"]) if "segmentation" in cols else [None]
    else:
        ids, img, cat = (_int_array(_field(anns, k)) for k in ("id", "image_id", "category_id"))
        area, box = _number_array(_field(anns, "area")), _box_array(_field(anns, "bbox"))
        crowd = _field(anns, "iscrowd")
        if None in crowd:  # absent: 0, pycocotools' default
            crowd = [0 if c is None else c for c in crowd]
        crowd = _int_array(crowd)
        segmentations = None
    if any(a is None for a in (ids, img, cat, area, box, crowd)) or not _unique(ids):
        return None
    if not (np.all(np.isfinite(area) & (area >= 0)) and np.all((crowd == 0) | (crowd == 1))):
        return None
    row = _rows_of(img, image_ids)
    if row is None or (len(cat) and not np.all(np.isin(cat, cat_ids))):
        return None
    H, W = heights[row], widths[row]
    segm = _masks(_field(anns, "segmentation") if segmentations is None else segmentations, H, W)
    if segm is False:
        return None
    check = check_boxes(box, W, H, outside="flag")
    if not check.ok.all():
        return None
    report = ProblemReport()
    _flags(report, source, n_anns, [(check, "bbox_outside_image")],
           lambda i: _records().record_name("annotations", i, int(ids[i])))
    report.kept.update({"images": len(images), "categories": len(cats), "labels": n_anns})
    labels = Boxes(ids, img, cat, box, area, crowd != 0, np.full(len(ids), np.nan), segm)
    names = dict(zip(cat_ids.tolist(), names))
    return EvalData(image_ids=image_ids, heights=heights, widths=widths,
                    category_ids=np.array(sorted(names), dtype=np.int64), category_names=names,
                    labels=labels, predictions=Boxes.empty(), problems=report,
                    label_id_counts=ids != 0, source=source)


def _columnar_results(results: list, source: str, data: EvalData) -> Boxes | None:
    """``Boxes`` of well-formed box results (``loadRes``: ``pred_id`` = position + 1, ``area = w * h``) for
    ``data``'s images, their flags added to ``data.problems``; or None (see the section comment)."""
    if not set(map(type, results)) <= {dict}:
        return None
    img, cat = _int_array(_field(results, "image_id")), _int_array(_field(results, "category_id"))
    score, box = _number_array(_field(results, "score")), _box_array(_field(results, "bbox"))
    if any(a is None for a in (img, cat, score, box)):  # (a missing bbox: mask results, the record model's)
        return None
    return _results_of_arrays(img, cat, score, box, lambda: _field(results, "segmentation"), source, data)


# the records the typed decoder reads (``json_columns``): box results and labels without segmentation
_RESULT_FIELDS = {"image_id": "int", "category_id": "int", "bbox": "box", "score": "number"}
_LABEL_FIELDS = {"id": "int", "image_id": "int", "category_id": "int", "area": "number", "bbox": "box",
                 "iscrowd": "int"}
_TYPED_MIN_RECORDS = 10_000  # below: gathered from the dicts (no numba load for a small file)


def _with_polygons(fields: dict, body: bytes) -> dict:
    """``fields`` plus a ``"polygons"`` segmentation when ``body`` names one (an RLE or empty one makes the
    decoder refuse the input: then it is read as before)."""
    return {**fields, "segmentation": "polygons"} if b'"segmentation"' in body else fields


def _typed_list(records, fields: dict) -> dict | None:
    """``json_columns.decode_records`` of a list of dicts through its orjson serialisation (which refuses dict
    subclasses — a record with a key given twice —, numpy values and ints past 64 bits; NaN, bools and None
    become tokens the decoder refuses; polygon segmentations become ``Polygons``, as from a file), or None."""
    if type(records) is not list or len(records) < _TYPED_MIN_RECORDS:
        return None
    from explorer.evaluation.json_columns import decode_records

    try:
        body = orjson.dumps(records, option=orjson.OPT_PASSTHROUGH_SUBCLASS)
    except (TypeError, orjson.JSONEncodeError):
        return None
    return decode_records(body, _with_polygons(fields, body), min_bytes=0)


def _typed_ground_truth(path) -> tuple[dict, dict] | None:
    """A ground-truth file read without building a Python object per annotation: ``(gt, cols)`` with ``gt`` the
    file's other top-level members (parsed by orjson, each with ``load_json``'s checks: no integer of 19+
    digits, no key given twice) and ``cols`` its annotations decoded by ``json_columns.decode_records``
    (``_LABEL_FIELDS``); None when the file is small, not split by ``json_columns.object_members`` (a key given
    twice at the top, ...), or a member is not one these read as ``load_json`` does (then the file is read whole,
    as before)."""
    from explorer.evaluation.json_columns import decode_records, object_members
    from explorer.io.jsonfile import _DIGIT_MASK, _LONG_DIGITS, _keys_add_up

    body = _large_file_bytes(path)
    if body is None:
        return None
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    members = object_members(body, min_bytes=0)
    if members is None or "annotations" not in members:
        return None
    gt = {}
    for key, (s, e) in members.items():
        part = body[s:e]
        if key == "annotations":
            cols = decode_records(part, _with_polygons(_LABEL_FIELDS, part), min_bytes=0)
            if cols is None:
                return None
            continue
        if _LONG_DIGITS in part.translate(_DIGIT_MASK):
            return None
        try:
            value = orjson.loads(part)
        except orjson.JSONDecodeError:
            return None
        if not _keys_add_up(value, part):
            return None
        gt[key] = value
    return gt, cols


def _large_file_bytes(path) -> bytes | None:
    """The bytes of ``path`` when it is a regular file of at least ``json_columns.MIN_BYTES`` (the typed decoder's
    floor); None otherwise or when it cannot be read (then ``load_json`` reads it and names the problem)."""
    from explorer.evaluation.json_columns import MIN_BYTES

    path = Path(path)
    try:
        if not path.is_file() or path.stat().st_size < MIN_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _typed_results(predictions, data: EvalData) -> Boxes | None:
    """``_columnar_results`` of a COCO results file (path) or list decoded by ``json_columns.decode_records``
    straight from bytes into arrays (a list: its orjson serialisation, which names dict subclasses, NaN, bools
    and numpy values by failing or by a token the decoder refuses); None when it does not decide them (then
    they are parsed as before)."""
    from explorer.evaluation.json_columns import decode_records

    if isinstance(predictions, (str, Path)):
        source, body = str(predictions), _large_file_bytes(predictions)
        if body is None:
            return None
        cols = decode_records(body, _with_polygons(_RESULT_FIELDS, body), min_bytes=0)  # (size checked above)
        del body
    else:
        source = "predictions"
        cols = _typed_list(predictions, _RESULT_FIELDS)
    if cols is None:
        return None
    segm = Polygons(*cols["segmentation"]) if "segmentation" in cols else [None]
    return _results_of_arrays(cols["image_id"], cols["category_id"], cols["score"], cols["bbox"], lambda: segm,
                              source, data)


def _results_of_arrays(img, cat, score, box, segmentations, source: str, data: EvalData) -> Boxes | None:
    """``Boxes`` of results given as arrays (``segmentations()``: the records' segmentation values), their
    flags added to ``data.problems``; None when the record model must decide (unknown image, unusable row)."""
    row = _rows_of(img, data.image_ids)
    if row is None:
        return None
    H, W = data.heights[row], data.widths[row]
    scores = check_scores(score)
    segm = _masks(segmentations(), H, W)
    check = check_boxes(box, W, H, outside="flag")
    if segm is False or not (scores.ok.all() and check.ok.all()):
        return None
    n = len(img)
    _flags(data.problems, source, n, [(scores, "flagged_prediction"), (check, "flagged_prediction")],
           lambda i: f"results[{i}] (pred_id={i + 1})")
    return Boxes(np.arange(1, n + 1, dtype=np.int64), img, cat, box, box[:, 2] * box[:, 3], np.zeros(n, bool),
                 score, segm)


def from_tables(labels, predictions, *, images=None, categories=None) -> EvalData:
    """``EvalData`` from project tables (``explorer.project.schema`` columns); ``images``/``categories`` optional.

    Labels and predictions keep their own ids and ``area`` column (a NaN prediction area becomes ``w * h``);
    the record model's box and score rules (``records.check_tables``) skip and report unusable rows.
    ``label_id`` is the source annotation id (the COCO importer keeps it), so pycocotools' id-0 rule applies.
    Without an images table the images are those that hold a label or prediction (sizes unknown).
    """
    report = ProblemReport()
    lab_ok, pred_ok = _records().check_tables(labels, predictions, report)
    lab = _boxes(None if labels is None else labels[lab_ok], is_pred=False)
    pred = _boxes(None if predictions is None else predictions[pred_ok], is_pred=True)
    for b in (lab, pred):
        if b.segm is not None:
            b.segm = [json.loads(v) if isinstance(v, str) else (None if isinstance(v, float) else v) for v in b.segm]
    pred.area = np.where(np.isnan(pred.area), pred.box[:, 2] * pred.box[:, 3], pred.area)
    lab.area = np.where(np.isnan(lab.area), lab.box[:, 2] * lab.box[:, 3], lab.area)
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
    return EvalData(image_ids=image_ids, heights=heights, widths=widths,
                    category_ids=np.array(sorted(names), dtype=np.int64), category_names=names,
                    labels=lab, predictions=pred, problems=report,
                    label_id_counts=lab.ids != 0, source="project")


def from_project_with_results(project, predictions) -> EvalData:
    """A project's labels with predictions from a COCO results file or list (the record model's rules)."""
    data = from_tables(project.labels, None, images=project.images, categories=project.categories)
    with gc_paused():
        _add_results(data, predictions)
        del predictions
    return data


def for_iou_type(data: EvalData, iou_type: str) -> EvalData:
    """``data`` ready for ``iou_type``: for ``"segm"`` the rows whose mask cannot be rasterised (a polygon, or a
    box used as its polygon, on an image of unknown size) are left out and named in ``problems``; a row
    without a mask is evaluated as its box polygon (``loadRes``' rule for box results). Unchanged for boxes."""
    if iou_type != "segm":
        return data
    sizes = data.image_size()
    known = {i for i, (h, w) in sizes.items() if np.isfinite(h) and np.isfinite(w)}
    out = {}
    for name, boxes, id_name in (("labels", data.labels, "label_id"), ("predictions", data.predictions, "pred_id")):
        where = (data.source or "input") if name == "labels" else "predictions"
        segm = boxes.segm if boxes.segm is not None else [None] * len(boxes)
        kinds = {list} if type(segm) is Polygons else set(map(type, segm))
        if len(kinds) == 1:  # one kind of mask (or none) throughout: no Python step per row
            needs = np.full(len(boxes), kinds <= {list, type(None)})
            no_mask = np.full(len(boxes), kinds == {type(None)})
        else:
            needs = np.array([s is None or type(s) is list for s in segm], bool)
            no_mask = np.array([s is None for s in segm], bool)
        bad = needs & ~np.isin(boxes.image_id, np.fromiter(known, np.int64, len(known)))
        for i in np.flatnonzero(bad):
            data.problems.add(where, f"{id_name}={int(boxes.ids[i])}",
                              f"image {int(boxes.image_id[i])} has no known size, so its polygon mask cannot be "
                              "rasterised: not evaluated with iou_type='segm'", "unknown_size")
        with np.errstate(invalid="ignore"):
            far = ~bad & no_mask & (np.abs(np.c_[boxes.box[:, :2], boxes.box[:, :2] + boxes.box[:, 2:]]) > MAX_COORD).any(axis=1)
        for i in np.flatnonzero(far):
            data.problems.add(where, f"{id_name}={int(boxes.ids[i])}",
                              f"its box, used as its mask, reaches beyond ±{MAX_COORD:g} px: not evaluated with "
                              "iou_type='segm'", "bad_segmentation")
        bad = bad | far
        out[name] = (boxes.take(~bad), bad)
    counts = data.label_id_counts
    if counts is not None:
        counts = counts[~out["labels"][1]]
    if not (out["labels"][1].any() or out["predictions"][1].any()):
        return data
    return replace(data, labels=out["labels"][0], predictions=out["predictions"][0], label_id_counts=counts)


def from_project(project) -> EvalData:
    """``EvalData`` from an ``explorer.project.folder.Project``."""
    return from_tables(project.labels, project.predictions, images=project.images, categories=project.categories)
