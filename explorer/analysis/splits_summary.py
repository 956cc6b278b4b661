"""Splits side by side: the task's headline numbers of every split in one table (no Streamlit).

``splits_summary(project, sel)`` evaluates the selection once per split — ``"all"`` first, then the project's
splits in order — with the task's own ``evaluate(project, selection)`` (registry: ``explorer.tasks.get(project
.task)``), the other settings of ``sel`` (classes, thresholds, run, options) unchanged, so a row equals what the
task's summary shows for that split. Only the scalar numbers of the headline are kept (``summary`` nested dicts
are flattened: ``{"summary": {"mIoU": …}}`` gives the column ``mIoU``); lists, tables and the settings that
repeat the selection (``SETTINGS``: thresholds) are left out.

Returns a DataFrame indexed by ``split`` (one row per split, plus ``"all"``), columns in the order the task's
``evaluate`` returns them, NaN where a split lacks a number (e.g. no prediction in that split).
"""
from __future__ import annotations

from dataclasses import replace
from numbers import Number

import numpy as np
import pandas as pd

from explorer.project.selection import Selection

ALL = "all"
#: headline keys that repeat the selection's settings rather than measure the split (the same on every row)
SETTINGS = ("iou_threshold", "confidence_threshold")


def _scalars(values: dict, prefix: str = "") -> dict:
    """The numbers of a headline dict, nested dicts flattened (their own keys kept when they do not collide)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            for k, v in _scalars(value).items():
                out[k if k not in values else f"{key}.{k}"] = v
        elif isinstance(value, bool) or key in SETTINGS:
            continue
        elif isinstance(value, Number) or value is None:
            out[f"{prefix}{key}"] = np.nan if value is None else value
    return out


def split_headlines(project, sel: Selection) -> dict[str, dict]:
    """``{split: task.evaluate(project, sel with that split)}`` for ``"all"`` and every split of the project."""
    from explorer import tasks

    task = tasks.get(project.task)
    names = [ALL, *project.splits]
    return {name: task.evaluate(project, replace(sel, split=None if name == ALL else name)) for name in names}


def splits_summary(project, sel: Selection) -> pd.DataFrame:
    """One row per split (``"all"`` first) of the task's scalar headline numbers (module docstring); the
    ``n_images`` column counts the split's images whatever the task reports."""
    rows = {name: _scalars(headline) for name, headline in split_headlines(project, sel).items()}
    columns: list[str] = []
    for row in rows.values():
        columns += [c for c in row if c not in columns]
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)
    counts = project.images["split"].value_counts()
    table.insert(0, "images", [len(project.images) if n == ALL else int(counts.get(n, 0)) for n in table.index])
    table.index.name = "split"
    return table
