"""Polygon segmentations read by the typed decoder (``json_columns`` kind ``"polygons"``) into ``inputs.Polygons``
(flat offsets and coordinates): the same segmentations, arrays and problems as the record model, the same masks
(``masks.mask_inputs``) and pycocotools' numbers; anything else (empty, RLE, odd or short parts) is refused and
read as before, with the same messages. Size cut-offs are lowered so that small files take the typed path."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from explorer.evaluation import evaluate_coco, inputs, json_columns, masks
from test_columnar_inputs import _same, generate


@pytest.fixture
def typed_small(monkeypatch):
    monkeypatch.setattr(inputs, "_TYPED_MIN_RECORDS", 0)
    monkeypatch.setattr(json_columns, "MIN_BYTES", 0)
    monkeypatch.delenv("EXPLORER_KERNELS", raising=False)


FIELDS = {"id": "int", "segmentation": "polygons"}


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setenv("EXPLORER_KERNELS", "numba")  # (these bodies are below the small-input cut-off)


def test_polygons_are_decoded_to_pythons_doubles(compiled):
    segs = [[[1, 2, 3, 4, 5, 6]], [[0.1, 1e-3, 2.5e2, -7, 0.30000000000000004, 123456789.123456789],
                                   [1, 1, 2, 2, 3, 3, 4, 4]], [[-0.0, 5, 5, 5, 5, 0]]]
    body = json.dumps([{"id": i, "segmentation": s} for i, s in enumerate(segs)]).encode()
    row_part, part_off, coords = json_columns.decode_records(body, FIELDS, min_bytes=0)["segmentation"]
    assert row_part.tolist() == [0, 1, 3, 4] and part_off.tolist() == [0, 6, 12, 20, 26]
    want = [float(v) for s in segs for p in s for v in p]
    assert coords.tobytes() == np.array(want).tobytes()  # (bits: -0.0 too)
    p = inputs.Polygons(row_part, part_off, coords)
    assert len(p) == 3 and p == segs and p[1] == segs[1] and p[-1] == segs[2]
    assert p.take(np.array([2, 0])) == [segs[2], segs[0]] and p.take(np.zeros(0, np.int64)) == []


@pytest.mark.parametrize("seg", ["[]", "[[]]", "[[1, 2, 3, 4, 5, 6], []]", '{"size": [4, 4], "counts": "0"}',
                                 '"x"', "null", "[[1, 2, 3, 4, 5, 1234567890123456789]]", "[1, 2, 3, 4, 5, 6]",
                                 "[[1, 2, 3, 4, 5, 6]", "[[1, 2 3]]"])
def test_what_it_does_not_decide_it_refuses(compiled, seg):
    body = ('[{"id": 1, "segmentation": [[1, 2, 3, 4, 5, 6]]}, {"id": 2, "segmentation": %s}]' % seg).encode()
    assert json_columns.decode_records(body, FIELDS, min_bytes=0) is None


def _segm_set(seed=0):
    """The benchmark's segm set (octagons), with a crowd, an id-0 label, multi-part and 6-coordinate polygons."""
    gt, dt = generate(40, seed=seed, segm=True)
    anns = gt["annotations"]
    anns[0]["id"] = 0
    anns[1]["iscrowd"] = 1
    x, y, w, h = anns[2]["bbox"]
    anns[2]["segmentation"] = [[x, y, x + w, y, x, y + h]]  # one polygon of exactly 6 coordinates
    anns[3]["segmentation"] = anns[3]["segmentation"] + [[x, y, x + w / 2, y, x, y + h / 2]]  # two parts
    dt[0]["segmentation"] = dt[0]["segmentation"] + dt[1]["segmentation"]
    dt[2]["segmentation"] = [[int(v) for v in dt[2]["segmentation"][0]]]  # integer coordinates
    return gt, dt


def _files(tmp_path, gt, dt):
    g, d = tmp_path / "gt.json", tmp_path / "dt.json"
    g.write_text(json.dumps(gt))
    d.write_text(json.dumps(dt))
    return str(g), str(d)


