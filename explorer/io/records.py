"""THE COCO record model: parse, validate and normalise COCO ground truth and results, with the problem report.

One implementation used by every entry point, so the same file keeps the same records and gives the same
numbers whichever way it comes in: the importers (``explorer.io.coco`` labels, ``explorer.io.coco_results``
predictions), ``evaluate_coco`` on files and dicts and ``Matcher.from_coco`` (``explorer.evaluation.inputs``),
and the table checks of ``Matcher.from_project`` / ``evaluate_coco(project)`` (``check_tables``).

The rule: **accept every record pycocotools 2.0.11 evaluates, and evaluate it the same way; reject — named in
the report, never by an exception — only what it cannot evaluate.** In detail:

- Values may be JSON values or what Python callers pass pycocotools: NumPy integer/float scalars, a box as a
  tuple or 1-d array, polygons as arrays, RLE ``counts`` as ``bytes``. They are normalised to plain values.
- Ids (``id``, ``image_id``, ``category_id``) are integers (an integral float such as ``3.0`` counts). The
  first record of a duplicate image / category / annotation id is kept, later ones are rejected.
- Annotations: unknown image or category → rejected (pycocotools would silently not evaluate them).
  ``bbox`` must be 4 finite numbers with ``w, h >= 0``; when it is missing or unusable and the record has a
  usable mask, the box is the mask's ``toBbox`` (flagged) — segmentation datasets often carry no box, and
  pycocotools' segm evaluation never reads it. A box entirely outside its image is flagged and kept.
  ``area`` missing → the mask area, else ``w * h`` (flagged); a negative / non-finite area is kept and
  flagged (it is outside every area range, as in pycocotools). ``iscrowd``: any integer or bool, non-zero
  = crowd (pycocotools' truthiness), values other than 0/1 flagged; default 0.
  ``segmentation``: ``[]`` / missing = no mask; empty polygon parts are dropped; an unusable mask (odd
  polygon, RLE of another size, ...) is dropped and flagged, and the record stays as a box.
- Results (``COCO.loadRes``): the first record decides the kind. A non-empty ``bbox`` there → box results:
  every record needs a usable ``bbox``, ``area = w * h`` (computed in the box's own number type, as
  pycocotools does), a ``segmentation`` is kept when usable. Otherwise mask results: every record needs a
  usable ``segmentation`` (RLE or polygons), ``area = mask.area``, ``bbox`` missing or ``[]`` →
  ``mask.toBbox``. ``score`` must be a number that is not NaN; ``±inf`` and values outside ``[0, 1]`` are
  kept and flagged. ``pred_id`` = position in the file + 1 (``loadRes``' ids; a rejected record leaves a gap).

Column checks run vectorised over all records; only rows that fail a check are looked at one by one, so a
clean file of 100k records is parsed in tens of milliseconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter

import numpy as np
import pandas as pd

from explorer.errors import ProblemReport
from explorer.io.json_chunks import NotChunkable
from explorer.io.jsonfile import DuplicateKeys
from explorer.io.coco_segmentation import mask_area, mask_bbox, normalise_segmentation
from explorer.io.validate import check_boxes, check_scores, describe, is_int, is_number

_MISSING = None  # a JSON null and an absent key mean the same: "missing"
MAX_SIDE = 2**31 - 1  # pycocotools' mask API holds sizes as C integers
FLAG_CAP = 100  # kept-but-flagged records listed one by one per check; the rest are counted in one line
_INT_SCALARS = (int, np.integer)
_BOOLS = {bool, np.bool_}
_NUM_SCALARS = (int, float, np.integer, np.floating)


def record_name(section: str, pos: int, rid=None) -> str:
    """``annotations[12] (id=1774)`` / ``categories[0]``: how a record is named in messages."""
    return f"{section}[{pos}]" + (f" (id={rid})" if rid is not None else "")


def _only(types: set, allowed: tuple) -> bool:
    # bool is a subclass of int but is not an id or a number here: compare exact types, NumPy by subclass
    return all((t in (int, float) and t in allowed) or (t not in (bool, int, float) and issubclass(t, allowed))
               for t in types)


def int_column(values: list) -> tuple[np.ndarray, np.ndarray]:
    """``(int64 values, ok)`` of a column of ids: ok where the value is an integer (``is_int``)."""
    n = len(values)
    if n and _only(set(map(type, values)), _INT_SCALARS):
        try:
            return np.array(values, dtype=np.int64), np.ones(n, bool)
        except OverflowError:
            pass
    out, ok = np.zeros(n, np.int64), np.zeros(n, bool)
    for i, v in enumerate(values):
        if is_int(v) and -(2**63) <= int(v) < 2**63:
            out[i], ok[i] = int(v), True
    return out, ok


def float_column(values: list) -> tuple[np.ndarray, np.ndarray]:
    """``(float64 values, ok)``: ok where the value is a number (NaN/inf included; NaN elsewhere)."""
    n = len(values)
    if n and _only(set(map(type, values)), _NUM_SCALARS):
        return np.fromiter(values, np.float64, n), np.ones(n, bool)  # (fromiter: 5x np.array on a list)
    out, ok = np.full(n, np.nan), np.zeros(n, bool)
    for i, v in enumerate(values):
        if is_number(v):
            out[i], ok[i] = float(v), True
    return out, ok


def box_column(values: list, *, with_dtype: bool = False):
    """``((n, 4) float64 boxes, ok)``: ok where the value is a list/tuple/1-d array of 4 numbers. With
    ``with_dtype`` also the NumPy dtype the values had together (None when they had to be read one by one)."""
    n = len(values)
    if n and set(map(type, values)) == {list} and set(map(len, values)) == {4}:
        # JSON's case, without NumPy's nested-sequence discovery: one flat pass when every entry is an int/float
        if set(map(type, chain.from_iterable(values))) <= {int, float}:
            try:
                out = (np.fromiter(chain.from_iterable(values), np.float64, 4 * n).reshape(n, 4), np.ones(n, bool))
                return (*out, np.dtype(np.float64)) if with_dtype else out
            except OverflowError:  # an int beyond float64: read one by one below
                pass
    if n and set(map(type, values)) <= {list, tuple, np.ndarray} and not _BOOLS & set(map(type, chain.from_iterable(
            v for v in values if type(v) is not np.ndarray))):  # (NumPy would read a bool among ints as 0 / 1)
        try:
            arr = np.array(values)
        except (ValueError, TypeError):
            arr = None
        if arr is not None and arr.shape == (n, 4) and arr.dtype.kind in "iuf":
            out = (arr.astype(np.float64), np.ones(n, bool))
            return (*out, arr.dtype) if with_dtype else out
    out, ok = np.full((n, 4), np.nan), np.zeros(n, bool)
    for i, b in enumerate(values):
        if isinstance(b, (list, tuple, np.ndarray)) and len(b) == 4 and all(is_number(v) for v in b):
            out[i], ok[i] = [float(v) for v in b], True
    return (out, ok, None) if with_dtype else (out, ok)


class _Verdicts:
    """First-error-wins bookkeeping for ``n`` rows: ``reject(mask, message_of_row, kind)`` marks rows that
    are still ok; ``flag``/``flag_rows`` note kept-but-suspicious rows; ``report`` writes both in row order
    (flags of kept rows only). Stored in bulk: a clean-but-flagged file of 100k records stays fast.

    With a ``store`` (``_Store``), the rows are one chunk of a longer file: ``report``
    then names this chunk's rejected and flagged rows and hands them to the store, which writes every chunk's at
    the end in row order with each check's cap counted over the whole file (the report is the one-chunk one)."""

    def __init__(self, n: int, *, store: "_Store | None" = None):
        self.ok = np.ones(n, bool)
        self._rejected: list[tuple[np.ndarray, list, str]] = []
        self._flags: list[tuple[np.ndarray, list, str]] = []
        self._store, self._calls = store, 0
        self._carrier_of: dict[int, tuple] = {}  # (store mode) flags entry whose last message counts the rest

    def reject(self, mask, message, kind: str) -> None:
        rows = np.flatnonzero(self.ok & mask)
        if len(rows):
            self._rejected.append((rows, [message(i) if callable(message) else message for i in rows], kind))
            self.ok[rows] = False

    def flag(self, i: int, message: str, kind: str) -> None:
        self._flags.append((np.array([i], np.int64), [message], kind))

    def flag_rows(self, rows: np.ndarray, messages, kind: str, *, cap: int = FLAG_CAP) -> None:
        """Flag ``rows`` with ``messages[row]``; beyond ``cap`` rows of one check, one summary flag stands for
        the rest (a file whose 10k boxes cross the image border needs 100 examples, not 10k lines)."""
        if self._store is not None:  # a chunk: the cap counts every chunk's rows of this check
            key = (self._calls, kind)
            self._calls += 1
            seen = self._store.counts.get(key, 0)
            self._store.counts[key] = seen + len(rows)
            take = rows[: max(0, cap + 1 - seen)]
            if len(take):
                self._flags.append((take, [messages[i] for i in take], kind))
                if seen + len(take) == cap + 1:  # its last message will carry the count of the rest
                    self._store.caps[key] = cap
                    self._carrier_of[len(self._flags) - 1] = key
            return
        if len(rows) > cap:
            rest = len(rows) - cap
            self._flags.append((rows[: cap + 1], [messages[i] for i in rows[:cap]] + [
                f"{messages[rows[cap]]} — and {rest - 1} more record(s) flagged {kind!r} by the same check"], kind))
        elif len(rows):
            self._flags.append((rows, [messages[i] for i in rows], kind))

    def report(self, report: ProblemReport, file: str, name) -> None:
        if self._store is not None:
            self._store.take(self, name)
            return
        for entries, add, flags in ((self._rejected, report.add, False), (self._flags, report.warn, True)):
            if not entries:
                continue
            rows = np.concatenate([e[0] for e in entries])
            msgs = [m for e in entries for m in e[1]]
            kinds = [e[2] for e in entries for _ in e[0]]
            order = np.argsort(rows, kind="stable")
            for j in order.tolist():
                i = int(rows[j])
                if not flags or self.ok[i]:
                    add(file, name(i), msgs[j], kinds[j])


