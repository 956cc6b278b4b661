"""The Metrics page's sections made ahead in worker threads (``explorer.ui.detection.start`` of each section's
``prefetch``): the values the workers make are the numbers the sections compute afresh (same calls, same core
caches), and the page draws from them."""
from __future__ import annotations

import numpy as np
import pandas as pd

from explorer.analysis import outcomes as core
from explorer.analysis.importance import correlation_of_columns, importance_of_columns, outcome_values
from explorer.analysis.intervals import bootstrap_ap
from explorer.analysis.tide import error_cost, error_cost_from_matcher
from explorer.project.folder import Project
from explorer.ui import detection, error_cost as ec, importance, intervals
from explorer.ui.state import Selection


def test_prefetched_sections_equal_fresh_numbers(detection_project):
    project = Project.load(detection_project)
    cats = tuple(int(c) for c in project.categories["category_id"])
    sel = Selection(project=project, split=None, classes=cats[:2], iou_threshold=0.55, confidence_threshold=0.0,
                    run=project.run)
    boot_calls, cost_calls, imp_calls = intervals.prefetch(sel), ec.prefetch(sel), importance.prefetch(sel)
    assert (len(boot_calls), len(cost_calls), len(imp_calls)) == (1, 1, 2)  # labels and predictions
    futures = detection.start(boot_calls, cost_calls, imp_calls)
    boot, cost, *imps = [f.result(timeout=300) for f in futures]

    m = core.match(project, sel.core)
    fresh = bootstrap_ap(m, classes=sel.core.class_list(), image_ids=sel.image_ids)  # no source: not the kept one
    assert boot.headline() == fresh.headline()
    pd.testing.assert_frame_equal(boot.per_class(), fresh.per_class())

    assert cost is error_cost(project, sel.core) and "_fixed" in cost.__dict__  # the section reads this one
    again = error_cost_from_matcher(core.matcher(project), 0.55, classes=sel.core.class_list(),
                                    image_ids=sel.core.image_ids(project))
    assert cost.delta_ap == again.delta_ap and cost.counts == again.counts

    for (imp, n, n_pos), target, column in zip(imps, ("labels", "predictions"), ("detected", "is_tp")):
        table = detection.analysis_table(sel, target)
        names = list(importance.metric_names(project, target, numeric=True))
        values = outcome_values(table, column, names, groups=True)
        levels = importance.metric_levels(project, target)
        frame = tuple(c for c in names if levels.get(c) == "F")
        expected = importance_of_columns(values.columns, values.y, rows=values.rows, groups=values.groups,
                                         grouped_metrics=frame)  # computed afresh (not kept)
        pd.testing.assert_frame_equal(imp, expected)
        key = (importance._data_key(sel, target), column, tuple(names), "pearson")
        cor = importance._CORRELATIONS[key]  # made by the worker
        fresh_cor = correlation_of_columns(values.columns, values.y.astype(np.float64), rows=values.rows)
        pd.testing.assert_frame_equal(cor, fresh_cor)  # made by the worker (pearson: the radio's default)
        assert (n, n_pos) == (values.n, values.n_positive) and n == int(table[column].notna().sum())
        assert n_pos == int(np.asarray(table[column].fillna(False), bool).sum())


def test_no_importance_prefetch_once_drawn(detection_project, monkeypatch):
    from .apptest import open_page

    at = open_page(monkeypatch, detection_project, "model_metrics.py")
    assert not at.exception
    project = Project.load(detection_project)
    cats = tuple(int(c) for c in project.categories["category_id"])
    shown = Selection(project=project, split=None, classes=cats, iou_threshold=0.5, confidence_threshold=0.0,
                      run=project.run)
    assert importance.prefetch(shown) == []  # the page drew them: nothing left to make ahead
