"""The Metrics page's "What each error type costs" section on the detection sample: the numbers shown are the
engine's (``explorer.analysis.tide.error_cost``) for the sidebar's selection, in each view."""
from __future__ import annotations

import pytest

from explorer.analysis.tide import DELTA_KEYS, TITLES, error_cost
from explorer.project.folder import Project
from explorer.project.selection import Selection

from .apptest import open_page


def section_table(at):
    """The overall table of the section (the dataframe with an "error type" column)."""
    (frame,) = [d.value for d in at.dataframe if "error type" in d.value.columns]
    return frame


def test_error_cost_section_shows_the_engine_numbers(detection_project, monkeypatch):
    at = open_page(monkeypatch, detection_project, "model_metrics.py")
    assert "What each error type costs" in [h.value for h in at.subheader]
    project = Project.load(detection_project)
    expected = error_cost(project, Selection(iou_threshold=0.5, run=project.run))
    frame = section_table(at)
    assert frame["error type"].tolist() == [TITLES[k] for k in DELTA_KEYS]
    assert frame["ΔAP"].tolist() == pytest.approx([expected.delta_ap[k] for k in DELTA_KEYS], abs=1e-12)
    assert frame["errors"].tolist() == [expected.counts[k] for k in DELTA_KEYS]

    (view,) = [r for r in at.radio if r.label == "Error cost view"]
    view.set_value("Per class").run()
    assert not at.exception
    (per_class,) = [d.value for d in at.dataframe if "delta_classification" in d.value.columns]
    assert per_class["delta_missed"].tolist() == pytest.approx(expected.per_class["delta_missed"].tolist(), abs=1e-12)
    assert per_class["class"].tolist() == expected.per_class["name"].tolist()

    (view,) = [r for r in at.radio if r.label == "Error cost view"]
    view.set_value("Per metric bucket").run()
    assert not at.exception
    (metric,) = [s for s in at.selectbox if s.label == "Metric"]
    metric.set_value("relative_area").run()
    (buckets,) = [d.value for d in at.dataframe if "n_items" in d.value.columns]
    assert len(buckets) == 5
    # the whole selection's errors fall in some bucket: the per-bucket missed counts add up
    assert buckets["n_missed"].sum() == expected.counts["missed"]
    assert [b.label for b in at.button if b.label == "Open suspected label errors"]
