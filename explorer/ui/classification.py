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


def shown_top_k(summary: dict, n_classes: int) -> list[int]:
    """The k of the top-k accuracies the summary holds with k < the number of classes
    (``classification.meaningful_top_k``)."""
    return [k for k in cls.meaningful_top_k(n_classes) if f"top_{k}_accuracy" in summary]


def cell_images(sel, true_id: int, pred_id: int) -> pd.DataFrame:
    """``image_id, true_id, pred_id, score`` of one confusion cell: the split's images of true class ``true_id``
    predicted as ``pred_id`` at the confidence threshold — the images the cell counts (the matrix covers every
    predicted image of the split, whatever the class filter)."""
    rows = cls.outcomes(sel.project, image_ids=sel.image_ids, classes=None, confidence_threshold=sel.confidence_threshold)
    keep = (rows["true_id"].to_numpy() == true_id) & (rows["pred_id"].to_numpy() == pred_id)
    return rows.loc[keep, ["image_id", "true_id", "pred_id", "score"]].reset_index(drop=True)


SCORE = "score"  # sort key of the galleries: the prediction's score, or a data metric's column


def sorted_rows(sel, rows: pd.DataFrame, by: str, ascending: bool = False) -> pd.DataFrame:
    """``rows`` (``image_id, true_id, pred_id, score``) with ``file_name`` and the sort value ``sort_value``
    (the score, or the image's data metric ``by``), sorted by it (missing last, ties by image id)."""
    from explorer.ui.outcomes import metrics_for_target

    project = sel.project
    names = project.images.set_index("image_id")["file_name"]
    out = rows.assign(file_name=names.reindex(rows["image_id"]).to_numpy())
    if by == SCORE:
        out["sort_value"] = out["score"].to_numpy(float)
    else:
        frame = metrics_for_target(project, "images")
        out["sort_value"] = (frame[by].reindex(out["image_id"]).to_numpy(float) if frame is not None and by in frame
                             else float("nan"))
    return out.sort_values(["sort_value", "image_id"], ascending=[ascending, True], na_position="last",
                           kind="stable").reset_index(drop=True)
