"""Regression UI helpers: the selection's per-image errors, the error tolerance control and the target's words.

The per-bucket share and metric importance need a yes/no outcome, so Y is "absolute error ≤ tolerance" (the
task's outcome table, ``explorer.analysis.outcomes.regression_outcomes``). The tolerance is one session key
(``reg_tolerance``, the selection option ``tolerance``, ``explorer.ui.state.OPTION_KEYS``) drawn by
``tolerance_control`` on every page whose numbers it changes (Metric Importance, Performance by Metric), kept
across pages (``explorer.ui.persist.keep``); empty means the median absolute error of the selection
(``explorer.analysis.outcomes.tolerance_of``: about half the images are "good").
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.analysis.outcomes import tolerance_of
from explorer.evaluation import regression as reg
from explorer.project.selection import Selection as CoreSelection
from explorer.ui.persist import keep
from explorer.ui.state import OPTION_KEYS
from explorer.ui.text import plain

TOLERANCE_KEY = OPTION_KEYS["tolerance"]  # the widget that sets Selection option "tolerance"


def outcomes(sel) -> pd.DataFrame:
    """``image_id, target, prediction, error, abs_error`` of the selected split."""
    return reg.outcomes(sel.project, image_ids=sel.image_ids)


def target_words(project) -> tuple[str, str]:
    """``(name, unit)`` of the project's target (``explorer.tasks.regression.target_info``), for titles."""
    from explorer.tasks.regression import target_info

    info = target_info(project)
    return info["name"], info["unit"]


def with_unit(text: str, unit: str) -> str:
    """``"MAE (px)"``; the text alone without a unit."""
    return f"{text} ({unit})" if unit else text


def tolerance_control(sel, where=None) -> float:
    """The error tolerance widget (empty = the median absolute error of the selection); returns the tolerance in
    force for ``sel`` (NaN when nothing is predicted)."""
    where = where or st
    name, unit = target_words(sel.project)
    abs_error = outcomes(sel)["abs_error"].to_numpy(np.float64)
    median = tolerance_of(CoreSelection(), abs_error)  # the rule's default (no option set) for this selection
    where.number_input(
        f"Error tolerance{f' ({plain(unit)})' if unit else ''}: |prediction − {plain(name)}| ≤ tolerance counts as "
        "good", min_value=0.0, value=None, format="%.4g", placeholder=f"median absolute error: {median:.4g}",
        help="Y of Metric Importance and Performance by Metric (one setting, shared by both pages). Empty = the "
             "median absolute error of the selection, so about half the images are good.", **keep(TOLERANCE_KEY))
    tol = tolerance_of(sel.core, abs_error)
    n_good = int((abs_error <= tol).sum())
    where.caption(f"Tolerance in force: {tol:.4g}{f' {plain(unit)}' if unit else ''} — {n_good:,} of "
                  f"{len(abs_error):,} predicted image(s) within it.")
    return tol