def test_polygon_files_are_decoded_and_read_the_same(typed_small, tmp_path):
    gt, dt = _segm_set()
    g, d = _files(tmp_path, gt, dt)
    fast = inputs.from_coco(g, d, iou_type="segm")
    _same(fast, inputs.from_coco(g, d, iou_type="segm", columnar=False))
    assert type(fast.labels.segm) is inputs.Polygons and type(fast.predictions.segm) is inputs.Polygons
    assert fast.labels.segm == [a["segmentation"] for a in gt["annotations"]]
    assert fast.label_id_counts[0] == False and fast.labels.iscrowd[1]  # noqa: E712
    # the masks' flat inputs are those of the same rows as lists
    listed = [(inputs.replace(t, segm=list(t.segm)), rows, w) for t, rows, w in
              ((fast.predictions, np.arange(0, len(dt), 3), "prediction"), (fast.labels, np.arange(len(gt["annotations"])), "label"))]
    flat = [(t, rows, w) for (_, rows, w), t in zip(listed, (fast.predictions, fast.labels))]
    a, b = masks.mask_inputs(flat, fast.image_size()), masks.mask_inputs(listed, fast.image_size())
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and np.array_equal(x, y)


def test_polygon_files_give_pycocotools_numbers(typed_small, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    import contextlib
    import io

    gt, dt = _segm_set(seed=1)
    g, d = _files(tmp_path, gt, dt)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(g)
        e = COCOeval(coco, coco.loadRes(d), "segm")
        e.evaluate(), e.accumulate(), e.summarize()
    assert np.asarray(evaluate_coco(g, d, iou_type="segm").stats).tolist() == np.asarray(e.stats).tolist()


_UNUSUAL = {
    "odd": lambda s: s + [[1, 2, 3, 4, 5, 6, 7]],
    "short": lambda s: [[1, 2, 3, 4]],
    "empty": lambda s: [],
    "empty part": lambda s: s + [[]],
    "huge": lambda s: [[1, 2, 3, 4, 5, 2e7]],
    "overflowing": lambda s: [[1, 2, 3, 4, 5, 1e400]],
    "rle": lambda s: {"size": [2, 2], "counts": [4]},
}


@pytest.mark.parametrize("side", ["labels", "predictions"])
@pytest.mark.parametrize("case", sorted(_UNUSUAL))
def test_unusual_polygons_are_read_as_before(typed_small, tmp_path, case, side):
    gt, dt = _segm_set()
    if side == "labels":
        gt["images"][0].update(width=2, height=2)  # (an RLE must fit its image)
        rec = next(a for a in gt["annotations"] if a["image_id"] == gt["images"][0]["id"])
    else:
        rec = dt[5]
        gt["images"] = [dict(i, width=2, height=2) if i["id"] == rec["image_id"] else i for i in gt["images"]]
    rec["segmentation"] = _UNUSUAL[case](rec["segmentation"])
    g, d = _files(tmp_path, gt, dt)
    text = (tmp_path / "gt.json").read_text().replace("2e+07", "2e7").replace("Infinity", "1e400")
    (tmp_path / "gt.json").write_text(text)
    (tmp_path / "dt.json").write_text((tmp_path / "dt.json").read_text().replace("Infinity", "1e400"))
    fast = inputs.from_coco(g, d, iou_type="segm")
    _same(fast, inputs.from_coco(g, d, iou_type="segm", columnar=False))
    if case in ("odd", "short", "huge", "overflowing"):
        assert any("segmentation" in str(p) for p in fast.problems.problems), fast.problems.problems


def test_polygon_dicts_are_decoded_and_read_the_same(typed_small):
    gt, dt = _segm_set(seed=2)
    dt[3]["segmentation"] = tuple(tuple(p) for p in dt[3]["segmentation"])  # (orjson writes a tuple as a list)
    fast = inputs.from_coco(copy.deepcopy(gt), copy.deepcopy(dt), iou_type="segm")
    _same(fast, inputs.from_coco(copy.deepcopy(gt), copy.deepcopy(dt), iou_type="segm", columnar=False))
    assert type(fast.labels.segm) is inputs.Polygons and type(fast.predictions.segm) is inputs.Polygons
    gt["annotations"][4]["segmentation"] = [[1, 2, 3, 4, 5]]  # odd: the record model's message, as before
    fast = inputs.from_coco(copy.deepcopy(gt), copy.deepcopy(dt), iou_type="segm")
    _same(fast, inputs.from_coco(copy.deepcopy(gt), copy.deepcopy(dt), iou_type="segm", columnar=False))
    assert any("5 coordinates" in str(p) for p in fast.problems.problems)
