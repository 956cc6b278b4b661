"""A large results file read a chunk at a time (explorer.io.json_chunks + records.parse_results_chunks) gives the
table and the problem report of the whole-file read, record for record: the fuzz campaign's mutations, flag caps
that span chunks, and files the chunked reader must hand back to the whole-file reader."""
from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest

from explorer.errors import ProblemReport
from explorer.io import json_chunks
from explorer.io.coco_results import read_coco_results
from explorer.project import schema
from tests.fuzz.generate import RES_MUTATIONS, _results

IMAGES = pd.DataFrame({"image_id": [1, 2, 3, 4], "file_name": ["a.png", "b.png", "c.png", "d.png"],
                       "width": [64.0, 64.0, 64.0, 64.0], "height": [48.0, 48.0, 48.0, 48.0]})
CATEGORIES = pd.DataFrame({"category_id": [1, 2, 3], "name": ["a", "b", "c"], "supercategory": [None] * 3})


def read(path, *, chunked: bool, monkeypatch, chunk_bytes: int = 120):
    with monkeypatch.context() as m:
        m.setattr(json_chunks, "MIN_FILE_BYTES", 0 if chunked else 1 << 62)
        m.setattr(json_chunks, "CHUNK_BYTES", chunk_bytes)
        report = ProblemReport()
        table = read_coco_results(path, images=IMAGES, categories=CATEGORIES, report=report)
    return table, [(p.file, p.record, p.message, p.kind, p.kept) for p in report.problems]


def chunks_of(path, chunk_bytes=120):
    return list(json_chunks.list_chunks(path, chunk_bytes=chunk_bytes, min_bytes=0))


@pytest.mark.parametrize("case_no", range(12))
def test_fuzz_mutations_give_the_whole_file_table_and_report(tmp_path, monkeypatch, case_no):
    text, valid_ids, _, _ = _results(random.Random(case_no), case_no, "pred.json", n_valid=30, n_bad=12)
    path = tmp_path / "pred.json"
    path.write_text(text)
    whole, whole_problems = read(path, chunked=False, monkeypatch=monkeypatch)
    chunked, chunked_problems = read(path, chunked=True, monkeypatch=monkeypatch)
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked_problems == whole_problems
    assert valid_ids <= set(whole["pred_id"])  # (and the kept-but-flagged ones)


def test_a_clean_file_is_read_in_many_chunks_with_file_positions(tmp_path, monkeypatch):
    recs = [{"image_id": 1 + i % 4, "category_id": 1 + i % 3, "bbox": [i % 50, 2, 10, 12], "score": 0.5}
            for i in range(500)]
    recs[321] = {"image_id": 9, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}  # unknown image
    recs[400] = {"image_id": 1, "category_id": 1, "bbox": [1, 2, 3], "score": 0.5}  # 3 numbers
    path = tmp_path / "pred.json"
    path.write_text(json.dumps(recs, indent=1))  # pretty-printed: "},\n {" between records
    parts = chunks_of(path)
    assert len(parts) > 50 and sum(map(len, parts)) == 500
    table, problems = read(path, chunked=True, monkeypatch=monkeypatch)
    assert len(table) == 498 and table["pred_id"].tolist() == [i + 1 for i in range(500) if i not in (321, 400)]
    assert table["x"].tolist() == [float(i % 50) for i in range(500) if i not in (321, 400)]
    assert list(table.columns[:len(schema.PREDICTIONS)]) == list(schema.PREDICTIONS)
    assert [(p[1], p[3]) for p in problems] == [("results[321]", "unknown_image"),
                                                ("results[400] (pred_id=401)", "bad_bbox")]


def test_a_flag_cap_counts_every_chunk(tmp_path, monkeypatch):
    # 250 scores above 1 (flagged, kept) and 130 boxes beyond the image: one cap of 100 per check over the file
    recs = [{"image_id": 1, "category_id": 1, "bbox": [60 if 100 <= i < 230 else 1, 1, 10, 10],
             "score": 1.5 if i < 250 else 0.5} for i in range(300)]
    recs[5]["score"] = "high"  # rejected (not a number), so not among the flagged scores
    path = tmp_path / "pred.json"
    path.write_text(json.dumps(recs))
    whole, whole_problems = read(path, chunked=False, monkeypatch=monkeypatch)
    chunked, chunked_problems = read(path, chunked=True, monkeypatch=monkeypatch)
    assert len(chunks_of(path)) > 100
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked_problems == whole_problems
    flags = [p for p in whole_problems if p[4]]
    assert len(flags) == 202
    assert flags[-1][2].endswith("— and 29 more record(s) flagged 'flagged_prediction' by the same check")
    assert sum("— and 148 more" in p[2] for p in flags) == 1  # 250 - 1 (the NaN) - 100 - 1


@pytest.mark.parametrize("text, why", [
    ('{"annotations": [%s]}', "not a list"),
    ('[%s] x', "text after the list"),
    ('[%s,]', "a trailing comma"),
    ('[%s,, %s]', "an empty element"),
    ('[%s, {"image_id": 1, "image_id": 2, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}]', "a key twice"),
    ('[%s, {"image_id": 12345678901234567890, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}]', "19 digits"),
    ('[%s, {"image_id": 1, "category_id": 1, "bbox": [NaN, 1, 2, 2], "score": 0.5}]', "NaN"),
    ('[%s, {"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5, "note": "},{"}]', "a cut in a string"),
    ('[%s, {"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5, "segmentation": {"size": [48, 64], "counts": "Wd0"}, "x": {"a": 1}}]', "nested objects"),
])
def test_a_file_chunks_cannot_read_exactly_is_read_whole(tmp_path, monkeypatch, text, why):
    rec = json.dumps({"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.25})
    body = text.replace("%s", ", ".join([rec] * 30), 1).replace("%s", rec)
    path = tmp_path / "pred.json"
    path.write_text(body)
    outcomes = []
    for chunked in (False, True):
        try:
            outcomes.append(read(path, chunked=chunked, monkeypatch=monkeypatch))
        except Exception as e:  # noqa: BLE001 - the same error either way
            outcomes.append((type(e), str(e)))
    if isinstance(outcomes[0][0], pd.DataFrame):
        pd.testing.assert_frame_equal(outcomes[1][0], outcomes[0][0])
        assert outcomes[1][1] == outcomes[0][1]
    else:
        assert outcomes[1] == outcomes[0]


def test_a_chunk_that_is_not_exact_json_is_refused(tmp_path):
    path = tmp_path / "pred.json"
    rec = '{"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.25, "n": "a},{b"}'
    path.write_text("[" + ", ".join([rec] * 20) + "]")
    with pytest.raises(json_chunks.NotChunkable):
        chunks_of(path)
    assert json_chunks.list_chunks(path) is None  # a small file: not chunked at all
    assert np.isfinite(1.0)
