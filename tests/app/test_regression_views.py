"""Regression "why and where": the worst-error gallery is in |error| order with true/predicted values, a bucket of
the error-by-metric table opens exactly its images, the target's name, unit and counts are shown, and the
tolerance set on Metric Importance is the one Performance by Metric, the outcome table and the export use."""
from __future__ import annotations

import re

import numpy as np

from explorer.analysis.outcomes import regression_outcomes
from explorer.datametrics.tables import metrics_for
from explorer.evaluation import regression as reg
from explorer.project.folder import Project
from explorer.project.selection import Selection
from explorer.tasks.regression import sidebar_caption, target_info

from .apptest import open_page


def captions(at) -> list[str]:
    """Image captions as text (``plain`` escapes Markdown characters with backslashes)."""
    return [re.sub(r"\\(.)", r"\1", i.caption) for e in at.get("image") for i in e.proto.imgs]


def test_worst_errors_and_bucket_images(monkeypatch, sample_projects):
    root = sample_projects["regression"]
    project = Project.load(root)
    out = reg.outcomes(project)
    files = project.images.set_index("image_id")["file_name"]
    at = open_page(monkeypatch, root, "regression.py")
    assert any(c.value.startswith("Target: **disk radius** in px · 300 image(s) in the selection · 300 with a target")
               for c in at.caption)
    worst = out.sort_values(["abs_error", "image_id"], ascending=[False, True], kind="stable")
    shown = captions(at)
    first = worst.iloc[0]
    assert shown[0] == (f"{files[first.image_id]} · true {first.target:.4g} · predicted {first.prediction:.4g} · "
                        f"|error| {first.abs_error:.4g}")
    assert sorted(c.split(" · ")[0] for c in shown[:8]) == sorted(files.reindex(worst["image_id"].head(8)))

    # bucket 1 of the default metric (brightness, 5 quantile buckets): its images, its size
    bright = metrics_for(project, "images")["brightness"].reindex(out["image_id"]).to_numpy()
    table = reg.error_by_bucket(bright, out["abs_error"].to_numpy(), n_buckets=5)
    key = "reg_bucket_pick.brightness.5"
    at.selectbox(key=key).set_value(4).run()
    assert not at.exception, at.exception
    inside = table.attrs["index"] == 4
    assert at.number_input(key="reg_bucket_gallery:page").max == -(-int(inside.sum()) // 8)
    bucket = [c for c in captions(at) if "· Brightness (F) " in c]
    assert bucket and all(float(c.rsplit(" ", 1)[1]) >= table["lo"].iloc[4] - 1e-4 for c in bucket)
    top = out[inside].sort_values(["abs_error", "image_id"], ascending=[False, True]).iloc[0]
    assert bucket[0].startswith(f"{files[top.image_id]} · true {top.target:.4g}")


def test_tolerance_is_one_setting_for_every_page(monkeypatch, sample_projects):
    root = sample_projects["regression"]
    project = Project.load(root)
    assert target_info(project) == {"name": "disk radius", "unit": "px"}
    assert sidebar_caption(project) == "regression of disk radius (px) · 300 images · 300 targets · 300 predictions"
    at = open_page(monkeypatch, root, "model_metrics.py")
    median = float(np.median(reg.outcomes(project)["abs_error"]))
    assert at.number_input(key="reg_tolerance").value is None  # empty: the median default
    assert any(c.value.startswith(f"Tolerance in force: {median:.4g} px — 150 of 300") for c in at.caption)
    at.number_input(key="reg_tolerance").set_value(1.0).run()
    n_within = int(regression_outcomes(project, Selection(options={"tolerance": 1.0}))["within_tolerance"].sum())
    assert any(c.value.startswith(f"Tolerance in force: 1 px — {n_within} of 300") for c in at.caption)
    assert any("(tolerance = 1)" in m.value for m in at.markdown)
    at.switch_page("../pages/performance_by_metric.py").run()
    assert not at.exception, at.exception
    assert at.number_input(key="reg_tolerance").value == 1.0
    assert any(c.value.startswith(f"Tolerance in force: 1 px — {n_within} of 300") for c in at.caption)
    at.switch_page("../pages/export.py").run()  # a page without the control keeps it (persisted)
    assert not at.exception, at.exception
    at.switch_page("../pages/regression.py").run()
    at.switch_page("../pages/model_metrics.py").run()
    assert at.number_input(key="reg_tolerance").value == 1.0