class _Store:
    """The verdicts of every chunk of one file (``_Verdicts(..., store=)``): named rows keyed by (chunk, row),
    and per check (``(call number, kind)``) how many rows it flagged so far."""

    def __init__(self):
        self.rejected: list[list] = []  # [(chunk, row), name, message, kind]
        self._chunk = 0
        self.flags: list[list] = []
        self.counts: dict[tuple, int] = {}
        self.caps: dict[tuple, int] = {}  # checks that flagged more than their cap: the cap
        self._carrier_entry: dict[tuple, list] = {}

    def take(self, v: _Verdicts, name) -> None:
        c = self._chunk
        self._chunk += 1
        for rows, msgs, kind in v._rejected:
            self.rejected.extend([(c, i), name(i), m, kind] for i, m in zip(rows.tolist(), msgs))
        carrier_of = v._carrier_of
        for k, (rows, msgs, kind) in enumerate(v._flags):
            last = len(rows) - 1
            for j, (i, m) in enumerate(zip(rows.tolist(), msgs)):
                if v.ok[i]:
                    entry = [(c, i), name(i), m, kind]
                    self.flags.append(entry)
                    if j == last and k in carrier_of:
                        self._carrier_entry[carrier_of[k]] = entry

    def report(self, report: ProblemReport, file: str) -> None:
        for key, cap in self.caps.items():
            entry = self._carrier_entry.get(key)
            if entry is not None:  # (not when that row was rejected later: as in one chunk, no summary then)
                entry[2] += f" — and {self.counts[key] - cap - 1} more record(s) flagged {key[1]!r} by the same check"
        for entries, add in ((self.rejected, report.add), (self.flags, report.warn)):
            for row, name, msg, kind in sorted(entries, key=lambda e: e[0]):  # (stable: a row's flags in order)
                add(file, name, msg, kind)


