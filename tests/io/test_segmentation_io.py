"""Segmentation importer on real PNG files: good masks kept, every bad one reported by file and reason."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explorer.errors import UserError
from explorer.project.folder import Project
from explorer.evaluation import segmentation as seg
from explorer.io.semantic_masks import import_project

W, H = 8, 6


def _mask(value_rows: int = 2) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[:value_rows, :4] = 1
    m[value_rows:, 4:] = 2
    m[0, 0] = 255
    return m


def _save(path: Path, array: np.ndarray, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)


@pytest.fixture
def folders(tmp_path):
    images, labels, preds = tmp_path / "images", tmp_path / "labels", tmp_path / "predictions"
    for name in ("good", "good2", "small", "rgb", "big_value", "no_pred", "jpeg_label"):
        _save(images / f"{name}.jpg", np.full((H, W, 3), 100, np.uint8))
    _save(labels / "good.png", _mask())
    _save(preds / "good.png", _mask(3))
    _save(labels / "good2.png", _mask())
    _save(preds / "good2.png", np.full((H, W), 9, np.uint8))  # prediction values above num_classes
    _save(labels / "small.png", np.zeros((H - 1, W), np.uint8))  # wrong size
    _save(preds / "small.png", np.zeros((H - 1, W), np.uint8))
    _save(labels / "rgb.png", np.zeros((H, W, 3), np.uint8))  # colour, not class indices
    big = _mask()
    big[2, 2] = 7
    _save(labels / "big_value.png", big)  # value above num_classes
    _save(labels / "no_pred.png", _mask())  # no prediction
    _save(labels / "jpeg_label.jpg", _mask(), quality=95)  # lossy mask
    _save(preds / "orphan.png", _mask())  # no image
    (labels / "classes.txt").write_text("background\ncat\ndog\n")
    return images, labels, preds


def test_malformed_masks_are_named_and_valid_rows_kept(tmp_path, folders):
    images, labels, preds = folders
    project, report = import_project(tmp_path / "proj", images=images, labels=labels, predictions=preds)
    problems = {(Path(p.file).name, p.kind): p.message for p in report.problems}
    assert ("small.png", "wrong_size") in problems and "8x5" in problems[("small.png", "wrong_size")]
    assert ("rgb.png", "not_class_index") in problems and "mode RGB" in problems[("rgb.png", "not_class_index")]
    assert ("big_value.png", "bad_class_index") in problems
    assert "[7]" in problems[("big_value.png", "bad_class_index")] and "num_classes=3" in problems[("big_value.png", "bad_class_index")]
    assert ("good2.png", "bad_class_index") in problems and "prediction" in problems[("good2.png", "bad_class_index")]
    assert ("jpeg_label.jpg", "not_png") in problems
    assert ("orphan.png", "unmatched_prediction") in problems
    missing = [p for p in report.problems if p.kind == "missing_prediction"]
    assert [p.record for p in missing] == ["no_pred.jpg"]
    assert ("jpeg_label.jpg", "missing_label") in problems  # the image itself is kept, unlabelled
    assert len(report.problems) == 9

    # every image is kept; only valid masks are attached
    imgs = project.images.set_index("file_name")
    assert len(imgs) == 7
    assert imgs.loc["good.jpg", "label_mask"] == "good.png" and imgs.loc["good.jpg", "pred_mask"] == "good.png"
    assert imgs.loc["good2.jpg", "label_mask"] == "good2.png" and pd.isna(imgs.loc["good2.jpg", "pred_mask"])
    for name in ("small.jpg", "rgb.jpg", "big_value.jpg", "jpeg_label.jpg"):
        assert pd.isna(imgs.loc[name, "label_mask"])
    assert imgs.loc["no_pred.jpg", "label_mask"] == "no_pred.png"
    assert list(project.category_names.values()) == ["background", "cat", "dog"]
    assert (tmp_path / "proj" / "import_report.json").is_file()
    assert report.kept["label masks"] == 3 and report.kept["prediction masks"] == 1

    # label regions: one row per class present, pixel areas exclude the ignore pixel
    good_id = int(imgs.loc["good.jpg", "image_id"])
    regions = project.labels[project.labels["image_id"] == good_id].set_index("category_id")
    assert regions.loc[0, "area"] == 2 * 4 + (H - 2) * 4 and regions.loc[1, "area"] == 2 * 4 - 1
    assert (regions.loc[2, ["x", "y", "w", "h"]].tolist()) == [4.0, 2.0, 4.0, 4.0]

    # evaluation uses only images with both masks, and equals evaluating the arrays directly
    loaded = Project.load(tmp_path / "proj")
    result = seg.evaluate_project(loaded)
    direct = seg.evaluate_segmentation(_mask(), _mask(3), num_classes=3)
    assert result.n_images == 1
    np.testing.assert_array_equal(result.confusion, direct.confusion)
    out = seg.outcomes(loaded)
    assert out["image_id"].tolist() == [good_id]
    assert abs(out["miou"].iloc[0] - direct.summary["mIoU"]) <= 1e-12


def test_without_images_masks_define_the_images(tmp_path, folders):
    _, labels, preds = folders
    project, report = import_project(tmp_path / "p", labels=labels, predictions=preds, num_classes=3)
    assert project.images_root is None
    assert set(project.images["file_name"]) == {"good.png", "good2.png", "small.png", "rgb.png", "big_value.png",
                                                "no_pred.png"}
    assert seg.evaluate_project(project).n_images == 2  # good + small (same-size label and prediction)


def test_splits_csv_and_unknown_rows(tmp_path, folders):
    images, labels, preds = folders
    splits = tmp_path / "splits.csv"
    splits.write_text("file_name,split\ngood.jpg,train\ngood2.jpg,val\nghost.jpg,test\n")
    project, report = import_project(tmp_path / "p", images=images, labels=labels, predictions=preds, splits=splits)
    assert project.splits == ["train", "val"]
    assert any(p.kind == "unknown_file" and p.record == "line 4" for p in report.problems)


@pytest.mark.parametrize("kwargs, message", [
    ({"labels": None}, "needs labels"),
    ({"labels": "nowhere"}, "not found"),
    ({"num_classes": 5}, "3 class names given but num_classes=5"),
    ({"colour": 1}, "unknown segmentation option"),
])
def test_bad_calls_are_user_errors(tmp_path, folders, kwargs, message):
    _, labels, _ = folders
    options = {"labels": labels, **kwargs}
    with pytest.raises(UserError, match=message):
        import_project(tmp_path / "p", **options)
