"""The typed JSON decoder (``explorer.evaluation.json_columns``) and the inputs it reads.

The decoder must give Python's own doubles and ints for every number it decides and refuse (None) every input
it does not, and ``inputs.from_coco`` through it must give the same arrays and problems as the record model
(``columnar=False``) — on clean sets (where it must decide) and on each unusual record of
``test_columnar_inputs`` (where it must hand over). The size cut-offs are lowered so that small sets take it.
"""
from __future__ import annotations

import copy
import json

import numpy as np
import orjson
import pytest

from explorer.evaluation import inputs, json_columns
from explorer.evaluation.json_columns import decode_records
from random_coco import random_coco
from test_columnar_inputs import UNUSUAL_DT, UNUSUAL_GT, _same, generate

RESULTS = inputs._RESULT_FIELDS


@pytest.fixture
def typed_small(monkeypatch):
    """Every list and file takes the typed path, whatever its size."""
    monkeypatch.setattr(inputs, "_TYPED_MIN_RECORDS", 0)
    monkeypatch.setattr(json_columns, "MIN_BYTES", 0)
    monkeypatch.delenv("EXPLORER_KERNELS", raising=False)


def _record(score_text: str, box_text: str = "[1, 2, 3, 4]") -> bytes:
    return (f'[{{"image_id": 7, "category_id": -2, "bbox": {box_text}, "score": {score_text}}},'
            f'\n {{"score": 0.5, "bbox": [0, 0, 1, 1], "category_id": 1, "image_id": 123456789012345678}}]').encode()


def test_numbers_are_pythons_doubles():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.random(3000), rng.normal(0, 1e5, 3000), np.round(rng.random(3000) * 640, 2),
                             rng.random(300) * 1e-30, 10.0 ** rng.integers(-300, 300, 300), [0.0, -0.0, 5e-324,
                             1.7976931348623157e308, 2.0**53 + 2, 0.1 + 0.2]])
    records = [{"image_id": i, "category_id": 1, "bbox": [v, -v, 1.0, 2], "score": v} for i, v in enumerate(values.tolist())]
    for text in (json.dumps(records), json.dumps(records, indent=2), orjson.dumps(records).decode()):
        out = decode_records(text.encode(), RESULTS, min_bytes=0)
        assert out["score"].view(np.int64).tolist() == values.view(np.int64).tolist()  # the same bits
        assert out["bbox"][:, 1].view(np.int64).tolist() == (-values).view(np.int64).tolist()
        assert out["bbox"][:, 3].tolist() == [2.0] * len(values) and out["image_id"].tolist() == list(range(len(values)))
    forms = ["1.5e3", "15E-1", "0.000123", "123456789012345678", "0.30000000000000004", "-0.0", "1e22", "1e23",
             "9007199254740993", "4.35e-5", "1E+2", "0e500", "12345678901234567890123e-20"]
    for text in forms:
        out = decode_records(_record(text), RESULTS, min_bytes=0)
        assert out["score"][0] == float(text) and np.signbit(out["score"][0]) == np.signbit(float(text)), text
        assert out["image_id"].tolist() == [7, 123456789012345678] and out["category_id"].tolist() == [-2, 1]
        assert out["bbox"].dtype == np.float64 and out["bbox"].shape == (2, 4)