def _values(recs: list[dict], key: str) -> list:
    """``recs[i][key]`` for every record (None where absent), at C speed (``map``: no Python frame per record);
    subscripts first, as they are faster, ``dict.get`` when a record lacks the key."""
    try:
        return list(map(itemgetter(key), recs))
    except KeyError:
        return list(map(dict.get, recs, repeat(key)))


def _take(values: list, keep: np.ndarray) -> list:
    """``[values[i] for i in keep]`` (``keep`` ascending positions) without a Python step per kept row."""
    return values if len(keep) == len(values) else list(map(values.__getitem__, keep.tolist()))


def _dicts(items: list, section: str, file: str, report: ProblemReport, *,
           offset: int = 0) -> tuple[list[dict], np.ndarray]:
    """The dict records of ``items`` and their positions; the others are reported (``wrong_type``), and so is a
    record giving a key twice (``jsonfile.DuplicateKeys``: which value is meant is ambiguous). ``offset``: the
    position of ``items[0]`` in its file (a chunk of a longer list)."""
    if set(map(type, items)) <= {dict}:
        return items, np.arange(offset, offset + len(items), dtype=np.int64)
    pos = [i for i, r in enumerate(items) if isinstance(r, dict) and type(r) is not DuplicateKeys]
    if len(pos) != len(items):
        for i, r in enumerate(items):
            if type(r) is DuplicateKeys:
                twice = ", ".join(f"'{k}' {len(v) + 1} times" for k, v in r.later.items())
                report.add(file, record_name(section, i + offset), f"gives {twice}; which value is meant is ambiguous, so "
                           "the record is skipped", "duplicate_key")
            elif not isinstance(r, dict):
                report.add(file, record_name(section, i + offset), f"must be a JSON object, got {describe(r)}", "wrong_type")
        return [items[i] for i in pos], np.array(pos, dtype=np.int64) + offset
    return items, np.arange(offset, offset + len(items), dtype=np.int64)


