"""Segmentation and Export pages driven headlessly with AppTest on the bundled segmentation sample.

The displayed numbers are checked against the engine called directly, and the downloads against the export.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest


from explorer.export.all_metrics import export_all_metrics
from explorer.project.folder import Project
from explorer.evaluation import segmentation as seg

from .apptest import open_page as open_app_page

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "explorer" / "app.py"


@pytest.fixture(scope="module")
def seg_dir(explorer_home) -> Path:
    from explorer.samples import build_sample, list_samples

    (spec,) = [s for s in list_samples() if s["name"] == "segmentation"]
    return build_sample(spec, progress=False)


@pytest.fixture
def open_page(seg_dir, monkeypatch):
    return lambda page: open_app_page(monkeypatch, seg_dir, page, timeout=120)


def exact(at: AppTest, label: str) -> tuple[str, float]:
    (metric,) = [m for m in at.metric if m.label == label]
    return metric.value, float(metric.proto.help.rsplit("exact value ", 1)[1])


def test_segmentation_page_numbers_follow_split_and_classes(open_page, seg_dir):
    project = Project.load(seg_dir)
    at = open_page("segmentation.py")
    reference = seg.evaluate_project(project).summary
    for name in ("aAcc", "mIoU", "mAcc"):
        shown, value = exact(at, name)
        assert value == reference[name] and shown == f"{reference[name]:.4f}"
    assert len(at.get("plotly_chart")) >= 4  # IoU bars, confusion, per-image histogram, by-metric buckets
    overlays = [i.caption for e in at.get("image") for i in e.proto.imgs
                if i.caption in ("label", "prediction") or i.caption.startswith("errors")]
    assert len(overlays) == 3  # label / prediction / error overlays (beside the per-image IoU galleries)

    at.selectbox(key="split").set_value("test")
    at.multiselect(key="classes").set_value(["disc", "triangle"])
    at.selectbox(key="seg_cm_order").set_value("most_confused")
    at.run()
    assert not at.exception, at.exception
    ids = project.images.loc[project.images["split"] == "test", "image_id"]
    ref = seg.evaluate_project(project, image_ids=ids).restricted([1, 3])
    for name in ("aAcc", "mIoU", "mAcc"):
        assert exact(at, name)[1] == ref[name]
    assert exact(at, "mIoU")[1] != reference["mIoU"]
    (table,) = [d.value for d in at.dataframe if "name" in d.value.columns]  # per class (beside the splits table)
    assert list(table["name"]) == ["disc", "triangle"]


def test_export_page_downloads_equal_the_export(open_page, seg_dir):
    at = open_page("export.py")
    buttons = at.get("download_button")
    labels = [b.proto.label for b in buttons]
    assert "Download all metrics (JSON)" in labels and "Download selection (COCO JSON)" in labels
    assert "images table (CSV)" in labels  # built on click: nothing is built while the page renders
    at.button(key="export_preview").click().run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("images: 60 rows") for c in at.caption)
    doc = export_all_metrics(Project.load(seg_dir))
    assert "mIoU" in json.dumps(doc["splits"]["val"]["evaluation"]["summary"])

    at.selectbox(key="split").set_value("val")
    at.radio(key="export_format").set_value("parquet")
    at.run()
    assert not at.exception, at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "predictions table (PARQUET)" in labels
    at.button(key="export_preview").click().run()
    assert any(c.value.startswith("images: 12 rows") for c in at.caption)


def test_metric_importance_page_uses_per_image_iou(open_page):
    at = open_page("model_metrics.py")
    from explorer.tasks.segmentation import DEFAULT_TARGET_IOU

    # Y is the task's outcome (registry) at the target IoU in force (the task's default until the page sets one)
    assert any("Y = “per-image IoU ≥ target” (target_iou = " + f"{DEFAULT_TARGET_IOU:.4g})" in m.value
               for m in at.markdown), [m.value for m in at.markdown]
    assert len(at.get("plotly_chart")) == 2  # importance and correlation bars
