"""Cached detection results for the pages: matching at the sidebar's thresholds, summaries, outcome tables.

Every page that shows detection results goes through here so the expensive steps run once per selection:

* ``matcher(project)`` / ``match(sel)`` — the core ``explorer.analysis.outcomes.matcher`` / ``match`` (every IoU
  computed once per project fingerprint and IoU type; a slider move only re-matches);
* ``summary(sel)``, ``per_class(sel)``, ``pr_curves(sel)``, ``f1_curve(sel)``, ``best_per_class(sel)`` — the
  engine's tables for the selected classes and split at the sliders' thresholds, all from one pass over the match
  (``explorer.evaluation.tables.selection_tables``);
* ``coco_summary(sel)`` — the 12 pycocotools numbers for the selected classes and split (no slider dependency:
  the project's matching is done once per run and accumulated once per split, ``explorer.evaluation.coco
  .project_evaluation``; a class change slices it);
* ``analysis_table(sel, target)`` — the core outcome table (``explorer.analysis.outcomes.detection_outcomes``)
  of labels (``detected``) or predictions (``is_tp``), cached by ``explorer.ui.outcomes.outcome_table``.

Caches are keyed by project path + fingerprint (which names the run) + the core ``Selection``, never by a
DataFrame argument: the selection's tables in the core's bounded single-flight cache (``outcomes._remember``,
cheap to look up on every rerun), the slider-independent evaluations in ``st.cache_resource`` (with a spinner).
Returned objects are shared between reruns and sessions: do not mutate.
"""
from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import streamlit as st

from explorer.analysis import outcomes as core
from explorer.project.folder import Project
from explorer.ui.outcomes import outcome_table


def matcher(project: Project, *, iou_type: str | None = None):
    """The project's ``Matcher`` (all IoUs computed once), cached per project fingerprint and IoU type."""
    with st.spinner("Computing IoUs…"):
        return core.matcher(project, iou_type=iou_type)


def match(sel):
    """``MatchResult`` of the whole project at the selection's IoU and confidence thresholds (cached)."""
    matcher(sel.project)  # the spinner while IoUs are computed the first time
    return core.match(sel.project, sel.core)


# ---- summaries of the selection ------------------------------------------------------------------------------------
# {(path, fingerprint, core selection): selection_tables}: in the core's single-flight cache rather than
# st.cache_resource, whose argument hashing (~0.5 ms a call) was paid five times a rerun by every session
_SUMMARIES: OrderedDict = OrderedDict()


def _summaries(path: str, fingerprint: str, sel, project: Project) -> dict:
    from explorer.evaluation.tables import selection_tables

    # every table of the selection from one pass over the match (positions, no copies of its 2M rows)
    return core._remember(_SUMMARIES, (path, fingerprint, sel), lambda: selection_tables(
        core.match(project, sel), classes=sel.class_list(), image_ids=sel.image_ids(project)), size=32)


def summary(sel) -> dict:
    """``detection_summary`` of the selection: ``"mAP"``, ``"mAR"`` at the slider's IoU, ``per_class``."""
    return _summaries(*_key(sel))["summary"]


def per_class(sel) -> pd.DataFrame:
    """``per_class_table``: AP, AR, precision, recall, F1, support per selected class."""
    return _summaries(*_key(sel))["per_class"]


def pr_curves(sel) -> pd.DataFrame:
    """``pr_curves``: ``category_id, recall, precision`` per selected class."""
    return _summaries(*_key(sel))["pr_curves"]


def f1_curve(sel) -> pd.DataFrame:
    """``f1_by_confidence``: ``threshold, precision, recall, f1`` over the selection."""
    return _summaries(*_key(sel))["f1"]


def best_per_class(sel) -> pd.DataFrame:
    """``per_class_best_f1``: ``category_id, threshold, precision, recall, f1`` per selected class (ascending id)."""
    return _summaries(*_key(sel))["best_per_class"]


@st.cache_resource(show_spinner="COCO evaluation…", max_entries=16)
def _coco(path: str, fingerprint: str, classes: tuple[int, ...] | None, split: str | None, _project: Project) -> dict:
    from explorer.evaluation.coco import project_evaluation
    from explorer.project.selection import Selection
    from explorer.tasks.detection import iou_type

    sel = Selection(split=split, classes=classes)
    result = project_evaluation(_project, iou_type=iou_type(_project), cat_ids=sel.class_list(),
                                image_ids=sel.image_ids(_project))
    return dict(result.summary)


def coco_summary(sel) -> dict:
    """The 12 pycocotools numbers for the selected classes and split (independent of the sliders)."""
    project, c = sel.project, sel.core
    return _coco(str(project.root), project.fingerprint, c.classes, c.split, project)


@st.cache_resource(show_spinner="Pascal VOC evaluation…", max_entries=16)
def _voc(path: str, fingerprint: str, classes: tuple[int, ...] | None, split: str | None, protocol: str,
         _project: Project):
    from explorer.evaluation.voc import evaluate_voc_project
    from explorer.project.selection import Selection

    return evaluate_voc_project(_project, Selection(split=split, classes=classes), protocol)


def voc_evaluation(sel, protocol: str):
    """Pascal VOC AP (``protocol`` ``"voc07"`` 11-point or ``"voc12"`` all-point, IoU 0.50, devkit rules) of the
    selected classes and split, independent of the sliders (``explorer.evaluation.voc.evaluate_voc_project``)."""
    project, c = sel.project, sel.core
    return _voc(str(project.root), project.fingerprint, c.classes, c.split, protocol, project)


def selection_key(sel) -> tuple:
    """``(path, fingerprint, core selection)``: what the selection's tables are cached by (and figures of them)."""
    return _key(sel)[:3]


def _key(sel) -> tuple:
    """``(path, fingerprint, core selection, project)``: the arguments of the selection's caches."""
    project = sel.project
    return str(project.root), project.fingerprint, sel.core, project


def analysis_table(sel, target: str) -> pd.DataFrame:
    """The selection's outcome table of ``target`` (``"labels"``/``"predictions"``/``"images"``): the project's
    rows, the outcome columns (ignored rows kept with ``ignored`` and an empty outcome) and every data metric."""
    return outcome_table(sel, target)


# ---- sections made ahead -------------------------------------------------------------------------------------------
# the Metrics page's independent heavy sections (bootstrap, error cost, importance per outcome) are made by these
# workers while the script thread draws the headline: their compiled kernels run without the GIL, and each
# result lands in the core's single-flight caches where the section's own (identical) call finds or waits for it
_SECTIONS = ThreadPoolExecutor(4, thread_name_prefix="metrics-sections")


def start(*work: list) -> list:
    """Run every zero-argument call in the lists ``work`` in a worker thread, now; returns their futures (the
    page does not wait on them: its sections' own calls find or wait for the values in the core's caches). Only
    core functions (no ``st.*``: a worker has no script context); a call that fails gives None — the section's
    own call on the script thread makes the value again and shows the error."""
    return [_SECTIONS.submit(_quietly, call) for calls in work for call in calls]


def _quietly(call):
    try:
        return call()
    except Exception:  # noqa: BLE001 — shown by the section's own call (see start)
        return None

