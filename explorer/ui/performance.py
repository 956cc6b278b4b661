"""Data of the Performance by Metric page, for any task: which metrics can be bucketed, and the cached per-bucket
rates of the task's outcomes.

The outcomes come from the registry (``explorer.tasks.get(project.task).outcomes``): detection has ``detected``
over labels (TPR/FNR) and ``is_tp`` over predictions (precision/FDR); the per-image tasks one outcome over images
(share with Y true). The rows are the task's outcome table (``explorer.ui.outcomes.outcome_table``) where the
outcome is defined (``explorer.analysis.outcomes.rated``: COCO-ignored rows and images without a prediction
left out).

A metric is offered at each of its levels whose values are in an outcome target's table: an (O) metric over
labels, a (P) metric over predictions, an (F) metric over every target (the frame value joined to each row).
When an (F) metric is bucketed over several targets they share one set of bucket edges (computed from all their
values together) so a bucket means the same images on every chart.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer import tasks
from explorer.analysis import Buckets
from explorer.analysis.buckets import KINDS, RATE_COLUMNS
from explorer.analysis.outcomes import rated
from explorer.export.sections import bucket_tables
from explorer.datametrics.catalog import MetricEntry, entries, level_targets
from explorer.tasks.base import Outcome
from explorer.ui.outcomes import metric_catalog, metrics_for_target, metrics_stamp, outcome_table


def kind_of(target: str) -> str:
    """The rate family of a target (``explorer.analysis.buckets.KINDS``): labels, predictions, else items."""
    return target if target in KINDS else "items"


def outcomes(project) -> tuple[Outcome, ...]:
    """The task's outcome definitions (registry)."""
    return tasks.get(project.task).outcomes


def targets_of(project, entry: MetricEntry) -> tuple[str, ...]:
    """The outcome targets ``entry`` is bucketed over (``level_targets`` among the task's outcome targets)."""
    return level_targets(entry.level, tasks.get(project.task).outcome_targets)


def metric_options(project) -> list[MetricEntry]:
    """Every catalogued (metric, level) with a column in each outcome target's table it is bucketed over, in
    catalogue order ([] before metrics exist or for a task without outcomes)."""
    out = []
    for entry in entries(metric_catalog(project)):
        targets = targets_of(project, entry)
        tables = [metrics_for_target(project, t) for t in targets]
        if targets and all(t is not None and entry.name in t.columns for t in tables):
            out.append(entry)
    return out


@dataclass(frozen=True)
class BucketResult:
    """Per-bucket rates of one outcome: ``perf`` (per bucket, or per class and bucket), ``overall`` (the dashed
    averages over the rows that have a value), the ``buckets`` and the row ``ids`` they index; ``kind`` names the
    rate columns (``explorer.analysis.buckets.RATE_COLUMNS``)."""

    target: str
    outcome: Outcome
    kind: str
    perf: pd.DataFrame
    overall: pd.DataFrame
    buckets: Buckets
    ids: np.ndarray


@st.cache_resource(show_spinner=False, max_entries=4)
def _kept_buckets(path: str, fingerprint: str, stamp: float, split, classes, confidence_threshold: float, name: str,
                  level: str, n_buckets: int, method: str) -> dict:
    """A holder of the last ``shared_buckets`` of one metric over a selection's rows, with the rated row ids it
    was made from (``{"entry": (ids, buckets)}``): the bucketing does not depend on the IoU threshold except
    through which rows are rated (a prediction matched to a crowd label is ignored), so an IoU move with the same
    rated rows reuses it and only counts outcomes per bucket."""
    return {}


def _buckets_of(sel, name: str, level: str, n_buckets: int, method: str, values: dict, ids: dict) -> dict:
    """``shared_buckets(values)``, reused while the rated rows (``ids`` per target) are the ones it was made of."""
    from explorer.analysis.buckets import shared_buckets

    project, core = sel.project, sel.core
    kept = _kept_buckets(str(project.root), project.fingerprint, metrics_stamp(project), core.split, core.classes,
                         core.confidence_threshold, name, level, int(n_buckets), method)
    entry = kept.get("entry")
    if entry is not None and entry[0].keys() == ids.keys() and all(np.array_equal(entry[0][t], ids[t]) for t in ids):
        return entry[1]
    buckets = shared_buckets(values, n_buckets=n_buckets, method=method)
    kept["entry"] = (ids, buckets)  # one assignment: a concurrent session reads the old or the new pair
    return buckets


@st.cache_resource(show_spinner=False, max_entries=16)  # each holds its rows' ids and bucket index (~16 MB per 1M)
def _bucket_results(path: str, fingerprint: str, stamp: float, core, name: str, level: str, n_buckets: int, method: str,
                    per_class: bool, _sel) -> dict[str, BucketResult]:
    project = _sel.project
    task = tasks.get(project.task)
    chosen = [o for o in task.outcomes if o.target in level_targets(level, task.outcome_targets)]
    # only the three columns bucketing reads, then the rows whose outcome is defined (rated): no copy of the
    # table's every metric column
    tables = {}
    for o in chosen:
        table = outcome_table(_sel, o.target)
        columns = [c for c in dict.fromkeys((name, o.column, "category_id")) if c in table.columns]
        tables[o.target] = rated(table[columns], o.column)
    values = {t: tables[t][name].to_numpy(np.float64) for t in tables}
    ys = {o.target: tables[o.target][o.column].to_numpy(bool) for o in chosen}
    groups = ({t: tables[t]["category_id"].to_numpy() for t in tables if "category_id" in tables[t]}
              if per_class else None)
    ids = {t: tables[t].index.to_numpy() for t in tables}
    buckets = _buckets_of(_sel, name, level, n_buckets, method, values, ids)
    # the export's function, so page and JSON bucket alike (shared edges for an F metric over several targets)
    results = bucket_tables(values, ys, {t: kind_of(t) for t in tables}, n_buckets=n_buckets, method=method,
                            groups=groups, buckets=buckets)
    out = {}
    for o in chosen:
        perf, overall, b = results[o.target]
        out[o.target] = BucketResult(target=o.target, outcome=o, kind=kind_of(o.target), perf=perf, overall=overall,
                                     buckets=b, ids=ids[o.target])
    return out


def bucket_results(sel, entry: MetricEntry, *, n_buckets: int, method: str, per_class: bool) -> dict[str, BucketResult]:
    """Per-target ``BucketResult`` of the selection for one metric, cached by selection and options."""
    project = sel.project
    return _bucket_results(str(project.root), project.fingerprint, metrics_stamp(project), sel.core, entry.name, entry.level, int(n_buckets),
                           method, bool(per_class), sel)


def rate_columns(result: BucketResult) -> list[str]:
    """The bucket table's rate columns, each followed by its Wilson 95% bounds: ``rate, rate_lo, rate_hi`` for
    the rate and its complement (``explorer.analysis.buckets``)."""
    return [c for rate in RATE_COLUMNS[result.kind] for c in (rate, f"{rate}_lo", f"{rate}_hi")]


def bucket_ids(result: BucketResult, bucket: int) -> np.ndarray:
    """Ids (image_id, label_id or pred_id) of the rows in one bucket, int64 ``(n,)`` (``.tolist()`` to store)."""
    return result.ids[result.buckets.index == bucket].astype(np.int64)
