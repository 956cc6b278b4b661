"""The fuzz campaign's generator: malformed input files, each MIXING valid and invalid records, with their oracle.

Every ``Case`` is one CLI call (``argv`` for ``explorer.cli.main``) on files written under ``case.root``, plus
what a correct run must show:

- ``valid``: per checked table (``tests.fuzz.run.TABLE_KEYS``), the keys of records that must be kept;
- ``bad``: the malformed inputs (``Bad``): the file and record locator (``annotations[7]``, ``line 5``,
  ``results[3]``, ``object[1]``, or ``""`` for a whole file) a problem must name, the table and key that record
  would have if it were kept, and a ``mode``: ``reject`` (skipped and named), ``named`` (named; kept only with
  a flagged problem, e.g. a box outside its image) or ``accept`` (legal after all, e.g. id 0: must be kept);
- ``fatal``: the file a one-line error must name when nothing in it is usable (exit status non-zero);
  ``fatal_ok``: a config file (data.yaml, classes.txt) that may be refused as a whole instead of record by record.

Families (``FAMILIES``): COCO labels, COCO predictions, ``explorer evaluate``, YOLO, VOC, splits CSV,
classification CSVs, regression CSV, segmentation masks, training logs, ``explorer metrics`` on folders and on
projects. Each builder draws its mutations from its family's list with ``random.Random(seed)``, cycling through
the list so that a fixed number of cases covers every mutation.
"""
from __future__ import annotations

import json
import re
import os
import random
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np


# ---- JSON text with what json.dumps cannot write (NaN is fine): raw tokens, duplicate keys --------------------
@dataclass(frozen=True)
class Raw:
    """A JSON token written verbatim (``1e30``, a 5,000-digit integer, ``[[[...]]]``)."""
    text: str


@dataclass(frozen=True)
class Dup:
    """A JSON object written with these (key, value) pairs, duplicate keys included."""
    pairs: tuple


def dumps(obj) -> str:
    if isinstance(obj, Raw):
        return obj.text
    if isinstance(obj, Dup):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in obj.pairs) + "}"
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    return json.dumps(obj)


# ---- the oracle -----------------------------------------------------------------------------------------------
@dataclass
class Bad:
    file: str                 # base name of the file holding the record
    token: str                # record locator a problem must contain ("" = the file as a whole)
    kind: str                 # mutation name
    table: str | None = None  # table the record would land in
    key: object = None        # its key there (None: not identifiable)
    mode: str = "reject"      # reject | named | accept


@dataclass
class Case:
    family: str
    name: str
    root: Path
    argv: list
    valid: dict = field(default_factory=dict)
    bad: list = field(default_factory=list)
    fatal: str | None = None      # nothing usable: non-zero exit, one line naming this file
    fatal_ok: str | None = None   # may be refused as a whole (one line naming this file) instead
    command: str = "import"       # import | evaluate | metrics
    out: Path | None = None       # project folder / output file written by the command
    reference: tuple | None = None  # evaluate: (clean GT dict, clean results list, iou_type)
    subprocess: bool = False      # run in a child process too (native-crash-prone or possibly blocking)
    inprocess: bool = True        # False: a FIFO could block this process; child process only


# ---- image bytes ----------------------------------------------------------------------------------------------
def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR announces ``width × height`` with (almost) no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b"")


def tall_png() -> bytes:
    """A valid 1×65535 greyscale PNG."""
    rows = b"".join(b"\x00" + bytes([i % 256]) for i in range(65535))
    ihdr = struct.pack(">IIBBBBB", 1, 65535, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")


_IMG_CACHE: dict = {}


def image_bytes(w: int, h: int, ext: str = ".png", seed: int = 0, channels: int = 3) -> bytes:
    key = (w, h, ext, seed, channels)
    if key not in _IMG_CACHE:
        rng = np.random.default_rng(seed)
        shape = (h, w, channels) if channels > 1 else (h, w)
        _IMG_CACHE[key] = cv2.imencode(ext, rng.integers(0, 256, shape, dtype=np.uint8))[1].tobytes()
    return _IMG_CACHE[key]


def mask_bytes(w: int, h: int, values, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    m = rng.choice(np.asarray(values, np.uint8), size=(h, w))
    return cv2.imencode(".png", m)[1].tobytes()


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def garbage(rng: random.Random, n: int = 64) -> bytes:
    return bytes(rng.randrange(256) for _ in range(n))


LONG = "x" * 200_000  # over the csv module's 131,072-character field limit
DEEP = "[" * 300 + "1" + "]" * 300             # inside the parser's reach: that record's problem
ABYSS = "[" * 200_000 + "]" * 200_000          # beyond any parser: the file's problem


# ---- COCO ---------------------------------------------------------------------------------------------------------
W, H = 64, 48


def coco_images(n: int) -> list:
    return [{"id": i, "file_name": f"img{i}.jpg", "width": W, "height": H} for i in range(1, n + 1)]


CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}]


def valid_ann(i: int, n_img: int, rng: random.Random) -> dict:
    x, y = rng.randint(0, 30), rng.randint(0, 20)
    ann = {"id": i, "image_id": 1 + i % n_img, "category_id": 1 + i % 3, "bbox": [x, y, 12, 10], "area": 120,
           "iscrowd": 0}
    if i % 3 == 0:
        ann["segmentation"] = [[x, y, x + 12, y, x + 12, y + 10, x, y + 10]]
    return ann


def _ann(**over) -> dict:
    base = {"image_id": 1, "category_id": 1, "bbox": [5, 5, 10, 10], "area": 100, "iscrowd": 0}
    base.update(over)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()

# mutation -> (build(id) -> record, mode, key is the record's id?)
ANN_MUTATIONS = {
    "id_beyond_int64": (lambda i: _ann(id=Raw(str(2**63))), "reject", False),
    "id_5000_digits": (lambda i: _ann(id=Raw("9" * 5000)), "reject", False),
    "id_1e30": (lambda i: _ann(id=Raw("1e30")), "reject", False),
    "id_float": (lambda i: _ann(id=i + 0.5), "reject", False),
    "id_numpy_string": (lambda i: _ann(id=f"np.int64({i})"), "reject", False),
    "id_digit_string": (lambda i: _ann(id=str(i)), "reject", False),
    "id_missing": (lambda i: _ann(), "reject", False),
    "id_bool": (lambda i: _ann(id=True), "reject", False),
    "id_nan": (lambda i: _ann(id=Raw("NaN")), "reject", False),
    "id_zero": (lambda i: _ann(id=0), "accept", "0"),
    "id_negative": (lambda i: _ann(id=-i), "accept", "neg"),
    "id_integral_float": (lambda i: _ann(id=float(i)), "accept", True),
    "id_int64_max": (lambda i: _ann(id=2**63 - 1), "accept", "max"),
    "image_id_unknown": (lambda i: _ann(id=i, image_id=999), "reject", True),
    "image_id_beyond_int64": (lambda i: _ann(id=i, image_id=Raw(str(2**64))), "reject", True),
    "image_id_400_digits": (lambda i: _ann(id=i, image_id=Raw("7" * 400)), "reject", True),
    "image_id_string": (lambda i: _ann(id=i, image_id="img1.jpg"), "reject", True),
    "category_id_unknown": (lambda i: _ann(id=i, category_id=77), "reject", True),
    "category_id_null": (lambda i: _ann(id=i, category_id=None), "reject", True),
    "category_id_negative": (lambda i: _ann(id=i, category_id=-1), "reject", True),
    "bbox_nan": (lambda i: _ann(id=i, bbox=Raw("[NaN, 1, 2, 3]")), "reject", True),
    "bbox_inf": (lambda i: _ann(id=i, bbox=Raw("[1, Infinity, 2, 3]")), "reject", True),
    "bbox_minus_inf": (lambda i: _ann(id=i, bbox=Raw("[1, 2, -Infinity, 3]")), "reject", True),
    "bbox_negative_w": (lambda i: _ann(id=i, bbox=[1, 2, -5, 3]), "reject", True),
    "bbox_len3": (lambda i: _ann(id=i, bbox=[1, 2, 3]), "reject", True),
    "bbox_len5": (lambda i: _ann(id=i, bbox=[1, 2, 3, 4, 5]), "reject", True),
    "bbox_strings": (lambda i: _ann(id=i, bbox=["1", "2", "3", "4"]), "reject", True),
    "bbox_string": (lambda i: _ann(id=i, bbox="1,2,3,4"), "reject", True),
    "bbox_nested": (lambda i: _ann(id=i, bbox=[[1, 2, 3, 4]]), "reject", True),
    "bbox_object": (lambda i: _ann(id=i, bbox={"x": 1}), "reject", True),
    "bbox_missing": (lambda i: _ann(id=i, bbox=_DROP), "reject", True),
    "bbox_5000_digits": (lambda i: _ann(id=i, bbox=Raw("[1, 2, " + "9" * 5000 + ", 3]")), "reject", True),
    "bbox_deep": (lambda i: _ann(id=i, bbox=Raw(DEEP)), "reject", True),
    "bbox_1e300": (lambda i: _ann(id=i, bbox=[1e300, 2, 3, 4]), "named", True),
    "bbox_huge_wh": (lambda i: _ann(id=i, bbox=[1, 2, 1e300, 1e300]), "named", True),
    "polygon_1e9": (lambda i: _ann(id=i, segmentation=[[1e9, 1e9, 2e9, 1e9, 2e9, 2e9]]), "named", True),
    "polygon_odd": (lambda i: _ann(id=i, segmentation=[[1, 2, 3, 4, 5]]), "named", True),
    "polygon_strings": (lambda i: _ann(id=i, segmentation=[["a", "b", "c", "d", "e", "f"]]), "named", True),
    "polygon_nan": (lambda i: _ann(id=i, segmentation=Raw("[[1, 2, NaN, 4, 5, 6]]")), "named", True),
    "rle_counts_garbage": (lambda i: _ann(id=i, segmentation={"counts": "garbage~~!!\u00e9", "size": [H, W]}), "named", True),
    "rle_counts_short_garbage": (lambda i: _ann(id=i, segmentation={"counts": "zz", "size": [H, W]}), "named", True),
    "rle_counts_int": (lambda i: _ann(id=i, segmentation={"counts": 5, "size": [H, W]}), "named", True),
    "rle_counts_object": (lambda i: _ann(id=i, segmentation={"counts": {"a": 1}, "size": [H, W]}), "named", True),
    "rle_counts_too_long": (lambda i: _ann(id=i, segmentation={"counts": [W * H, 5, 7], "size": [H, W]}), "named", True),
    "rle_counts_negative": (lambda i: _ann(id=i, segmentation={"counts": [-5, 10], "size": [H, W]}), "named", True),
    "rle_size_strings": (lambda i: _ann(id=i, segmentation={"counts": "PPYo0", "size": [str(H), str(W)]}), "named", True),
    "rle_size_len3": (lambda i: _ann(id=i, segmentation={"counts": "PPYo0", "size": [H, W, 3]}), "named", True),
    "rle_size_negative": (lambda i: _ann(id=i, segmentation={"counts": [10], "size": [-H, W]}), "named", True),
    "rle_size_huge": (lambda i: _ann(id=i, segmentation={"counts": [10], "size": [10**12, 10**12]}), "named", True),
    "segmentation_string": (lambda i: _ann(id=i, segmentation="polygon"), "named", True),
    "iscrowd_string": (lambda i: _ann(id=i, iscrowd="yes"), "named", True),
    "area_string": (lambda i: _ann(id=i, area="big"), "named", True),
    "area_nan": (lambda i: _ann(id=i, area=Raw("NaN")), "named", True),
    "area_negative": (lambda i: _ann(id=i, area=-5), "named", True),
    "duplicate_key_bbox": (lambda i: Dup((("id", i), ("image_id", 1), ("category_id", 1), ("bbox", [1, 2, 3, 4]),
                                          ("bbox", [9, 9, 9, 9]))), "reject", True),
    "duplicate_key_id": (lambda i: Dup((("id", i), ("id", i + 1), ("image_id", 1), ("category_id", 1),
                                        ("bbox", [1, 2, 3, 4]))), "reject", True),
    "record_string": (lambda i: "annotation", "reject", False),
    "record_null": (lambda i: None, "reject", False),
    "record_number": (lambda i: 12, "reject", False),
    "record_list": (lambda i: [i, 1, 1], "reject", False),
    # round 2: every numeric field beyond int64 / float range, booleans where numbers go, repeats inside a record
    "id_below_int64": (lambda i: _ann(id=Raw(str(-2**63 - 1))), "reject", False),
    "image_id_bool": (lambda i: _ann(id=i, image_id=True), "reject", True),
    "category_id_2_63": (lambda i: _ann(id=i, category_id=Raw(str(2**63))), "reject", True),
    "category_id_bool": (lambda i: _ann(id=i, category_id=True), "reject", True),
    "iscrowd_2_63": (lambda i: _ann(id=i, iscrowd=Raw(str(2**63))), "reject", True),
    "iscrowd_1e30": (lambda i: _ann(id=i, iscrowd=Raw("1e30")), "reject", True),
    "iscrowd_nan": (lambda i: _ann(id=i, iscrowd=Raw("NaN")), "reject", True),
    "bbox_bool": (lambda i: _ann(id=i, bbox=[True, 2, 3, 4]), "reject", True),
    "bbox_2_64": (lambda i: _ann(id=i, bbox=Raw(f"[1, 2, {2**64}, 3]")), "named", True),
    "bbox_1e400": (lambda i: _ann(id=i, bbox=Raw("[1, 2, 1e400, 3]")), "reject", True),
    "area_1e400": (lambda i: _ann(id=i, area=Raw("1e400")), "named", True),
    "area_bool": (lambda i: _ann(id=i, area=True), "reject", True),
    "rle_duplicate_counts": (lambda i: _ann(id=i, iscrowd=1, segmentation=Dup((("counts", [W * H]), ("size", [H, W]),
                                                                              ("counts", "zz")))), "named", True),
    "rle_size_2_63": (lambda i: _ann(id=i, segmentation={"counts": [10], "size": [Raw(str(2**63)), W]}), "named", True),
    "rle_counts_2_63": (lambda i: _ann(id=i, segmentation={"counts": [Raw(str(2**63)), 5], "size": [H, W]}), "named", True),
    "rle_counts_bool": (lambda i: _ann(id=i, segmentation={"counts": [True, W * H - 1], "size": [H, W]}), "named", True),
    "polygon_nested": (lambda i: _ann(id=i, segmentation=[[[1, 2], [3, 4], [5, 6]]]), "named", True),
    "polygon_2_64": (lambda i: _ann(id=i, segmentation=Raw(f"[[{2**64}, 1, 2, 3, 4, 5]]")), "named", True),
}

