"""Issue 13's app classes, driven with AppTest: controls stay put (page switches, projects, the URL), no stale
widget (the bucket picker is keyed by its metric), failures first, and a compact control for many classes."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from explorer.analysis import bucketize
from explorer.datametrics.tables import metrics_for
from explorer.evaluation import Matcher
from explorer.project.folder import Project
from explorer.resources import pages_dir
from explorer.ui.state import PROJECTS_ENV

from .apptest import APP, open_page


def _go(at: AppTest, page: str) -> AppTest:
    at.switch_page(os.path.relpath(pages_dir() / page, APP.parent))
    at.run()
    assert not at.exception, at.exception
    return at


def _picker(at: AppTest):
    (picker,) = [s for s in at.selectbox if s.label == "Bucket to inspect"]
    return picker


def test_page_controls_survive_page_switches(monkeypatch, detection_project):
    at = open_page(monkeypatch, detection_project, "performance_by_metric.py")
    at.selectbox(key="pbm_metric").set_value("object_area@O")
    at.number_input(key="pbm_n_buckets").set_value(4)
    at.slider(key="iou_threshold").set_value(0.7)
    at.run()
    _go(at, "confusion_matrix.py")
    at.radio(key="cm:values").set_value("row-normalised").run()
    _go(at, "failures.py")
    at.multiselect(key="failures:outcomes").set_value(["FN (missed)"]).run()
    _go(at, "model_metrics.py")
    for page in ("performance_by_metric.py", "confusion_matrix.py", "failures.py"):
        _go(at, page)
    # back on each page (Streamlit deletes the state of widgets it does not draw: persist.keep keeps it)
    assert at.multiselect(key="failures:outcomes").value == ["FN (missed)"]
    _go(at, "confusion_matrix.py")
    assert at.radio(key="cm:values").value == "row-normalised"
    _go(at, "performance_by_metric.py")
    assert at.selectbox(key="pbm_metric").value == "object_area@O"
    assert at.number_input(key="pbm_n_buckets").value == 4
    assert at.slider(key="iou_threshold").value == 0.7


def test_values_are_kept_per_project(monkeypatch, detection_project, sample_projects):
    other = sample_projects["classification"]
    monkeypatch.setenv(PROJECTS_ENV, os.pathsep.join([str(detection_project), str(other)]))
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()
    _go(at, "performance_by_metric.py")
    at.selectbox(key="pbm_metric").set_value("object_area@O")
    at.slider(key="iou_threshold").set_value(0.65)
    at.run()
    at.selectbox(key="project").set_value(str(other)).run()  # a project without IoU: its own defaults
    assert not at.exception, at.exception
    assert not [s for s in at.slider if s.key == "iou_threshold"]
    at.selectbox(key="project").set_value(str(detection_project)).run()
    _go(at, "performance_by_metric.py")
    assert at.slider(key="iou_threshold").value == 0.65  # (it used to reset to 0.50)
    assert at.selectbox(key="pbm_metric").value == "object_area@O"


def test_a_link_reopens_the_same_view(monkeypatch, detection_project):
    """The sidebar and the page's controls are read from the URL on a session's first run (a reload, a link)."""
    monkeypatch.setenv(PROJECTS_ENV, str(detection_project))
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.query_params["pbm_metric"] = "Object area – absolute (O)"  # the URL holds the shown (formatted) value
    at.query_params["iou_threshold"] = "0.75"
    at.query_params["split"] = "val"
    at.run()
    _go(at, "performance_by_metric.py")
    assert at.slider(key="iou_threshold").value == 0.75
    assert at.selectbox(key="split").value == "val"
    assert at.selectbox(key="pbm_metric").value == "object_area@O"


def test_bucket_picker_never_shows_another_metrics_bucket(monkeypatch, detection_project):
    at = open_page(monkeypatch, detection_project, "performance_by_metric.py")
    at.number_input(key="pbm_n_buckets").set_value(4).run()
    first = _picker(at)
    first.select_index(3).run()
    at.selectbox(key="pbm_metric").set_value("object_area@O").run()
    assert not at.exception, at.exception
    picker = _picker(at)
    assert picker.key == "pbm_bucket.object_area-O.4.quantile" != first.key  # keyed by metric, count, method
    project = Project.load(detection_project)
    labels = Matcher.from_project(project).match(0.5).labels
    labels = labels[~labels["ignored"].to_numpy(bool)]
    values = metrics_for(project, "labels")["object_area"].reindex(labels["label_id"]).to_numpy()
    ranges = bucketize(values, n_buckets=4).labels()
    assert picker.options == [f"{i + 1}: {r}" for i, r in enumerate(ranges)]
    assert picker.value == f"1: {ranges[0]}"  # a new metric starts at its first bucket, never the old one's 4th
    shown = [c.value.replace("\\", "") for c in at.caption]  # captions are Markdown-escaped (explorer.ui.text.plain)
    caption = next(c for c in shown if c.startswith("Object area – absolute (O) in "))
    assert ranges[0] in caption  # the caption and "Open in Failure Explorer" use the bucket shown


def test_failure_explorer_shows_failures_first(monkeypatch, detection_project):
    project = Project.load(detection_project)
    m = Matcher.from_project(project).match(0.5)
    p, lab = m.predictions, m.labels
    tp = p.loc[p["is_tp"] & ~p["ignored"], "pred_id"].to_numpy()[:3]
    fp = p.loc[~p["is_tp"] & ~p["ignored"], "pred_id"].to_numpy()[:3]
    fn = lab.loc[~lab["detected"] & ~lab["ignored"], "label_id"].to_numpy()[:3]
    at = open_page(monkeypatch, detection_project, "model_metrics.py")
    at.session_state["failure_selection"] = {"pred_ids": [*tp.tolist(), *fp.tolist()], "label_ids": fn.tolist(),
                                             "title": "mixed bucket"}
    _go(at, "failures.py")
    in_tree = [img.caption.replace("\\", "") for el in at.get("image") for img in el.proto.imgs]
    # the tree lists the 4-column grid column by column: back to gallery order (tile k is in column k % 4)
    grid = sorted(range(len(in_tree)), key=lambda k: (k % 4, k // 4))
    captions = [None] * len(in_tree)
    for position, k in enumerate(grid):
        captions[k] = in_tree[position]
    outcomes = [c.split(" · ")[0] for c in captions]
    # missed labels (no score: they used to be last), then false detections, then true positives
    assert outcomes == ["FN"] * 3 + ["FP"] * 3 + ["TP"] * 3, captions
    assert all(("near miss" in c or "nothing near" in c) for c in captions[:3])


def _many_classes_project(tmp_path, n_classes: int = 80) -> Project:
    """80 classes, two labels and two predictions each (one hit, one miss per class), no image files."""
    rng = np.random.default_rng(0)
    images = pd.DataFrame({"image_id": np.arange(1, 41), "file_name": [f"{i}.jpg" for i in range(1, 41)],
                           "width": 640.0, "height": 480.0, "split": "val"})
    categories = pd.DataFrame({"category_id": np.arange(1, n_classes + 1),
                               "name": [f"class_{i:02d}" for i in range(1, n_classes + 1)], "supercategory": None})
    cats = np.repeat(np.arange(1, n_classes + 1), 2)
    xy = rng.uniform(0, 400, (len(cats), 2))
    labels = pd.DataFrame({"label_id": np.arange(1, len(cats) + 1), "image_id": rng.integers(1, 41, len(cats)),
                           "category_id": cats, "x": xy[:, 0], "y": xy[:, 1], "w": 50.0, "h": 40.0, "area": 2000.0,
                           "iscrowd": False, "segmentation": None})
    hit = labels.iloc[::2]
    predictions = pd.DataFrame({"pred_id": np.arange(1, len(hit) + 1), "image_id": hit["image_id"].to_numpy(),
                                "category_id": hit["category_id"].to_numpy(), "x": hit["x"].to_numpy(),
                                "y": hit["y"].to_numpy(), "w": 50.0, "h": 40.0, "area": 2000.0,
                                "score": rng.uniform(0.3, 0.99, len(hit)), "segmentation": None})
    return Project.create(tmp_path / "many", task="detection", images=images, categories=categories, labels=labels,
                          predictions=predictions)


def test_eighty_classes_get_a_compact_control_and_grouped_legend(tmp_path, monkeypatch, explorer_home):
    import json

    project = _many_classes_project(tmp_path)
    at = open_page(monkeypatch, project.root, "model_metrics.py")
    assert [e.label for e in at.sidebar.expander if e.label.startswith("Classes")] == ["Classes · all"]
    at.multiselect(key="classes").set_value(["class_01", "class_02", "class_03"]).run()
    assert not at.exception, at.exception
    assert [e.label for e in at.sidebar.expander if e.label.startswith("Classes")] == ["Classes · 3 of 80"]
    at.button(key="classes:all").click().run()
    assert at.multiselect(key="classes").value == []  # empty = every class
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    pr = next(c for c in charts if c["layout"].get("title", {}).get("text") == "Precision–recall curves")
    in_legend = [t["name"] for t in pr["data"] if t.get("showlegend", True)]
    assert len(in_legend) == 13 and in_legend[-1] == "68 other classes"  # top 12 named, the rest grouped
    # best F1 per class, each at its own threshold: every class is perfect at its hit's score (one hit, one miss)
    assert {m.label for m in at.metric} >= {"Best F1 (pooled)", "Precision at best F1", "Recall at best F1"}


def test_data_bounded_sliders_never_hold_a_value_outside_new_bounds(monkeypatch, detection_project):
    """A slider whose bounds come from the data (the Failure Explorer's metric range, Data Quality's range, the
    confusion matrix's class count) keeps its value across reruns, but a class or split change that moves its
    bounds gives a fresh widget, never a kept value below the new minimum (a StreamlitValueBelowMinError)."""
    from explorer import tasks

    names = list(Project.load(detection_project).category_names.values())
    subsets = [names[:1], names[1:2], names[:2], names[-1:]]
    for page in tasks.get("detection").pages:
        at = open_page(monkeypatch, detection_project, page.file)
        assert not at.exception, (page.file, at.exception)
        for subset in subsets:
            at.multiselect(key="classes").set_value(subset).run()
            assert not at.exception, (page.file, subset, at.exception)
