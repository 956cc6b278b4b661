"""YOLO txt labels and predictions: exact pixel boxes, class names, data.yaml splits, and malformed lines."""
from __future__ import annotations

from pathlib import Path

import pytest

from explorer.errors import UserError
from explorer.io import import_project
from io_helpers import only_problem, write_image

DATA_YAML = "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: person\n  1: car\n"


def make_yolo(tmp: Path, *, labels: dict | None = None, preds: dict | None = None, data_yaml: str | None = DATA_YAML) -> Path:
    """A YOLO dataset: images/train/a.jpg (200x100), images/val/b.png (50x40), labels/…, predictions/…."""
    write_image(tmp / "images/train/a.jpg", 200, 100)
    write_image(tmp / "images/val/b.png", 50, 40)
    labels = {"train/a.txt": "0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.2 0.2\n", "val/b.txt": ""} if labels is None else labels
    for rel, text in labels.items():
        (tmp / "labels" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "labels" / rel).write_text(text)
    for rel, text in (preds or {}).items():
        (tmp / "predictions" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "predictions" / rel).write_text(text)
    if data_yaml is not None:
        (tmp / "data.yaml").write_text(data_yaml)
    return tmp


def px(cx, cy, w, h, W, H):
    """The documented conversion, in the same floating-point operations."""
    return [(cx - w / 2) * W, (cy - h / 2) * H, w * W, h * H]


def test_valid_yolo_import_exact_tables(tmp_path):
    d = make_yolo(tmp_path, preds={"a.txt": "1 0.1 0.1 0.2 0.2 0.75\n", "b.txt": "0 0.5 0.5 1 1 0.5\n"})
    project, report = import_project(tmp_path / "p", images=d / "images", labels=d / "labels", predictions=d / "predictions")
    assert report.problems == []
    im = project.images
    assert im["image_id"].tolist() == [1, 2]
    assert im["file_name"].tolist() == ["train/a.jpg", "val/b.png"]
    assert im["width"].tolist() == [200.0, 50.0] and im["height"].tolist() == [100.0, 40.0]
    assert im["split"].tolist() == ["train", "val"]
    assert project.categories["category_id"].tolist() == [0, 1]
    assert project.categories["name"].tolist() == ["person", "car"]
    lab = project.labels
    assert lab["label_id"].tolist() == [1, 2] and lab["image_id"].tolist() == [1, 1]
    assert lab["category_id"].tolist() == [0, 1]
    assert lab[["x", "y", "w", "h"]].to_numpy().tolist() == [px(0.5, 0.5, 0.2, 0.4, 200, 100), px(0.1, 0.1, 0.2, 0.2, 200, 100)]
    assert lab["area"].tolist() == [b[2] * b[3] for b in lab[["x", "y", "w", "h"]].to_numpy().tolist()]
    assert not lab["iscrowd"].any()
    pr = project.predictions
    assert pr["pred_id"].tolist() == [1, 2] and pr["image_id"].tolist() == [1, 2]
    assert pr["category_id"].tolist() == [1, 0] and pr["score"].tolist() == [0.75, 0.5]
    assert pr[["x", "y", "w", "h"]].to_numpy().tolist() == [px(0.1, 0.1, 0.2, 0.2, 200, 100), [0.0, 0.0, 50.0, 40.0]]


def test_classes_txt_and_list_names(tmp_path):
    d = make_yolo(tmp_path, data_yaml=None)
    (d / "labels" / "classes.txt").write_text("person\ncar\n\n")
    project, report = import_project(tmp_path / "p", images=d / "images", labels=d / "labels")
    assert project.categories["name"].tolist() == ["person", "car"]
    assert project.images["split"].isna().all()
    (d / "names.yaml").write_text("names: [a, b, c]\n")
    project, _ = import_project(tmp_path / "q", images=d / "images", labels=d / "labels", classes=str(d / "names.yaml"))
    assert project.categories["name"].tolist() == ["a", "b", "c"]
    assert project.categories["category_id"].tolist() == [0, 1, 2]


