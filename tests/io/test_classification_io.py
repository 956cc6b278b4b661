"""Classification importer: CSV and folder layouts, named problems for malformed rows, valid rows kept,
and project-level evaluation equal to scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import precision_recall_fscore_support

from explorer.errors import UserError
from explorer.project.folder import Project
from explorer.evaluation import classification
from explorer.io.classification import import_project


def _images(folder, names):
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (6, 4), 128).save(path)
    return folder


def _write(path, text):
    path.write_text(text)
    return path


def test_malformed_rows_are_named_and_valid_rows_kept(tmp_path):
    images = _images(tmp_path / "images", ["a.png", "b.png", "c.png", "d.png"])
    labels = _write(tmp_path / "labels.csv",
                    "image,label\na.png,cat\nb.png,dog\nzzz.png,cat\nc.png,\nb.png,cat\nd.png,dog,extra\nc.png,cat\n")
    preds = _write(tmp_path / "preds.csv",
                   "image,prediction,score_cat,score_dog\n"
                   "a.png,cat,0.9,0.1\n"
                   "b.png,eel,0.5,0.5\n"       # unknown class
                   "c.png,dog,nan,0.7\n"        # NaN score
                   "c.png,cat,0.6,0.4\n"        # first valid row for c.png after the NaN one is skipped
                   "nope.png,cat,0.1,0.9\n"     # unknown image
                   "a.png,dog,0.2,0.8\n")       # duplicate
    project, report = import_project(tmp_path / "p", images=images, labels=labels, predictions=preds)
    problems = {(p.record, p.kind): p.message for p in report.problems}
    assert ("line 4", "unknown_image") in problems and "zzz.png" in problems[("line 4", "unknown_image")]
    assert ("line 5", "empty_value") in problems
    assert problems[("line 6", "duplicate")].startswith("image 'b.png' already given on line 3")
    assert ("line 7", "bad_row") in problems
    assert "unknown class 'eel'" in problems[("line 3", "unknown_class")]
    assert "'score_cat' = 'nan' is not a finite number" in problems[("line 4", "nan_score")]
    assert ("line 6", "unknown_image") in problems and ("line 7", "duplicate") in problems
    assert all(str(tmp_path) in p.file for p in report.problems)
    # kept: labels a, b, c (line 8); predictions a, c (line 5)
    assert len(project.images) == 4 and project.images["width"].tolist() == [6.0] * 4
    names = project.category_names
    labels_kept = {project.images.set_index("image_id").loc[r.image_id, "file_name"]: names[r.category_id]
                   for r in project.labels.itertuples()}
    assert labels_kept == {"a.png": "cat", "b.png": "dog", "c.png": "cat"}
    assert project.predictions["score"].tolist() == [0.9, 0.6]
    assert project.extra["class_scores"]["score"].tolist() == [0.9, 0.1, 0.6, 0.4]
    assert project.manifest["import_summary"]["kept"] == {"images": 4, "labels": 3, "predictions": 2}
    assert (project.root / "import_report.json").is_file()
    # b.png has a label but no prediction: left out of the evaluation and counted
    result = classification.evaluate_project(Project.load(project.root))
    assert result.n_unpredicted == 1 and result.summary["accuracy"] == 1.0


def test_missing_columns_is_a_user_error(tmp_path):
    labels = _write(tmp_path / "labels.csv", "file,label\na.png,cat\n")
    with pytest.raises(UserError, match=r"labels.csv: missing column\(s\) image; expected image, label, got file, label"):
        import_project(tmp_path / "p", labels=labels)
    labels = _write(tmp_path / "ok.csv", "image,label\na.png,cat\n")
    preds = _write(tmp_path / "preds.csv", "image,label\na.png,cat\n")
    with pytest.raises(UserError, match="preds.csv: missing column.*prediction"):
        import_project(tmp_path / "p", labels=labels, predictions=preds)


def test_score_columns_not_covering_classes_are_ignored_not_fatal(tmp_path):
    labels = _write(tmp_path / "labels.csv", "image,label\na,x\nb,y\nc,z\n")
    preds = _write(tmp_path / "preds.csv", "image,prediction,score_x,score_q\na,x,0.9,0.1\nb,x,0.3,0.2\n")
    project, report = import_project(tmp_path / "p", labels=labels, predictions=preds, classes=["x", "y", "z"])
    kinds = {p.kind for p in report.problems}
    assert {"unknown_class", "incomplete_scores"} <= kinds
    assert len(project.predictions) == 2 and project.predictions["score"].isna().all()
    assert "class_scores" not in project.extra
    assert project.images["width"].isna().all()  # no image folder: sizes unknown, evaluation still works


def test_folder_per_class_layout_with_split_folders(tmp_path):
    images = _images(tmp_path / "images", ["train/cat/1.png", "train/dog/2.png", "val/cat/3.png", "val/dog/4.png",
                                           "stray.png"])
    project, report = import_project(tmp_path / "p", images=images, labels="folders", splits="folders")
    assert list(project.category_names.values()) == ["cat", "dog"]
    splits = dict(zip(project.images["file_name"], project.images["split"].where(project.images["split"].notna(), None)))
    assert splits == {"train/cat/1.png": "train", "train/dog/2.png": "train", "val/cat/3.png": "val",
                      "val/dog/4.png": "val", "stray.png": None}
    assert len(project.labels) == 4
    assert {p.kind for p in report.problems} == {"no_label", "no_split"}


def test_project_evaluation_matches_sklearn_with_class_subset(tmp_path):
    rng = np.random.default_rng(3)
    n = 120
    truth = rng.integers(0, 5, n)
    pred = np.where(rng.random(n) < 0.5, truth, rng.integers(0, 5, n))
    split = np.where(rng.random(n) < 0.5, "train", "val")
    names = [f"c{i}" for i in range(5)]
    _write(tmp_path / "labels.csv", "image,label\n" + "".join(f"i{k},{names[t]}\n" for k, t in enumerate(truth)))
    _write(tmp_path / "preds.csv", "image,prediction\n" + "".join(f"i{k},{names[t]}\n" for k, t in enumerate(pred)))
    _write(tmp_path / "splits.csv", "file_name,split\n" + "".join(f"i{k},{s}\n" for k, s in enumerate(split)))
    project, _ = import_project(tmp_path / "p", labels=tmp_path / "labels.csv", predictions=tmp_path / "preds.csv",
                                splits=tmp_path / "splits.csv")
    val_ids = project.images.loc[project.images["split"] == "val", "image_id"]
    subset = [1, 3]
    result = classification.evaluate_project(project, image_ids=val_ids, classes=subset)
    keep = (split == "val") & np.isin(truth, subset)
    # the class filter selects images by true class; the macro means average the selected classes' per-class values
    # over the whole split (every prediction of a class, also on images of unselected classes)
    val = split == "val"
    ref = precision_recall_fscore_support(truth[val], pred[val], labels=subset, average="macro", zero_division=np.nan)
    assert abs(result.summary["macro_f1"] - ref[2]) <= 1e-12
    assert abs(result.summary["macro_precision"] - ref[0]) <= 1e-12
    assert result.summary["accuracy"] == np.mean(truth[keep] == pred[keep])
    out = classification.outcomes(project, image_ids=val_ids, classes=subset)
    assert len(out) == keep.sum() and out["correct"].sum() == (truth[keep] == pred[keep]).sum()