def _id_problem(values: list, key: str):
    return lambda i: f"missing '{key}'" if values[i] is _MISSING else f"'{key}' must be an integer, got {describe(values[i])}"


def _first_of_duplicates(ids: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, dict]:
    """Rows (among ``ok``) whose id an earlier ok row already has, and ``{id: first row}``."""
    rows = np.flatnonzero(ok)
    s = pd.Series(ids[rows])
    dup = s.duplicated().to_numpy()
    out = np.zeros(len(ids), bool)
    out[rows[dup]] = True
    first = {} if not dup.any() else dict(zip(s[~dup].to_numpy().tolist(), rows[~dup].tolist()))
    return out, first


def _unique_ids(recs: list[dict], pos: np.ndarray, section: str, what: str, kind: str, *, then: str = ""):
    """``(ids, ok, verdicts)`` of the records' ``id``: not an int64 integer → ``kind``; an id an earlier kept
    record has → ``duplicate_id`` (the first is kept; ``then`` ends that message)."""
    raw = [r.get("id") for r in recs]
    ids, ok = int_column(raw)
    v = _Verdicts(len(recs))
    v.reject(~ok, _id_problem(raw, "id"), kind)
    dup, first = _first_of_duplicates(ids, v.ok)
    v.reject(dup, lambda i: f"duplicate {what} id {ids[i]} (first at {section}[{pos[first[ids[i]]]}]){then}",
             "duplicate_id")
    return ids, ok, v


# ---- categories and images ---------------------------------------------------------------------------------
def parse_categories(items: list, file: str, report: ProblemReport) -> pd.DataFrame:
    """``category_id, name, supercategory``; duplicate id → first kept; a missing name becomes the id (flagged)."""
    recs, pos = _dicts(items, "categories", file, report)
    ids, ok, v = _unique_ids(recs, pos, "categories", "category", "bad_category")
    names = []
    for i, r in enumerate(recs):
        name = r.get("name")
        if type(name) is not str or not name or not _encodes(name):  # (a lone surrogate: no table stores it)
            v.flag(i, f"'name' must be a non-empty string, got {describe(name)}; named {ids[i]!s} instead", "bad_category")
            name = str(ids[i])
        names.append(name)
    # classes are told apart by name everywhere (the class filter, tables, exports): a repeated name is kept
    # under "name (id N)", flagged
    first_named: dict = {}
    for i in np.flatnonzero(v.ok):
        first = first_named.setdefault(names[i], i)
        if first != i:
            new = f"{names[i]} (id {ids[i]})"
            v.flag(i, f"name {names[i]!r} is also that of categories[{pos[first]}] (id={ids[first]}); named "
                   f"{new!r} so the two classes can be told apart", "duplicate_name")
            names[i] = new
    v.report(report, file, lambda i: record_name("categories", int(pos[i]), int(ids[i]) if ok[i] else None))
    keep = np.flatnonzero(v.ok)
    sup = [recs[i].get("supercategory") for i in keep]
    return pd.DataFrame({"category_id": pd.Series(ids[keep], dtype="int64"), "name": [names[i] for i in keep],
                         "supercategory": _storable([s if type(s) is str else None for s in sup])})


def _size_column(recs: list, key: str) -> tuple[np.ndarray, list]:
    raw = [r.get(key) for r in recs]
    vals, ok = float_column(raw)
    with np.errstate(invalid="ignore"):
        good = ok & np.isfinite(vals) & (vals > 0) & (vals <= MAX_SIDE)
    err = [None] * len(raw)
    for i in np.flatnonzero(~good):
        if raw[i] is not None:
            err[i] = f"'{key}' must be a positive number, got {describe(raw[i])}" + (
                f" (larger than {MAX_SIDE}, which masks cannot have)" if ok[i] and vals[i] > MAX_SIDE else "")
    return np.where(good, vals, np.nan), err


