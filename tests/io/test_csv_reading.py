"""The one CSV reader of the table inputs (splits, classification, regression, training logs): one record per
physical line, so a bad line costs only itself; text encodings named or decoded, never a traceback."""
from __future__ import annotations

import csv

import pytest

from explorer.errors import ProblemReport, UserError
from explorer.io.table_files import read_csv


def _read(path):
    report = ProblemReport()
    table = read_csv(path, required=("image", "label"), report=report, what="labels")
    return table, report


def test_an_unclosed_quote_costs_only_its_line(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text('image,label\na.png,cat\n"b.png,dog\nc.png,cat\nd.png,"bird\ne.png,dog\n')
    table, report = _read(path)
    assert table["image"].tolist() == ["a.png", "c.png", "e.png"]
    assert table["line"].tolist() == [2, 4, 6]
    assert [(p.record, p.kind) for p in report.problems] == [("line 3", "bad_row"), ("line 5", "bad_row")]
    assert all("quote is opened and not closed" in p.message for p in report.problems)


def test_a_field_over_the_csv_limit_is_named(tmp_path):
    path = tmp_path / "labels.csv"
    huge = "x" * (csv.field_size_limit() + 10)
    path.write_text(f'image,label\na.png,cat\n"{huge}",dog\nc.png,cat\n')
    table, report = _read(path)
    assert table["image"].tolist() == ["a.png", "c.png"]
    assert [p.record for p in report.problems] == ["line 3"]
    assert "longer than" in report.problems[0].message


def test_utf16_with_bom_reads_like_utf8(tmp_path):
    text = "image,label\nä.png,cät\nb.png,dog\n"
    (tmp_path / "u8.csv").write_text(text, encoding="utf-8")
    (tmp_path / "u16.csv").write_text(text, encoding="utf-16")
    a, _ = _read(tmp_path / "u8.csv")
    b, _ = _read(tmp_path / "u16.csv")
    assert a.equals(b) and a["label"].tolist() == ["cät", "dog"]


@pytest.mark.parametrize("data, words", [(b"image,label\na.png,\x00\x01\x02\n", "binary file (NUL byte at offset 18)"),
                                         (b"image,label\na.png,\xff\xfecat\n", "not valid UTF-8 text (byte 18")])
def test_binary_or_undecodable_files_are_named(tmp_path, data, words):
    path = tmp_path / "labels.csv"
    path.write_bytes(data)
    with pytest.raises(UserError, match="labels.csv") as e:
        _read(path)
    assert words in str(e.value)


def test_splits_and_classification_imports_keep_every_later_row(tmp_path):
    from PIL import Image

    from explorer.io import import_project

    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "b", "c", "d"):
        Image.new("RGB", (8, 8)).save(images / f"{name}.png")
    (tmp_path / "labels.csv").write_text('image,label\na.png,cat\n"b.png,dog\nc.png,cat\nd.png,dog\n')
    (tmp_path / "splits.csv").write_text('file_name,split\na.png,train\nb.png,"val\nc.png,val\nd.png,test\n')
    project, report = import_project(tmp_path / "p", task="classification", images=images,
                                     labels=tmp_path / "labels.csv", splits=tmp_path / "splits.csv")
    by_name = dict(zip(project.images["file_name"], project.images["split"]))
    assert by_name["c.png"] == "val" and by_name["d.png"] == "test" and by_name["a.png"] == "train"
    bad = sorted((p.file.rsplit("/", 1)[-1], p.record) for p in report.problems if p.kind == "bad_row")
    assert bad == [("labels.csv", "line 3"), ("splits.csv", "line 3")]
    assert len(project.labels) == 3
