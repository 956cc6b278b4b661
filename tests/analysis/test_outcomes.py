"""The outcome tables (explorer.analysis.outcomes): exact rows and columns on a hand-made project, and the proof
that the numbers a page shows and the exported tables hold come from the same rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer import tasks
from explorer.analysis import bucketize, overall_performance, performance_by_metric
from explorer.analysis.outcomes import detection_outcomes, rated
from explorer.export.tables import export_tables, metric_tables
from explorer.project.folder import Project
from explorer.project.selection import Selection


def _boxes(rows):
    return {k: [r[i] for r in rows] for i, k in enumerate("xywh")}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, explorer_home) -> Project:
    """3 images (1, 2 val; 3 train), classes a=1, b=2. Image 1: label 1 (a) found by prediction 1, a crowd label 2
    (a) hit by prediction 2; image 2: label 3 (b), a wrong-class prediction 3 (a) on it and prediction 4 (b)
    scoring 0.1; image 3: label 4 (a), prediction 5 (a) far away."""
    root = tmp_path_factory.mktemp("tiny")
    images = pd.DataFrame({"image_id": [1, 2, 3], "file_name": ["1.png", "2.png", "3.png"],
                           "width": [100, 100, 100], "height": [100, 100, 100], "split": ["val", "val", "train"]})
    cats = pd.DataFrame({"category_id": [1, 2], "name": ["a", "b"], "supercategory": ""})
    lb = [(0, 0, 10, 10), (50, 50, 10, 10), (0, 0, 10, 10), (0, 0, 10, 10)]
    labels = pd.DataFrame({"label_id": [1, 2, 3, 4], "image_id": [1, 1, 2, 3], "category_id": [1, 1, 2, 1],
                           **_boxes(lb), "area": [100.0] * 4, "iscrowd": [False, True, False, False],
                           "segmentation": None})
    pb = [(0, 0, 10, 10), (50, 50, 10, 10), (0, 0, 10, 10), (30, 30, 5, 5), (60, 60, 10, 10)]
    preds = pd.DataFrame({"pred_id": [1, 2, 3, 4, 5], "image_id": [1, 1, 2, 2, 3], "category_id": [1, 1, 1, 2, 1],
                          **_boxes(pb), "area": [100.0, 100.0, 100.0, 25.0, 100.0],
                          "score": [0.9, 0.8, 0.7, 0.1, 0.6], "segmentation": None})
    Project.create(root, task="detection", images=images, categories=cats, labels=labels, predictions=preds)
    from explorer.datametrics.engine import compute_metrics

    compute_metrics(root, progress=False)  # no image files: the box and size metrics
    return Project.load(root)


SEL = Selection(split="val", iou_threshold=0.5, confidence_threshold=0.2)


def test_detection_labels_keep_crowd_rows_with_an_undefined_outcome(tiny):
    t = detection_outcomes(tiny, SEL, "labels")
    assert t.index.name == "label_id" and t.index.tolist() == [1, 2, 3]  # split val only
    assert t["detected"].dtype == "boolean" and t["matched_pred_id"].dtype == "Int64"
    assert t["detected"].tolist() == [True, pd.NA, False]  # the crowd label is ignored: no outcome
    assert t["ignored"].tolist() == [False, True, False]
    assert t["matched_pred_id"].tolist() == [1, 2, pd.NA]  # the crowd label records the prediction it absorbed
    np.testing.assert_array_equal(t["iou"].to_numpy(), [1.0, 1.0, np.nan])
    assert rated(t, "detected").index.tolist() == [1, 3] and t["detected"].mean() == 0.5  # TPR over defined rows


def test_detection_predictions_below_the_threshold_are_not_in_the_selection(tiny):
    t = detection_outcomes(tiny, SEL, "predictions")
    assert t.index.name == "pred_id" and t.index.tolist() == [1, 2, 3]  # 4 scores 0.1 < 0.2; 5 is train
    assert t["is_tp"].tolist() == [True, pd.NA, False]
    assert t["ignored"].tolist() == [False, True, False]
    assert t["matched_label_id"].tolist() == [1, 2, pd.NA]
    assert t["fp_reason"].tolist()[2] == "wrong_class" and t["fp_reason"].isna().tolist()[:2] == [True, True]
    assert t["score"].tolist() == [0.9, 0.8, 0.7]  # the project's row comes along


def test_detection_images_count_the_selected_classes_without_ignored_rows(tiny):
    t = detection_outcomes(tiny, SEL, "images")
    assert t.index.tolist() == [1, 2]
    assert t[["n_labels", "n_detected", "n_predictions", "n_tp"]].to_numpy().tolist() == [[1, 1, 1, 1], [1, 0, 1, 0]]
    b = detection_outcomes(tiny, Selection(split="val", classes=(2,), confidence_threshold=0.2), "images")
    assert b[["n_labels", "n_detected", "n_predictions", "n_tp"]].to_numpy().tolist() == [[0, 0, 0, 0], [1, 0, 0, 0]]
    assert detection_outcomes(tiny, Selection(classes=(2,)), "labels").index.tolist() == [3]


def test_every_data_metric_is_joined_own_level_then_frame(tiny):
    from explorer.datametrics.tables import load_metrics

    m = load_metrics(tiny)
    t = detection_outcomes(tiny, SEL, "labels")
    own, frame = list(m.labels.columns), list(m.frame.columns)
    assert own and frame
    assert list(t.columns[12:]) == own + frame  # outcome columns first, then O, then F metrics
    pd.testing.assert_frame_equal(t[own], m.labels.loc[[1, 2, 3], own], check_names=False)
    image_of = t["image_id"].to_numpy()
    np.testing.assert_array_equal(t["image_area"].to_numpy(), m.frame.loc[image_of, "image_area"].to_numpy())
    p = detection_outcomes(tiny, SEL, "predictions")
    np.testing.assert_array_equal(p["confidence"].to_numpy(), [0.9, 0.8, 0.7])


def test_export_writes_the_outcome_tables(tiny, tmp_path):
    export_tables(tiny, tmp_path, split="val", confidence_threshold=0.2)
    for target in ("images", "labels", "predictions"):
        core = detection_outcomes(tiny, SEL, target)
        parquet = pd.read_parquet(tmp_path / f"{target}.parquet").set_index(core.index.name)
        if "fp_reason" in core:  # categorical in memory (NaN / reason), read back as str
            assert isinstance(core["fp_reason"].dtype, pd.CategoricalDtype)
            core = core.astype({"fp_reason": object}).astype({"fp_reason": "str"})
        pd.testing.assert_frame_equal(parquet, core, check_dtype=False)
        csv = pd.read_csv(tmp_path / f"{target}.csv")
        assert csv[core.index.name].tolist() == core.index.tolist()
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert labels["detected"].isna().tolist() == [False, True, False]  # undefined is empty, not 0 or -1
    assert labels["matched_pred_id"].isna().tolist() == [False, False, True]


def test_a_run_without_predictions_has_no_outcome(tiny, tmp_path):
    empty = Project.create(tmp_path / "p", task="detection", images=tiny.images, categories=tiny.categories,
                           labels=tiny.labels)
    t = detection_outcomes(empty, Selection(), "labels")
    assert t["detected"].isna().all() and t["ignored"].tolist() == [False, True, False, False]
    assert len(detection_outcomes(empty, Selection(), "predictions")) == 0


# ---- the page's numbers and the export's rows are the same -----------------------------------------------------
def ui_selection(project: Project, core: Selection):
    from explorer.ui.state import Selection as UISelection

    classes = core.classes if core.classes is not None else tuple(project.categories["category_id"].tolist())
    return UISelection(project=project, split=core.split, classes=tuple(classes), iou_threshold=core.iou_threshold,
                       confidence_threshold=core.confidence_threshold, run=project.run, options=core.options)


@pytest.mark.parametrize("name, level", [("relative_area", "O"), ("relative_area", "P"), ("brightness", "F")])
def test_performance_by_metric_from_the_page_equals_the_export(detection_project, tmp_path, name, level):
    """The Performance by Metric page's bucket tables (explorer.ui.performance, what the page draws) equal the
    ones computed from the exported Parquet tables of the same selection, and their rows are the same."""
    from explorer.ui import performance

    project = Project.load(detection_project)
    ids = {n: c for c, n in project.category_names.items()}
    core = Selection(split="val", classes=(ids["circle"], ids["triangle"]), iou_threshold=0.6,
                     confidence_threshold=0.3)
    sel = ui_selection(project, core)
    (entry,) = [e for e in performance.metric_options(project) if e.key == f"{name}@{level}"]
    shown = performance.bucket_results(sel, entry, n_buckets=4, method="quantile", per_class=True)
    assert list(shown) == {"O": ["labels"], "P": ["predictions"], "F": ["labels", "predictions"]}[level]

    export_tables(project, tmp_path, formats=("parquet",), split="val", classes=["circle", "triangle"], iou_threshold=0.6,
                  confidence_threshold=0.3)
    exported = {t: pd.read_parquet(tmp_path / f"{t}.parquet").set_index(tasks.TARGET_ID[t]) for t in shown}
    for o in tasks.get("detection").outcomes:
        if o.target not in shown:
            continue
        rows = exported[o.target][exported[o.target][o.column].notna()]
        result = shown[o.target]
        assert result.ids.tolist() == rows.index.tolist()  # the same rows, in the same order
        values = rows[name].to_numpy(np.float64)
        buckets = bucketize(values, edges=result.buckets.edges)
        np.testing.assert_array_equal(buckets.index, result.buckets.index)
        y = rows[o.column].to_numpy(bool)
        expected = performance_by_metric(outcome=y, buckets=buckets, kind=o.target,
                                         groups=rows["category_id"].to_numpy())
        pd.testing.assert_frame_equal(result.perf, expected)
        has = buckets.index >= 0
        pd.testing.assert_frame_equal(result.overall, overall_performance(
            y[has], kind=o.target, groups=rows["category_id"].to_numpy()[has]))
    if entry.level == "F":  # an F metric shares its edges over labels and predictions
        np.testing.assert_array_equal(shown["labels"].buckets.edges, shown["predictions"].buckets.edges)


@pytest.mark.parametrize("name", ["classification", "segmentation", "regression"])
def test_per_image_tasks_export_their_outcome_table(sample_projects, tmp_path, name):
    project = Project.load(sample_projects[name])
    split = project.splits[-1]
    tables = metric_tables(project, split=split)
    task = tasks.get(project.task)
    (outcome,) = task.outcomes
    core = task.outcome_table(project, Selection(split=split), "images")
    pd.testing.assert_frame_equal(tables["images"].set_index("image_id"), core)
    assert core[outcome.column].dtype == "boolean"
    assert set(core.index) == set(project.images.loc[project.images["split"] == split, "image_id"])
    assert "brightness" in core.columns


def test_each_run_has_its_own_outcome_rows(detection_project):
    project = Project.load(detection_project)
    assert len(project.runs) == 2
    sel = Selection(split="val")
    tables = {run: detection_outcomes(project.for_run(run), sel, "predictions") for run in project.runs}
    for run, table in tables.items():
        preds = project.for_run(run).predictions
        val = project.images.loc[project.images["split"] == "val", "image_id"]
        assert table.index.tolist() == preds.loc[preds["image_id"].isin(val), "pred_id"].tolist()
        assert set(table["run"]) == {run} and table["confidence"].notna().all()  # P metrics of this run's rows
    a, b = (detection_outcomes(project.for_run(run), sel, "labels")["detected"] for run in project.runs)
    assert a.index.equals(b.index) and a.mean() != b.mean()  # same labels, another model's outcome


def test_cache_weight_of_a_table_is_its_shallow_memory_usage():
    """``_nbytes`` (the byte bound of the core caches) of a frame is pandas' ``memory_usage(deep=False)`` total
    for every column kind an outcome table holds (a categorical's categories counted once by nbytes: a few
    hundred bytes apart, whatever the rows)."""
    from explorer.analysis.outcomes import _nbytes
    from explorer.evaluation.matcher import fp_reason_column

    n = 300_000
    frame = pd.DataFrame({"is_tp": pd.arrays.BooleanArray(np.arange(n) % 2 == 0, np.arange(n) % 3 == 0),
                          "matched_label_id": pd.arrays.IntegerArray(np.arange(n), np.arange(n) % 5 == 0),
                          "iou": np.linspace(0, 1, n), "run": pd.array(["a", "b", "a"] * (n // 3), dtype="str"),
                          "n": np.arange(n, dtype=np.int32)}, index=pd.Index(np.arange(n) + 7, name="pred_id"))
    # index 8 + boolean 2 + Int64 9 + float 8 + str 9 (offsets and one character) + int32 4 bytes a row
    assert _nbytes(frame) == int(frame.memory_usage(index=True, deep=False).sum()) == 40 * n
    frame["fp_reason"] = fp_reason_column((np.arange(n) % 5).astype(np.int8))
    assert 0 <= int(frame.memory_usage(index=True, deep=False).sum()) - _nbytes(frame) < 1024