def _storable(names: list) -> list:
    """``names`` with None for a str no table can store (a JSON lone surrogate, ``"\\ud800"``): no name at all.
    One encode of the whole column when every name is fine (the usual case)."""
    try:
        "".join(n for n in names if n is not None).encode("utf-8")
        return names
    except UnicodeEncodeError:
        return [n if n is not None and _encodes(n) else None for n in names]


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def parse_images(items: list, file: str, report: ProblemReport) -> pd.DataFrame:
    """``image_id, file_name, width, height, size_error, pos``: one row per image record with a unique
    integer id (duplicates: first kept). ``width``/``height`` are NaN when absent or unusable (``size_error``
    says why); ``file_name`` is the given string with ``/`` separators, or None (evaluation does not need it);
    ``pos``: the record's position in ``items``."""
    recs, pos = _dicts(items, "images", file, report)
    ids, ok, v = _unique_ids(recs, pos, "images", "image", "bad_image", then="; this record is skipped")
    name = lambda i: record_name("images", int(pos[i]), int(ids[i]) if ok[i] else None)  # noqa: E731
    v.report(report, file, name)
    w, w_err = _size_column(recs, "width")
    h, h_err = _size_column(recs, "height")
    keep = np.flatnonzero(v.ok)
    fnames = [recs[i].get("file_name") for i in keep]
    return pd.DataFrame({
        "image_id": pd.Series(ids[keep], dtype="int64"),
        "file_name": _storable([f.replace("\\", "/") if type(f) is str and f else None for f in fnames]),
        "width": w[keep], "height": h[keep],
        "size_error": ["; ".join(e for e in (w_err[i], h_err[i]) if e) or None for i in keep],
        "pos": pos[keep]})


# ---- annotations -----------------------------------------------------------------------------------------------
def _masks(segs: list, rows, H: np.ndarray, W: np.ndarray, v: _Verdicts) -> list:
    """Normalised segmentations (None = no mask) of ``rows``; unusable masks are dropped and flagged."""
    out = [None] * len(segs)
    if set(map(type, segs)) <= {type(None)}:  # (not list.count: it compares arrays with ==)
        return out
    for i in rows:
        if segs[i] is None:
            continue
        out[i], err = normalise_segmentation(segs[i], H[i], W[i])
        if err:
            v.flag(i, f"{err}; the mask is not used (the record is kept as its box)", "bad_segmentation")
    return out


def _mask_box(seg, h: float, w: float) -> list[float] | None:
    if seg is None or (type(seg) is list and not (math.isfinite(h) and math.isfinite(w))):
        return None
    return mask_bbox(seg, h, w)


