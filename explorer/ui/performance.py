"""Data of the Performance by Metric page: which metrics can be bucketed, and the cached per-bucket tables.

A metric is offered at each of its levels: an (O) metric over labels (TPR/FNR), a (P) metric over predictions
(precision/FDR), an (F) metric over both (the frame value joined to every label and prediction of the image).
For an (F) metric both sides share one set of bucket edges (computed from the labels' and predictions' values
together) so a bucket means the same images on both charts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer.analysis import Buckets, bucketize, overall_performance, performance_by_metric
from explorer.ui import detection

LEVEL_TARGETS = {"O": ("labels",), "P": ("predictions",), "F": ("labels", "predictions")}


@dataclass(frozen=True)
class MetricOption:
    """One metric at one level, e.g. ``relative_area`` at ``O`` shown as "Object area – relative (O)"."""

    name: str
    level: str
    display_name: str

    @property
    def targets(self) -> tuple[str, ...]:
        return LEVEL_TARGETS[self.level]


def metric_options(project) -> list[MetricOption]:
    """Every catalogued (metric, level) with a column in the table(s) it is bucketed over, catalogue order."""
    catalog = detection.metric_catalog(project)
    if catalog is None:
        return []
    columns = {t: set(detection.metrics_for_target(project, t).columns) for t in ("labels", "predictions")}
    out = []
    for row in catalog.itertuples(index=False):
        level = str(row.level)
        if level not in LEVEL_TARGETS:
            continue
        if all(str(row.name) in columns[t] for t in LEVEL_TARGETS[level]):
            out.append(MetricOption(str(row.name), level, f"{row.title} ({level})"))
    return out


@dataclass(frozen=True)
class BucketResult:
    """Per-bucket rates of one target: ``perf`` (per bucket, or per class and bucket), ``overall`` (the dashed
    averages over the rows that have a value), the ``buckets`` and the row ``ids`` they index."""

    target: str
    perf: pd.DataFrame
    overall: pd.DataFrame
    buckets: Buckets
    ids: np.ndarray


@st.cache_resource(show_spinner=False, max_entries=64)
def _bucket_results(k: detection.Key, name: str, level: str, n_buckets: int, method: str,
                    per_class: bool) -> dict[str, BucketResult]:
    tables = {t: detection.analysis_table(k, t) for t in LEVEL_TARGETS[level]}
    values = {t: tables[t][name].to_numpy(np.float64) for t in tables}
    shared = bucketize(np.concatenate(list(values.values())), n_buckets=n_buckets, method=method)
    out = {}
    for target, table in tables.items():
        b = bucketize(values[target], edges=shared.edges) if np.isfinite(shared.edges).all() and shared.edges[0] < shared.edges[-1] \
            else bucketize(values[target], n_buckets=n_buckets, method=method)
        outcome = table[detection.TARGET_OUTCOME[target]].to_numpy(bool)
        groups = table["category_id"].to_numpy() if per_class else None
        has = b.index >= 0
        out[target] = BucketResult(
            target=target,
            perf=performance_by_metric(outcome=outcome, buckets=b, kind=target, groups=groups),
            overall=overall_performance(outcome[has], kind=target, groups=None if groups is None else groups[has]),
            buckets=b,
            ids=table.index.to_numpy(),
        )
    return out


def bucket_results(sel, option: MetricOption, *, n_buckets: int, method: str, per_class: bool) -> dict[str, BucketResult]:
    """Per-target ``BucketResult`` of the selection for one metric, cached by selection key and options."""
    return _bucket_results(detection.key_of(sel), option.name, option.level, int(n_buckets), method, bool(per_class))


def bucket_ids(result: BucketResult, bucket: int) -> list[int]:
    """Ids (label_id or pred_id) of the rows in one bucket."""
    return result.ids[result.buckets.index == bucket].astype(int).tolist()


# ---- other tasks: items with a yes/no outcome from the task's UI module ---------------------------------------------
def task_inputs(sel) -> list[dict]:
    """``explorer.ui.<task>.importance_inputs(sel)`` (the Metric Importance page's inputs), or [] when absent."""
    import importlib

    try:
        module = importlib.import_module(f"explorer.ui.{sel.project.task}")
    except ModuleNotFoundError:
        return []
    provider = getattr(module, "importance_inputs", None)
    return list(provider(sel)) if provider is not None else []


def item_metric_names(item: dict) -> dict[str, str]:
    """``{column: "Title (L)"}`` of an input's metrics (its catalogue is a mapping or the catalogue DataFrame)."""
    catalogue = item["catalogue"]
    if isinstance(catalogue, dict):
        return {c: catalogue[c] for c in item["metrics"].columns if c in catalogue}
    return detection.display_names(catalogue, list(item["metrics"].columns), item.get("level") or "F")


@st.cache_resource(show_spinner=False, max_entries=32)
def _item_buckets(cache_key: tuple, column: str, n_buckets: int, method: str, _item: dict) -> BucketResult:
    values = _item["metrics"][column].to_numpy(np.float64)
    outcome = np.asarray(_item["outcome"]).astype(bool)
    b = bucketize(values, n_buckets=n_buckets, method=method)
    has = b.index >= 0
    return BucketResult(target="items", perf=performance_by_metric(outcome=outcome, buckets=b, kind="items"),
                        overall=overall_performance(outcome[has], kind="items"), buckets=b,
                        ids=_item["metrics"].index.to_numpy())


def item_buckets(item: dict, column: str, *, n_buckets: int, method: str) -> BucketResult:
    """Per-bucket share of items with Y true for one metric of a task input, cached by the input's cache key."""
    return _item_buckets(tuple(item["cache_key"]), column, int(n_buckets), method, item)
