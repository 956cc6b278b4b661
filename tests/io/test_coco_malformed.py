"""Malformed COCO inputs: each case names the file, the record and what is wrong, and the valid records survive.

Each case mutates the valid base inputs (2 images, 4 labels, 3 predictions) in one way.
"""
from __future__ import annotations

import json
import math

import numpy as np

import pytest

from explorer.errors import UserError
from explorer.io import import_project
from io_helpers import base_coco, base_results, only_problem, write_coco_inputs


def _ann(coco, k, **changes):
    coco["annotations"][k].update(changes)


def _drop(d, key):
    d.pop(key)


# id: (mutate labels, mutate results, file ("labels"/"predictions"), record, message part, kind, kept?, counts)
# counts = (images, labels, predictions) surviving
CASES = {
    "annotation_missing_image_id": (lambda c: _drop(c["annotations"][1], "image_id"), None, "labels",
                                    "annotations[1] (id=11)", "missing 'image_id'", "bad_annotation", False, (2, 3, 3)),
    "annotation_category_id_wrong_type": (lambda c: _ann(c, 0, category_id="3"), None, "labels",
                                          "annotations[0] (id=10)", "'category_id' must be an integer, got '3' (str)", "bad_annotation", False, (2, 3, 3)),
    "annotation_not_an_object": (lambda c: c["annotations"].insert(2, [1, 2]), None, "labels",
                                 "annotations[2]", "must be a JSON object, got [1, 2] (list)", "wrong_type", False, (2, 4, 3)),
    "bbox_three_numbers": (lambda c: _ann(c, 0, bbox=[1, 2, 3]), None, "labels", "annotations[0] (id=10)",
                           "bbox must be a list of 4 numbers [x, y, width, height], got [1, 2, 3] (list)", "bad_bbox", False, (2, 3, 3)),
    "bbox_not_finite": (lambda c: _ann(c, 0, bbox=[1, float("nan"), 3, 4]), None, "labels", "annotations[0] (id=10)",
                        "bbox [1, nan, 3, 4] must be 4 finite numbers", "bad_bbox", False, (2, 3, 3)),
    "bbox_negative_width": (lambda c: _ann(c, 0, bbox=[1, 2, -3, 4]), None, "labels", "annotations[0] (id=10)",
                            "bbox [1, 2, -3, 4] has a negative width or height", "bad_bbox", False, (2, 3, 3)),
    # pycocotools evaluates a box outside its image like any other box: kept, flagged
    "bbox_entirely_outside": (lambda c: _ann(c, 0, bbox=[41, 2, 3, 4]), None, "labels", "annotations[0] (id=10)",
                              "bbox [41, 2, 3, 4] lies entirely outside the 40x30 image", "bbox_outside_image", True, (2, 4, 3)),
    "bbox_partly_outside_kept": (lambda c: _ann(c, 0, bbox=[35, 2, 10, 4]), None, "labels", "annotations[0] (id=10)",
                                 "bbox [35, 2, 10, 4] extends beyond the 40x30 image", "bbox_outside_image", True, (2, 4, 3)),
    "unknown_category_id": (lambda c: _ann(c, 1, category_id=5), None, "labels", "annotations[1] (id=11)",
                            "unknown category_id 5 (not in 'categories')", "unknown_category", False, (2, 3, 3)),
    "annotation_for_unknown_image": (lambda c: _ann(c, 2, image_id=99), None, "labels", "annotations[2] (id=12)",
                                     "unknown image_id 99 (not in 'images')", "unknown_image", False, (2, 3, 3)),
    "duplicate_annotation_id": (lambda c: _ann(c, 3, id=10), None, "labels", "annotations[3] (id=10)",
                                "duplicate annotation id 10 (first at annotations[0]); this record is skipped", "duplicate_id", False, (2, 3, 3)),
    "duplicate_image_id": (lambda c: c["images"].append({"id": 1, "file_name": "sub/b.png", "width": 50, "height": 20}),
                           None, "labels", "images[2] (id=1)", "duplicate image id 1 (first at images[0]); this record is skipped",
                           "duplicate_id", False, (2, 4, 3)),
    # pycocotools: a negative area is outside every area range (label ignored); iscrowd 2 is truthy (crowd)
    "negative_area": (lambda c: _ann(c, 1, area=-4), None, "labels", "annotations[1] (id=11)",
                      "'area' is -4: outside every area range", "bad_area", True, (2, 4, 3)),
    "area_not_a_number": (lambda c: _ann(c, 1, area="4"), None, "labels", "annotations[1] (id=11)",
                          "'area' must be a number, got '4' (str)", "bad_annotation", False, (2, 3, 3)),
    "iscrowd_2_is_a_crowd": (lambda c: _ann(c, 1, iscrowd=2), None, "labels", "annotations[1] (id=11)",
                             "'iscrowd' is 2: any non-zero value means a crowd region", "iscrowd_value", True, (2, 4, 3)),
    "iscrowd_not_an_integer": (lambda c: _ann(c, 1, iscrowd="yes"), None, "labels", "annotations[1] (id=11)",
                               "'iscrowd' must be 0 or 1, got 'yes' (str)", "bad_annotation", False, (2, 3, 3)),
    # an unusable mask is dropped, the record stays as its box (what a bbox evaluation of the file reads)
    "odd_polygon": (lambda c: _ann(c, 1, segmentation=[[5, 5, 15, 5, 15]]), None, "labels", "annotations[1] (id=11)",
                    "segmentation polygon 0 has 5 coordinates; need an even number, at least 6", "bad_segmentation", True, (2, 4, 3)),
    "uncompressed_rle_wrong_sum": (lambda c: _ann(c, 2, segmentation={"size": [20, 50], "counts": [0, 2, 3]}), None, "labels",
                                   "annotations[2] (id=12)", "uncompressed RLE counts sum to 5, expected height*width = 1000",
                                   "bad_segmentation", True, (2, 4, 3)),
    "rle_size_differs_from_image": (lambda c: _ann(c, 3, segmentation={"size": [30, 40], "counts": "abc"}), None, "labels",
                                    "annotations[3] (id=13)", "RLE segmentation size [30, 40] differs from the image size [20, 50]",
                                    "bad_segmentation", True, (2, 4, 3)),
    "mask_and_box_unusable": (lambda c: _ann(c, 1, segmentation=[[5, 5, 15]], bbox=None), None, "labels", "annotations[1] (id=11)",
                              "missing 'bbox'", "bad_bbox", False, (2, 3, 3)),
    # box evaluation needs no image size: an image without a usable size is kept (flagged)
    "image_negative_width_no_file": (lambda c: c["images"][1].update(width=-50, file_name="gone.png"), None, "labels",
                                     "images[1] (id=2)", "gone.png is missing and 'width' must be a positive number, got -50 (int)",
                                     "unknown_size", True, (2, 4, 3)),
    "image_nan_height_size_from_file": (lambda c: c["images"][1].update(height=float("nan")), None, "labels",
                                        "images[1] (id=2)", "'height' must be a positive number, got nan (float); the image "
                                        "file's size 50x20 is used", "bad_size", True, (2, 4, 3)),
    "category_duplicate_id": (lambda c: c["categories"].append({"id": 3, "name": "again"}), None, "labels",
                              "categories[2] (id=3)", "duplicate category id 3 (first at categories[0])", "duplicate_id", False, (2, 4, 3)),
    "score_nan": (None, lambda r: r[1].update(score=float("nan")), "predictions", "results[1] (pred_id=2)",
                  "score must be a finite number, got nan", "bad_score", False, (2, 4, 2)),
    # pycocotools ranks +inf first: kept, flagged
    "score_inf": (None, lambda r: r[1].update(score=float("inf")), "predictions", "results[1] (pred_id=2)",
                  "score inf is outside [0, 1]", "flagged_prediction", True, (2, 4, 3)),
    "score_missing": (None, lambda r: _drop(r[0], "score"), "predictions", "results[0]", "missing 'score'", "bad_score", False, (2, 4, 2)),
    "score_above_one_kept": (None, lambda r: r[2].update(score=1.5), "predictions", "results[2] (pred_id=3)",
                             "score 1.5 is outside [0, 1]", "flagged_prediction", True, (2, 4, 3)),
    "prediction_unknown_image": (None, lambda r: r[0].update(image_id=42), "predictions", "results[0]",
                                 "unknown image_id 42 (not among the images)", "unknown_image", False, (2, 4, 2)),
    "prediction_unknown_category": (None, lambda r: r[2].update(category_id=4), "predictions", "results[2]",
                                    "unknown category_id 4 (not among the categories)", "unknown_category", False, (2, 4, 2)),
    "prediction_bbox_not_a_list": (None, lambda r: r[1].update(bbox="10,5,20,10"), "predictions", "results[1] (pred_id=2)",
                                   "bbox must be a list of 4 numbers [x, y, width, height], got '10,5,20,10' (str)", "bad_bbox", False, (2, 4, 2)),
    "prediction_box_outside": (None, lambda r: r[1].update(bbox=[10, 25, 5, 5]), "predictions", "results[1] (pred_id=2)",
                               "bbox [10, 25, 5, 5] lies entirely outside the 50x20 image", "flagged_prediction", True, (2, 4, 3)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_record(tmp_path, case):
    mutate_labels, mutate_results, which, record, message, kind, kept, counts = CASES[case]
    coco, results = base_coco(), base_results()
    if mutate_labels:
        mutate_labels(coco)
    if mutate_results:
        mutate_results(results)
    root, labels, preds = write_coco_inputs(tmp_path, coco, results)
    project, report = import_project(tmp_path / "p", images=root, labels=labels, predictions=preds)
    problem = only_problem(report, record)
    assert problem.file == str(labels if which == "labels" else preds)
    assert message in problem.message, problem.message
    assert (problem.kind, problem.kept) == (kind, kept)
    assert (len(project.images), len(project.labels), len(project.predictions)) == counts
    assert str(problem).startswith(f"{problem.file}: {record}: ")
    # the import report on disk lists the same problem
    saved = json.loads((tmp_path / "p" / "import_report.json").read_text())["problems"]
    assert {"file": problem.file, "record": record, "message": problem.message, "kind": kind, "kept": kept} in saved


def test_image_with_unknown_size_kept_for_box_evaluation(tmp_path):
    """pycocotools' box evaluation needs no image size: the image and its annotations are kept (flagged), so the
    project keeps the records ``explorer evaluate`` keeps on the same file."""
    coco = base_coco()
    coco["images"][1].update(width=float("nan"), file_name="gone.png")
    root, labels, preds = write_coco_inputs(tmp_path, coco)
    project, report = import_project(tmp_path / "p", images=root, labels=labels, predictions=preds)
    p = only_problem(report, "images[1] (id=2)")
    assert p.kept and p.kind == "unknown_size"
    assert p.message.endswith("gone.png is missing and 'width' must be a positive number, got nan (float); "
                              "record kept with an unknown size")
    assert project.images["image_id"].tolist() == [1, 2]
    assert np.isnan(project.images["width"].iloc[1])
    assert project.labels["label_id"].tolist() == [10, 11, 12, 13]


def test_missing_image_file_kept_when_size_known(tmp_path):
    coco = base_coco()
    coco["images"][1]["file_name"] = "sub/missing.png"
    root, labels, preds = write_coco_inputs(tmp_path, coco)
    project, report = import_project(tmp_path / "p", images=root, labels=labels, predictions=preds)
    p = only_problem(report, "images[1] (id=2)")
    assert p.kept and p.kind == "image_file"
    assert f"image file {root.resolve() / 'sub/missing.png'} is missing; record kept with the size from the label file" == p.message
    assert len(project.images) == 2 and len(project.labels) == 4
    # the file on disk that the labels do not list is reported, not imported
    unlisted = only_problem(report, "sub/b.png")
    assert unlisted.kind == "image_not_in_labels" and not unlisted.kept


def test_unreadable_image_file(tmp_path):
    root, labels, preds = write_coco_inputs(tmp_path)
    (root / "a.png").write_bytes(b"not an image")
    project, report = import_project(tmp_path / "p", images=root, labels=labels, predictions=preds)
    p = only_problem(report, "images[0] (id=1)")
    assert p.kept and "is unreadable (" in p.message  # the reason is images.py's (decoder-specific)
    assert len(project.images) == 2


def test_image_size_mismatch_flagged(tmp_path):
    coco = base_coco()
    coco["images"][0]["width"] = 41
    root, labels, _ = write_coco_inputs(tmp_path, coco)
    project, report = import_project(tmp_path / "p", images=root, labels=labels)
    p = only_problem(report, "images[0] (id=1)")
    assert p.kept and p.message == "image file is 40x30 but the label file says 41x30; the label file's size is kept"
    assert project.images["width"].tolist() == [41.0, 50.0]


@pytest.mark.parametrize("bad_name", ["../../etc/passwd", "/etc/passwd", "sub/../../outside.png"])
@pytest.mark.parametrize("with_images", [True, False])
def test_file_name_escaping_image_root_rejected(tmp_path, bad_name, with_images):
    coco = base_coco()
    coco["images"][1]["file_name"] = bad_name
    root, labels, preds = write_coco_inputs(tmp_path, coco, images=with_images)
    project, report = import_project(tmp_path / "p", images=root, labels=labels, predictions=preds)
    p = only_problem(report, "images[1] (id=2)")
    assert p.kind == "unsafe_file_name" and not p.kept
    assert repr(bad_name) in p.message and ("outside the image folder" in p.message or "must be relative" in p.message)
    assert project.images["file_name"].tolist() == ["a.png"]
    assert project.labels["label_id"].tolist() == [10, 11]
    assert project.predictions["pred_id"].tolist() == [1]


def test_malformed_json_names_line_and_column(tmp_path):
    labels = tmp_path / "labels.json"
    labels.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(UserError, match=rf"^{labels}: malformed JSON at line 2, column 12: Expecting property name"):
        import_project(tmp_path / "p", labels=labels)
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("which", ["labels", "predictions"])
def test_empty_files(tmp_path, which):
    root, labels, preds = write_coco_inputs(tmp_path)
    (labels if which == "labels" else preds).write_text("  \n")
    with pytest.raises(UserError, match=f"{which} file .* is empty"):
        import_project(tmp_path / "p", images=root, labels=labels, predictions=preds)


def test_empty_results_list_is_flagged_not_fatal(tmp_path):
    root, labels, preds = write_coco_inputs(tmp_path, results=[])
    project, report = import_project(tmp_path / "p", images=root, labels=labels, predictions=preds)
    assert len(project.predictions) == 0 and len(project.labels) == 4
    assert only_problem(report, "results").kind == "no_predictions"


def test_results_file_given_as_labels(tmp_path):
    _, _, preds = write_coco_inputs(tmp_path, images=False)
    with pytest.raises(UserError, match="got a list .this looks like a results file: pass it with --predictions"):
        import_project(tmp_path / "p", labels=preds)


def test_missing_categories_list(tmp_path):
    coco = base_coco()
    del coco["categories"]
    _, labels, _ = write_coco_inputs(tmp_path, coco, images=False)
    with pytest.raises(UserError, match="no 'categories' list"):
        import_project(tmp_path / "p", labels=labels)


def test_nothing_valid_is_a_user_error(tmp_path):
    coco = base_coco()
    for im in coco["images"]:
        im["file_name"] = "/abs/" + im["file_name"]
    _, labels, _ = write_coco_inputs(tmp_path, coco, images=False)
    with pytest.raises(UserError, match="nothing imported: no valid image record"):
        import_project(tmp_path / "p", labels=labels)


def test_many_problems_all_in_report(tmp_path):
    """Nothing is silently dropped: every rejected record appears, and kept + skipped = records in the file."""
    coco = base_coco()
    coco["annotations"] += [{"id": 100 + k, "image_id": 1, "category_id": 3, "bbox": [1, 1, -1, 1], "area": 1}
                            for k in range(30)]
    root, labels, _ = write_coco_inputs(tmp_path, coco)
    project, report = import_project(tmp_path / "p", images=root, labels=labels)
    assert len(project.labels) + len(report.skipped) == len(coco["annotations"]) == 34
    assert report.summary() == {"bad_bbox": 30}
    text = report.format(limit=5)
    assert "skipped 30 record(s): 30 bad_bbox" in text and "... and 25 more" in text
    assert not math.isnan(project.labels["area"].sum())
