"""Known-answer tests of the defect classes the fuzz campaign (tests/fuzz) found: duplicate JSON keys, compressed
RLE strings that are garbage, file names no table or file system can hold, unknown-category predictions."""
from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from explorer.errors import ProblemReport
from explorer.io import import_project
from explorer.io.coco_segmentation import compressed_rle_error
from explorer.io.jsonfile import DuplicateKeys, load_json
from explorer.io.scan import file_name_error, file_name_errors

IMAGES = [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in (1, 2)]
CATS = [{"id": 1, "name": "a"}]


def _ann(i, **over):
    return {"id": i, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 8], "area": 80, "iscrowd": 0, **over}


def _problems(report: ProblemReport, kind: str) -> list[tuple[str, str]]:
    return [(p.record, p.message) for p in report.problems if p.kind == kind]


# ---- compressed RLE -------------------------------------------------------------------------------------------------
def test_every_pycocotools_rle_string_is_accepted_and_garbage_is_named():
    rng = np.random.default_rng(3)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 80, 2))
        m = np.asfortranarray((rng.random((h, w)) < rng.random()).astype(np.uint8))
        assert compressed_rle_error(mask_utils.encode(m)["counts"].decode(), h * w) is None
    assert compressed_rle_error("garbage~~", 48 * 64) == (
        "RLE segmentation 'counts' is not a COCO compressed RLE string (character 'r' at position 2)")
    assert compressed_rle_error("PPYo0", 48 * 64) == "compressed RLE counts decode to 1025024 pixels, expected height*width = 3072"
    assert compressed_rle_error("abc", 12) == "RLE segmentation 'counts' ends inside a number (truncated compressed RLE string)"
    assert compressed_rle_error("", 12) == "RLE segmentation 'counts' is empty, expected runs over 12 pixels"


def test_a_garbage_rle_costs_its_mask_only(tmp_path):
    good = mask_utils.encode(np.asfortranarray(np.pad(np.ones((8, 10), np.uint8), ((2, 38), (1, 53)))))
    anns = [_ann(1, segmentation={"counts": good["counts"].decode(), "size": [48, 64]}),
            _ann(2, segmentation={"counts": "not an RLE!!", "size": [48, 64]})]
    (tmp_path / "gt.json").write_text(json.dumps({"images": IMAGES, "annotations": anns, "categories": CATS}))
    project, report = import_project(tmp_path / "p", labels=tmp_path / "gt.json")
    assert project.labels["label_id"].tolist() == [1, 2]
    assert project.labels["segmentation"].isna().tolist() == [False, True]  # id 2 stays a box, without the mask
    assert _problems(report, "bad_segmentation") == [(
        "annotations[1] (id=2)", "RLE segmentation 'counts' is not a COCO compressed RLE string (character 't' at "
        "position 2); the mask is not used (the record is kept as its box)")]


# ---- duplicate keys ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ['{"a": [1], "b": 0, "a": [2, 3]}', '{"a": [1], "b": 0, "a": [2, 3], "n": NaN}'])
def test_a_repeated_key_keeps_the_first_value_and_says_so(tmp_path, text):
    (tmp_path / "x.json").write_text(text)  # the second one is read by the standard parser (NaN)
    data = load_json(tmp_path / "x.json", what="labels")
    assert type(data) is DuplicateKeys and data["a"] == [1] and data.later == {"a": [[2, 3]]}


def test_two_annotations_lists_and_a_record_with_two_boxes(tmp_path):
    first = [_ann(1), _ann(2)]
    text = json.dumps({"images": IMAGES, "annotations": first, "categories": CATS})[:-1]
    text += ', "annotations": [' + json.dumps(_ann(9)) + "]}"
    text = text.replace('{"id": 2,', '{"bbox": [0, 0, 1, 1], "id": 2,')  # record 1 gives bbox twice
    (tmp_path / "gt.json").write_text(text)
    project, report = import_project(tmp_path / "p", labels=tmp_path / "gt.json")
    assert project.labels["label_id"].tolist() == [1]
    assert _problems(report, "duplicate_key") == [
        ("annotations", "'annotations' is given 2 times; the first (2 record(s)) is read, the later one(s) "
                        "(1 record(s)) are ignored: merge them into one"),
        ("annotations[1]", "gives 'bbox' 2 times; which value is meant is ambiguous, so the record is skipped")]


def test_a_compact_file_without_repeats_keeps_the_fast_parser_and_plain_dicts(tmp_path):
    anns = [_ann(i, segmentation={"counts": [3072], "size": [48, 64]}) for i in range(1, 50)]
    (tmp_path / "gt.json").write_text(json.dumps({"images": IMAGES, "annotations": anns, "categories": CATS}))
    data = load_json(tmp_path / "gt.json", what="labels")
    assert type(data) is dict and {type(a) for a in data["annotations"]} == {dict}


# ---- file names -----------------------------------------------------------------------------------------------------
def test_file_names_no_table_or_file_system_can_hold():
    assert file_name_error("a/b.jpg") is None
    assert file_name_error("bad\ud800.jpg") == "file name 'bad\\ud800.jpg' is not valid UTF-8 text (rename the file)"
    assert file_name_error("a\x00b.jpg") == "file name 'a\\x00b.jpg' contains a control character"
    assert file_name_error("n" * 256) .endswith("is longer than a file system allows (255 bytes a part, 4,096 in all)")
    assert file_name_error("/".join(["n" * 200] * 21)) is not None and file_name_error("/".join(["n" * 200] * 20)) is None
    assert file_name_errors(["a.jpg", "b\x07.jpg", "c.jpg", "d\udcff.jpg"]) == [
        (1, "file name 'b\\x07.jpg' contains a control character"),
        (3, "file name 'd\\udcff.jpg' is not valid UTF-8 text (rename the file)")]


def test_a_coco_image_with_an_unstorable_name_costs_that_image(tmp_path):
    text = json.dumps({"images": IMAGES + [{"id": 3, "file_name": "x", "width": 64, "height": 48},
                                           {"id": 4, "file_name": "a\u0000b.jpg", "width": 64, "height": 48}],
                       "annotations": [_ann(1)], "categories": CATS}).replace('"x"', '"bad\\ud800.jpg"')
    (tmp_path / "gt.json").write_text(text)
    project, report = import_project(tmp_path / "p", labels=tmp_path / "gt.json")
    assert project.images["image_id"].tolist() == [1, 2]
    assert _problems(report, "bad_image") == [
        ("images[2] (id=3)", "file name 'bad\\ud800.jpg' is not valid UTF-8 text (rename the file)")]
    assert _problems(report, "bad_file_name") == [
        ("images[3] (id=4)", "file name 'a\\x00b.jpg' contains a control character; the record is skipped")]


# ---- evaluate: predictions of categories the ground truth lacks -------------------------------------------------
def test_evaluate_names_each_prediction_of_an_unknown_category(tmp_path):
    from explorer.evaluation import evaluate_coco

    gt = {"images": IMAGES, "annotations": [_ann(1)], "categories": CATS}
    preds = [{"image_id": 1, "category_id": c, "bbox": [1, 2, 10, 8], "score": 0.9} for c in (1, 7, 1, 7)]
    result = evaluate_coco(gt, preds)
    assert _problems(result.problems, "unknown_category") == [
        ("category_id 7", "2 prediction(s) of a category that is not in the ground truth (kept, not evaluated): "
                          "results[1], results[3]")]
