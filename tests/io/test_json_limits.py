"""JSON parser limits never cost more than the record at fault: huge integers are that record's problem, deep
nesting is a named error, never a traceback."""
from __future__ import annotations

import json

import pytest

from explorer.errors import UserError
from explorer.io import import_project


def _coco(ids):
    return {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": f"@{i}@", "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100,
                             "iscrowd": 0} for i in range(len(ids))]}


@pytest.mark.parametrize("bad", ["9" * 5000, str(2 ** 63), "-" + str(2 ** 63 + 1), "1" + "0" * 30])
def test_an_id_beyond_int64_costs_only_its_record(tmp_path, bad):
    ids = ["7", bad, "8"]
    text = json.dumps(_coco(ids))
    for i, value in enumerate(ids):
        text = text.replace(f'"@{i}@"', value)
    (tmp_path / "gt.json").write_text(text)
    project, report = import_project(tmp_path / "p", labels=tmp_path / "gt.json")
    assert project.labels["label_id"].tolist() == [7, 8]
    assert [p.record for p in report.problems if p.kind == "bad_annotation"] == ["annotations[1]"]


def test_the_largest_int64_id_is_kept_exactly(tmp_path):
    text = json.dumps(_coco(["1"])).replace('"@0@"', str(2 ** 63 - 1))
    (tmp_path / "gt.json").write_text(text)
    project, _ = import_project(tmp_path / "p", labels=tmp_path / "gt.json")
    assert project.labels["label_id"].tolist() == [2 ** 63 - 1]


def test_nesting_beyond_the_parser_is_a_named_error(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UserError, match="deep.json: JSON nested too deeply"):
        import_project(tmp_path / "p", labels=tmp_path / "deep.json")