REFUSED = {
    "empty list": b"[]",
    "not a list": b'{"annotations": []}',
    "a float id": _record("1").replace(b'"image_id": 7', b'"image_id": 7.0'),
    "an id of 19 digits": _record("1").replace(b'"image_id": 7', b'"image_id": 1234567890123456789'),
    "a key twice": _record("1").replace(b'"image_id": 7', b'"image_id": 7, "image_id": 8'),
    "an unknown key": _record("1").replace(b'"image_id": 7', b'"image_id": 7, "id": 8'),
    "a missing key": _record("1").replace(b'"image_id": 7, ', b""),
    "an escaped key": _record("1").replace(b'"image_id": 7', b'"image\\u005fid": 7'),
    "three numbers": _record("1", "[1, 2, 3]"),
    "five numbers": _record("1", "[1, 2, 3, 4, 5]"),
    "null": _record("null"),
    "true": _record("true"),
    "a string": _record('"0.5"'),
    "NaN": _record("NaN"),
    "1e400": _record("1e400"),
    "a leading zero": _record("01"),
    "a bare dot": _record("1."),
    "a trailing comma": _record("1").replace(b"}]", b"},]"),
    "text after the list": _record("1") + b" x",
    "cut short": _record("1")[:-2],
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_it_does_not_decide_it_refuses(case):
    assert decode_records(REFUSED[case], RESULTS, min_bytes=0) is None
    assert decode_records(_record("1"), RESULTS, min_bytes=0) is not None  # (the unchanged record is decided)


def test_small_inputs_and_python_kernels_are_left_to_orjson(monkeypatch):
    assert decode_records(_record("1"), RESULTS) is None  # below MIN_BYTES
    monkeypatch.setenv("EXPLORER_KERNELS", "python")
    assert decode_records(_record("1"), RESULTS, min_bytes=0) is None


def _typed_both(gt, dt, *, typed_gt: bool | None, typed_dt: bool | None, tmp_path=None):
    """Typed path vs the record model (and from files with ``tmp_path``); ``typed_*``: whether the decoder
    decides that section (None: either — decoded values the later checks refuse)."""
    fast = inputs.from_coco(copy.deepcopy(gt), copy.deepcopy(dt), iou_type="bbox")
    slow = inputs.from_coco(copy.deepcopy(gt), copy.deepcopy(dt), iou_type="bbox", columnar=False)
    _same(fast, slow)
    for typed, records, fields in ((typed_gt, gt.get("annotations"), inputs._LABEL_FIELDS), (typed_dt, dt, RESULTS)):
        assert typed is None or (inputs._typed_list(records, fields) is not None) == typed
    if tmp_path is not None:  # and from files (the results file decoded from its bytes)
        g, d = tmp_path / "gt.json", tmp_path / "dt.json"
        g.write_text(json.dumps(gt))
        d.write_text(json.dumps(dt))
        _same(inputs.from_coco(str(g), str(d), iou_type="bbox"),
              inputs.from_coco(str(g), str(d), iou_type="bbox", columnar=False))


@pytest.mark.parametrize("seed", range(3))
def test_clean_sets_are_decoded_and_read_the_same(typed_small, seed, tmp_path):
    gt, dt = generate(60, seed=seed)  # boxes beyond their image: flagged the same way
    dt[0]["score"] = 1.5  # kept, flagged
    _typed_both(gt, dt, typed_gt=True, typed_dt=True, tmp_path=tmp_path)


@pytest.mark.parametrize("case", sorted(UNUSUAL_GT))
def test_unusual_ground_truth_is_not_decoded(typed_small, case):
    gt, dt = random_coco(1, iou_type="bbox")
    for a in gt["annotations"]:
        a.pop("segmentation", None)
    UNUSUAL_GT[case](gt)
    not_json_typed = case in ("bool iscrowd", "missing area", "integral float id", "nan box", "short box",
                              "missing box", "odd polygon", "a record that is not an object", "id beyond int64")
    _typed_both(gt, dt, typed_gt=False if not_json_typed else None, typed_dt=True)


@pytest.mark.parametrize("case", sorted(UNUSUAL_DT))
def test_unusual_results_are_not_decoded(typed_small, case, tmp_path):
    gt, dt = random_coco(2, iou_type="bbox")
    UNUSUAL_DT[case](dt)
    decided = case in ("unknown image", "negative width")  # decoded, then handed to the record model
    _typed_both(gt, dt, typed_gt=None, typed_dt=decided, tmp_path=tmp_path)


def test_a_record_with_a_key_twice_is_not_decoded(typed_small, tmp_path):
    gt, dt = generate(40, seed=5)
    d = tmp_path / "dt.json"
    d.write_text(json.dumps(dt).replace('"score": ', '"score": 0.1, "score": ', 1))
    fast = inputs.from_coco(copy.deepcopy(gt), str(d), iou_type="bbox")
    _same(fast, inputs.from_coco(copy.deepcopy(gt), str(d), iou_type="bbox", columnar=False))
    assert len(fast.predictions) == len(dt) - 1  # the record model rejects that record
