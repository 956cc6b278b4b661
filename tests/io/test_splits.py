"""The one split assigner: the same CSV / folder rules, problems and summaries for every task's importer."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explorer.errors import ProblemReport, UserError
from explorer.io import import_project
from explorer.io.splits import assign_splits
from explorer.io.table_files import match_names
from io_helpers import write_coco_inputs, write_image

SPLITS_CSV = ("file_name,split\n"
              "a.png,train\n"         # line 2
              "b.png,val\n"           # line 3: unique base name of sub/b.png
              "ghost.png,test\n"      # line 4: no such image
              "sub/b.png,train\n"     # line 5: duplicate (the first row wins, even though it disagrees)
              "a.png,train\n"         # line 6: duplicate that agrees: still reported
              ",val\n"                # line 7: empty name
              "a.png\n")              # line 8: wrong field count


def _problems(report):
    return [(p.record, p.kind, p.kept) for p in report.problems]


def _split(project):
    return dict(zip(project.images["file_name"], project.images["split"].where(project.images["split"].notna(), None)))


def _detection(tmp_path, splits):
    root, labels, _ = write_coco_inputs(tmp_path)
    return import_project(tmp_path / "det", images=root, labels=labels, splits=splits)


def _classification(tmp_path, splits, names=("a.png", "sub/b.png")):
    root = tmp_path / "images"
    for name in names:
        write_image(root / name, 6, 4)
    labels = tmp_path / "labels.csv"
    labels.write_text("image,label\n" + "".join(f"{n},cat\n" for n in names))
    return import_project(tmp_path / "cls", task="classification", images=root, labels=labels, splits=splits)


@pytest.mark.parametrize("importer", [_detection, _classification])
def test_csv_splits_same_rules_for_detection_and_classification(tmp_path, importer):
    csv = tmp_path / "splits.csv"
    csv.write_text(SPLITS_CSV)
    project, report = importer(tmp_path, csv)
    assert _split(project) == {"a.png": "train", "sub/b.png": "val"}
    assert _problems(report) == [("line 8", "bad_row", False), ("line 7", "empty_value", False),
                                 ("line 4", "unknown_file", False), ("line 5", "duplicate", False),
                                 ("line 6", "duplicate", False)]
    messages = {p.record: p.message for p in report.problems}
    assert messages["line 4"] == "file_name 'ghost.png' is not an image of the project"
    assert messages["line 5"] == "image 'sub/b.png' already given on line 3; this row is ignored"
    assert all(p.file == str(csv) for p in report.problems)


@pytest.mark.parametrize("importer", [_detection, _classification])
def test_folder_splits_and_unlisted_images_are_one_flagged_summary(tmp_path, importer):
    project, report = importer(tmp_path, "folders")
    assert _split(project) == {"a.png": None, "sub/b.png": "sub"}
    (p,) = report.problems
    assert (p.file, p.record, p.kind, p.kept) == ("folders", "1 image(s)", "no_split", True)
    assert p.message == "no split given for 1 of 2 images (e.g. a.png); their split is empty"


@pytest.mark.parametrize("importer", [_detection, _classification])
def test_csv_not_listing_an_image_and_other_name_columns(tmp_path, importer):
    csv = tmp_path / "splits.csv"
    csv.write_text("image,split\nsub/b.png,test\n")
    project, report = importer(tmp_path, csv)
    assert _split(project) == {"a.png": None, "sub/b.png": "test"}
    assert _problems(report) == [("1 image(s)", "no_split", True)]


def test_bad_sources_are_user_errors(tmp_path):
    images = pd.DataFrame({"file_name": ["a.png"]})
    with pytest.raises(UserError, match="neither a CSV file 'file_name,split' nor the word 'folders'"):
        assign_splits(images, tmp_path / "nowhere.csv", ProblemReport())
    (tmp_path / "s.csv").write_text("name,split\na.png,train\n")
    with pytest.raises(UserError, match=r"s.csv: missing column file_name; expected file_name,split, got name, split"):
        assign_splits(images, tmp_path / "s.csv", ProblemReport())
    (tmp_path / "t.csv").write_text("file_name,fold\na.png,1\n")
    with pytest.raises(UserError, match=r"t.csv: missing column\(s\) split"):
        assign_splits(images, tmp_path / "t.csv", ProblemReport())


def test_importer_array_and_none():
    images = pd.DataFrame({"file_name": ["a.png", "b.png"], "split": [None, None]})
    report = ProblemReport()
    out = assign_splits(images, np.array(["train", None], dtype=object), report, source_name="data.yaml")
    assert out["split"][0] == "train" and pd.isna(out["split"][1])
    assert _problems(report) == [("1 image(s)", "no_split", True)] and report.problems[0].file == "data.yaml"
    assert assign_splits(images, None, report) is images


def test_one_naming_rule_exact_then_unique_base_then_unique_stem():
    known = ["a.png", "sub/b.png", "x/c.png", "y/c.png", "m/d.png", "e.jpg", "e.png"]
    names = ["a.png", "b.png", "c.png", "x\\c.png", "m/d.jpg", "e", "e.jpg", "nope.png", "sub/b"]
    assert match_names(names, known).tolist() == [0, 1, -1, 2, 4, -1, 5, -1, 1]


def test_segmentation_without_images_matches_a_csv_written_for_the_images(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    for name in ("m1", "m2"):
        Image.fromarray(np.zeros((4, 6), np.uint8)).save(labels / f"{name}.png")
    csv = tmp_path / "splits.csv"
    csv.write_text("file_name,split\nm1.jpg,train\nm2.jpg,val\n")
    project, report = import_project(tmp_path / "seg", task="segmentation", labels=labels, splits=csv, num_classes=2)
    assert _split(project) == {"m1.png": "train", "m2.png": "val"} and report.problems == []