def parse_annotations(items: list, file: str, images: pd.DataFrame, categories: pd.DataFrame,
                      report: ProblemReport, *, rejected_images: dict | None = None) -> pd.DataFrame:
    """``labels`` table (``explorer.project.schema.LABELS`` columns, ``segmentation`` as a normalised Python
    value, plus ``record``) of the valid ``annotations`` against ``images`` / ``categories`` (see the module
    rules). ``rejected_images``: ``{image id: record name}`` of image records the caller rejected, for messages."""
    recs, pos = _dicts(items, "annotations", file, report)
    n = len(recs)
    rejected_images = rejected_images or {}
    v = _Verdicts(n)
    raw = {k: _values(recs, k) for k in ("id", "image_id", "category_id")}
    col = {k: int_column(x) for k, x in raw.items()}
    for k in raw:
        v.reject(~col[k][1], _id_problem(raw[k], k), "bad_annotation")
    ids, img, cat = (col[k][0] for k in ("id", "image_id", "category_id"))
    area_raw = _values(recs, "area")
    area, area_ok = float_column(area_raw)
    no_area = np.array([a is None for a in area_raw], bool)
    v.reject(~area_ok & ~no_area, lambda i: f"'area' must be a number, got {describe(area_raw[i])}", "bad_annotation")
    crowd_raw = [0 if c is None else c for c in _values(recs, "iscrowd")]  # absent: 0, as in pycocotools' default
    crowd_vals, crowd_ok = int_column(crowd_raw if set(map(type, crowd_raw)) <= {int} else
                                      [int(c) if isinstance(c, (bool, np.bool_)) else c for c in crowd_raw])
    v.reject(~crowd_ok, lambda i: f"'iscrowd' must be 0 or 1, got {describe(crowd_raw[i])}", "bad_annotation")
    dup, first = _first_of_duplicates(ids, v.ok)
    v.reject(dup, lambda i: f"duplicate annotation id {ids[i]} (first at annotations[{pos[first[ids[i]]]}]); "
             "this record is skipped", "duplicate_id")
    image_row = pd.Index(images["image_id"].to_numpy()).get_indexer(img)

    def unknown_image(i):
        if int(img[i]) in rejected_images:
            return f"image_id {img[i]} refers to an image record that was rejected ({rejected_images[int(img[i])]})"
        return f"unknown image_id {img[i]} (not in 'images')"

    v.reject(image_row < 0, unknown_image, "unknown_image")
    v.reject(~np.isin(cat, categories["category_id"].to_numpy()),
             lambda i: f"unknown category_id {cat[i]} (not in 'categories')", "unknown_category")
    W = np.append(images["width"].to_numpy(np.float64), np.nan)[image_row]  # -1 (unknown image) picks the NaN
    H = np.append(images["height"].to_numpy(np.float64), np.nan)[image_row]
    segs = _masks(_values(recs, "segmentation"), np.flatnonzero(v.ok), H, W, v)
    box_raw = _values(recs, "bbox")
    boxes, box_ok = box_column(box_raw)
    for i in np.flatnonzero(v.ok & ~box_ok):
        derived = _mask_box(segs[i], H[i], W[i])
        if derived is None:
            continue
        boxes[i] = derived
        box_ok[i] = True
        why = "missing 'bbox'" if box_raw[i] is None else f"unusable bbox {describe(box_raw[i])}"
        v.flag(i, f"{why}; computed from the segmentation", "bbox_computed")
    v.reject(~box_ok, lambda i: "missing 'bbox'" if box_raw[i] is None else
             f"bbox must be a list of 4 numbers [x, y, width, height], got {describe(box_raw[i])}", "bad_bbox")
    check = check_boxes(boxes, W, H, outside="flag")
    v.reject(~check.ok, lambda i: check.rejected[i], "bad_bbox")
    v.flag_rows(np.flatnonzero(v.ok & check.has_flag), check.flagged, "bbox_outside_image")
    for i in np.flatnonzero(v.ok & ~np.isin(crowd_vals, (0, 1))):
        v.flag(i, f"'iscrowd' is {crowd_vals[i]}: any non-zero value means a crowd region (as in pycocotools)", "iscrowd_value")
    for i in np.flatnonzero(v.ok & no_area):
        if segs[i] is not None and not (type(segs[i]) is list and not (math.isfinite(H[i]) and math.isfinite(W[i]))):
            area[i] = mask_area(segs[i], H[i], W[i])
            v.flag(i, "missing 'area'; computed as the mask area", "area_computed")
        else:
            area[i] = boxes[i, 2] * boxes[i, 3]
            v.flag(i, "missing 'area'; computed as bbox width*height", "area_computed")
    with np.errstate(invalid="ignore"):
        odd_area = v.ok & ~no_area & ~(np.isfinite(area) & (area >= 0))
    for i in np.flatnonzero(odd_area):
        v.flag(i, f"'area' is {area[i]:g}: outside every area range, so the label is ignored (as in pycocotools)",
               "bad_area")
    v.report(report, file, lambda i: record_name("annotations", int(pos[i]), int(ids[i]) if col["id"][1][i] else None))
    keep = np.flatnonzero(v.ok)
    return pd.DataFrame({
        "label_id": ids[keep], "image_id": img[keep], "category_id": cat[keep],
        "x": boxes[keep, 0], "y": boxes[keep, 1], "w": boxes[keep, 2], "h": boxes[keep, 3],
        "area": area[keep], "iscrowd": crowd_vals[keep] != 0, "segmentation": _take(segs, keep),
        "pos": pos[keep]})


@dataclass
class GroundTruth:
    """A parsed COCO ground truth: ``images`` (``parse_images``), ``categories``, ``labels`` (``parse_annotations``)."""

    images: pd.DataFrame
    categories: pd.DataFrame
    labels: pd.DataFrame
    file: str


def parse_ground_truth(data, file: str, report: ProblemReport) -> GroundTruth:
    """A COCO ground-truth dict as ``GroundTruth`` (structure errors are the caller's: see ``explorer.io.coco``)."""
    categories = parse_categories(data.get("categories") or [], file, report)
    images = parse_images(data.get("images") or [], file, report)
    labels = parse_annotations(data.get("annotations") or [], file, images, categories, report)
    return GroundTruth(images, categories, labels, file)


# ---- results ------------------------------------------------------------------------------------------------------
def is_box_results(records: list) -> bool:
    """``loadRes``' rule: the first record decides (a non-empty ``bbox`` → box results, else mask results when
    it has a ``segmentation``; a list of non-objects is read as box results, whose records are all rejected)."""
    first = records[0] if records and isinstance(records[0], dict) else next(
        (r for r in records if isinstance(r, dict)), {})
    if "bbox" in first and not (isinstance(first["bbox"], (list, tuple, np.ndarray)) and len(first["bbox"]) == 0):
        return True
    return "segmentation" not in first


