"""The run selector changes every detection page: what each page shows under run "weaker" differs from what it
shows under "baseline", and the Metrics headline equals the core evaluation of that run."""
from __future__ import annotations

import numpy as np
import pytest

from explorer import tasks
from explorer.analysis.outcomes import match as core_match
from explorer.evaluation import detection_summary
from explorer.project.folder import Project
from explorer.project.selection import Selection

from .apptest import open_page

DETECTION_PAGES = [p.file for p in tasks.get("detection").pages]


def shown(at) -> tuple:
    """Everything the page body shows as numbers or tables (metrics, dataframes, captions, chart data) — the main
    area only: the sidebar's caption counts the run's predictions on every page."""
    main = at.main
    frames = tuple(df.value.to_csv() for df in main.dataframe)
    metrics = tuple((m.label, m.value) for m in main.metric)
    captions = tuple(c.value for c in main.caption)
    charts = tuple(str(getattr(c, "proto", ""))[:20000] for c in main.get("plotly_chart"))
    return frames, metrics, captions, charts


@pytest.mark.parametrize("page", DETECTION_PAGES)
def test_page_follows_the_run(monkeypatch, detection_project, page):
    views = {}
    for run in ("baseline", "weaker"):
        at = open_page(monkeypatch, detection_project, page)
        if at.selectbox(key="run").value != run:
            at.selectbox(key="run").set_value(run).run()
        assert not at.exception, at.exception
        assert at.selectbox(key="run").value == run
        if page == "data_quality.py":  # its default metric is a label (O) metric, the same for every model
            at.selectbox(key="dq_metric").set_value("confidence@P").run()
            assert not at.exception, at.exception
        views[run] = shown(at)
    assert views["baseline"] != views["weaker"], f"{page} shows the same under both runs"


def test_metrics_headline_is_the_selected_runs_evaluation(monkeypatch, detection_project):
    at = open_page(monkeypatch, detection_project, "model_metrics.py")
    at.selectbox(key="run").set_value("weaker").run()
    project = Project.load(detection_project).for_run("weaker")
    expected = detection_summary(core_match(project, Selection(iou_threshold=0.5)))["mAP"]
    headline = next(m for m in at.metric if m.label.startswith("mAP @ IoU"))
    assert headline.value == f"{expected:.4f}"
    baseline = detection_summary(core_match(Project.load(detection_project), Selection()))["mAP"]
    assert not np.isclose(expected, baseline)
