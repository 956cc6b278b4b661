"""The model-quality pages driven headlessly with AppTest on the bundled detection sample.

The displayed numbers are checked against the engine called directly (exact), not only "renders".
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest


from explorer.analysis import bucketize, performance_by_metric
from explorer.project.folder import Project

from .apptest import open_page

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "explorer" / "app.py"
DETECTION_PAGES = ["model_metrics.py", "performance_by_metric.py", "failures.py", "confusion_matrix.py"]


@pytest.fixture
def app(detection_project, monkeypatch):
    """A fresh AppTest session serving only the detection sample."""
    return lambda page: open_page(monkeypatch, detection_project, page)


def headline(at: AppTest, name: str) -> tuple[str, float]:
    """Displayed value and exact value (from the help text) of the headline metric ``name`` ("mAP"/"mAR")."""
    (metric,) = [m for m in at.metric if m.label.startswith(name)]
    return metric.value, float(metric.proto.help.rsplit("exact value ", 1)[1])


def engine_summary(project_dir: Path, iou: float, classes):
    from explorer.evaluation import Matcher, detection_summary

    project = Project.load(project_dir)
    match = Matcher.from_project(project).match(iou)
    return detection_summary(match, classes=classes)


def test_headline_follows_iou_slider_and_class_filter(app, detection_project):
    at = app("model_metrics.py")
    shown, exact = headline(at, "mAP")
    reference = engine_summary(detection_project, 0.50, None)
    assert exact == reference["mAP"] and shown == f"{reference['mAP']:.4f}"

    at.slider(key="iou_threshold").set_value(0.75)
    at.multiselect(key="classes").set_value(["circle", "triangle"])
    at.run()
    assert not at.exception
    names = Project.load(detection_project).category_names
    chosen = sorted(c for c, n in names.items() if n in ("circle", "triangle"))
    reference = engine_summary(detection_project, 0.75, chosen)
    shown, exact = headline(at, "mAP")
    assert exact == reference["mAP"] and shown == f"{reference['mAP']:.4f}"
    assert headline(at, "mAR")[1] == reference["mAR"]
    assert reference["mAP"] != engine_summary(detection_project, 0.75, None)["mAP"]  # the filter matters
    assert [m.label for m in at.metric if m.label.startswith("mAP")] == ["mAP @ IoU 0.75"]


def test_metrics_page_importance_equals_analysis_and_finds_planted_cause(app, detection_project):
    at = app("model_metrics.py")
    text = " ".join(c.value for c in at.caption) + " ".join(m.value for m in at.markdown)
    assert "true positive" in text and "detected" in text
    tables = [d.value for d in at.dataframe if "importance" in d.value.columns]
    assert len(tables) == 2  # the task's outcomes in registry order: labels (Y = detected), predictions (Y = TP)
    shown = tables[0].set_index("display_name")

    from explorer.analysis import metric_importance
    from explorer.evaluation import Matcher
    from explorer.datametrics.catalog import entries_for
    from explorer.datametrics.engine import load_metrics, metrics_for

    project = Project.load(detection_project)
    labels = Matcher.from_project(project).match(0.5).labels
    labels = labels[~labels["ignored"].to_numpy(bool)].set_index("label_id")
    X = metrics_for(project, "labels").reindex(labels.index)
    found = entries_for(load_metrics(project).catalog, "labels", list(X.columns))
    names = {e.name: e.display_name for e in found}
    frame = [e.name for e in found if e.level == "F"]
    expected = metric_importance(X[list(names)], labels["detected"].to_numpy(bool),
                                 groups=labels["image_id"].to_numpy(), grouped_metrics=frame)
    for row in expected.itertuples():
        got = shown.loc[names[row.metric], "importance"]
        assert (np.isnan(got) and np.isnan(row.importance)) or got == row.importance
        assert shown.loc[names[row.metric], "n_samples"] == row.n_samples
        assert shown.loc[names[row.metric], "baseline"] == row.baseline or np.isnan(row.baseline)
    # the sample's misses are planted on object size, brightness and blur (sample_data/detection/make_detection.py);
    # image size, colour balance and object count are drawn independently of detection
    # (the attribution metrics are left out: the sample's maps are drawn from its predictions, sample_data/detection/README.md)
    ranked = [m for m in expected.sort_values("importance", ascending=False, kind="stable")["metric"]
              if not m.startswith("attribution_")]
    assert ranked[0] in ("relative_area", "object_area"), expected.head()
    scores = expected.set_index("metric")["importance"]
    planted = ["relative_area", "object_area", "brightness", "sharpness", "blur_score"]
    noise = ["image_width", "image_height", "image_aspect_ratio", "red_dominance", "green_dominance", "blue_dominance",
             "object_count"]
    assert scores[planted].min() > scores[noise].max(), ranked


@pytest.mark.parametrize("iou", [0.50, 0.75])
@pytest.mark.parametrize("page", DETECTION_PAGES)
def test_every_detection_page_renders(app, page, iou):
    if not (REPO / "pages" / page).is_file():
        pytest.skip(f"pages/{page} is not in this checkout yet")
    at = app(page)
    if iou != 0.50:
        at.slider(key="iou_threshold").set_value(iou)
        at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_performance_by_metric_bucket_counts_and_failure_selection(app, detection_project):
    at = app("performance_by_metric.py")
    assert "Object area – relative (O)" in at.selectbox(key="pbm_metric").options  # shown by display name
    at.selectbox(key="pbm_metric").set_value("relative_area@O")  # chosen by catalogue key, never parsed back
    at.number_input(key="pbm_n_buckets").set_value(4)
    at.run()
    assert not at.exception

    from explorer.evaluation import Matcher
    from explorer.datametrics.engine import metrics_for
    from explorer.export.tables import metric_tables

    project = Project.load(detection_project)
    labels = Matcher.from_project(project).match(0.5).labels
    labels = labels[~labels["ignored"].to_numpy(bool)].set_index("label_id")
    values = metrics_for(project, "labels")["relative_area"].reindex(labels.index).to_numpy()
    buckets = bucketize(values, n_buckets=4)
    expected = performance_by_metric(outcome=labels["detected"].to_numpy(bool), buckets=buckets, kind="labels")
    shown = at.dataframe[0].value
    assert shown["n_labels"].tolist() == expected["n_labels"].tolist()
    assert shown["n_detected"].tolist() == expected["n_detected"].tolist()
    assert np.allclose(shown["true_positive_rate"] + shown["false_negative_rate"], 1.0)
    # the exported labels table of the same selection holds the same rows and gives the same bucket counts
    exported = metric_tables(project)["labels"]
    exported = exported[exported["detected"].notna()]
    again = performance_by_metric(exported["relative_area"].to_numpy(np.float64),
                                  exported["detected"].to_numpy(bool), n_buckets=4, kind="labels")
    assert again[["n_labels", "n_detected"]].equals(shown[["n_labels", "n_detected"]].reset_index(drop=True))

    # the picker is keyed by metric, bucket count and method (never a stale bucket of another metric)
    at.selectbox(key="pbm_bucket.relative_area-O.4.quantile").select_index(0)
    at.button(key="pbm_open_failures").click()
    at.run()
    chosen = at.session_state["failure_selection"]
    assert sorted(chosen["label_ids"]) == sorted(labels.index[buckets.index == 0].tolist())
    assert chosen["pred_ids"] == [] and "relative" in chosen["title"].lower()


def test_performance_by_metric_preview_is_built_only_when_open(app):
    # a collapsed preview draws nothing (no BucketSource, no tiles); opened, it shows the chosen bucket's first page
    import re

    at = app("performance_by_metric.py")
    assert not at.exception and len(at.get("image")) == 0
    sizes = [sum(int(n.replace(",", "")) for n in re.findall(r"([\d,]+) (?:labels|predictions)", c.value))
             for c in at.caption if re.search(r": [\d,]+ labels", c.value)]
    assert len(sizes) == 1 and sizes[0] > 0  # the picker's caption: the chosen bucket's labels
    at.session_state["pbm_preview_open"] = True
    at.run()
    assert not at.exception
    assert len(at.get("image")) == min(8, sizes[0])
