"""Regression UI helpers: the selection's per-image errors and the session key of the error tolerance.

The per-bucket share needs a yes/no outcome, so Y is "absolute error ≤ tolerance" (the task's outcome table,
``explorer.analysis.outcomes.regression_outcomes``); the tolerance is set on the Regression page
(``reg_tolerance``, the selection option ``tolerance``) and defaults to the median absolute error of the
selection (``explorer.analysis.outcomes.tolerance_of``: about half the images are "good"). The Regression page
also shows the mean absolute error per metric bucket directly (``explorer.evaluation.regression.error_by_bucket``).
"""
from __future__ import annotations

import pandas as pd

from explorer.evaluation import regression as reg
from explorer.ui.state import OPTION_KEYS

TOLERANCE_KEY = OPTION_KEYS["tolerance"]  # the widget that sets Selection option "tolerance"


def outcomes(sel) -> pd.DataFrame:
    """``image_id, target, prediction, error, abs_error`` of the selected split."""
    return reg.outcomes(sel.project, image_ids=sel.image_ids)
