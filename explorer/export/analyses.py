"""The uncertainty, slice and run-comparison parts of a detection split's export section.

``detection_analyses(project, sel, match)`` returns (JSON-ready after ``to_jsonable``)::

    {"intervals": {"headline": {mAP, mAP_lo, mAP_hi, mAR, mAR_lo, mAR_hi, n_resamples, seed, confidence,
                                resampled: "images", n_images},
                   "per_class": [{category_id, ap, ap_lo, ap_hi, ar, ar_lo, ar_hi}, ...]},
     "performance_by_metric": {"labels": {metric: [bucket rows]}, "predictions": {...}} | {"available": false},
     "slices": {"labels": [slice rows], "predictions": [...]} | {"available": false},
     "compare": {"<other run>": comparison} }            # only when the project has two runs or more

* intervals: ``explorer.analysis.intervals.bootstrap_ap`` (200 image resamples, seed 0) at the selection's IoU;
* performance_by_metric: every numeric data metric over labels (TPR) and predictions (precision), 10 quantile
  buckets (``explorer.analysis.buckets.performance_by_metric``: counts, rates, Wilson 95% ``_lo``/``_hi``);
* slices: ``explorer.analysis.slices.weakest_slices`` with its defaults (quartile bins, support ≥ 30, best 25);
* compare: the exported run as A against every other run as B (``explorer.analysis.compare.comparison_json``:
  headline with the paired interval, per class, counts, and the fixed / broken objects).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from explorer.project.selection import Selection

TARGETS = {"labels": "detected", "predictions": "is_tp"}
N_BUCKETS = 10


def _metric_columns(project, target: str, table: pd.DataFrame) -> list[str]:
    """The numeric data-metric columns of an outcome table (the target's own level and the frame metrics)."""
    from explorer.datametrics.tables import metrics_for

    metrics = metrics_for(project, target)
    return [c for c in metrics.columns if c in table.columns and pd.api.types.is_numeric_dtype(table[c])
            and not pd.api.types.is_bool_dtype(table[c])]


def _tables(project, sel: Selection) -> dict[str, tuple[pd.DataFrame, list[str]]] | None:
    from explorer.analysis.outcomes import detection_outcomes, rated

    if not (project.metrics_dir / "catalog.json").is_file():
        return None
    out = {}
    for target, column in TARGETS.items():
        table = rated(detection_outcomes(project, sel, target), column)
        out[target] = (table, _metric_columns(project, target, table))
    return out


def _buckets(tables) -> dict:
    from explorer.analysis.buckets import performance_by_metric

    out = {}
    for target, (table, metrics) in tables.items():
        y = table[TARGETS[target]].to_numpy(bool)
        out[target] = {m: performance_by_metric(table[m].to_numpy(np.float64), y, kind=target, n_buckets=N_BUCKETS)
                       .to_dict(orient="records") for m in metrics}
    return out


def _slices(tables) -> dict:
    from explorer.analysis.slices import weakest_slices

    return {target: weakest_slices(table[metrics], table[TARGETS[target]].to_numpy(bool)).to_dict(orient="records")
            for target, (table, metrics) in tables.items()}


def detection_analyses(project, sel: Selection, match) -> dict:
    """The sections of the module docstring for one selection; ``match`` is the selection's ``MatchResult``."""
    from explorer.analysis.compare import compare_runs, comparison_json
    from explorer.analysis.intervals import bootstrap_ap

    boot = bootstrap_ap(match, classes=sel.class_list(), image_ids=sel.image_ids(project))
    out = {"intervals": {"headline": boot.headline(), "per_class": boot.per_class().to_dict(orient="records")}}
    tables = _tables(project, sel)
    missing = {"available": False, "reason": "data metrics were not computed (run 'explorer metrics PROJECT')"}
    out["performance_by_metric"] = missing if tables is None else _buckets(tables)
    out["slices"] = missing if tables is None else _slices(tables)
    if len(project.runs) >= 2:
        out["compare"] = {other: comparison_json(compare_runs(project, sel, project.run, other))
                          for other in project.runs if other != project.run}
    return out