def parse_results(records: list, file: str, images: pd.DataFrame, report: ProblemReport, *,
                  categories: pd.DataFrame | None = None, image_keys: dict | None = None,
                  category_names: dict | None = None) -> pd.DataFrame:
    """``predictions`` table (``explorer.project.schema.PREDICTIONS`` columns, ``segmentation`` normalised,
    plus ``record``) of the valid results for ``images`` (see the module rules).

    ``categories``: reject results of other categories (the importer: a project names every class); None
    keeps them (``evaluate_coco``: not evaluated unless asked for, like pycocotools' ``catIds``).
    ``image_keys`` / ``category_names``: also accept a file name / stem for ``image_id`` and a class name for
    ``category_id`` (projects whose ids the importer assigned).
    """
    return _parse_results(records, file, images, report, categories=categories, image_keys=image_keys,
                          category_names=category_names, box_file=is_box_results(records))


def parse_results_chunks(chunks, file: str, images: pd.DataFrame, report: ProblemReport, *, finish=None,
                         **options) -> pd.DataFrame:
    """``parse_results`` of the list that ``chunks`` (an iterable of consecutive lists) make together, one chunk
    at a time, so that only one chunk's records are Python objects at once: the same table and the same report
    as ``parse_results`` of the whole list (positions, ``pred_id`` values, each check's flag cap and the report's
    order are the file's). ``finish(table)`` turns each chunk's table into its final form (e.g. segmentations
    as JSON text) before the next chunk is read; ``options``: ``parse_results``' keywords.

    ``NotChunkable`` when the first chunk holds no JSON object (the kind of file is decided by its first object,
    which is then in a later chunk): the caller reads the file as one list instead.
    """
    store, frames, offset, box_file = _Store(), [], 0, None
    for recs in chunks:
        if box_file is None:
            if not any(isinstance(r, dict) for r in recs):
                raise NotChunkable("the first chunk holds no record object")
            box_file = is_box_results(recs)
        table = _parse_results(recs, file, images, report, offset=offset, box_file=box_file, store=store, **options)
        frames.append(table if finish is None else finish(table))
        offset += len(recs)
        del recs, table
    store.report(report, file)
    return pd.concat(frames, ignore_index=True) if len(frames) != 1 else frames[0]


