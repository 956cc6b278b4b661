"""Regression UI helpers: the metric-importance inputs and the error tolerance that makes the outcome yes/no.

Mutual information and the per-bucket share need a yes/no outcome, so Y is "absolute error ≤ tolerance"; the
tolerance is set on the Regression page (``reg_tolerance``) and defaults to the median absolute error of the
selection (so about half the images are "good"). The Regression page also shows the mean absolute error per
metric bucket directly (``explorer.evaluation.regression.error_by_bucket``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.evaluation import regression as reg

TOLERANCE_KEY = "reg_tolerance"


def outcomes(sel) -> pd.DataFrame:
    """``image_id, target, prediction, error, abs_error`` of the selected split."""
    return reg.outcomes(sel.project, image_ids=sel.image_ids)


def tolerance(sel, abs_error: np.ndarray) -> float:
    """The user's tolerance, or the median absolute error of the selection (NaN when nothing is predicted)."""
    value = st.session_state.get(TOLERANCE_KEY)
    if value is not None:
        return float(value)
    return float(np.median(abs_error)) if len(abs_error) else float("nan")


def importance_inputs(sel) -> list[dict]:
    """Frame (F) metrics of the predicted images against Y = absolute error ≤ tolerance."""
    from explorer.ui.importance import frame_importance_inputs

    out = outcomes(sel)
    t = tolerance(sel, out["abs_error"].to_numpy())
    return frame_importance_inputs(
        sel.project, out["image_id"].to_numpy(), out["abs_error"].to_numpy() <= t,
        outcome_label=f"absolute error ≤ {t:.4g}", cache_key=("regression", sel.project.fingerprint, sel.split, round(t, 9)))
