"""Pascal VOC XML: exact converted boxes, difficult/truncated columns, predictions, malformed files and objects."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorer.errors import UserError
from explorer.io import import_project
from io_helpers import only_problem, write_image


def voc_xml(filename: str | None, width, height, objects: list[str]) -> str:
    fn = f"<filename>{filename}</filename>" if filename is not None else ""
    return (f"<annotation>{fn}<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
            + "".join(objects) + "</annotation>")


def obj(name="dog", box=(1, 2, 10, 20), difficult=None, truncated=None) -> str:
    extra = "".join(f"<{t}>{v}</{t}>" for t, v in (("difficult", difficult), ("truncated", truncated)) if v is not None)
    b = "".join(f"<{t}>{v}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
    return f"<object><name>{name}</name>{extra}<bndbox>{b}</bndbox></object>"


def make_voc(tmp: Path, extra_files: dict | None = None, *, images=True) -> Path:
    ann = tmp / "Annotations"
    ann.mkdir(parents=True)
    (ann / "img1.xml").write_text(voc_xml("img1.jpg", 40, 30, [obj("dog", (1, 2, 10, 20), difficult=1), obj("cat", (5, 5, 40, 30), truncated=1)]))
    (ann / "img2.xml").write_text(voc_xml("img2.jpg", 50, 20, [obj("cat", (11, 1, 20, 5))]))
    for name, text in (extra_files or {}).items():
        (ann / name).write_text(text)
    if images:
        write_image(tmp / "JPEGImages" / "img1.jpg", 40, 30)
        write_image(tmp / "JPEGImages" / "img2.jpg", 50, 20)
    return tmp


def test_valid_voc_import_exact_tables(tmp_path):
    d = make_voc(tmp_path)
    project, report = import_project(tmp_path / "p", images=d / "JPEGImages", labels=d / "Annotations")
    assert report.problems == []
    assert project.manifest["sources"]["format"] == "voc"
    assert project.images["file_name"].tolist() == ["img1.jpg", "img2.jpg"]
    assert project.images["image_id"].tolist() == [1, 2]
    assert project.images["width"].tolist() == [40.0, 50.0] and project.images["height"].tolist() == [30.0, 20.0]
    assert project.categories["name"].tolist() == ["cat", "dog"] and project.categories["category_id"].tolist() == [0, 1]
    lab = project.labels
    assert lab["label_id"].tolist() == [1, 2, 3] and lab["image_id"].tolist() == [1, 1, 2]
    assert lab["category_id"].tolist() == [1, 0, 0]
    # x = xmin - 1, y = ymin - 1, w = xmax - xmin + 1, h = ymax - ymin + 1
    assert lab[["x", "y", "w", "h"]].to_numpy().tolist() == [[0, 1, 10, 19], [4, 4, 36, 26], [10, 0, 10, 5]]
    assert lab["area"].tolist() == [190.0, 936.0, 50.0]
    assert lab["difficult"].tolist() == [True, False, False]
    assert lab["truncated"].tolist() == [False, True, False]


def test_voc_without_images_and_with_class_list(tmp_path):
    d = make_voc(tmp_path, images=False)
    (d / "classes.txt").write_text("dog\ncat\nbird\n")
    project, report = import_project(tmp_path / "p", labels=d / "Annotations", classes=str(d / "classes.txt"))
    assert report.problems == [] and project.images_root is None
    assert project.categories["name"].tolist() == ["dog", "cat", "bird"]
    assert project.labels["category_id"].tolist() == [0, 1, 1]


def test_voc_predictions_as_coco_results_by_file_name_and_class_name(tmp_path):
    d = make_voc(tmp_path)
    results = [{"image_id": "img2.jpg", "category_id": "cat", "bbox": [10, 0, 10, 5], "score": 0.7},
               {"image_id": "img1", "category_id": 1, "bbox": [0, 1, 10, 19], "score": 0.6},
               {"image_id": "nope.jpg", "category_id": 1, "bbox": [0, 1, 10, 19], "score": 0.6}]
    (d / "dets.json").write_text(json.dumps(results))
    project, report = import_project(tmp_path / "p", images=d / "JPEGImages", labels=d / "Annotations", predictions=d / "dets.json")
    pr = project.predictions
    assert pr["pred_id"].tolist() == [1, 2] and pr["image_id"].tolist() == [2, 1] and pr["category_id"].tolist() == [0, 1]
    p = only_problem(report, "results[2]")
    assert "'image_id' 'nope.jpg' (str) is not an image id or a file name in the image set" == p.message


def test_voc_predictions_as_yolo_txt(tmp_path):
    d = make_voc(tmp_path)
    (d / "dets").mkdir()
    (d / "dets" / "img1.txt").write_text("0 0.5 0.5 0.5 0.5 0.8\n")
    project, report = import_project(tmp_path / "p", images=d / "JPEGImages", labels=d / "Annotations", predictions=d / "dets")
    assert report.problems == []
    pr = project.predictions
    assert pr["image_id"].tolist() == [1] and pr["category_id"].tolist() == [0] and pr["score"].tolist() == [0.8]
    assert pr[["x", "y", "w", "h"]].to_numpy().tolist() == [[10.0, 7.5, 20.0, 15.0]]


XML_CASES = {
    "malformed_xml": ("bad.xml", "<annotation><filename>x.jpg</filename>\n<size></annotation>", "file",
                      "malformed XML at line 2, column", "malformed_xml"),
    "empty_file": ("empty.xml", "", "file", "is empty", "malformed_xml"),
    "wrong_root": ("root.xml", "<foo/>", "file", "root element must be <annotation>, got <foo>", "malformed_xml"),
    "missing_name": ("n.xml", voc_xml("img1.jpg", 40, 30, ["<object><bndbox><xmin>1</xmin></bndbox></object>"]).replace("img1", "img3"),
                     "object[0]", "missing <name>", "bad_object"),
    "non_numeric_coordinate": ("c.xml", voc_xml("img3.jpg", 40, 30, [obj(box=(1, "a", 3, 4))]), "object[0] ('dog')",
                               "<ymin> must be a number, got 'a'", "bad_object"),
    "missing_bndbox": ("b.xml", voc_xml("img3.jpg", 40, 30, ["<object><name>dog</name></object>"]), "object[0] ('dog')",
                       "missing <bndbox>", "bad_object"),
    "inverted_box": ("i.xml", voc_xml("img3.jpg", 40, 30, [obj(box=(10, 2, 5, 20))]), "object[0] ('dog')",
                     "has a negative width or height", "bad_bbox"),
    "box_outside": ("o.xml", voc_xml("img3.jpg", 40, 30, [obj(box=(50, 2, 60, 20))]), "object[0] ('dog')",
                    "lies entirely outside the 40x30 image", "bad_bbox"),
    "bad_difficult": ("f.xml", voc_xml("img3.jpg", 40, 30, [obj(difficult="yes")]), "object[0] ('dog')",
                      "<difficult> must be 0 or 1, got 'yes'", "bad_object"),
    "negative_size": ("s.xml", voc_xml("img3.jpg", -40, 30, [obj()]), "file",
                      "size: <width> must be a positive number of at most 2147483647, got -40", "unknown_size"),
    "infinite_size": ("s.xml", voc_xml("img3.jpg", "inf", 30, [obj()]), "file",
                      "size: <width> must be a positive number of at most 2147483647, got inf", "unknown_size"),
    "size_beyond_int32": ("s.xml", voc_xml("img3.jpg", 40, "9223372036854775808", [obj()]), "file",
                          "<height> must be a positive number of at most 2147483647, got 9.22337e+18", "unknown_size"),
    # an element given twice is never resolved silently (find() would take the first)
    "repeated_xmin": ("r.xml", voc_xml("img3.jpg", 40, 30, [obj().replace("</bndbox>", "<xmin>9</xmin></bndbox>")]),
                      "object[0] ('dog')", "<xmin> is given 2 times; which one is meant is ambiguous", "bad_object"),
    "repeated_name": ("r.xml", voc_xml("img3.jpg", 40, 30, [obj().replace("<bndbox>", "<name>cat</name><bndbox>")]),
                      "object[0] ('dog')", "<name> is given 2 times", "bad_object"),
    "repeated_filename": ("r.xml", voc_xml("img3.jpg", 40, 30, [obj()]).replace(
        "<size>", "<filename>img1.jpg</filename><size>"), "file", "<filename> is given 2 times", "malformed_xml"),
    "duplicate_image": ("z.xml", voc_xml("img1.jpg", 40, 30, [obj()]), "file",
                        "describes image 'img1.jpg' already described by", "duplicate_image"),
}


@pytest.mark.parametrize("case", list(XML_CASES))
def test_malformed_voc(tmp_path, case):
    name, text, record, message, kind = XML_CASES[case]
    d = make_voc(tmp_path, {name: text}, images=False)
    project, report = import_project(tmp_path / "p", labels=d / "Annotations")
    p = only_problem(report, record)
    assert p.file == str(d / "Annotations" / name)
    assert message in p.message, p.message
    assert p.kind == kind and not p.kept
    # the two valid files and their three objects survive
    names = dict(zip(project.images["image_id"], project.images["file_name"]))
    assert {"img1.jpg", "img2.jpg"} <= set(names.values())
    assert sorted(names[i] for i in project.labels["image_id"]) == ["img1.jpg", "img1.jpg", "img2.jpg"]


def test_unknown_class_name_with_class_list(tmp_path):
    d = make_voc(tmp_path, images=False)
    project, report = import_project(tmp_path / "p", labels=d / "Annotations", classes=["cat"])
    p = only_problem(report, "object[0] ('dog')")
    assert p.file == str(d / "Annotations" / "img1.xml") and p.message == "unknown class name 'dog' (not in the class list)"
    assert project.labels["category_id"].tolist() == [0, 0]


# ---- devkit ImageSets/Main split lists and comp4 result files ---------------------------------------------------
def _image_sets(d: Path, lists: dict[str, str]) -> Path:
    main = d / "ImageSets" / "Main"
    main.mkdir(parents=True)
    for name, text in lists.items():
        (main / name).write_text(text)
    return main


def test_image_sets_main_lists_are_the_splits(tmp_path):
    d = make_voc(tmp_path)
    # trainval.txt repeats both: train/val win; the per-class list is not a split
    _image_sets(d, {"train.txt": "img1\n", "val.txt": "img2\n", "trainval.txt": "img1\nimg2\n",
                    "dog_train.txt": "img1  1\nimg2 -1\n"})
    project, report = import_project(tmp_path / "p", images=d / "JPEGImages", labels=d / "Annotations")
    assert project.images["split"].tolist() == ["train", "val"]
    assert report.problems == []


def test_image_sets_given_as_splits_folder_and_unknown_ids(tmp_path):
    d = make_voc(tmp_path)
    main = _image_sets(tmp_path / "elsewhere", {"trainval.txt": "img1\n2008_000001\n", "test.txt": "img2\n"})
    project, report = import_project(tmp_path / "p", images=d / "JPEGImages", labels=d / "Annotations", splits=main)
    assert project.images["split"].tolist() == ["trainval", "test"]
    p = only_problem(report, "1 id(s)")
    assert p.kept and p.kind == "unknown_file" and "1 of 2 listed image ids" in p.message and "2008_000001" in p.message


def test_image_sets_folder_matching_nothing_stops(tmp_path):
    d = make_voc(tmp_path)
    main = _image_sets(tmp_path / "other", {"train.txt": "000005\n000007\n"})
    with pytest.raises(UserError, match=r"no listed image id matches an image of the project.*Nothing was written"):
        import_project(tmp_path / "p", images=d / "JPEGImages", labels=d / "Annotations", splits=main)


def test_devkit_result_files_as_predictions(tmp_path):
    d = make_voc(tmp_path)
    res = tmp_path / "results" / "VOC2007" / "Main"
    res.mkdir(parents=True)
    (res / "comp4_det_test_dog.txt").write_text("img1 0.9 1 2 10 20\nimg2 0.25 1.5 1 20.5 5\n")
    (res / "comp4_det_test_cat.txt").write_text("img1 0.5 5 5 40 30\nimg9 0.4 1 1 2 2\nimg2 x 1 1 2 2\n")
    project, report = import_project(tmp_path / "p", images=d / "JPEGImages", labels=d / "Annotations", predictions=res)
    pr = project.predictions
    # files in name order (cat, dog), lines in order; VOC corners -> x = xmin - 1, w = xmax - xmin + 1
    assert pr["category_id"].tolist() == [0, 1, 1] and pr["image_id"].tolist() == [1, 1, 2]
    assert pr["score"].tolist() == [0.5, 0.9, 0.25]
    assert pr[["x", "y", "w", "h"]].to_numpy().tolist() == [[4, 4, 36, 26], [0, 1, 10, 19], [0.5, 0, 20, 5]]
    assert sorted((p.record, p.kind) for p in report.problems) == [("line 2", "unknown_image"), ("line 3", "bad_line")]
    assert all(p.file.endswith("comp4_det_test_cat.txt") for p in report.problems)


def test_devkit_result_file_of_an_unknown_class(tmp_path):
    d = make_voc(tmp_path)
    (tmp_path / "comp3_det_val_horse.txt").write_text("img1 0.9 1 2 10 20\n")
    with pytest.raises(UserError, match=r"nothing of --predictions .*comp3_det_val_horse.txt was kept: 0 predictions "
                                        r"\(1 record\(s\) skipped: 1 unknown_category\).*class 'horse'.*Nothing was written"):
        import_project(tmp_path / "p", images=d / "JPEGImages", labels=d / "Annotations",
                       predictions=tmp_path / "comp3_det_val_horse.txt")


# ---- an import keeping nothing of a requested input stops with a one-paragraph summary --------------------------
def test_predictions_in_an_unsupported_format_keep_nothing_and_exit_non_zero(tmp_path, capsys):
    from explorer.cli import main

    d = make_voc(tmp_path)
    junk = tmp_path / "preds"
    junk.mkdir()
    (junk / "img1.txt").write_text("dog,0.9,1,2,10,20\n")  # a CSV line: not YOLO's 'class cx cy w h conf'
    code = main(["import", "--images", str(d / "JPEGImages"), "--labels", str(d / "Annotations"),
                 "--predictions", str(junk), "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "nothing of --predictions" in err and "0 predictions (1 record(s) skipped: 1 bad_line)" in err
    assert "comp4_det_test_<class>.txt" in err and "Nothing was written" in err
    assert not (tmp_path / "p").exists()


def test_images_folder_matching_no_yolo_label_stops(tmp_path):
    write_image(tmp_path / "imgs/x.jpg", 20, 10)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels/a.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    (tmp_path / "labels/classes.txt").write_text("dog\n")
    with pytest.raises(UserError, match=r"nothing of --labels .* was kept: 0 labels \(1 record\(s\) skipped: "
                                        r"1 unmatched_file\).*not under --images .*imgs.*Nothing was written"):
        import_project(tmp_path / "p", images=tmp_path / "imgs", labels=tmp_path / "labels")
    assert not (tmp_path / "p").exists()