def test_no_class_names_flagged(tmp_path):
    d = make_yolo(tmp_path, data_yaml=None)
    project, report = import_project(tmp_path / "p", images=d / "images", labels=d / "labels")
    assert project.categories["name"].tolist() == ["0", "1"]
    assert only_problem(report, "classes").kind == "no_class_names"


def test_image_without_label_file_is_kept_and_reported(tmp_path):
    d = make_yolo(tmp_path, labels={"train/a.txt": "0 0.5 0.5 0.2 0.4\n"})
    project, report = import_project(tmp_path / "p", images=d / "images", labels=d / "labels")
    assert len(project.images) == 2 and len(project.labels) == 1
    p = only_problem(report, "1 image(s)")
    assert p.kept and p.kind == "no_label_file" and "val/b.png" in p.message


def test_stem_matching_when_layout_differs(tmp_path):
    d = make_yolo(tmp_path, labels={"a.txt": "0 0.5 0.5 0.2 0.4\n"})
    project, report = import_project(tmp_path / "p", images=d / "images", labels=d / "labels")
    assert project.labels["image_id"].tolist() == [1]


def test_yolo_needs_images(tmp_path):
    d = make_yolo(tmp_path)
    with pytest.raises(UserError, match="pass --images so sizes can be read"):
        import_project(tmp_path / "p", labels=d / "labels", format="yolo")


LINE_CASES = {
    "wrong_field_count": ("0 0.5 0.5 0.2\n", "expected 5 fields (class cx cy w h), got 4: '0 0.5 0.5 0.2'", "bad_line", False),
    "non_numeric": ("0 0.5 abc 0.2 0.2\n", "non-numeric value 'abc' in '0 0.5 abc 0.2 0.2'", "bad_line", False),
    "class_out_of_range": ("2 0.5 0.5 0.2 0.2\n", "class index 2 is out of range (expected 0..1)", "bad_class", False),
    "class_not_integer": ("0.5 0.5 0.5 0.2 0.2\n", "class index 0.5 is out of range", "bad_class", False),
    "negative_size": ("0 0.5 0.5 -0.2 0.2\n", "has a negative width or height", "bad_bbox", False),
    "nan_coordinate": ("0 nan 0.5 0.2 0.2\n", "must be 4 finite numbers", "bad_bbox", False),
    "entirely_outside": ("0 1.5 0.5 0.2 0.2\n", "lies entirely outside the 200x100 image", "bad_bbox", False),
    "partly_outside": ("0 0.95 0.5 0.2 0.2\n", "extends beyond the 200x100 image", "bbox_outside_image", True),
    "polygon_line": ("0 0.1 0.1 0.2 0.1 0.2 0.2\n", "(segmentation polygons are not supported)", "bad_line", False),
}


@pytest.mark.parametrize("case", list(LINE_CASES))
def test_malformed_label_line(tmp_path, case):
    bad, message, kind, kept = LINE_CASES[case]
    d = make_yolo(tmp_path, labels={"train/a.txt": "0 0.5 0.5 0.2 0.4\n" + bad + "1 0.1 0.1 0.2 0.2\n"})
    project, report = import_project(tmp_path / "p", images=d / "images", labels=d / "labels")
    p = only_problem(report, "line 2")
    assert p.file == str(d / "labels" / "train" / "a.txt")
    assert message in p.message, p.message
    assert (p.kind, p.kept) == (kind, kept)
    assert len(project.labels) == (3 if kept else 2)  # lines 1 and 3 survive
    assert project.labels["category_id"].tolist()[0] == 0 and project.labels["category_id"].tolist()[-1] == 1


PRED_CASES = {
    "missing_confidence": ("0 0.5 0.5 0.2 0.2\n", "expected 6 fields (class cx cy w h conf), got 5", "bad_line", False),
    "nan_confidence": ("0 0.5 0.5 0.2 0.2 nan\n", "score must be a finite number, got nan", "bad_prediction", False),
    "confidence_above_one": ("0 0.5 0.5 0.2 0.2 1.2\n", "score 1.2 is outside [0, 1]", "flagged_prediction", True),
}


