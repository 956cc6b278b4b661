"""Splits side by side: the task's headline numbers for all images and every split in one table, the sidebar's
split marked (UI; the numbers are ``explorer.analysis.splits_summary.splits_summary``, cached).

``show_splits_table(sel, columns={"mIoU": "mIoU", ...})`` draws the rows ``all, train, val, …`` with the chosen
columns (``{column: title}``; None = every number of the task's headline); the other settings of the selection
(classes, thresholds, run, outcome options) are the sidebar's, so each row is what the page shows for that split.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

import pandas as pd
import streamlit as st

from explorer.analysis.outcomes import _remember
from explorer.analysis.splits_summary import ALL, splits_summary
from explorer.ui.charts import table_once
from explorer.ui.outcomes import metrics_stamp

SELECTED = "◀ selected"
_SHOWN: OrderedDict = OrderedDict()  # the tables shown (see show_splits_table)


@st.cache_resource(show_spinner="Evaluating every split…", max_entries=16)
def _summary(path: str, fingerprint: str, stamp: float, core, _project) -> pd.DataFrame:
    return splits_summary(_project, core)


def splits_frame(sel) -> pd.DataFrame:
    """``splits_summary`` of the sidebar selection (split left free), cached by project, fingerprint and the core
    selection without its split."""
    project = sel.project
    core = replace(sel.core, split=None)
    return _summary(str(project.root), project.fingerprint, metrics_stamp(project), core, project)


def show_splits_table(sel, columns: dict[str, str] | None = None, *, key: str = "splits_table") -> pd.DataFrame:
    """Draw the table (module docstring); returns the frame shown (index = split; kept: do not mutate). Nothing is
    drawn for a project without splits (the page's headline is then the only row)."""
    project = sel.project
    if not project.splits:
        return pd.DataFrame()
    shown = (sel.split or ALL)

    def make() -> pd.DataFrame:
        table = splits_frame(sel)
        if columns is not None:
            table = table[[c for c in columns if c in table.columns]].rename(columns=columns)
        table = table.reset_index()
        table.insert(1, "shown", [SELECTED if s == shown else "" for s in table["split"]])
        return table

    # the frame and its Arrow form kept per (view, metrics run, selection but its split, columns, split shown), for
    # every session's rerun (``charts.table_once``)
    keys = ("splits table", str(project.root), project.fingerprint, metrics_stamp(project),
            replace(sel.core, split=None), None if columns is None else tuple(columns.items()), shown)
    table = _remember(_SHOWN, keys, make, size=32)
    config = {c: st.column_config.NumberColumn(format="%.4f") for c in table.columns
              if pd.api.types.is_float_dtype(table[c])}
    st.dataframe(table_once(keys, lambda: table), hide_index=True, column_config=config, key=key)
    st.caption("Every split evaluated with the sidebar's other settings (classes, thresholds, run, outcome options); "
               "“all” is every image of the project. Empty = undefined (e.g. no prediction in that split).")
    return table
