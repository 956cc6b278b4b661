"""Classification UI helpers: the cached evaluation of the sidebar's selection, its outcomes and false positives.

Metric importance and performance by metric read the task's outcome table through the task registry
(``explorer.tasks.get("classification")``), not this module.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.project.folder import Project
from explorer.evaluation import classification as cls


@st.cache_resource(show_spinner="Evaluating…", max_entries=16)
def _evaluate(_project: Project, path: str, fingerprint: str, split, classes: tuple,
              confidence: float) -> cls.ProjectClassification:
    # the sidebar's project view itself (not a reload of ``path``, which would be the first run); the fingerprint,
    # which includes the run, keys the cache
    project = _project
    image_ids = None if split is None else project.images.loc[project.images["split"] == split, "image_id"].to_numpy()
    return cls.evaluate_project(project, image_ids=image_ids, classes=list(classes), confidence_threshold=confidence)


def evaluate(sel) -> cls.ProjectClassification:
    """``evaluate_project`` on the sidebar's split, classes and confidence threshold (cached)."""
    return _evaluate(sel.project, str(sel.project.root), sel.project.fingerprint, sel.split, tuple(sel.classes),
                     float(sel.confidence_threshold))


def outcomes(sel) -> pd.DataFrame:
    """``image_id, true_id, pred_id, score, correct`` of the selection (see ``classification.outcomes``)."""
    return cls.outcomes(sel.project, image_ids=sel.image_ids, classes=list(sel.classes),
                        confidence_threshold=sel.confidence_threshold)


def false_positives(sel) -> pd.DataFrame:
    """``image_id, true_id, pred_id, score`` of the split's images predicted as a selected class but of another
    class (see ``classification.false_positives``)."""
    return cls.false_positives(sel.project, image_ids=sel.image_ids, classes=list(sel.classes),
                               confidence_threshold=sel.confidence_threshold)
