"""Importance and correlation on a real scale project, as the Metrics page computes them, equal the reference of
``test_importance_exact.py`` bit for bit, and their cost per control change. Opt-in (minutes at 100k images):

    EXPLORER_SCALE_PROJECT=/tmp/p100k python3 -m pytest -q -s -p no:cacheprovider tests/analysis/test_importance_scale.py

prints, for each target after each IoU move and a class change, the reference's and today's CPU and wall time
with the 1-minute load average. The project is only read."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorer import tasks
from explorer.analysis.importance import correlation_of_columns, importance_of_columns, outcome_values
from explorer.datametrics.catalog import entries_for
from explorer.project.selection import Selection

ROOT = os.environ.get("EXPLORER_SCALE_PROJECT")
pytestmark = pytest.mark.skipif(not ROOT, reason="set EXPLORER_SCALE_PROJECT to a detection project folder")


def timed(fn):
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c, time.perf_counter() - w


def test_page_inputs_at_scale_equal_the_reference():
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("importance_reference", Path(__file__).with_name(
        "test_importance_exact.py"))
    reference = sys.modules["importance_reference"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    correlation_of_columns_ref, importance_of_columns_ref = (reference.correlation_of_columns_ref,
                                                             reference.importance_of_columns_ref)

    from explorer.analysis.outcomes import metric_frame
    from explorer.datametrics.catalog import names_for
    from explorer.datametrics.tables import load_metrics
    from explorer.project.folder import Project

    project = Project.load(ROOT)
    task = tasks.get(project.task)
    catalog = load_metrics(project).catalog
    cats = sorted(project.categories["category_id"].tolist())
    steps = [Selection(iou_threshold=t) for t in (0.5, 0.6, 0.75)] + [Selection(iou_threshold=0.75,
                                                                                classes=tuple(cats[:5]))]
    for sel in steps:
        for o in task.outcomes:
            metrics = metric_frame(project, o.target)  # the page's names (explorer.ui.outcomes.metric_names)
            names = names_for(catalog, o.target, list(metrics.columns), numeric_of=metrics)
            frame = tuple(e.name for e in entries_for(catalog, o.target, names) if e.level == "F")
            table = task.outcome_table(project, sel, o.target)
            new = outcome_values(table, o.column, tuple(names), groups=True, kept=True)
            imp, imp_cpu, imp_wall = timed(lambda: importance_of_columns(
                new.columns, new.y, rows=new.rows, groups=new.groups, grouped_metrics=frame, kept=True))
            cor, cor_cpu, cor_wall = timed(lambda: correlation_of_columns(
                new.columns, new.y.astype(np.float64), rows=new.rows, kept=True))
            old = outcome_values(table, o.column, tuple(names), groups=True)
            ref_imp, ref_imp_cpu, ref_imp_wall = timed(lambda: importance_of_columns_ref(
                old.columns, old.y, rows=old.rows, groups=old.groups, grouped_metrics=frame))
            ref_cor, ref_cor_cpu, ref_cor_wall = timed(lambda: correlation_of_columns_ref(
                old.columns, old.y.astype(np.float64), rows=old.rows))
            pd.testing.assert_frame_equal(imp, ref_imp, check_exact=True)
            pd.testing.assert_frame_equal(cor, ref_cor, check_exact=True)
            print(f"iou={sel.iou_threshold} classes={'all' if sel.classes is None else len(sel.classes)} "
                  f"{o.target}: {new.n:,} rows, identical | importance ref {ref_imp_cpu:.3f} s cpu "
                  f"({ref_imp_wall:.3f} wall) now {imp_cpu:.3f} ({imp_wall:.3f}) | correlation ref {ref_cor_cpu:.3f} "
                  f"({ref_cor_wall:.3f}) now {cor_cpu:.3f} ({cor_wall:.3f}) | load {os.getloadavg()[0]:.1f}", flush=True)
