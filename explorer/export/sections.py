"""JSON shaping shared by the tasks' export sections (``Task.export_section`` in ``explorer/tasks/<task>.py``).

``table`` (DataFrame -> records), ``matrix`` (confusion matrix -> counts + row-normalised) and ``distribution``
(summary statistics + histogram) return plain Python values; ``explorer.export.all_metrics.to_jsonable``
finishes them (NumPy scalars, NaN -> null).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def table(df: pd.DataFrame | None) -> list[dict] | None:
    """A DataFrame as records (index kept as columns when it is named)."""
    if df is None:
        return None
    if any(name is not None for name in df.index.names):
        df = df.reset_index()
    return df.to_dict(orient="records")


def matrix(counts, names, *, row_name: str = "true", column_name: str = "predicted") -> dict:
    """A confusion matrix as ``{"classes": [...], "counts": [[...]], "normalized": [[...]]}`` (rows = true).

    ``normalized`` divides each row by its total; a row with no samples is null (undefined), not 0.
    """
    counts = np.asarray(counts)
    totals = counts.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.where(totals > 0, counts / totals, np.nan)
    return {"rows": row_name, "columns": column_name, "classes": [str(n) for n in names],
            "counts": counts.tolist(), "normalized": normalized.tolist()}


def distribution(values: np.ndarray, *, value_range=(0.0, 1.0)) -> dict:
    """Summary statistics and a 20-bin histogram of ``values`` (NaN = missing, counted apart)."""
    from explorer.analysis.stats import histogram, summarize

    h = histogram(values, bins=20, value_range=value_range)
    return {**summarize(values).as_dict(), "histogram": {"edges": np.asarray(h.edges).tolist(),
                                                         "counts": np.asarray(h.counts).tolist()}}


# ---- what Metric Importance and Performance by Metric show, for any task's outcomes --------------------------
#: the pages' defaults: Performance by Metric's bucket count and method, the importance's random state (baseline)
N_BUCKETS, BUCKET_METHOD, RANDOM_STATE = 10, "quantile", 0
CORRELATION_METHODS = ("pearson", "spearman")


def metric_columns(project, target: str, table: pd.DataFrame, catalog) -> dict[str, str]:
    """``{column: "Title (L)"}`` of the numeric data metrics of ``target`` present in ``table`` (the page's
    ``metric_names`` over the metric table, restricted to the outcome table's columns)."""
    from explorer.datametrics.catalog import names_for
    from explorer.datametrics.tables import metrics_for

    frame = metrics_for(project, target)
    names = names_for(catalog, target, list(frame.columns), numeric_of=frame)
    return {c: n for c, n in names.items() if c in table.columns}


def importance_section(table: pd.DataFrame, outcome, names: dict[str, str], frame_metrics: list[str],
                       *, max_samples: int | None = None) -> dict:
    """Importance and both correlations of the ``names`` columns of ``table`` (rows with a defined outcome)
    against ``outcome.column`` — the numbers of the Metric Importance page (``explorer.ui.importance``: rows of
    one image sharing a frame (F) value count as one unit for label/prediction rows)."""
    from explorer.analysis import DEFAULT_MAX_SAMPLES, metric_correlation, metric_importance

    X = table[list(names)]
    y = table[outcome.column].to_numpy(bool)
    per_image = outcome.target != "images"
    imp = metric_importance(X, y, random_state=RANDOM_STATE, max_samples=max_samples or DEFAULT_MAX_SAMPLES,
                            groups=table["image_id"].to_numpy() if per_image else None,
                            grouped_metrics=frame_metrics if per_image else None)
    imp.insert(1, "display_name", imp["metric"].map(names))
    out = {"n_rows": len(y), "n_positive": int(y.sum()), "random_state": RANDOM_STATE, "importance": table_(imp),
           "correlation": {}}
    for method in CORRELATION_METHODS:
        cor = metric_correlation(X, y, method=method)
        cor.insert(1, "display_name", cor["metric"].map(names))
        out["correlation"][method] = table_(cor)
    return out


table_ = table  # the records helper above, under a name the sections below can use beside their own ``table``s


def bucket_tables(values: dict[str, np.ndarray], outcomes: dict[str, np.ndarray], kinds: dict[str, str], *,
                  n_buckets: int = N_BUCKETS, method: str = BUCKET_METHOD, groups: dict | None = None,
                  buckets: dict | None = None) -> dict:
    """Performance by Metric of one metric over one or more targets: ``{target: (perf, overall, buckets)}``.

    ``values[t]``, ``outcomes[t]``: ``(n_t,)`` metric values and yes/no outcomes of target ``t``'s rated rows;
    ``kinds[t]``: its rate family (``explorer.analysis.buckets.KINDS``). Several targets (an (F) metric over
    labels and predictions) share one set of edges, computed from all their values together, so a bucket means
    the same images on every chart — the page's rule (``explorer.ui.performance``; ``buckets``: that
    ``shared_buckets`` of ``values`` when the caller kept it)."""
    from explorer.analysis import overall_performance, performance_by_metric
    from explorer.analysis.buckets import shared_buckets

    if buckets is None:
        buckets = shared_buckets(values, n_buckets=n_buckets, method=method)
    out = {}
    for target in values:
        b = buckets[target]
        y = outcomes[target]
        g = None if groups is None else groups.get(target)
        has = b.index >= 0
        out[target] = (performance_by_metric(outcome=y, buckets=b, kind=kinds[target], groups=g),
                       overall_performance(y[has], kind=kinds[target], groups=None if g is None else g[has]), b)
    return out


def outcome_analyses(project, sel) -> dict:
    """Everything Metric Importance and Performance by Metric show for the selection, for every outcome of the
    task (registry), over the rows whose outcome is defined: per target the outcome, its row counts, FP-reason
    counts (when the table has ``fp_reason``), importance and correlation; per metric the bucket tables (the
    page's defaults ``N_BUCKETS`` quantile buckets, aggregate) with the overall rates and missing values.
    ``{"available": False, …}`` before data metrics are computed."""
    from explorer import tasks
    from explorer.analysis.outcomes import rated
    from explorer.datametrics.catalog import entries, entries_for, level_targets
    from explorer.datametrics.tables import load_metrics

    task = tasks.get(project.task)
    if not task.outcomes:
        return {"available": False, "reason": f"{task.title} projects define no per-item outcome"}
    if not (project.metrics_dir / "catalog.json").is_file():
        return {"available": False, "reason": "data metrics were not computed (run 'explorer metrics PROJECT')"}
    catalog = load_metrics(project).catalog
    tables = {o.target: rated(task.outcome_table(project, sel, o.target), o.column) for o in task.outcomes}
    kinds = {o.target: (o.target if o.target in ("labels", "predictions") else "items") for o in task.outcomes}
    options = {**{k: v for k, v in task.option_defaults.items() if v is not None}, **dict(sel.options)}
    out = {"available": True, "options": options, "outcomes": {}, "performance_by_metric": {
        "n_buckets": N_BUCKETS, "method": BUCKET_METHOD, "metrics": {}}}
    for o in task.outcomes:
        table = tables[o.target]
        names = metric_columns(project, o.target, table, catalog)
        frame = [e.name for e in entries_for(catalog, o.target, names) if e.level == "F"]
        section = {"column": o.column, "title": o.title, "rate": o.rate, "miss_rate": o.miss_rate,
                   "n_rows": len(table), "n_positive": int(table[o.column].to_numpy(bool).sum())}
        if "fp_reason" in table.columns:
            wrong = table.loc[~table[o.column].to_numpy(bool), "fp_reason"]
            section["fp_reasons"] = {str(k): int(v) for k, v in wrong.value_counts(dropna=True).items() if v}
        if names and len(table):
            section.update(importance_section(table, o, names, frame))
        out["outcomes"][o.target] = section
    for entry in entries(catalog):
        targets = [t for t in level_targets(entry.level, task.outcome_targets) if entry.name in tables[t].columns]
        if not targets or any(not pd.api.types.is_numeric_dtype(tables[t][entry.name]) for t in targets):
            continue
        values = {t: tables[t][entry.name].to_numpy(np.float64) for t in targets}
        ys = {t: tables[t][next(o.column for o in task.outcomes if o.target == t)].to_numpy(bool) for t in targets}
        if not sum(len(v) for v in values.values()):
            continue
        result = bucket_tables(values, ys, {t: kinds[t] for t in targets})
        out["performance_by_metric"]["metrics"][entry.name] = {
            "display_name": entry.display_name, "level": entry.level,
            **{t: {"buckets": table_(perf), "overall": table_(overall), "n_missing": b.n_missing}
               for t, (perf, overall, b) in result.items()}}
    return out
