"""Column schemas of a project's tables: one row per image, per label and per prediction, joined by ids.

Boxes are COCO-style ``x, y, w, h`` in absolute pixels with ``(x, y)`` the top-left corner. ``area`` is the
COCO ``area`` (for labels it may differ from ``w*h``: polygon/mask area; COCO's area ranges use it).
``segmentation`` holds the COCO polygon list or RLE dict serialised as JSON text, or null for box-only rows.
Classification rows carry NaN boxes. Task-specific extra columns are allowed after these.

The predictions table of a project holds every *run* (one named set of predictions, e.g. one model): a ``run``
column (``RUN``, str) follows the ``PREDICTIONS`` columns. Importers build run-less tables; the project adds
the column (``with_run``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

IMAGES = {
    "image_id": "int64",
    "file_name": "object",  # path relative to the project's image root, '/'-separated
    "width": "float64",  # NaN when unknown (no pixels available)
    "height": "float64",
    "split": "object",  # "train" / "val" / "test" / any name, or None
}
CATEGORIES = {"category_id": "int64", "name": "object", "supercategory": "object"}
LABELS = {
    "label_id": "int64",
    "image_id": "int64",
    "category_id": "int64",
    "x": "float64",
    "y": "float64",
    "w": "float64",
    "h": "float64",
    "area": "float64",
    "iscrowd": "bool",
    "segmentation": "object",
}
PREDICTIONS = {
    "pred_id": "int64",
    "image_id": "int64",
    "category_id": "int64",
    "x": "float64",
    "y": "float64",
    "w": "float64",
    "h": "float64",
    "area": "float64",
    "score": "float64",
    "segmentation": "object",
}

#: the predictions table's run column: the name of the prediction set (model) a row belongs to
RUN = "run"
#: the run of predictions imported without a name, and of projects written before runs existed
DEFAULT_RUN = "default"

SCHEMAS = {"images": IMAGES, "categories": CATEGORIES, "labels": LABELS, "predictions": PREDICTIONS}


def empty(table: str) -> pd.DataFrame:
    """An empty table with the right columns and dtypes (an empty set is a normal case)."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in SCHEMAS[table].items()})


def conform(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return ``df`` with the schema's columns first, cast to the schema's dtypes; extra columns are kept.

    Raises ``ValueError`` naming the missing columns (a programming error, not a user error: importers
    validate records before building tables).
    """
    schema = SCHEMAS[table]
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise ValueError(f"{table} table lacks columns {missing}; got {list(df.columns)}")
    out = pd.DataFrame({c: df[c].astype(t) if t != "object" else df[c].astype(object) for c, t in schema.items()})
    for c in df.columns:
        if c not in schema:
            out[c] = df[c].to_numpy()
    out.index = pd.RangeIndex(len(out))
    return out


def with_run(predictions: pd.DataFrame, run: str) -> pd.DataFrame:
    """``conform(predictions, "predictions")`` plus a str ``run`` column right after the schema's columns.

    Rows keep their own ``run`` when the table has that column; otherwise every row gets ``run``.
    """
    out = conform(predictions, "predictions")
    values = out.pop(RUN).astype(str).to_numpy(object) if RUN in out.columns else np.full(len(out), run, dtype=object)
    out.insert(len(PREDICTIONS), RUN, values)
    return out


def boxes_xyxy(df: pd.DataFrame) -> np.ndarray:
    """Boxes of a labels/predictions table as an ``(n, 4)`` float64 array ``x1, y1, x2, y2``."""
    x = df["x"].to_numpy(np.float64)
    y = df["y"].to_numpy(np.float64)
    return np.stack([x, y, x + df["w"].to_numpy(np.float64), y + df["h"].to_numpy(np.float64)], axis=1)