IMG_MUTATIONS = {  # image records (no annotation refers to them)
    "image_id_beyond_int64": (lambda i: {"id": Raw(str(2**63)), "file_name": f"x{i}.jpg", "width": W, "height": H}, "reject", False),
    "image_id_string": (lambda i: {"id": f"{i}", "file_name": f"x{i}.jpg", "width": W, "height": H}, "reject", False),
    "image_id_float": (lambda i: {"id": i + 0.25, "file_name": f"x{i}.jpg", "width": W, "height": H}, "reject", False),
    "image_duplicate_id": (lambda i: {"id": 1, "file_name": f"x{i}.jpg", "width": W, "height": H}, "reject", False),
    "image_no_file_name": (lambda i: {"id": i, "width": W, "height": H}, "reject", True),
    "image_file_name_number": (lambda i: {"id": i, "file_name": 12, "width": W, "height": H}, "reject", True),
    "image_file_name_surrogate": (lambda i: {"id": i, "file_name": Raw('"bad\\ud800name.jpg"'), "width": W, "height": H}, "named", True),
    "image_file_name_nul": (lambda i: {"id": i, "file_name": "a\u0000b.jpg", "width": W, "height": H}, "named", True),
    "image_file_name_too_long": (lambda i: {"id": i, "file_name": "n" * 5000 + ".jpg", "width": W, "height": H}, "named", True),
    "image_width_string": (lambda i: {"id": i, "file_name": f"x{i}.jpg", "width": "wide", "height": H}, "named", True),
    "image_width_negative": (lambda i: {"id": i, "file_name": f"x{i}.jpg", "width": -1, "height": H}, "named", True),
    "image_width_1e300": (lambda i: {"id": i, "file_name": f"x{i}.jpg", "width": 1e300, "height": H}, "named", True),
    "image_record_string": (lambda i: "image", "reject", False),
    "image_width_bool": (lambda i: {"id": i, "file_name": f"x{i}.jpg", "width": True, "height": H}, "named", True),
    "image_width_2_63": (lambda i: {"id": i, "file_name": f"x{i}.jpg", "width": Raw(str(2**63)), "height": H}, "named", True),
    "image_no_size": (lambda i: {"id": i, "file_name": f"x{i}.jpg"}, "named", True),
    "image_duplicate_key": (lambda i: Dup((("id", i), ("file_name", f"x{i}.jpg"), ("width", W), ("height", H),
                                           ("width", 2 * W))), "reject", False),
    "image_file_name_dotdot": (lambda i: {"id": i, "file_name": f"../x{i}.jpg", "width": W, "height": H}, "reject", False),
}

CAT_MUTATIONS = {
    "category_id_string": (lambda i: {"id": "x", "name": f"c{i}"}, "reject", False),
    "category_duplicate_id": (lambda i: {"id": 1, "name": f"again{i}"}, "reject", False),
    "category_id_beyond_int64": (lambda i: {"id": Raw(str(2**63 + 5)), "name": f"c{i}"}, "reject", False),
    "category_name_number": (lambda i: {"id": i, "name": 123}, "named", True),
    "category_name_html": (lambda i: {"id": i, "name": "<img src=x onerror=alert(1)>"}, "accept", True),
    "category_record_null": (lambda i: None, "reject", False),
    "category_name_surrogate": (lambda i: {"id": i, "name": Raw('"c\\ud800"')}, "named", True),
    "category_duplicate_name": (lambda i: {"id": i, "name": "cat"}, "named", True),
    "category_id_bool": (lambda i: {"id": True, "name": f"c{i}"}, "reject", False),
}


def _mixed(rng: random.Random, valid: list, bad: list) -> tuple[list, dict]:
    """``valid + bad`` shuffled; returns the list and ``{id(record object): position}``."""
    items = [("v", r) for r in valid] + [("b", r) for r in bad]
    rng.shuffle(items)
    return [r for _, r in items], items


_OFFSET = 0  # where the walk through each mutation list starts: 0 for seed 0, shifted by other seeds


def _cycle(names: list, case_no: int, k: int, rng: random.Random) -> list:
    """``k`` mutation names: ``names`` walked in order across cases (full coverage), shuffled within a case."""
    start = (case_no * k + _OFFSET) % len(names)
    picked = [names[(start + j) % len(names)] for j in range(k)]
    return list(dict.fromkeys(picked))


