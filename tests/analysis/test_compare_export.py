"""The export's intervals, bucket rates, slices and compare sections equal the core functions on the same selection."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.project.folder import Project
from explorer.project.selection import Selection


@pytest.fixture(scope="module")
def section(detection_project):
    from explorer.export.analyses import detection_analyses
    from explorer.export.all_metrics import to_jsonable
    from explorer.analysis.outcomes import match

    project = Project.load(detection_project)
    sel = Selection(split="val", iou_threshold=0.5, run=project.run)
    return project, sel, to_jsonable(detection_analyses(project, sel, match(project, sel)))


def test_intervals_and_compare(section):
    from explorer.analysis.compare import compare_runs
    from explorer.analysis.intervals import bootstrap_ap
    from explorer.analysis.outcomes import match

    project, sel, out = section
    b = bootstrap_ap(match(project, sel), image_ids=sel.image_ids(project))
    h = out["intervals"]["headline"]
    assert (h["mAP_lo"], h["mAP_hi"]) == b.interval("map") and h["n_resamples"] == 200 and h["resampled"] == "images"
    assert [r["ap_lo"] for r in out["intervals"]["per_class"]] == b.per_class()["ap_lo"].tolist()
    assert list(out["compare"]) == ["weaker"]
    c = compare_runs(project, sel, "baseline", "weaker")
    doc = out["compare"]["weaker"]
    assert doc["map_delta"] == c.headline["map_delta"] and doc["map_delta_interval"] == c.headline["map_delta_interval"]
    assert doc["counts"] == c.counts() and len(doc["fixed"]) == len(c.fixed) and len(doc["broken"]) == len(c.broken)


def test_buckets_and_slices(section):
    from explorer.analysis.outcomes import detection_outcomes, rated
    from explorer.analysis.slices import weakest_slices

    project, sel, out = section
    labels = rated(detection_outcomes(project, sel, "labels"), "detected")
    rows = out["performance_by_metric"]["labels"]["relative_area"]
    assert sum(r["n_labels"] for r in rows) == int(labels["relative_area"].notna().sum())
    assert all(r["true_positive_rate_lo"] <= r["true_positive_rate"] <= r["true_positive_rate_hi"] for r in rows)
    assert "precision_lo" in out["performance_by_metric"]["predictions"]["confidence"][0]
    metrics = list(out["performance_by_metric"]["labels"])
    expected = weakest_slices(labels[metrics], labels["detected"].to_numpy(bool))
    assert [r["description"] for r in out["slices"]["labels"]] == expected["description"].tolist()
    assert np.allclose([r["gap"] for r in out["slices"]["labels"]], expected["gap"])