@pytest.mark.parametrize("case", list(PRED_CASES))
def test_malformed_prediction_line(tmp_path, case):
    bad, message, kind, kept = PRED_CASES[case]
    d = make_yolo(tmp_path, preds={"train/a.txt": "1 0.1 0.1 0.2 0.2 0.9\n" + bad})
    project, report = import_project(tmp_path / "p", images=d / "images", labels=d / "labels", predictions=d / "predictions")
    p = only_problem(report, "line 2")
    assert p.file == str(d / "predictions" / "train" / "a.txt")
    assert message in p.message and (p.kind, p.kept) == (kind, kept)
    assert project.predictions["score"].tolist()[0] == 0.9
    assert len(project.predictions) == (2 if kept else 1)


def test_prediction_file_without_image(tmp_path):
    d = make_yolo(tmp_path, preds={"train/a.txt": "1 0.1 0.1 0.2 0.2 0.9\n", "train/zzz.txt": "0 0.5 0.5 0.2 0.2 0.5\n"})
    project, report = import_project(tmp_path / "p", images=d / "images", labels=d / "labels", predictions=d / "predictions")
    p = only_problem(report, "file")
    assert p.file == str(d / "predictions" / "train" / "zzz.txt") and p.kind == "unmatched_file"
    assert len(project.predictions) == 1


def test_unreadable_image_rejected_with_reason(tmp_path):
    d = make_yolo(tmp_path)
    (d / "images" / "val" / "b.png").write_bytes(b"")
    project, report = import_project(tmp_path / "p", images=d / "images", labels=d / "labels")
    p = only_problem(report, "val/b.png")
    assert "is unreadable" in p.message and "YOLO's normalised boxes need it" in p.message and not p.kept
    assert project.images["file_name"].tolist() == ["train/a.jpg"] and len(project.labels) == 2


def test_malformed_data_yaml(tmp_path):
    d = make_yolo(tmp_path, data_yaml="names: [a, b\n")
    with pytest.raises(UserError, match=r"data.yaml: malformed YAML at line 2, column 1"):
        import_project(tmp_path / "p", images=d / "images", labels=d / "labels")


@pytest.mark.parametrize("bad", ["1e30", "2147483648", "9223372036854775808"])
def test_huge_class_index_without_class_list_costs_only_its_line(tmp_path, bad):
    d = make_yolo(tmp_path, data_yaml=None,
                  labels={"train/a.txt": f"0 0.5 0.5 0.2 0.4\n{bad} 0.1 0.1 0.2 0.2\n3 0.3 0.3 0.1 0.1\n", "val/b.txt": ""})
    project, report = import_project(tmp_path / "p", images=d / "images", labels=d / "labels")
    assert sorted(project.labels["category_id"].tolist()) == [0, 3]
    assert project.categories["category_id"].tolist() == [0, 3]
    bad_rows = [p for p in report.problems if p.kind == "bad_class"]
    assert [p.record for p in bad_rows] == ["line 2"] and "0..2147483647" in bad_rows[0].message


# ---- data.yaml 'path:' resolved as ultralytics does ------------------------------------------------------------
def _ultralytics_layout(tmp: Path, yaml_text: str, *, yaml_at: str = "configs/data.yaml") -> tuple[Path, Path]:
    """datasets/shapes/{images,labels}/{train,val}/ and a data.yaml elsewhere; returns (dataset, yaml)."""
    ds = tmp / "datasets" / "shapes"
    make_yolo(ds, data_yaml=None)
    y = tmp / yaml_at
    y.parent.mkdir(parents=True, exist_ok=True)
    y.write_text(yaml_text)
    return ds, y


NAMES = "names:\n  0: person\n  1: car\n"


def test_relative_path_is_resolved_from_the_yaml_folder(tmp_path):
    ds, y = _ultralytics_layout(tmp_path, "path: ../datasets/shapes\ntrain: images/train\nval: images/val\n" + NAMES)
    project, report = import_project(tmp_path / "p", images=ds / "images", labels=ds / "labels", classes=str(y))
    assert project.images["split"].tolist() == ["train", "val"]
    assert [p for p in report.problems if p.kind == "missing_split"] == []