def _parse_results(records: list, file: str, images: pd.DataFrame, report: ProblemReport, *,
                   categories: pd.DataFrame | None = None, image_keys: dict | None = None,
                   category_names: dict | None = None, box_file: bool, offset: int = 0,
                   store: _Store | None = None) -> pd.DataFrame:
    """``parse_results`` of ``records``, which start at position ``offset`` of their file (``store``: the
    verdicts of the file's chunks, see ``_Verdicts``); ``box_file``: the file's kind (``is_box_results``)."""
    recs, pos = _dicts(records, "results", file, report, offset=offset)
    n = len(recs)
    v = _Verdicts(n, store=store)
    by_name = image_keys is not None
    raw_img = _values(recs, "image_id")
    raw_cat = _values(recs, "category_id")
    if type(None) in set(map(type, raw_cat)):  # (not `None in`: it compares arrays with ==)
        raw_cat = [r.get("category_id", r.get("category_name")) for r in recs]
    if image_keys:
        raw_img = [image_keys.get(x, x) if type(x) is str else x for x in raw_img]
    if category_names:
        raw_cat = [category_names.get(x, x) if type(x) is str else x for x in raw_cat]
    img, img_ok = int_column(raw_img)
    cat, cat_ok = int_column(raw_cat)
    hint_img = " or a file name in the image set" if by_name else ""
    hint_cat = " or a class name" if by_name else ""
    v.reject(~img_ok, lambda i: "missing 'image_id'" if raw_img[i] is None else
             f"'image_id' {describe(raw_img[i])} is not an image id{hint_img}", "bad_prediction")
    image_row = pd.Index(images["image_id"].to_numpy()).get_indexer(img)
    v.reject(image_row < 0, lambda i: f"unknown image_id {img[i]} (not among the images)", "unknown_image")
    v.reject(~cat_ok, lambda i: "missing 'category_id'" if raw_cat[i] is None else
             f"'category_id' {describe(raw_cat[i])} is not a category id{hint_cat}", "bad_prediction")
    if categories is not None:
        v.reject(~np.isin(cat, categories["category_id"].to_numpy()),
                 lambda i: f"unknown category_id {cat[i]} (not among the categories)", "unknown_category")
    raw_score = _values(recs, "score")
    score, score_ok = float_column(raw_score)
    v.reject(~score_ok, lambda i: "missing 'score'" if raw_score[i] is None else
             f"'score' must be a number, got {describe(raw_score[i])}", "bad_score")
    unnamed = ~v.ok  # rejected before it is a prediction of an image: named without a pred_id
    checks = check_scores(score)
    v.reject(~checks.ok, lambda i: checks.rejected[i], "bad_score")
    v.flag_rows(np.flatnonzero(checks.has_flag), checks.flagged, "flagged_prediction")
    W = np.append(images["width"].to_numpy(np.float64), np.nan)[image_row]
    H = np.append(images["height"].to_numpy(np.float64), np.nan)[image_row]
    raw_seg = _values(recs, "segmentation")
    box_raw = _values(recs, "bbox")
    boxes, box_ok, box_dtype = box_column(box_raw, with_dtype=True)
    area = np.full(n, np.nan)
    if box_file:
        segs = _masks(raw_seg, np.flatnonzero(v.ok), H, W, v)
        v.reject(~box_ok, lambda i: "missing 'bbox'" if box_raw[i] is None else
                 f"bbox must be a list of 4 numbers [x, y, width, height], got {describe(box_raw[i])}", "bad_bbox")
        with np.errstate(over="ignore", invalid="ignore"):  # (1e300 x 1e300 is inf: outside every area range)
            area = boxes[:, 2] * boxes[:, 3]
        if n and box_dtype not in (np.float64, np.int64):
            # loadRes computes bb[2] * bb[3] in the box's own type (a float32 array gives a float32 area)
            for i in np.flatnonzero(v.ok):
                area[i] = float(box_raw[i][2] * box_raw[i][3])
    else:
        segs = [None] * n
        for i in np.flatnonzero(v.ok):
            if raw_seg[i] is None:
                continue
            segs[i], err = normalise_segmentation(raw_seg[i], H[i], W[i])
            if err:
                raw_seg[i] = err
            elif type(segs[i]) is list and not (math.isfinite(H[i]) and math.isfinite(W[i])):
                segs[i], raw_seg[i] = None, "a polygon mask needs the image size, which is unknown"
        v.reject(np.array([s is None for s in segs], bool) if n else np.zeros(0, bool),
                 lambda i: (raw_seg[i] if isinstance(raw_seg[i], str) else
                            "missing 'segmentation' (this is a mask results file: its first record has no bbox)"),
                 "bad_segmentation")
        for i in np.flatnonzero(v.ok):
            area[i] = mask_area(segs[i], H[i], W[i])
            given = box_raw[i]
            empty = given is None or (isinstance(given, (list, tuple, np.ndarray)) and len(given) == 0)
            if not box_ok[i]:
                if not empty:
                    v.flag(i, f"unusable bbox {describe(given)}; computed from the mask", "bbox_computed")
                boxes[i] = mask_bbox(segs[i], H[i], W[i])
    check = check_boxes(boxes, W, H, outside="flag")
    v.reject(~check.ok, lambda i: check.rejected[i], "bad_prediction")
    v.flag_rows(np.flatnonzero(v.ok & check.has_flag), check.flagged, "flagged_prediction")
    v.report(report, file, lambda i: f"results[{pos[i]}]" + ("" if unnamed[i] else f" (pred_id={pos[i] + 1})"))
    keep = np.flatnonzero(v.ok)
    return pd.DataFrame({
        "pred_id": pos[keep] + 1, "image_id": img[keep], "category_id": cat[keep],
        "x": boxes[keep, 0], "y": boxes[keep, 1], "w": boxes[keep, 2], "h": boxes[keep, 3],
        "area": area[keep], "score": score[keep], "segmentation": _take(segs, keep), "pos": pos[keep]})


# ---- project tables ---------------------------------------------------------------------------------------------
def check_tables(labels: pd.DataFrame | None, predictions: pd.DataFrame | None, report: ProblemReport, *,
                 source: str = "project") -> tuple[np.ndarray, np.ndarray]:
    """The same box and score rules on already-imported tables (``explorer.project.schema`` columns): rows to
    keep ``(labels_ok, predictions_ok)``; a row with a NaN/inf or negative box coordinate, or a NaN score, is
    skipped and reported (tables written by importers never have one; hand-built tables may)."""
    out = []
    for df, what, id_col in ((labels, "labels", "label_id"), (predictions, "predictions", "pred_id")):
        if df is None or len(df) == 0:
            out.append(np.ones(0 if df is None else len(df), bool))
            continue
        box = df[["x", "y", "w", "h"]].to_numpy(np.float64)
        nan = np.full(len(df), np.nan)
        check = check_boxes(box, nan, nan)
        v = _Verdicts(len(df))
        v.reject(~check.ok, lambda i: check.rejected[i], "bad_bbox")
        if what == "predictions":
            scores = check_scores(df["score"].to_numpy(np.float64))
            v.reject(~scores.ok, lambda i: scores.rejected[i], "bad_score")
        ids = df[id_col].to_numpy()
        v.report(report, f"{source} {what} table", lambda i: f"{id_col}={ids[i]}")
        out.append(v.ok)
    return out[0], out[1]
