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