def test_absolute_path_and_lists_of_folders(tmp_path):
    ds, y = _ultralytics_layout(tmp_path, f"path: {tmp_path / 'datasets' / 'shapes'}\n"
                                "train: [images/train]\nval: [images/val, images/extra]\n" + NAMES)
    project, report = import_project(tmp_path / "p", images=ds / "images", labels=ds / "labels", classes=str(y))
    assert project.images["split"].tolist() == ["train", "val"]
    (missing,) = [p for p in report.problems if p.kind == "missing_split"]
    assert missing.record == "val[1]" and "'images/extra' not found" in missing.message and not missing.kept


def test_roboflow_dotdot_entries_retry_without_the_prefix(tmp_path):
    """Roboflow's export: data.yaml at the dataset root with ``train: ../train/images`` (ultralytics retries
    ``train/images`` when ``../train/images`` does not exist)."""
    write_image(tmp_path / "ds/train/images/a.jpg", 200, 100)
    write_image(tmp_path / "ds/valid/images/b.png", 50, 40)
    (tmp_path / "ds/train/labels").mkdir(parents=True)
    (tmp_path / "ds/train/labels/a.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    (tmp_path / "ds/data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 2\nnames: ['a', 'b']\n")
    project, report = import_project(tmp_path / "p", images=tmp_path / "ds", labels=tmp_path / "ds/train/labels",
                                     classes=str(tmp_path / "ds/data.yaml"))
    assert dict(zip(project.images["file_name"], project.images["split"])) == {
        "train/images/a.jpg": "train", "valid/images/b.png": "val"}


def test_txt_list_files_relative_to_the_list(tmp_path):
    ds, y = _ultralytics_layout(tmp_path, "path: ../datasets/shapes\ntrain: train.txt\nval: val.txt\n" + NAMES)
    (ds / "train.txt").write_text("./images/train/a.jpg\n")
    (ds / "val.txt").write_text(f"{ds / 'images/val/b.png'}\n")
    project, _ = import_project(tmp_path / "p", images=ds / "images", labels=ds / "labels", classes=str(y))
    assert project.images["split"].tolist() == ["train", "val"]


def test_missing_path_falls_back_to_the_yaml_folder_and_says_so(tmp_path):
    d = make_yolo(tmp_path, data_yaml="path: /content/datasets/gone\ntrain: images/train\nval: images/val\n" + NAMES)
    project, report = import_project(tmp_path / "p", images=d / "images", labels=d / "labels")
    assert project.images["split"].tolist() == ["train", "val"]
    (p,) = [p for p in report.problems if p.kind == "missing_split"]
    assert p.record == "path" and "'/content/datasets/gone' not found" in p.message


def test_a_split_that_cannot_be_found_stops_the_import(tmp_path):
    d = make_yolo(tmp_path, data_yaml="path: .\ntrain: images/train\nval: images/valid\n" + NAMES)
    with pytest.raises(UserError, match=r"lists the split\(s\) val but none of their images could be used: .*"
                                        r"val entry 'images/valid' not found.*Nothing was written"):
        import_project(tmp_path / "p", images=d / "images", labels=d / "labels")
    assert not (tmp_path / "p").exists()


def test_a_split_outside_the_image_folder_assigns_nothing_and_stops(tmp_path):
    """Outside-root rule: 'path:' only labels images found under --images; a split folder elsewhere is refused."""
    ds, y = _ultralytics_layout(tmp_path, "path: ../datasets/shapes\ntrain: images/train\nval: images/val\n" + NAMES)
    write_image(tmp_path / "other/images/val/b.png", 50, 40)
    with pytest.raises(UserError, match=r"split\(s\) val .*is outside the image folder"):
        import_project(tmp_path / "p", images=ds / "images" / "train", labels=ds / "labels", classes=str(y))


def test_cli_exits_non_zero_on_an_unusable_split(tmp_path, capsys):
    from explorer.cli import main

    d = make_yolo(tmp_path, data_yaml="train: images/train\nval: images/nope\n" + NAMES)
    code = main(["import", "--images", str(d / "images"), "--labels", str(d / "labels"), "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and "lists the split(s) val" in err and err.count("\n") == 1
