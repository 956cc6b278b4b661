"""No label file or folder makes an importer read a file outside its folder (docs/importing.md, "Files outside a
folder are never read"): real symlinks out of the folder, a symlinked sub-folder, ``..`` and absolute names.

The file outside is always a valid input holding a marker (a 7x3 image, a class name, a metric line "SECRET"), so
a test can tell from the project or the report whether it was read.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from explorer.io import import_project
from explorer.io.images import header_sizes

SECRET_SIZE = (7, 3)


def _png(path: Path, size=(6, 4), value=128, mode="L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)
    return path


def _outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    _png(out / "secret.png", SECRET_SIZE)
    return out


def _problems(report, kind="unsafe_file_name") -> list:
    return [p for p in report.problems if p.kind == kind]


def test_classification_does_not_read_an_image_linked_from_outside(tmp_path):
    outside = _outside(tmp_path)
    images = tmp_path / "images"
    _png(images / "a.png")
    (images / "link.png").symlink_to(outside / "secret.png")
    (tmp_path / "labels.csv").write_text("image,label\na.png,cat\nlink.png,dog\n")
    project, report = import_project(tmp_path / "p", task="classification", images=images,
                                     labels=tmp_path / "labels.csv")
    assert project.images["file_name"].tolist() == ["a.png"]
    assert project.images[["width", "height"]].to_numpy().tolist() == [[6.0, 4.0]]
    (p,) = _problems(report)
    assert p.record == "link.png" and "points outside the image folder" in p.message
    assert not any("7x3" in str(q) for q in report.problems)  # its header was never read


def test_regression_does_not_read_an_image_linked_from_outside(tmp_path):
    outside = _outside(tmp_path)
    images = tmp_path / "images"
    _png(images / "a.png")
    (images / "link.png").symlink_to(outside / "secret.png")
    (tmp_path / "targets.csv").write_text("image,target,prediction\na.png,1.5,1.0\nlink.png,2.0,2.0\n")
    project, report = import_project(tmp_path / "p", task="regression", images=images,
                                     labels=tmp_path / "targets.csv")
    assert project.images["file_name"].tolist() == ["a.png"]
    assert [p.record for p in _problems(report)] == ["link.png"]


def test_a_symlinked_image_subfolder_is_neither_scanned_nor_read(tmp_path):
    outside = _outside(tmp_path)
    images = tmp_path / "images"
    _png(images / "a.png")
    (images / "sub").symlink_to(outside, target_is_directory=True)
    coco = {"images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "sub/secret.png"},
                       {"id": 3, "file_name": "../outside/secret.png"},
                       {"id": 4, "file_name": str(outside / "secret.png")}],
            "categories": [{"id": 1, "name": "x"}], "annotations": []}
    (tmp_path / "labels.json").write_text(json.dumps(coco))
    project, report = import_project(tmp_path / "p", images=images, labels=tmp_path / "labels.json")
    assert project.images["file_name"].tolist() == ["a.png"]
    assert len(_problems(report)) == 3
    # the per-image tasks' scan does not follow the folder link either
    (tmp_path / "labels.csv").write_text("image,label\na.png,cat\n")
    project, _ = import_project(tmp_path / "c", task="classification", images=images, labels=tmp_path / "labels.csv")
    assert project.images["file_name"].tolist() == ["a.png"]


def test_header_sizes_refuses_names_outside_the_root(tmp_path):
    outside = _outside(tmp_path)
    images = tmp_path / "images"
    _png(images / "a.png")
    (images / "link.png").symlink_to(outside / "secret.png")
    from explorer.errors import ProblemReport

    report = ProblemReport()
    w, h = header_sizes(images, ["a.png", "link.png", "../outside/secret.png", str(outside / "secret.png")], report)
    assert w[0] == 6 and h[0] == 4 and np.isnan(w[1:]).all() and np.isnan(h[1:]).all()
    assert [p.record for p in report.problems] == ["link.png", "../outside/secret.png", str(outside / "secret.png")]


def test_segmentation_mask_and_classes_linked_from_outside_are_not_read(tmp_path):
    outside = tmp_path / "outside"
    _png(outside / "b.png", (6, 4), 1)
    (outside / "classes.txt").parent.mkdir(parents=True, exist_ok=True)
    (outside / "classes.txt").write_text("SECRET_A\nSECRET_B\n")
    images, labels = tmp_path / "images", tmp_path / "labels"
    _png(images / "a.png", mode="RGB")
    _png(images / "b.png", mode="RGB")
    _png(labels / "a.png", (6, 4), 0)
    (labels / "b.png").symlink_to(outside / "b.png")
    (labels / "classes.txt").symlink_to(outside / "classes.txt")
    project, report = import_project(tmp_path / "p", task="segmentation", images=images, labels=labels,
                                     num_classes=2)
    masks = dict(zip(project.images["file_name"], project.images["label_mask"]))
    assert masks["a.png"] == "a.png" and pd.isna(masks["b.png"])
    assert "SECRET_A" not in project.categories["name"].tolist()
    assert sorted(p.record for p in _problems(report)) == ["b.png", "classes.txt"]


def test_mlflow_metric_file_linked_from_outside_is_not_read(tmp_path):
    secret = tmp_path / "outside" / "secret"
    secret.parent.mkdir()
    secret.write_text("SECRET LINE\n")
    metrics = tmp_path / "run" / "metrics"
    metrics.mkdir(parents=True)
    (metrics / "loss").write_text("1000 0.5 0\n2000 0.4 1\n")
    (metrics / "val_loss").symlink_to(secret)
    project, report = import_project(tmp_path / "p", task="training", labels=tmp_path / "run")
    assert "val_loss" not in project.extra["training_log"].columns
    assert [p.record for p in _problems(report)] == ["val_loss"]
    saved = "".join(f.read_text(errors="replace") for f in (tmp_path / "p").rglob("*.json"))
    assert "SECRET" not in saved and not any("SECRET" in str(p) for p in report.problems)


def test_yolo_and_voc_label_files_linked_from_outside_are_not_read(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "b.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (outside / "b.xml").write_text("<annotation><filename>b.png</filename><size><width>6</width><height>4</height>"
                                   "</size><object><name>SECRET</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
                                   "<xmax>3</xmax><ymax>3</ymax></bndbox></object></annotation>")
    images = tmp_path / "images"
    _png(images / "a.png")
    _png(images / "b.png")
    yolo = tmp_path / "yolo"
    yolo.mkdir()
    (yolo / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (yolo / "b.txt").symlink_to(outside / "b.txt")
    project, report = import_project(tmp_path / "py", images=images, labels=yolo, format="yolo", classes=["x"])
    assert project.labels["image_id"].tolist() == [1]  # a.png only
    assert [p.record for p in _problems(report)] == ["b.txt"]
    voc = tmp_path / "voc"
    voc.mkdir()
    (voc / "a.xml").write_text("<annotation><filename>a.png</filename><size><width>6</width><height>4</height>"
                               "</size><object><name>x</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>3</xmax>"
                               "<ymax>3</ymax></bndbox></object></annotation>")
    (voc / "b.xml").symlink_to(outside / "b.xml")
    project, report = import_project(tmp_path / "pv", images=images, labels=voc, format="voc")
    assert project.categories["name"].tolist() == ["x"] and len(project.labels) == 1
    assert [p.record for p in _problems(report)] == ["b.xml"]


def test_the_app_refuses_a_mask_linked_from_outside_and_a_fifo(tmp_path):
    """After the import, a mask replaced by a link out of its folder (or by a FIFO) is refused, never read."""
    import os

    import pytest

    from explorer.errors import UserError
    from explorer.evaluation import segmentation as seg

    outside = tmp_path / "outside"
    _png(outside / "a.png", (6, 4), 1)
    images, labels = tmp_path / "images", tmp_path / "labels"
    _png(images / "a.png", mode="RGB")
    _png(labels / "a.png", (6, 4), 0)
    project, _ = import_project(tmp_path / "p", task="segmentation", images=images, labels=labels, num_classes=2)
    assert seg.read_mask(seg.mask_path(project, "label", "a.png")).tolist() == [[0] * 6] * 4
    (labels / "a.png").unlink()
    (labels / "a.png").symlink_to(outside / "a.png")
    with pytest.raises(UserError, match="points outside the image folder"):
        seg.mask_path(project, "label", "a.png")
    (labels / "a.png").unlink()
    os.mkfifo(labels / "a.png")
    with pytest.raises(UserError, match="not a regular file"):
        seg.read_mask(seg.mask_path(project, "label", "a.png"))
