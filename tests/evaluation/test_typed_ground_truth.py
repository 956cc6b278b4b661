"""A ground-truth file read by members (``inputs._typed_ground_truth``): its annotations decoded by the typed
decoder straight from the file's bytes, its other members by orjson with ``load_json``'s checks. It must give
the same arrays and problems as the record model (``columnar=False``) on clean files, and hand every unusual
file to the whole-file reading (then the same again). Size cut-offs are lowered so that small files take it."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from explorer.evaluation import inputs, json_columns
from random_coco import random_coco
from test_columnar_inputs import UNUSUAL_GT, _same, generate


@pytest.fixture
def typed_small(monkeypatch):
    monkeypatch.setattr(inputs, "_TYPED_MIN_RECORDS", 0)
    monkeypatch.setattr(json_columns, "MIN_BYTES", 0)
    monkeypatch.delenv("EXPLORER_KERNELS", raising=False)


def _files_same(tmp_path, gt, dt, text=None):
    g, d = tmp_path / "gt.json", tmp_path / "dt.json"
    g.write_text(json.dumps(gt) if text is None else text)
    d.write_text(json.dumps(dt))
    fast = inputs.from_coco(str(g), str(d), iou_type="bbox")
    _same(fast, inputs.from_coco(str(g), str(d), iou_type="bbox", columnar=False))
    return fast, inputs._typed_ground_truth(g)


def test_split_object_spans():
    body = b' {"a" : [1, {"b": "}]\\"{"}] ,"c":"x\\\\", "d": {"e": [[]]}}\n'
    members = json_columns.object_members(body, min_bytes=0)
    assert {k: body[s:e] for k, (s, e) in members.items()} == {
        "a": b'[1, {"b": "}]\\"{"}]', "c": b'"x\\\\"', "d": b'{"e": [[]]}'}
    for bad in (b'[1]', b'{}', b'{"a": [1}', b'{"a": 1} x', b'{"a\\"": 1}', b'{"a": 1, "a": 2}', b'{"a" 1}',
                b'{"a": "open}'):
        assert json_columns.object_members(bad, min_bytes=0) is None, bad


@pytest.mark.parametrize("seed", range(2))
def test_clean_files_are_read_by_members(typed_small, tmp_path, seed):
    gt, dt = generate(50, seed=seed)
    gt["info"] = {"description": 'braces } ] { [ and "quotes", \\ and , commas', "year": 2024}
    gt["categories"][0]["name"] = 'a "quoted" {name}'
    gt["annotations"][0]["id"] = 0  # pycocotools' id-0 rule: never counted as a match
    fast, typed = _files_same(tmp_path, gt, dt)
    assert typed is not None and "annotations" not in typed[0] and len(typed[1]["id"]) == len(gt["annotations"])
    assert fast.label_id_counts[0] == False and fast.label_id_counts[1:].all()  # noqa: E712
    assert fast.category_names[gt["categories"][0]["id"]] == 'a "quoted" {name}'


@pytest.mark.parametrize("case", sorted(UNUSUAL_GT))
def test_unusual_ground_truth_files_read_the_same(typed_small, tmp_path, case):
    gt, dt = random_coco(1, iou_type="bbox")
    for a in gt["annotations"]:
        a.pop("segmentation", None)
    UNUSUAL_GT[case](gt)
    _files_same(tmp_path, gt, dt)


def test_what_load_json_would_check_is_left_to_it(typed_small, tmp_path):
    gt, dt = generate(30, seed=3)
    text = json.dumps(gt)
    # a top-level key twice (the record model names it), a key twice inside an image, a 19-digit integer,
    # annotations with segmentations (not the decoder's fields), and an empty annotations list
    twice = text[:-1] + ', "images": []}'
    image_key_twice = text.replace('"width": ', '"width": 1, "width": ', 1)
    long_int = text[:-1] + ', "info": {"n": 1234567890123456789}}'
    segm = copy.deepcopy(gt)
    segm["annotations"][0]["segmentation"] = [[1, 1, 5, 1, 5, 5]]
    empty = dict(gt, annotations=[])
    for body in (twice, image_key_twice, long_int, json.dumps(segm), json.dumps(empty)):
        fast, typed = _files_same(tmp_path, gt, dt, text=body)
        assert typed is None
    assert len(fast.labels) == 0
    fast, _ = _files_same(tmp_path, gt, dt, text=twice)
    assert any(p.kind == "duplicate_key" for p in fast.problems.problems)