def _coco_gt(rng: random.Random, case_no: int, root: Path, *, n_img: int = 4, n_valid: int = 6, n_bad: int = 3,
             with_images_cats: bool = True, name: str = "gt.json"):
    """A GT dict text with mutated annotations (and image / category records); returns (text, valid, bad, clean)."""
    images, cats = coco_images(n_img), [dict(c) for c in CATEGORIES]
    anns = [valid_ann(i, n_img, rng) for i in range(1, n_valid + 1)]
    bad_list, valid_keys = [], {"labels": {a["id"] for a in anns}, "images": set(range(1, n_img + 1)),
                                "categories": {1, 2, 3}}
    clean_anns = list(anns)
    mut_anns = []
    for j, m in enumerate(_cycle(list(ANN_MUTATIONS), case_no, n_bad, rng)):
        build, mode, keyed = ANN_MUTATIONS[m]
        rid = 1000 + 10 * case_no + j
        rec = build(rid)
        key = {True: rid, False: None, "0": 0, "neg": -rid, "max": 2**63 - 1}[keyed]
        mut_anns.append((m, rec, mode, key))
    # one id-0 / negative / max id per file at most (they would collide)
    seen, kept_muts = set(), []
    for m, rec, mode, key in mut_anns:
        if key is not None and key in seen:
            continue
        seen.add(key)
        kept_muts.append((m, rec, mode, key))
    order = [("v", a) for a in anns] + [("b", t) for t in kept_muts]
    rng.shuffle(order)
    ann_list = []
    for pos, (tag, obj) in enumerate(order):
        if tag == "v":
            ann_list.append(obj)
            continue
        m, rec, mode, key = obj
        ann_list.append(rec)
        if mode == "accept":
            valid_keys["labels"].add(key)
            clean_anns.append(json.loads(dumps(rec)))
        bad_list.append(Bad(name, f"annotations[{pos}]", m, "labels", key, mode))
    if with_images_cats and case_no % 2 == 0:
        m = _cycle(list(IMG_MUTATIONS), case_no // 2, 1, rng)[0]
        build, mode, keyed = IMG_MUTATIONS[m]
        pos = rng.randint(0, len(images))
        images.insert(pos, build(500 + case_no))
        bad_list.append(Bad(name, f"images[{pos}]", m, "images", 500 + case_no if keyed else None, mode))
    if with_images_cats and case_no % 3 == 0:
        m = _cycle(list(CAT_MUTATIONS), case_no // 3, 1, rng)[0]
        build, mode, keyed = CAT_MUTATIONS[m]
        pos = rng.randint(0, len(cats))
        cats.insert(pos, build(40 + case_no % 50))
        if mode == "accept":
            valid_keys["categories"].add(40 + case_no % 50)
        bad_list.append(Bad(name, f"categories[{pos}]", m, "categories", 40 + case_no % 50 if keyed else None, mode))
    gt = {"images": images, "annotations": ann_list, "categories": cats}
    clean = {"images": coco_images(n_img), "annotations": clean_anns, "categories": [dict(c) for c in CATEGORIES]}
    return dumps(gt), valid_keys, bad_list, clean


FILE_MUTATIONS_JSON = ["bom", "utf16", "duplicate_annotations_key", "abyss", "truncated", "binary", "top_list",
                       "nul_bytes", "empty", "trailing_garbage", "duplicate_images_key"]


def build_coco_labels(rng: random.Random, case_no: int, root: Path) -> Case:
    out = root / "project"
    if case_no % 9 == 8:  # a whole-file mutation
        kind = FILE_MUTATIONS_JSON[(case_no // 9) % len(FILE_MUTATIONS_JSON)]
        return _coco_file_case(rng, case_no, root, kind)
    text, valid, bad, _ = _coco_gt(rng, case_no, root, n_bad=rng.choice((4, 5)))
    write(root / "gt.json", text)
    argv = ["import", "--labels", str(root / "gt.json"), "--out", str(out)]
    crash_prone = any(b.kind in ("polygon_1e9", "rle_size_huge", "id_5000_digits", "bbox_deep") for b in bad)
    return Case("COCO labels", f"coco_labels_{case_no}", root, argv, valid, bad, out=out,
                subprocess=crash_prone and case_no % 4 == 0)


def _coco_file_case(rng, case_no, root, kind) -> Case:
    out = root / "project"
    n_img = 4
    anns = [valid_ann(i, n_img, rng) for i in range(1, 7)]
    gt = {"images": coco_images(n_img), "annotations": anns, "categories": CATEGORIES}
    valid = {"labels": {a["id"] for a in anns}, "images": set(range(1, n_img + 1))}
    bad, fatal = [], None
    text = dumps(gt)
    data = None
    if kind == "bom":
        data = ("\ufeff" + text).encode("utf-8")
    elif kind == "utf16":
        data = text.encode("utf-16")
    elif kind == "duplicate_annotations_key":
        later = [dict(valid_ann(i, n_img, rng), id=2000 + i) for i in range(3)]
        text = dumps(Dup((("images", gt["images"]), ("annotations", anns), ("categories", CATEGORIES),
                          ("annotations", later))))
        bad = [Bad("gt.json", "annotations", kind, "labels", 2000 + i, "reject") for i in range(3)]
    elif kind == "duplicate_images_key":
        later = [{"id": 300 + i, "file_name": f"later{i}.jpg", "width": W, "height": H} for i in range(2)]
        text = dumps(Dup((("images", gt["images"]), ("images", later), ("annotations", anns),
                          ("categories", CATEGORIES))))
        bad = [Bad("gt.json", "images", kind, "images", 300 + i, "reject") for i in range(2)]
    elif kind == "abyss":
        text = text[:-1] + ', "extra": ' + ABYSS + "}"
        fatal = "gt.json"
    elif kind == "truncated":
        text = text[: len(text) * 2 // 3]
        fatal = "gt.json"
    elif kind == "binary":
        data = garbage(rng, 4096)
        fatal = "gt.json"
    elif kind == "top_list":
        text = dumps(anns)
        fatal = "gt.json"
    elif kind == "nul_bytes":
        data = text[:50].encode() + b"\x00\x00" + text[50:].encode()
        fatal = "gt.json"
    elif kind == "empty":
        data = b""
        fatal = "gt.json"
    elif kind == "trailing_garbage":
        text = text + "}}garbage"
        fatal = "gt.json"
    write(root / "gt.json", data if data is not None else text)
    if fatal:
        valid = {}
        bad = [Bad("gt.json", "", kind, None, None, "reject")]
    argv = ["import", "--labels", str(root / "gt.json"), "--out", str(out)]
    return Case("COCO labels", f"coco_labels_{case_no}_{kind}", root, argv, valid, bad, fatal=fatal, out=out,
                subprocess=kind == "abyss")


# ---- COCO predictions ---------------------------------------------------------------------------------------------
def _res(**over) -> dict:
    base = {"image_id": 1, "category_id": 1, "bbox": [5, 5, 10, 10], "score": 0.5}
    base.update(over)
    return {k: v for k, v in base.items() if v is not _DROP}


RES_MUTATIONS = {
    "image_id_unknown": (lambda: _res(image_id=999), "reject"),
    "image_id_beyond_int64": (lambda: _res(image_id=Raw(str(2**63))), "reject"),
    "image_id_5000_digits": (lambda: _res(image_id=Raw("9" * 5000)), "reject"),
    "image_id_1e30": (lambda: _res(image_id=Raw("1e30")), "reject"),
    "image_id_string": (lambda: _res(image_id="abc"), "reject"),
    "image_id_float": (lambda: _res(image_id=1.5), "reject"),
    "image_id_missing": (lambda: _res(image_id=_DROP), "reject"),
    "category_unknown": (lambda: _res(category_id=42), "reject"),
    "category_string": (lambda: _res(category_id="cat"), "reject"),
    "category_zero": (lambda: _res(category_id=0), "reject"),
    "score_nan": (lambda: _res(score=Raw("NaN")), "reject"),
    "score_string": (lambda: _res(score="0.9"), "reject"),
    "score_missing": (lambda: _res(score=_DROP), "reject"),
    "score_null": (lambda: _res(score=None), "reject"),
    "score_list": (lambda: _res(score=[0.5]), "reject"),
    "score_inf": (lambda: _res(score=Raw("Infinity")), "named"),
    "score_above_one": (lambda: _res(score=1.5), "named"),
    "score_negative": (lambda: _res(score=-0.2), "named"),
    "score_1e300": (lambda: _res(score=1e300), "named"),
    "bbox_nan": (lambda: _res(bbox=Raw("[NaN, 1, 2, 3]")), "reject"),
    "bbox_inf": (lambda: _res(bbox=Raw("[1, 2, Infinity, 3]")), "reject"),
    "bbox_negative_h": (lambda: _res(bbox=[1, 2, 3, -4]), "reject"),
    "bbox_len2": (lambda: _res(bbox=[1, 2]), "reject"),
    "bbox_strings": (lambda: _res(bbox=["a", "b", "c", "d"]), "reject"),
    "bbox_null": (lambda: _res(bbox=None), "reject"),
    "bbox_empty": (lambda: _res(bbox=[]), "reject"),
    "bbox_1e300": (lambda: _res(bbox=[1e300, 1e300, 5, 5]), "named"),
    "bbox_deep": (lambda: _res(bbox=Raw(DEEP)), "reject"),
    "segm_garbage_rle": (lambda: _res(segmentation={"counts": "!!garbage!!", "size": [H, W]}), "named"),
    "segm_size_strings": (lambda: _res(segmentation={"counts": "PPYo0", "size": ["a", "b"]}), "named"),
    "segm_polygon_1e9": (lambda: _res(segmentation=[[1e9, 1e9, 3e9, 1e9, 3e9, 3e9]]), "named"),
    "duplicate_key_score": (lambda: Dup((("image_id", 1), ("category_id", 1), ("bbox", [1, 2, 3, 4]), ("score", 0.9),
                                         ("score", 0.1))), "reject"),
    "record_string": (lambda: "prediction", "reject"),
    "record_null": (lambda: None, "reject"),
    "record_list": (lambda: [1, 1, [1, 2, 3, 4], 0.5], "reject"),
    "score_bool": (lambda: _res(score=True), "reject"),
    "score_2_63": (lambda: _res(score=Raw(str(2**63))), "named"),
    "image_id_bool": (lambda: _res(image_id=True), "reject"),
    "category_2_63": (lambda: _res(category_id=Raw(str(2**63))), "reject"),
    "bbox_1e308_area_overflows": (lambda: _res(bbox=[1, 2, 1e308, 1e308]), "named"),
    "segm_duplicate_key": (lambda: _res(segmentation=Dup((("counts", [W * H]), ("size", [H, W]), ("size", [1, 1])))),
                           "named"),
}


def _results(rng, case_no, name, n_valid=6, n_bad=3, n_img=4, muts=RES_MUTATIONS, modes=None):
    """A results list text (first record valid: box results) and (valid pred ids, bad, clean list)."""
    valid = [_res(image_id=1 + i % n_img, category_id=1 + i % 3, bbox=[rng.randint(0, 30), rng.randint(0, 20), 12, 10],
                  score=round(rng.uniform(0.05, 0.99), 3)) for i in range(n_valid)]
    names = [m for m in muts if modes is None or muts[m][1] in modes]
    chosen = _cycle(names, case_no, n_bad, rng)
    order = [("v", r) for r in valid[1:]] + [("b", m) for m in chosen]
    rng.shuffle(order)
    order.insert(0, ("v", valid[0]))
    items, bad, valid_ids, clean = [], [], set(), []
    for pos, (tag, obj) in enumerate(order):
        if tag == "v":
            items.append(obj)
            valid_ids.add(pos + 1)
            clean.append(obj)
        else:
            rec, mode = muts[obj][0](), muts[obj][1]
            items.append(rec)
            bad.append(Bad(name, f"results[{pos}]", obj, "predictions", pos + 1, mode))
    return dumps(items), valid_ids, bad, clean


def build_coco_predictions(rng: random.Random, case_no: int, root: Path) -> Case:
    out = root / "project"
    anns = [valid_ann(i, 4, rng) for i in range(1, 7)]
    write(root / "gt.json", dumps({"images": coco_images(4), "annotations": anns, "categories": CATEGORIES}))
    valid = {"labels": {a["id"] for a in anns}}
    if case_no % 10 == 9:
        kind = ("bom", "truncated", "binary", "object_with_annotations", "duplicate_annotations", "utf16",
                "not_a_list")[(case_no // 10) % 7]
        recs = [_res(image_id=1 + i % 4, score=0.5) for i in range(4)]
        fatal, bad = None, []
        text = dumps(recs)
        if kind == "bom":
            data = ("\ufeff" + text).encode()
            valid["predictions"] = {1, 2, 3, 4}
        elif kind == "utf16":
            data = text.encode("utf-16")
            valid["predictions"] = {1, 2, 3, 4}
        elif kind == "truncated":
            data, fatal = text[:-9].encode(), "pred.json"
        elif kind == "binary":
            data, fatal = garbage(rng, 999), "pred.json"
        elif kind == "not_a_list":
            data, fatal = b'"results"', "pred.json"
        elif kind == "object_with_annotations":
            data = dumps({"annotations": recs}).encode()
            valid["predictions"] = {1, 2, 3, 4}
        else:
            data = dumps(Dup((("annotations", recs), ("annotations", recs[:1])))).encode()
            valid["predictions"] = {1, 2, 3, 4}
            bad = [Bad("pred.json", "annotations", kind, None, None, "reject")]
        write(root / "pred.json", data)
        if fatal:
            valid, bad = {}, [Bad("pred.json", "", kind)]
        argv = ["import", "--labels", str(root / "gt.json"), "--predictions", str(root / "pred.json"), "--out", str(out)]
        return Case("COCO predictions", f"coco_pred_{case_no}_{kind}", root, argv, valid, bad, fatal=fatal, out=out)
    text, ids, bad, _ = _results(rng, case_no, "pred.json", n_bad=rng.choice((4, 5)))
    write(root / "pred.json", text)
    valid["predictions"] = ids
    argv = ["import", "--labels", str(root / "gt.json"), "--predictions", str(root / "pred.json"), "--out", str(out)]
    return Case("COCO predictions", f"coco_pred_{case_no}", root, argv, valid, bad, out=out,
                subprocess=case_no % 15 == 3)


# ---- explorer evaluate ------------------------------------------------------------------------------------------
def build_evaluate(rng: random.Random, case_no: int, root: Path) -> Case:
    out = root / "eval.json"
    if case_no % 8 == 7:
        kind = ("gt_truncated", "pred_binary", "gt_top_list", "pred_abyss", "gt_empty", "pred_object")[(case_no // 8) % 6]
        anns = [valid_ann(i, 4, rng) for i in range(1, 7)]
        gt_text = dumps({"images": coco_images(4), "annotations": anns, "categories": CATEGORIES})
        pred_text = dumps([_res(image_id=1 + i % 4) for i in range(4)])
        fatal = "gt.json" if kind.startswith("gt") else "pred.json"
        if kind == "gt_truncated":
            gt_text = gt_text[:40]
        elif kind == "pred_binary":
            pred_text = garbage(rng, 300)
        elif kind == "gt_top_list":
            gt_text = dumps(anns)
        elif kind == "pred_abyss":
            pred_text = "[" + dumps(_res()) + "," + ABYSS + "]"
        elif kind == "gt_empty":
            gt_text = ""
        elif kind == "pred_object":
            pred_text = '{"x": 1}'
        write(root / "gt.json", gt_text)
        write(root / "pred.json", pred_text)
        argv = ["evaluate", str(root / "gt.json"), str(root / "pred.json"), "--json", str(out)]
        return Case("explorer evaluate", f"evaluate_{case_no}_{kind}", root, argv, {}, [Bad(fatal, "", kind)],
                    fatal=fatal, command="evaluate", out=out)
    segm = case_no % 5 == 4
    # evaluate compares numbers with a clean run: use only mutations whose verdict is certain (rejected / legal)
    gt_text, gt_bad, clean_gt = _certain_gt(rng, case_no, root)
    if segm:
        pred_text, pred_ids, pred_bad, clean_pred = _mask_results(rng, case_no)
    else:
        pred_text, pred_ids, pred_bad, clean_pred = _results(rng, case_no, "pred.json", n_bad=3,
                                                             modes=("reject",))
    write(root / "gt.json", gt_text)
    write(root / "pred.json", pred_text)
    argv = ["evaluate", str(root / "gt.json"), str(root / "pred.json"), "--json", str(out)]
    if segm:
        argv += ["--iou-type", "segm"]
    return Case("explorer evaluate", f"evaluate_{case_no}", root, argv, {}, gt_bad + pred_bad, command="evaluate",
                out=out, reference=(clean_gt, clean_pred, "segm" if segm else "bbox"), subprocess=case_no % 20 == 1)


def _certain_gt(rng, case_no, root):
    n_img = 4
    anns = [valid_ann(i, n_img, rng) for i in range(1, 7)]
    names = [m for m, (_, mode, keyed) in ANN_MUTATIONS.items() if mode in ("reject", "accept") and keyed in (True, False)]
    chosen = _cycle(names, case_no, 3, rng)
    order = [("v", a) for a in anns] + [("b", m) for m in chosen]
    rng.shuffle(order)
    items, bad, clean = [], [], list(anns)
    for pos, (tag, obj) in enumerate(order):
        if tag == "v":
            items.append(obj)
            continue
        build, mode, keyed = ANN_MUTATIONS[obj]
        rid = 3000 + 10 * case_no + pos
        rec = build(rid)
        items.append(rec)
        if mode == "accept":
            clean.append(json.loads(dumps(rec)))
        bad.append(Bad("gt.json", f"annotations[{pos}]", obj, None, None, mode))
    gt = {"images": coco_images(n_img), "annotations": items, "categories": CATEGORIES}
    clean_gt = {"images": coco_images(n_img), "annotations": clean, "categories": CATEGORIES}
    return dumps(gt), bad, clean_gt


MASK_RES_BAD = {
    "rle_counts_garbage": lambda: {"counts": "garbage~~!!", "size": [H, W]},
    "rle_counts_int": lambda: {"counts": 7, "size": [H, W]},
    "rle_size_strings": lambda: {"counts": "PPYo0", "size": ["48", "64"]},
    "rle_size_len1": lambda: {"counts": "PPYo0", "size": [H]},
    "rle_wrong_size": lambda: {"counts": [5, 10], "size": [H + 1, W]},
    "polygon_1e9": lambda: [[1e9, 1e9, 2e9, 1e9, 2e9, 2e9]],
    "polygon_strings": lambda: [["1", "2", "3", "4", "5", "6"]],
    "segmentation_number": lambda: 5,
}


def _mask_results(rng, case_no):
    from pycocotools import mask as mask_utils

    valid, items, bad = [], [], []
    for i in range(5):
        x, y = rng.randint(0, 30), rng.randint(0, 20)
        poly = [x, y, x + 12, y, x + 12, y + 10, x, y + 10]
        if i % 2:
            m = np.zeros((H, W), np.uint8, order="F")
            m[y:y + 10, x:x + 12] = 1
            rle = mask_utils.encode(np.asfortranarray(m))
            seg = {"counts": rle["counts"].decode(), "size": [H, W]}
        else:
            seg = [poly]
        valid.append({"image_id": 1 + i % 4, "category_id": 1 + i % 3, "segmentation": seg,
                      "score": round(rng.uniform(0.1, 0.9), 3)})
    chosen = _cycle(list(MASK_RES_BAD), case_no, 3, rng)
    order = [("v", r) for r in valid[1:]] + [("b", m) for m in chosen]
    rng.shuffle(order)
    order.insert(0, ("v", valid[0]))
    ids = set()
    for pos, (tag, obj) in enumerate(order):
        if tag == "v":
            items.append(obj)
            ids.add(pos + 1)
        else:
            items.append({"image_id": 1, "category_id": 1, "segmentation": MASK_RES_BAD[obj](), "score": 0.7})
            bad.append(Bad("pred.json", f"results[{pos}]", obj, None, None, "reject"))
    return dumps(items), ids, bad, valid


# ---- YOLO -----------------------------------------------------------------------------------------------------------
YW, YH = 64, 48

YOLO_LINE_MUTATIONS = {
    "class_1e30": (lambda xc: f"1e30 {xc} 0.5 0.1 0.1", "reject"),
    "class_2_63": (lambda xc: f"{2**63} {xc} 0.5 0.1 0.1", "reject"),
    "class_negative": (lambda xc: f"-1 {xc} 0.5 0.1 0.1", "reject"),
    "class_name": (lambda xc: f"cat {xc} 0.5 0.1 0.1", "reject"),
    "class_out_of_range": (lambda xc: f"3 {xc} 0.5 0.1 0.1", "reject"),
    "class_fraction": (lambda xc: f"1.5 {xc} 0.5 0.1 0.1", "reject"),
    "class_5000_digits": (lambda xc: f"{'9' * 5000} {xc} 0.5 0.1 0.1", "reject"),
    "coord_nan": (lambda xc: f"0 {xc} nan 0.1 0.1", "reject"),
    "coord_inf": (lambda xc: f"0 {xc} 0.5 inf 0.1", "reject"),
    "coord_1e300": (lambda xc: f"0 {xc} 0.5 1e300 0.1", "named"),
    "coord_negative_w": (lambda xc: f"0 {xc} 0.5 -0.1 0.1", "reject"),
    "coord_text": (lambda xc: f"0 {xc} half 0.1 0.1", "reject"),
    "coord_outside": (lambda xc: f"0 {xc} 1.7 0.1 0.1", "named"),
    "fields_4": (lambda xc: f"0 {xc} 0.5 0.1", "reject"),
    "fields_6": (lambda xc: f"0 {xc} 0.5 0.1 0.1 0.9", "reject"),
    "fields_7_polygon_odd": (lambda xc: f"0 {xc} 0.5 0.1 0.1 0.2 0.3", "named"),
    "control_chars": (lambda xc: f"0 {xc}\x01 0.5\x02 0.1 0.1", "reject"),
    "long_line": (lambda xc: f"0 {xc} 0.5 0.1 0.1 " + "9" * 100_000, "reject"),
    "html": (lambda xc: f"<script>alert(1)</script> {xc} 0.5 0.1 0.1", "reject"),
    # a Unicode line separator is not a line break (editors and YOLO tools cut at \n): one bad line, and the
    # later lines keep their numbers
    "line_separator": (lambda xc: f"0 {xc} 0.5 0.1 0.1\u20280 0.2 0.2 0.1 0.1", "reject"),
    "next_line_char": (lambda xc: f"0 {xc} 0.5 0.1 0.1\x850 0.2 0.2 0.1 0.1", "reject"),
    "coord_1e308_overflows": (lambda xc: f"0 {xc} 0.5 1e308 0.1", "reject"),
}


def _yolo_line(k: int) -> tuple[str, float]:
    xc = (100 + k) / 1000
    return xc


def yolo_key(x: float, w: float) -> int:
    """The ``k`` of a YOLO line written with centre x ``(100 + k) / 1000`` (labels table x, w in pixels)."""
    return int(round((x + w / 2) / YW * 1000)) - 100


def build_yolo(rng: random.Random, case_no: int, root: Path) -> Case:
    out = root / "project"
    imgs, labels = root / "images", root / "labels"
    n_img = 3
    for i in range(n_img):
        write(imgs / f"img{i}.png", image_bytes(YW, YH, seed=i))
    valid, bad = {"yolo_labels": set()}, []
    case_kind = case_no % 6
    classes = "cat\ndog\nbird\n"
    fatal_ok = None
    k = 0
    muts = _cycle(list(YOLO_LINE_MUTATIONS), case_no, 4, rng)
    per_file = {i: [] for i in range(n_img)}
    for i in range(n_img):
        for _ in range(2):
            per_file[i].append(("v", k))
            k += 1
    for j, m in enumerate(muts):
        per_file[rng.randrange(n_img)].append(("b", m, 500 + j))
    for i in range(n_img):
        rng.shuffle(per_file[i])
        lines = []
        for line_no, item in enumerate(per_file[i], start=1):
            if item[0] == "v":
                lines.append(f"{item[1] % 3} {_yolo_line(item[1])} 0.5 0.1 0.1")
                valid["yolo_labels"].add(item[1])
            else:
                m, key = item[1], item[2]
                text, mode = YOLO_LINE_MUTATIONS[m]
                lines.append(text(_yolo_line(key)))
                bad.append(Bad(f"img{i}.txt", f"line {line_no}", m, "yolo_labels", key, mode))
        write(labels / f"img{i}.txt", "\n".join(lines) + "\n")
    subprocess_ = False
    inprocess = True
    if case_kind == 1:  # a label file for no image, a binary label file
        write(labels / "orphan.txt", "0 0.5 0.5 0.1 0.1\n")
        bad.append(Bad("orphan.txt", "", "orphan_label_file", None, None, "reject"))
        write(imgs / "img9.png", image_bytes(YW, YH, seed=9))
        write(labels / "img9.txt", b"\x00\x01\x02garbage\xff\xfe")
        bad.append(Bad("img9.txt", "", "binary_label_file", None, None, "reject"))
    elif case_kind == 2:  # class lists
        variant = (case_no // 6) % 6
        if variant == 0:
            classes = "\ufeffcat\ndog\nbird\n"  # a BOM: still three clean names
        elif variant == 1:
            write(labels / "classes.txt", garbage(rng, 200))
            fatal_ok = "classes.txt"
        elif variant == 2:
            classes = None
            write(labels / "data.yaml", "names: [cat, dog, bird\nnc: 3\n  - : :")
            fatal_ok = "data.yaml"
        elif variant == 3:
            classes = None
            write(labels / "data.yaml", "names: 5\n")
            fatal_ok = "data.yaml"
        elif variant == 4:
            classes = None
            write(labels / "data.yaml", "names:\n  0: cat\n  x: dog\n  2: bird\n")
            fatal_ok = "data.yaml"
        else:
            classes = "cat\n<img src=x onerror=alert(1)>\n[x](http://e.invalid/p.png)\n"
    elif case_kind == 3:  # utf-16 / BOM label files, a label file that is a FIFO (child process only)
        data = (labels / "img0.txt").read_text()
        if (case_no // 6) % 2 == 0:
            write(labels / "img0.txt", data.encode("utf-16"))
            for b in bad:  # an undecodable file is named as a whole: its lines cannot be told apart
                if b.file == "img0.txt":
                    b.mode, b.token = "named", ""
            valid["yolo_labels"] -= {kk for kk in valid["yolo_labels"] if kk in (0, 1)}
            bad.append(Bad("img0.txt", "", "utf16_label_file", "yolo_labels", 0, "named"))
            bad.append(Bad("img0.txt", "", "utf16_label_file", "yolo_labels", 1, "named"))
        else:
            write(labels / "img0.txt", "\ufeff" + data)
        if case_no % 4 == 3:
            write(imgs / "img7.png", image_bytes(YW, YH, seed=7))
            os.mkfifo(labels / "img7.txt")
            bad.append(Bad("img7.txt", "", "fifo_label_file", None, None, "named"))
            subprocess_ = True
    elif case_kind == 4:  # a valid image whose name is not UTF-8, with its labels
        name = os.fsdecode(b"img\xff\xfe")
        write(imgs / f"{name}.png", image_bytes(YW, YH, seed=5))
        write(labels / f"{name}.txt", f"0 {_yolo_line(900)} 0.5 0.1 0.1\n")
        bad.append(Bad("img", "", "non_utf8_name", "yolo_labels", 900, "named"))
    if classes is not None:
        write(labels / "classes.txt", classes)
    argv = ["import", "--format", "yolo", "--images", str(imgs), "--labels", str(labels), "--out", str(out)]
    return Case("YOLO", f"yolo_{case_no}", root, argv, valid, bad, out=out, fatal_ok=fatal_ok,
                subprocess=subprocess_, inprocess=inprocess)


# ---- VOC --------------------------------------------------------------------------------------------------------------
def _voc_object(name, xmin, ymin="5", xmax=None, ymax="20", extra="") -> str:
    xmax = xmax if xmax is not None else str(int(float(xmin)) + 10) if _num(xmin) else "30"
    return (f"<object><name>{name}</name>{extra}<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
            f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>")


def _num(s) -> bool:
    try:
        return np.isfinite(float(s)) and abs(float(s)) < 1e6
    except ValueError:
        return False


VOC_MUTATIONS = {
    "xmin_text": (lambda k: _voc_object("cat", "abc"), "reject"),
    "xmin_nan": (lambda k: _voc_object("cat", "nan"), "reject"),
    "xmin_inf": (lambda k: _voc_object("cat", "inf"), "reject"),
    "xmax_1e300": (lambda k: _voc_object("cat", str(k + 100), xmax="1e300"), "named"),
    "xmax_less_than_xmin": (lambda k: _voc_object("cat", str(k + 100), xmax="3"), "reject"),
    "xmin_5000_digits": (lambda k: _voc_object("cat", "9" * 5000), "reject"),
    "missing_name": (lambda k: _voc_object("", str(k + 100)), "reject"),
    "missing_bndbox": (lambda k: "<object><name>cat</name></object>", "reject"),
    "unknown_class": (lambda k: _voc_object("zebra", str(k + 100)), "reject"),
    "difficult_2": (lambda k: _voc_object("cat", str(k + 100), extra="<difficult>2</difficult>"), "reject"),
    "name_html": (lambda k: _voc_object("&lt;b&gt;x&lt;/b&gt;", str(k + 100)), "reject"),
    "ymin_empty": (lambda k: _voc_object("cat", str(k + 100), ymin=""), "reject"),
}


def voc_key(x: float) -> int:
    return int(round(x + 1)) - 100


def _voc_doc(fname, objects, w=YW * 10, h=YH * 10) -> str:
    return (f"<annotation><filename>{fname}</filename><size><width>{w}</width><height>{h}</height><depth>3</depth>"
            f"</size>{''.join(objects)}</annotation>")


def build_voc(rng: random.Random, case_no: int, root: Path) -> Case:
    out = root / "project"
    imgs, ann = root / "JPEGImages", root / "Annotations"
    n_img = 3
    for i in range(n_img):
        write(imgs / f"img{i}.png", image_bytes(YW * 10, YH * 10, seed=i, channels=1))
    valid, bad = {"voc_labels": set()}, []
    k = 0
    muts = _cycle(list(VOC_MUTATIONS), case_no, 4, rng)
    per_file = {i: [] for i in range(n_img)}
    for i in range(n_img):
        for _ in range(2):
            per_file[i].append(("v", k))
            k += 1
    for j, m in enumerate(muts):
        per_file[rng.randrange(n_img)].append(("b", m, 200 + j))
    names = ("cat", "dog", "bird")
    for i in range(n_img):
        rng.shuffle(per_file[i])
        objs = []
        for pos, item in enumerate(per_file[i]):
            if item[0] == "v":
                objs.append(_voc_object(names[item[1] % 3], str(item[1] + 100)))
                valid["voc_labels"].add(item[1])
            else:
                text, mode = VOC_MUTATIONS[item[1]]
                objs.append(text(item[2]))
                bad.append(Bad(f"img{i}.xml", f"object[{pos}]", item[1], "voc_labels", item[2], mode))
        write(ann / f"img{i}.xml", _voc_doc(f"img{i}.png", objs))
    variant = case_no % 7
    extra_img = lambda n: write(imgs / f"{n}.png", image_bytes(YW * 10, YH * 10, seed=3, channels=1))  # noqa: E731
    if variant == 1:
        extra_img("img5")
        write(ann / "img5.xml", _voc_doc("img5.png", [_voc_object("cat", "150")])[:-20])
        bad.append(Bad("img5.xml", "", "truncated_xml", "voc_labels", 50, "reject"))
    elif variant == 2:
        extra_img("img5")
        doc = ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               + _voc_doc("img5.png", [_voc_object("&x;", "150")]))
        write(ann / "img5.xml", doc)
        bad.append(Bad("img5.xml", "", "xxe", "voc_labels", 50, "reject"))
    elif variant == 3:
        extra_img("img5")
        write(ann / "img5.xml", garbage(rng, 500))
        bad.append(Bad("img5.xml", "", "binary_xml", "voc_labels", 50, "reject"))
    elif variant == 4:
        extra_img("img5")
        write(ann / "img5.xml", '<?xml version="1.0" encoding="utf-16"?>'
              + _voc_doc("img5.png", [_voc_object("cat", "150")]))
        bad.append(Bad("img5.xml", "", "utf16_declared_utf8_written", "voc_labels", 50, "named"))
    elif variant == 5:
        extra_img("img5")
        write(ann / "img5.xml", "<notvoc><x/></notvoc>")
        bad.append(Bad("img5.xml", "", "wrong_root", None, None, "reject"))
    elif variant == 6:
        extra_img("img5")
        write(ann / "img5.xml", "<annotation>" + "<a>" * 5000 + "</a>" * 5000 + "</annotation>")
        bad.append(Bad("img5.xml", "", "deep_xml", None, None, "named"))
    write(root / "classes.txt", "cat\ndog\nbird\n")
    argv = ["import", "--format", "voc", "--images", str(imgs), "--labels", str(ann), "--classes",
            str(root / "classes.txt"), "--out", str(out)]
    return Case("VOC", f"voc_{case_no}", root, argv, valid, bad, out=out)


# ---- CSV families -----------------------------------------------------------------------------------------------------
def _csv_case_lines(rng, valid_rows: list, bad_rows: list) -> tuple[list, dict]:
    """Shuffle rows; return the lines and ``{row tag: line number}`` (the header is line 1)."""
    rows = [("v", r) for r in valid_rows] + [("b", r) for r in bad_rows]
    rng.shuffle(rows)
    return rows


SPLIT_MUTATIONS = {
    "unknown_file": (lambda f: ("nope.jpg,val", None), "reject"),
    "empty_split": (lambda f: (f"{f},", (f, "")), "reject"),
    "empty_name": (lambda f: (",val", None), "reject"),
    "unbalanced_quote": (lambda f: (f'{f},"val', (f, "val")), "reject"),
    "quote_in_name": (lambda f: (f'"{f},val', (f, "val")), "reject"),
    "long_field": (lambda f: (f"{f},{LONG}", (f, LONG)), "reject"),
    "extra_fields": (lambda f: (f"{f},val,extra", (f, "val")), "reject"),
    "too_few_fields": (lambda f: (f"{f}", None), "reject"),
    "control_chars": (lambda f: (f"{f}\x07,val", None), "reject"),
    "html_split": (lambda f: (f"{f},<script>alert(1)</script>", (f, "<script>alert(1)</script>")), "accept"),
    "line_separator_in_name": (lambda f: (f"{f}\u2028,val", None), "reject"),
    "form_feed_in_name": (lambda f: (f"{f}\x0c\x0cx,val", None), "reject"),
}


def build_splits(rng: random.Random, case_no: int, root: Path) -> Case:
    out = root / "project"
    n_img = 8
    anns = [valid_ann(i, n_img, rng) for i in range(1, 5)]
    write(root / "gt.json", dumps({"images": coco_images(n_img), "annotations": anns, "categories": CATEGORIES}))
    files = [f"img{i}.jpg" for i in range(1, n_img + 1)]
    listed = files[:5]
    valid_rows = [(f"{f},{'train' if i % 2 else 'val'}", (f, "train" if i % 2 else "val")) for i, f in enumerate(listed)]
    muts = _cycle(list(SPLIT_MUTATIONS), case_no, 4, rng)
    bad_rows = []
    for j, m in enumerate(muts):
        target = files[5 + j % 3]
        text, key = SPLIT_MUTATIONS[m][0](target)
        bad_rows.append((m, text, key, SPLIT_MUTATIONS[m][1]))
    if case_no % 4 == 1:  # a duplicate row (disagreeing) for a listed image
        f = listed[0]
        bad_rows.append(("duplicate_row", f"{f},test", (f, "test"), "reject"))
    rows = [("v", r) for r in valid_rows] + [("b", r) for r in bad_rows]
    rng.shuffle(rows)
    if case_no % 4 == 1:  # the duplicate must come after the first row of its image
        first = next(i for i, r in enumerate(rows) if r[0] == "v" and r[1][1][0] == listed[0])
        dup = next(i for i, r in enumerate(rows) if r[0] == "b" and r[1][0] == "duplicate_row")
        if dup < first:
            rows[dup], rows[first] = rows[first], rows[dup]
    lines, valid, bad = ["file_name,split"], {"split": set()}, []
    for n, (tag, r) in enumerate(rows, start=2):
        if tag == "v":
            lines.append(r[0])
            valid["split"].add(r[1])
        else:
            m, text, key, mode = r
            lines.append(text)
            bad.append(Bad("splits.csv", f"line {n}", m, "split" if key else None, key, mode))
    text = "\n".join(lines) + "\n"
    fatal = None
    variant = case_no % 6
    if variant == 2:
        data = ("\ufeff" + text).encode()
    elif variant == 3:
        data = text.encode("utf-16")
    elif variant == 5 and case_no % 12 == 5:
        data, fatal = text.encode()[:20] + b"\x00\xff\xfe" + text.encode()[20:], "splits.csv"
    else:
        data = text.encode()
    write(root / "splits.csv", data)
    if fatal:
        valid, bad = {}, [Bad("splits.csv", "", "binary_splits")]
    argv = ["import", "--labels", str(root / "gt.json"), "--splits", str(root / "splits.csv"), "--out", str(out)]
    return Case("splits CSV", f"splits_{case_no}", root, argv, valid, bad, out=out, fatal=fatal)


CLS_LABEL_MUTATIONS = {
    "unknown_image": (lambda f: ("ghost.png,cat", None), "reject"),
    "unknown_class": (lambda f: (f"{f},zebra", f), "reject"),
    "empty_label": (lambda f: (f"{f},", f), "reject"),
    "empty_image": (lambda f: (",cat", None), "reject"),
    "unbalanced_quote": (lambda f: (f'{f},"cat', f), "reject"),
    "long_field": (lambda f: (f"{f},{LONG}", f), "reject"),
    "extra_field": (lambda f: (f"{f},cat,dog", f), "reject"),
    "html_label": (lambda f: (f"{f},<img src=x onerror=alert(1)>", f), "reject"),
    "path_traversal": (lambda f: ("../../etc/passwd,cat", None), "reject"),
    "absolute_path": (lambda f: ("/etc/passwd,cat", None), "reject"),
    "line_separator_in_label": (lambda f: (f"{f},ca\u2028t", f), "reject"),
    "next_line_in_label": (lambda f: (f"{f},c\x85at", f), "reject"),
}
CLS_PRED_MUTATIONS = {
    "score_text": (lambda f: (f"{f},cat,high", f), "reject"),
    "score_nan": (lambda f: (f"{f},cat,nan", f), "reject"),
    "score_empty": (lambda f: (f"{f},cat,", f), "named"),
    "score_1e400": (lambda f: (f"{f},cat,1e400", f), "named"),
    "score_5000_digits": (lambda f: (f"{f},cat,{'9' * 5000}", f), "named"),
    "prediction_unknown_class": (lambda f: (f"{f},zebra,0.5", f), "reject"),
    "prediction_empty": (lambda f: (f"{f},,0.5", f), "reject"),
    "unbalanced_quote": (lambda f: (f'{f},"cat,0.5', f), "reject"),
    "unknown_image": (lambda f: ("ghost.png,cat,0.5", None), "reject"),
    "long_field": (lambda f: (f"{f},cat,{LONG}", f), "reject"),
    "score_line_separator": (lambda f: (f"{f},cat,0.\u20285", f), "reject"),
}


def _csv_rows(rng, header, valid_rows, bad_rows, file):
    rows = [("v", r) for r in valid_rows] + [("b", r) for r in bad_rows]
    rng.shuffle(rows)
    lines, bad, keys = [header], [], set()
    for n, (tag, r) in enumerate(rows, start=2):
        if tag == "v":
            lines.append(r[0])
            keys.add(r[1])
        else:
            m, text, key, mode, table = r
            lines.append(text)
            bad.append(Bad(file, f"line {n}", m, table if key else None, key, mode))
    return "\n".join(lines) + "\n", keys, bad


def _encode_variant(text: str, variant: int) -> bytes:
    if variant == 1:
        return ("\ufeff" + text).encode()
    if variant == 2:
        return text.encode("utf-16")
    return text.encode()


def build_classification(rng: random.Random, case_no: int, root: Path) -> Case:
    out = root / "project"
    imgs = root / "images"
    n_img = 10
    files = [f"im{i}.png" for i in range(n_img)]
    for i, f in enumerate(files):
        write(imgs / f, image_bytes(8, 8, seed=i))
    classes = ("cat", "dog", "bird")
    write(root / "classes.txt", "\n".join(classes) + "\n")
    labelled = files[:6]
    lab_valid = [(f"{f},{classes[i % 3]}", f) for i, f in enumerate(labelled)]
    pred_valid = [(f"{f},{classes[(i + 1) % 3]},{0.1 + i / 20:.2f}", f) for i, f in enumerate(labelled[:5])]
    lab_bad = []
    for j, m in enumerate(_cycle(list(CLS_LABEL_MUTATIONS), case_no, 2, rng)):
        text, key = CLS_LABEL_MUTATIONS[m][0](files[6 + j])
        lab_bad.append((m, text, key, CLS_LABEL_MUTATIONS[m][1], "cls_labels"))
    pred_bad = []
    for j, m in enumerate(_cycle(list(CLS_PRED_MUTATIONS), case_no, 2, rng)):
        f = labelled[5] if j == 0 else files[8 + j % 2]
        text, key = CLS_PRED_MUTATIONS[m][0](f)
        pred_bad.append((m, text, key, CLS_PRED_MUTATIONS[m][1], "cls_preds"))
    lab_text, lab_keys, bad1 = _csv_rows(rng, "image,label", lab_valid, lab_bad, "labels.csv")
    pred_text, pred_keys, bad2 = _csv_rows(rng, "image,prediction,score", pred_valid, pred_bad, "predictions.csv")
    variant = case_no % 5
    write(root / "labels.csv", _encode_variant(lab_text, variant))
    write(root / "predictions.csv", _encode_variant(pred_text, (variant + 1) % 5))
    valid = {"cls_labels": lab_keys, "cls_preds": pred_keys}
    bad = bad1 + bad2
    fatal = None
    if case_no % 11 == 10:
        write(root / "labels.csv", lab_text.encode()[:15] + b"\xff\xfe\x00" + lab_text.encode()[15:])
        valid, bad, fatal = {}, [Bad("labels.csv", "", "binary_labels")], "labels.csv"
    elif case_no % 11 == 7:  # bad images among the images: named, the rest kept
        write(imgs / "zz_zero.png", b"")
        write(imgs / "zz_big.png", png_header_only(25000, 25000))
        bad.append(Bad("zz_zero.png", "", "zero_byte_image", None, None, "named"))
        # a header is all an importer reads: the forged 25000² image is kept (explorer metrics names it)
        bad.append(Bad("zz_big.png", "", "huge_header_image", None, None, "accept"))
    argv = ["import", "--task", "classification", "--images", str(imgs), "--labels", str(root / "labels.csv"),
            "--predictions", str(root / "predictions.csv"), "--classes", str(root / "classes.txt"), "--out", str(out)]
    return Case("classification", f"classification_{case_no}", root, argv, valid, bad, out=out, fatal=fatal,
                subprocess=case_no % 11 == 7 and case_no % 22 == 7)


REG_MUTATIONS = {
    "target_text": (lambda f: (f"{f},abc,1.0", f, "reg_targets"), "reject"),
    "target_nan": (lambda f: (f"{f},nan,1.0", f, "reg_targets"), "reject"),
    "target_inf": (lambda f: (f"{f},inf,1.0", f, "reg_targets"), "reject"),
    "target_1e400": (lambda f: (f"{f},1e400,1.0", f, "reg_targets"), "reject"),
    "target_5000_digits": (lambda f: (f"{f},{'9' * 5000},1.0", f, "reg_targets"), "reject"),
    "target_empty": (lambda f: (f"{f},,1.0", f, "reg_targets"), "reject"),
    "prediction_text": (lambda f: (f"{f},2.0,xyz", f, "reg_preds"), "reject"),
    "prediction_inf": (lambda f: (f"{f},2.0,-inf", f, "reg_preds"), "reject"),
    "unknown_image": (lambda f: ("ghost.png,1.0,1.0", None, None), "reject"),
    "unbalanced_quote": (lambda f: (f'{f},"1.0,1.0', f, "reg_targets"), "reject"),
    "long_field": (lambda f: (f"{f},{LONG},1.0", f, "reg_targets"), "reject"),
    "extra_field": (lambda f: (f"{f},1.0,1.0,1.0", f, "reg_targets"), "reject"),
    "numpy_repr": (lambda f: (f"{f},np.float64(1.5),1.0", f, "reg_targets"), "reject"),
    "target_line_separator": (lambda f: (f"{f},1.\u20285,1.0", f, "reg_targets"), "reject"),
    "prediction_paragraph_separator": (lambda f: (f"{f},2.0,1\u20290", f, "reg_preds"), "reject"),
}


def build_regression(rng: random.Random, case_no: int, root: Path) -> Case:
    out = root / "project"
    imgs = root / "images"
    files = [f"im{i}.png" for i in range(10)]
    for i, f in enumerate(files):
        write(imgs / f, image_bytes(8, 8, seed=i))
    valid_rows = [(f"{f},{i * 1.5:.1f},{i * 1.4:.2f}", f) for i, f in enumerate(files[:6])]
    bad_rows, pred_keys_bad = [], []
    for j, m in enumerate(_cycle(list(REG_MUTATIONS), case_no, 3, rng)):
        f = files[6 + j]
        text, key, table = REG_MUTATIONS[m][0](f)
        bad_rows.append((m, text, key, REG_MUTATIONS[m][1], table))
        if table == "reg_preds":  # its target is valid and kept
            pred_keys_bad.append(f)
    text, keys, bad = _csv_rows(rng, "image,target,prediction", valid_rows, bad_rows, "data.csv")
    write(root / "data.csv", _encode_variant(text, case_no % 4))
    valid = {"reg_targets": keys | set(pred_keys_bad), "reg_preds": set(keys)}
    fatal = None
    if case_no % 13 == 12:
        write(root / "data.csv", b"image,target\n" + garbage(rng, 100).replace(b"\n", b"") + b"\x00\n")
        valid, bad, fatal = {}, [Bad("data.csv", "", "binary_csv")], "data.csv"
    argv = ["import", "--task", "regression", "--images", str(imgs), "--labels", str(root / "data.csv"),
            "--out", str(out)]
    return Case("regression", f"regression_{case_no}", root, argv, valid, bad, out=out, fatal=fatal)


# ---- segmentation -------------------------------------------------------------------------------------------------
SW, SH = 16, 12

SEG_MASK_MUTATIONS = {
    "wrong_size": (lambda rng: mask_bytes(SW + 3, SH, (0, 1, 2)), "reject"),
    "colour_mask": (lambda rng: image_bytes(SW, SH, seed=3), "reject"),
    "value_out_of_range": (lambda rng: mask_bytes(SW, SH, (0, 1, 7)), "reject"),
    "zero_byte": (lambda rng: b"", "reject"),
    "truncated_png": (lambda rng: mask_bytes(SW, SH, (0, 1, 2))[:40], "reject"),
    "huge_header": (lambda rng: png_header_only(25000, 25000), "reject"),
    "giga_header": (lambda rng: png_header_only(100000, 100000), "reject"),
    "text_file": (lambda rng: b"not a png at all\n", "reject"),
    "jpeg_bytes": (lambda rng: image_bytes(SW, SH, ".jpg", channels=1), "reject"),
    "binary_garbage": (lambda rng: garbage(rng, 300), "reject"),
}


def build_segmentation(rng: random.Random, case_no: int, root: Path) -> Case:
    out = root / "project"
    imgs, labels, preds = root / "images", root / "labels", root / "predictions"
    n_img = 6
    files = [f"im{i}" for i in range(n_img)]
    for i, f in enumerate(files):
        write(imgs / f"{f}.png", image_bytes(SW, SH, seed=i))
    muts = _cycle(list(SEG_MASK_MUTATIONS), case_no, 3, rng)
    bad, valid = [], {"seg_labels": set(), "seg_preds": set()}
    bad_at = {files[3 + j]: m for j, m in enumerate(muts)}
    which = "labels" if case_no % 2 == 0 else "predictions"
    for i, f in enumerate(files):
        for folder, table in ((labels, "seg_labels"), (preds, "seg_preds")):
            if f in bad_at and folder.name == which:
                m = bad_at[f]
                write(folder / f"{f}.png", SEG_MASK_MUTATIONS[m][0](rng))
                bad.append(Bad(f"{f}.png", "", m, table, f"{f}.png", SEG_MASK_MUTATIONS[m][1]))
            else:
                write(folder / f"{f}.png", mask_bytes(SW, SH, (0, 1, 2, 255), seed=i))
                valid[table].add(f"{f}.png")
    classes = "road\ncar\nsky\n"
    variant = case_no % 6
    inprocess, subprocess_ = True, case_no % 6 == 0
    if variant == 1:
        classes = "\ufeffroad\n<img src=x onerror=alert(1)>\n![t](http://e.invalid/t.png)\n"
    elif variant == 2:  # a mask for no image, a mask symlinked from outside the labels folder
        write(labels / "orphan.png", mask_bytes(SW, SH, (0, 1)))
        bad.append(Bad("orphan.png", "", "orphan_mask", None, None, "reject"))
        write(root / "outside" / "secret.png", mask_bytes(SW, SH, (0, 1)))
        (labels / "im0.png").unlink()
        os.symlink(root / "outside" / "secret.png", labels / "im0.png")
        valid["seg_labels"].discard("im0.png")
        bad.append(Bad("im0.png", "", "symlink_outside", "seg_labels", "im0.png", "reject"))
    elif variant == 3 and case_no % 12 == 3:  # a mask that is a FIFO: child process only
        (labels / "im1.png").unlink()
        os.mkfifo(labels / "im1.png")
        valid["seg_labels"].discard("im1.png")
        bad.append(Bad("im1.png", "", "fifo_mask", "seg_labels", "im1.png", "reject"))
        subprocess_ = True
    elif variant == 4:  # a symlink loop and a dangling symlink among the masks
        os.symlink(labels / "loop_b.png", labels / "loop_a.png")
        os.symlink(labels / "loop_a.png", labels / "loop_b.png")
        os.symlink(root / "nowhere.png", labels / "dangling.png")
        bad.append(Bad("loop_a.png", "", "symlink_loop", None, None, "named"))
        bad.append(Bad("dangling.png", "", "dangling_symlink", None, None, "named"))
    elif variant == 5:
        write(labels / "classes.txt", garbage(rng, 100))
        classes = None
    if classes is not None:
        write(labels / "classes.txt", classes)
    argv = ["import", "--task", "segmentation", "--images", str(imgs), "--labels", str(labels), "--predictions",
            str(preds), "--out", str(out)]
    return Case("segmentation", f"segmentation_{case_no}", root, argv, valid, bad, out=out,
                fatal_ok="classes.txt" if variant == 5 else None, subprocess=subprocess_, inprocess=inprocess)


# ---- training logs --------------------------------------------------------------------------------------------------
LOG_CSV_MUTATIONS = {
    "loss_text": (lambda e: f"{e},abc,0.5", "reject"),
    "epoch_text": (lambda e: "x,0.3,0.5", "reject"),
    "loss_numpy_repr": (lambda e: f"{e},np.float64(0.3),0.5", "reject"),
    "unbalanced_quote": (lambda e: f'{e},"0.3,0.5', "reject"),
    "long_field": (lambda e: f"{e},{LONG},0.5", "reject"),
    "extra_field": (lambda e: f"{e},0.3,0.5,9", "reject"),
    "too_few_fields": (lambda e: f"{e}", "reject"),
    "loss_5000_digits": (lambda e: f"{e},{'9' * 5000},0.5", "named"),
    "loss_inf": (lambda e: f"{e},inf,0.5", "accept"),  # a diverged run logs inf: a value, not garbage
    "html": (lambda e: f"{e},<script>alert(1)</script>,0.5", "reject"),
    "line_separator": (lambda e: f"{e},0.\u20283,0.5", "reject"),
    "epoch_1e30_text": (lambda e: f"{e}e30,0.3,0.5", "reject"),
}
LOG_JSON_MUTATIONS = {
    "loss_text": (lambda e: {"epoch": e, "train_loss": "abc", "val_loss": 0.5}, "reject"),
    "loss_list": (lambda e: {"epoch": e, "train_loss": [0.3], "val_loss": 0.5}, "reject"),
    "loss_object": (lambda e: {"epoch": e, "train_loss": {"v": 1}, "val_loss": 0.5}, "reject"),
    "loss_bool": (lambda e: {"epoch": e, "train_loss": True, "val_loss": 0.5}, "reject"),
    "epoch_5000_digits": (lambda e: {"epoch": Raw("9" * 5000), "train_loss": 0.3, "val_loss": 0.5}, "named"),
    "loss_deep": (lambda e: {"epoch": e, "train_loss": Raw(DEEP), "val_loss": 0.5}, "reject"),
    "record_string": (lambda e: "epoch", "reject"),
    "record_null": (lambda e: None, "reject"),
    "duplicate_key": (lambda e: Dup((("epoch", e), ("train_loss", 0.3), ("train_loss", 0.9), ("val_loss", 0.5))), "reject"),
    "key_lone_surrogate": (lambda e: {"epoch": e, "train_loss": 0.3, "val\ud800": 0.5}, "reject"),
    "text_lone_surrogate": (lambda e: {"epoch": e, "train_loss": 0.3, "note": "\udc00"}, "reject"),
    "timestamp_1e300": (lambda e: {"epoch": e, "train_loss": 0.3, "timestamp": Raw("1e300")}, "reject"),
    "timestamp_negative": (lambda e: {"epoch": e, "train_loss": 0.3, "timestamp": -5}, "reject"),
    "step_1e30": (lambda e: {"epoch": e, "step": Raw("1e30"), "train_loss": 0.3}, "reject"),
    "nested_duplicate_key": (lambda e: {"epoch": e, "train_loss": 0.3, "extra": Dup((("a", 1), ("a", 2)))}, "reject"),
}


MLFLOW_LINE_MUTATIONS = {  # lines of the MLflow metric file "epoch" (timestamp value step), e = the epoch logged
    "step_1e30": (lambda e, ts: f"{ts} {e} 1e30", "reject"),
    "step_inf": (lambda e, ts: f"{ts} {e} inf", "reject"),
    "timestamp_1e300": (lambda e, ts: f"1e300 {e} {e}", "reject"),
    "timestamp_nan": (lambda e, ts: f"nan {e} {e}", "reject"),
    "timestamp_negative": (lambda e, ts: f"-{ts} {e} {e}", "reject"),
    "four_fields": (lambda e, ts: f"{ts} {e} {e} 9", "reject"),
    "one_field": (lambda e, ts: f"{ts}", "reject"),
    "step_text": (lambda e, ts: f"{ts} {e} seven", "reject"),
    "line_separator": (lambda e, ts: f"{ts} {e} {e}\u2028{ts} 7 7", "reject"),
    "html": (lambda e, ts: f"<b>{ts}</b> {e} {e}", "reject"),
    "step_5000_digits": (lambda e, ts: f"{ts} {e} {'9' * 5000}", "reject"),
}


def build_mlflow(rng: random.Random, case_no: int, root: Path) -> Case:
    """An MLflow run folder (``mlruns/<experiment>/<run>/metrics/<key>``): the metric ``epoch`` is the epoch
    axis, so a bad line of it that were kept would show as its epoch in the log table."""
    out = root / "project"
    run_dir = root / "mlruns" / "0" / f"run{case_no}"
    epochs = list(range(1, 9))
    ts0 = 1_700_000_000_000
    muts = _cycle(list(MLFLOW_LINE_MUTATIONS), case_no, 3, rng)
    rows = [("v", e) for e in epochs] + [("b", m, 100 + j) for j, m in enumerate(muts)]
    rng.shuffle(rows)
    lines, bad = [], []
    for n, r in enumerate(rows, start=1):
        if r[0] == "v":
            lines.append(f"{ts0 + 1000 * r[1]} {r[1]} {r[1]}")
        else:
            text, mode = MLFLOW_LINE_MUTATIONS[r[1]]
            lines.append(text(r[2], ts0 + 1000 * r[2]))
            bad.append(Bad("metrics/epoch", f"line {n}", r[1], "log", r[2], mode))
    write(run_dir / "metrics" / "epoch", "\n".join(lines) + "\n")
    write(run_dir / "metrics" / "loss", "".join(f"{ts0 + 1000 * e} {1 / e:.4f} {e}\n" for e in epochs))
    write(run_dir / "tags" / "mlflow.runName", "<img src=x onerror=alert(1)> run")
    if case_no % 2 == 0:  # a metric file symlinked from outside the run: never read, named
        write(root / "outside" / "secret", f"{ts0} 0.5 1\n")
        os.symlink(root / "outside" / "secret", run_dir / "metrics" / "secret")
        bad.append(Bad("metrics/secret", "", "symlink_outside", None, None, "reject"))
    argv = ["import", "--task", "training", "--labels", str(root / "mlruns"), "--out", str(out)]
    return Case("training logs", f"training_{case_no}_mlflow", root, argv, {"log": set(epochs)}, bad, out=out)


def build_training(rng: random.Random, case_no: int, root: Path) -> Case:
    if case_no % 7 == 6:
        return build_mlflow(rng, case_no // 7, root)
    out = root / "project"
    epochs = list(range(1, 9))
    fmt = ("csv", "json", "jsonl")[case_no % 3]
    bad, fatal = [], None
    valid = {"log": set(epochs)}
    if fmt == "csv":
        muts = _cycle(list(LOG_CSV_MUTATIONS), case_no // 3, 3, rng)
        rows = [("v", f"{e},{1 / e:.4f},{1.2 / e:.4f}") for e in epochs] + [("b", m, 100 + j) for j, m in enumerate(muts)]
        rng.shuffle(rows)
        if case_no % 9 == 3:  # a repeated epoch (after its first row)
            rows.append(("b", "duplicate_epoch", None))
        lines = ["epoch,train_loss,val_loss"]
        for n, r in enumerate(rows, start=2):
            if r[0] == "v":
                lines.append(r[1])
            elif r[1] == "duplicate_epoch":
                lines.append(f"{epochs[0]},0.9,0.9")
                bad.append(Bad("log.csv", f"line {n}", "duplicate_epoch", None, None, "reject"))
            else:
                text, mode = LOG_CSV_MUTATIONS[r[1]]
                lines.append(text(r[2]))
                bad.append(Bad("log.csv", f"line {n}", r[1], "log", r[2], mode))
        data = _encode_variant("\n".join(lines) + "\n", case_no % 4)
        name = "log.csv"
    else:
        muts = _cycle(list(LOG_JSON_MUTATIONS), case_no // 3, 3, rng)
        rows = [("v", {"epoch": e, "train_loss": round(1 / e, 4), "val_loss": round(1.2 / e, 4)}) for e in epochs]
        rows += [("b", m, 100 + j) for j, m in enumerate(muts)]
        rng.shuffle(rows)
        items = []
        name = "log.json" if fmt == "json" else "log.jsonl"
        for pos, r in enumerate(rows):
            if r[0] == "v":
                items.append(r[1])
            else:
                build, mode = LOG_JSON_MUTATIONS[r[1]]
                items.append(build(r[2]))
                token = f"record {pos}" if fmt == "json" else f"line {pos + 1}"
                bad.append(Bad(name, token, r[1], "log", r[2], mode))
        if fmt == "json":
            data = dumps(items)
        else:
            lines = [dumps(it) for it in items]
            if case_no % 2 == 1:  # a line that is not JSON at all
                pos = rng.randrange(len(lines) + 1)
                lines.insert(pos, '{"epoch": 50, "train_loss": 0.3')
                for b in bad:  # later records' line numbers shift by one
                    n = int(b.token.split()[1])
                    if n >= pos + 1:
                        b.token = f"line {n + 1}"
                bad.append(Bad(name, f"line {pos + 1}", "malformed_json_line", "log", 50, "reject"))
            data = "\n".join(lines) + "\n"
        if case_no % 10 == 4:
            data, fatal = "[" + ABYSS + "]", name
    write(root / name, data)
    if fatal:
        valid, bad = {}, [Bad(name, "", "abyss")]
    argv = ["import", "--task", "training", "--labels", str(root / name), "--out", str(out)]
    return Case("training logs", f"training_{case_no}_{fmt}", root, argv, valid, bad, out=out, fatal=fatal,
                subprocess=case_no % 10 == 4 and case_no % 20 == 4)


# ---- explorer metrics ------------------------------------------------------------------------------------------------
def _bad_image_entries(rng: random.Random, folder: Path, picks: list) -> list:
    """Write the hostile entries ``picks`` into ``folder``; return their ``Bad`` (table ``frame``, key = name)."""
    good = image_bytes(60, 40, ".jpg", seed=1)
    out = []
    for p in picks:
        if p == "zero_byte":
            write(folder / "zero.jpg", b"")
            out.append(Bad("zero.jpg", "", p, "frame", "zero.jpg", "reject"))
        elif p == "truncated_jpeg":
            write(folder / "trunc.jpg", good[: len(good) // 3])
            out.append(Bad("trunc.jpg", "", p, "frame", "trunc.jpg", "named"))
        elif p == "text_as_jpeg":
            write(folder / "text.jpg", b"this is not an image\n")
            out.append(Bad("text.jpg", "", p, "frame", "text.jpg", "reject"))
        elif p == "huge_header":
            write(folder / "big.png", png_header_only(25000, 25000))
            out.append(Bad("big.png", "", p, "frame", "big.png", "named"))
        elif p == "giga_header":
            write(folder / "giga.png", png_header_only(100000, 100000))
            out.append(Bad("giga.png", "", p, "frame", "giga.png", "named"))
        elif p == "tall_png":
            write(folder / "tall.png", tall_png())
            out.append(Bad("tall.png", "", p, "frame", "tall.png", "accept"))
        elif p == "fifo":
            os.mkfifo(folder / "pipe.jpg")
            out.append(Bad("pipe.jpg", "", p, "frame", "pipe.jpg", "reject"))
        elif p == "symlink_loop":
            os.symlink(folder / "loop2.jpg", folder / "loop1.jpg")
            os.symlink(folder / "loop1.jpg", folder / "loop2.jpg")
            out.append(Bad("loop1.jpg", "", p, "frame", "loop1.jpg", "named"))
        elif p == "dangling_symlink":
            os.symlink(folder / "gone.jpg", folder / "dangling.jpg")
            out.append(Bad("dangling.jpg", "", p, "frame", "dangling.jpg", "named"))
        elif p == "symlink_outside":
            write(folder.parent / "outside" / "secret.jpg", good)
            os.symlink(folder.parent / "outside" / "secret.jpg", folder / "secret.jpg")
            out.append(Bad("secret.jpg", "", p, "frame", "secret.jpg", "named"))
        elif p == "non_utf8_name":
            name = os.fsdecode(b"caf\xe9.jpg")
            write(folder / name, good)
            out.append(Bad("caf", "", p, "frame", name, "named"))
        elif p == "long_name":
            name = "n" * 250 + ".jpg"
            write(folder / name, good)
            out.append(Bad(name, "", p, "frame", name, "accept"))
        elif p == "dir_named_jpg":
            (folder / "folder.jpg").mkdir()
            out.append(Bad("folder.jpg", "", p, "frame", "folder.jpg", "named"))
        elif p == "png_as_jpg":
            write(folder / "png_named.jpg", image_bytes(30, 20, ".png", seed=2))
            out.append(Bad("png_named.jpg", "", p, "frame", "png_named.jpg", "accept"))
        elif p == "unreadable":
            path = write(folder / "noperm.jpg", good)
            path.chmod(0)
            out.append(Bad("noperm.jpg", "", p, "frame", "noperm.jpg", "named"))
    return out


IMAGE_ENTRIES = ["zero_byte", "truncated_jpeg", "text_as_jpeg", "huge_header", "giga_header", "tall_png",
                 "symlink_loop", "dangling_symlink", "symlink_outside", "non_utf8_name", "long_name", "png_as_jpg",
                 "fifo"]


def build_metrics(rng: random.Random, case_no: int, root: Path) -> Case:
    folder = root / "images"
    names = [f"ok_{i}.{'jpg' if i % 2 else 'png'}" for i in range(4)]
    for i, n in enumerate(names):
        write(folder / n, image_bytes(60, 40, ".jpg" if i % 2 else ".png", seed=i))
    picks = _cycle(IMAGE_ENTRIES, case_no, 4, rng)
    bad = _bad_image_entries(rng, folder, picks)
    fifo = "fifo" in picks
    if case_no % 3 != 2:
        out = root / "frame.parquet"
        argv = ["metrics", str(folder), "--out", str(out), "--workers", "1", "--no-progress"]
        return Case("metrics on folders / projects", f"metrics_folder_{case_no}", root, argv,
                    {"frame": set(names)}, bad, command="metrics", out=out, 
                    subprocess=fifo or case_no % 5 == 0)
    # a project: the COCO import names what it cannot use, then explorer metrics on it
    entries = sorted(set(names) | {b.key for b in bad if b.key})
    images = [{"id": i + 1, "file_name": n, "width": 60, "height": 40} for i, n in enumerate(entries)]
    anns = [{"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0}
            for i in range(len(entries))]
    write(root / "gt.json", json.dumps({"images": images, "annotations": anns, "categories": CATEGORIES},
                                       ensure_ascii=False, default=str) if not any(b.kind == "non_utf8_name" for b in bad)
          else dumps({"images": [dict(im, file_name=im["file_name"].encode("utf-8", "surrogateescape").decode("latin-1"))
                                 for im in images], "annotations": anns, "categories": CATEGORIES}))
    for b in bad:
        b.table = "frame_project" if b.table else None
    out = root / "project"
    argv = [["import", "--images", str(folder), "--labels", str(root / "gt.json"), "--out", str(out)],
            ["metrics", str(out), "--workers", "1", "--no-progress"]]
    return Case("metrics on folders / projects", f"metrics_project_{case_no}", root, argv,
                {"frame_project": set(names)}, bad, command="metrics_project", out=out, 
                subprocess=fifo or case_no % 6 == 2)


# ---- damaged projects --------------------------------------------------------------------------------------------------
#: (file in the project, damage, command, expectation): "fatal" = a non-zero exit with one line naming the file
#: (and how to repair it), never a traceback nor an empty project read silently; "ok" = a cache the command
#: rebuilds (exit 0, every label still there)
DAMAGES = [
    ("images.parquet", "truncate", "evaluate", "fatal"),
    ("categories.parquet", "garbage", "errors", "fatal"),
    ("labels.parquet", "empty", "suspects", "fatal"),
    ("predictions.parquet", "folder", "export", "fatal"),
    ("images.parquet", "folder", "metrics", "fatal"),
    ("labels.parquet", "missing", "slices", "fatal"),
    ("project.json", "truncate", "add-predictions", "fatal"),
    ("project.json", "json_list", "evaluate", "fatal"),
    ("project.json", "runs_not_a_list", "errors", "fatal"),
    ("project.json", "deep_nesting", "metrics", "fatal"),
    ("metrics/labels.parquet", "truncate", "slices", "fatal"),
    ("metrics/catalog.json", "garbage", "slices", "fatal"),
    ("cache/metrics/frame.parquet", "truncate", "metrics", "ok"),
    ("cache/metrics/base.parquet", "garbage", "metrics", "ok"),
    ("import_report.json", "truncate", "evaluate", "ok"),
    ("predictions.parquet", "fifo", "errors", "fatal"),
    # not damaged: a detection project whose labels file has no annotations, only predictions (every analysis
    # has nothing to match them with: no IndexError on the empty label side)
    ("labels.parquet", "no_labels", "errors", "ok"),
    ("labels.parquet", "no_labels", "suspects", "ok"),
    ("labels.parquet", "no_labels", "export", "ok"),
    ("labels.parquet", "no_labels", "evaluate", "ok"),
]


def _damaged_base(base: Path) -> Path:
    """One small detection project with computed data metrics, built once per campaign and copied per case."""
    project = base / "project"
    if not (project / "metrics" / "catalog.json").is_file():
        from explorer.datametrics.engine import compute_metrics
        from explorer.io import import_project

        rng = random.Random(0)
        for i in range(1, 5):
            write(base / "images" / f"img{i}.jpg", image_bytes(W, H, ".jpg", seed=i))
        anns = [valid_ann(i, 4, rng) for i in range(1, 9)]
        write(base / "gt.json", dumps({"images": coco_images(4), "annotations": anns, "categories": CATEGORIES}))
        write(base / "pred.json", dumps([{"image_id": a["image_id"], "category_id": a["category_id"],
                                          "bbox": [a["bbox"][0] + 1, *a["bbox"][1:]], "score": 0.1 * (a["id"] % 9 + 1)}
                                         for a in anns]))
        made, _ = import_project(project, images=base / "images", labels=base / "gt.json",
                                 predictions=base / "pred.json")
        compute_metrics(made, progress=False, workers=1)
    return project


def build_damaged(rng: random.Random, case_no: int, root: Path) -> Case:
    import shutil

    base = _damaged_base(root.parent / "_damaged_base")
    out = root / "project"
    rel, damage, command, expect = DAMAGES[(case_no + _OFFSET) % len(DAMAGES)]
    if damage == "no_labels":
        from explorer.io import import_project

        gt = json.loads((base.parent / "gt.json").read_text())
        write(root / "gt.json", json.dumps(dict(gt, annotations=[])))
        import_project(out, images=base.parent / "images", labels=root / "gt.json", predictions=base.parent / "pred.json")
    else:
        shutil.copytree(base, out, symlinks=True)
    path = out / rel
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(garbage(rng, 200))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage in ("folder", "missing", "fifo"):
        path.unlink()
        if damage == "folder":
            (path / "part-0.parquet").parent.mkdir()
        elif damage == "fifo":
            os.mkfifo(path)
    elif damage == "json_list":
        path.write_text("[]")
    elif damage == "runs_not_a_list":
        path.write_text(json.dumps(dict(json.loads(data), runs="default")))
    elif damage == "deep_nesting":
        path.write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    p = str(out)
    argv = {"evaluate": ["evaluate", p], "errors": ["errors", p], "suspects": ["suspects", p, "--out", str(root / "sus")],
            "export": ["export", p, "--out", str(root / "export")], "slices": ["slices", p],
            "metrics": ["metrics", p, "--workers", "1", "--no-progress"],
            "add-predictions": ["add-predictions", p, str(base.parent / "pred.json"), "--run", "second"]}[command]
    name = f"damaged_{case_no}_{rel.replace('/', '_')}_{damage}_{command}"
    if expect == "fatal":
        return Case("damaged projects", name, root, argv, {}, [Bad(path.name, "", f"{damage} {rel}")],
                    fatal=path.name, command="other", out=out, subprocess=damage == "fifo",
                    inprocess=damage != "fifo")
    keys = {"images": {1, 2, 3, 4}} if damage == "no_labels" else {"labels": set(range(1, 9))}
    return Case("damaged projects", name, root, argv, keys, [], command="metrics_project", out=out)


# ---- the campaign ------------------------------------------------------------------------------------------------------
#: family -> (builder, cases in the CI campaign)
FAMILIES = {
    "COCO labels": (build_coco_labels, 60),
    "COCO predictions": (build_coco_predictions, 30),
    "explorer evaluate": (build_evaluate, 30),
    "YOLO": (build_yolo, 24),
    "VOC": (build_voc, 21),
    "splits CSV": (build_splits, 16),
    "classification": (build_classification, 22),
    "regression": (build_regression, 18),
    "segmentation": (build_segmentation, 18),
    "training logs": (build_training, 28),
    "metrics on folders / projects": (build_metrics, 12),
    "damaged projects": (build_damaged, 20),
}


def generate(base: Path, *, seed: int = 0, scale: float = 1.0, families=None) -> list[Case]:
    """Every case of the campaign under ``base`` (one folder per case); ``scale`` multiplies the case counts."""
    global _OFFSET
    _OFFSET = seed * 7919  # other seeds pair the mutations differently within a file
    cases = []
    for fam, (build, n) in FAMILIES.items():
        if families and fam not in families:
            continue
        for case_no in range(max(1, int(round(n * scale)))):
            rng = random.Random(f"{seed}:{fam}:{case_no}")
            root = base / (re.sub(r"\W+", "_", fam) + f"_{case_no:05d}")
            root.mkdir(parents=True)
            cases.append(build(rng, case_no, root))
    return cases
