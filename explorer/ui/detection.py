"""Cached detection results for the pages: matching at the sidebar's thresholds, summaries, outcome tables.

Every page that shows detection results goes through here so the expensive steps run once per selection:

* ``matcher(project)`` — the ``explorer.evaluation.Matcher`` holding every IoU; built once per project
  (fingerprint) and IoU type, never again when a slider moves;
* ``match(sel)`` — ``matcher.match(t, confidence_threshold=c)`` at the sidebar's thresholds;
* ``summary(sel)``, ``per_class(sel)``, ``pr_curves(sel)``, ``f1_curve(sel)`` — the engine's summaries for the
  selected classes and split (the class filter changes the headline);
* ``coco_summary(sel)`` — the 12 pycocotools numbers for the selected classes and split (no slider dependency);
* ``outcomes(sel, target)`` — one row per label (``detected``) or prediction (``is_tp``) of the selection,
  crowd/ignored rows left out, joined with their data metrics by ``analysis_table``.

Caches use ``st.cache_resource`` keyed by project path + fingerprint + small parameters (thresholds rounded to
the slider's step), never by a DataFrame argument. Returned objects are shared between reruns: do not mutate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer.project.folder import Project
from explorer.ui.state import Selection, load_project

TARGET_ID = {"labels": "label_id", "predictions": "pred_id"}
TARGET_OUTCOME = {"labels": "detected", "predictions": "is_tp"}
TARGET_LEVEL = {"labels": "O", "predictions": "P"}  # own level; frame (F) metrics join both
OUTCOME_WORDS = {"labels": "detected", "predictions": "true positive"}


@dataclass(frozen=True)
class Key:
    """The small, hashable identity of a selection used as cache key."""

    path: str
    fingerprint: str
    split: str | None
    classes: tuple[int, ...] | None  # None = all classes
    iou_threshold: float
    confidence_threshold: float
    iou_type: str = "bbox"

    @property
    def project(self) -> Project:
        return load_project(self.path)

    @property
    def image_ids(self) -> np.ndarray | None:
        """Image ids of the split, or None for all images (lets the engine skip the filter)."""
        if self.split is None:
            return None
        images = self.project.images
        return images.loc[images["split"] == self.split, "image_id"].to_numpy()

    @property
    def class_list(self) -> list[int] | None:
        return None if self.classes is None else list(self.classes)


def iou_type_of(project: Project) -> str:
    """``"segm"`` when every prediction and non-crowd label carries a mask, else ``"bbox"``."""
    if not project.has_predictions:
        return "bbox"
    preds = project.predictions["segmentation"]
    labels = project.labels["segmentation"]
    return "segm" if preds.notna().all() and labels.notna().all() and len(labels) else "bbox"


def key_of(sel: Selection, *, iou_type: str | None = None) -> Key:
    """The cache key of a sidebar selection; thresholds rounded so float noise never misses the cache."""
    project = sel.project
    return Key(
        path=str(project.root),
        fingerprint=project.fingerprint,
        split=sel.split,
        classes=None if sel.all_classes else tuple(sorted(int(c) for c in sel.classes)),
        iou_threshold=round(float(sel.iou_threshold), 4),
        confidence_threshold=round(float(sel.confidence_threshold), 4),
        iou_type=iou_type or iou_type_of(project),
    )


# ---- matching ----------------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner="Computing IoUs…", max_entries=4)
def _matcher(path: str, fingerprint: str, iou_type: str):
    from explorer.evaluation import Matcher

    return Matcher.from_project(load_project(path), iou_type=iou_type)


def matcher(project: Project, *, iou_type: str = "bbox"):
    """The project's ``Matcher`` (all IoUs computed once), cached per project fingerprint and IoU type."""
    return _matcher(str(project.root), project.fingerprint, iou_type)


@st.cache_resource(show_spinner=False, max_entries=16)
def _match(path: str, fingerprint: str, iou_type: str, iou_threshold: float, confidence_threshold: float):
    m = _matcher(path, fingerprint, iou_type)
    return m.match(iou_threshold, confidence_threshold=confidence_threshold)


def match(sel: Selection | Key):
    """``MatchResult`` of the whole project at the selection's IoU and confidence thresholds (cached)."""
    k = sel if isinstance(sel, Key) else key_of(sel)
    return _match(k.path, k.fingerprint, k.iou_type, k.iou_threshold, k.confidence_threshold)


# ---- summaries of the selection ------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False, max_entries=32)
def _summaries(k: Key) -> dict:
    from explorer.evaluation import detection_summary, f1_by_confidence, per_class_table, pr_curves

    m = match(k)
    options = {"classes": k.class_list, "image_ids": k.image_ids}
    return {
        "summary": detection_summary(m, **options),
        "per_class": per_class_table(m, **options),
        "pr_curves": pr_curves(m, **options),
        "f1": f1_by_confidence(m, **options),
    }


def summary(sel: Selection | Key) -> dict:
    """``detection_summary`` of the selection: ``"mAP"``, ``"mAR"`` at the slider's IoU, ``per_class``."""
    return _summaries(_k(sel))["summary"]


def per_class(sel: Selection | Key) -> pd.DataFrame:
    """``per_class_table``: AP, AR, precision, recall, F1, support per selected class."""
    return _summaries(_k(sel))["per_class"]


def pr_curves(sel: Selection | Key) -> pd.DataFrame:
    """``pr_curves``: ``category_id, recall, precision`` per selected class."""
    return _summaries(_k(sel))["pr_curves"]


def f1_curve(sel: Selection | Key) -> pd.DataFrame:
    """``f1_by_confidence``: ``threshold, precision, recall, f1`` over the selection."""
    return _summaries(_k(sel))["f1"]


@st.cache_resource(show_spinner="COCO evaluation…", max_entries=16)
def _coco(path: str, fingerprint: str, iou_type: str, classes: tuple[int, ...] | None, split: str | None) -> dict:
    from explorer.evaluation import evaluate_coco

    k = Key(path, fingerprint, split, classes, 0.5, 0.0, iou_type)
    ids = k.image_ids
    result = evaluate_coco(k.project, None, iou_type=iou_type, cat_ids=k.class_list,
                           image_ids=None if ids is None else ids.tolist())
    return dict(result.summary)


def coco_summary(sel: Selection | Key) -> dict:
    """The 12 pycocotools numbers for the selected classes and split (independent of the sliders)."""
    k = _k(sel)
    return _coco(k.path, k.fingerprint, k.iou_type, k.classes, k.split)


def _k(sel: Selection | Key) -> Key:
    return sel if isinstance(sel, Key) else key_of(sel)


# ---- outcomes joined with data metrics -------------------------------------------------------------------------------
def outcomes(sel: Selection | Key, target: str) -> pd.DataFrame:
    """Outcome rows of the selection: ``target="labels"`` → label_id, image_id, category_id, detected;
    ``"predictions"`` → pred_id, image_id, category_id, score, is_tp, iou, fp_reason.

    Only selected classes and split; ignored rows (crowd labels, predictions matched to a crowd label) are left
    out, as in COCO evaluation. Index: the row id (``label_id`` / ``pred_id``).
    """
    return _outcomes(_k(sel), target)


@st.cache_resource(show_spinner=False, max_entries=32)
def _outcomes(k: Key, target: str) -> pd.DataFrame:
    if target not in TARGET_ID:
        raise ValueError(f"target must be 'labels' or 'predictions', but got {target!r}")
    m = match(k)
    table = m.labels if target == "labels" else m.predictions
    keep = ~table["ignored"].to_numpy(bool)
    if k.classes is not None:
        keep &= np.isin(table["category_id"].to_numpy(), np.asarray(k.classes))
    ids = k.image_ids
    if ids is not None:
        keep &= np.isin(table["image_id"].to_numpy(), ids)
    cols = (["label_id", "image_id", "category_id", "detected"] if target == "labels"
            else ["pred_id", "image_id", "category_id", "score", "is_tp", "iou", "fp_reason"])
    out = table.loc[keep, cols].set_index(TARGET_ID[target])
    out[TARGET_OUTCOME[target]] = out[TARGET_OUTCOME[target]].astype(bool)
    return out


def _metrics_stamp(project: Project) -> float:
    path = project.metrics_dir / "catalog.json"
    return path.stat().st_mtime if path.is_file() else 0.0


@st.cache_resource(show_spinner="Loading data metrics…", max_entries=8)
def _metrics_for(path: str, fingerprint: str, stamp: float, target: str) -> pd.DataFrame | None:
    if stamp == 0.0:
        return None
    from explorer.datametrics.engine import metrics_for

    return metrics_for(load_project(path), target)


@st.cache_resource(show_spinner=False, max_entries=8)
def _catalog(path: str, fingerprint: str, stamp: float) -> pd.DataFrame | None:
    if stamp == 0.0:
        return None
    from explorer.datametrics.engine import load_metrics

    return load_metrics(load_project(path)).catalog


def metric_catalog(project: Project) -> pd.DataFrame | None:
    """The metrics catalogue (``name, title, level, display_name, …``), None when metrics were never computed."""
    return _catalog(str(project.root), project.fingerprint, _metrics_stamp(project))


def metrics_for_target(project: Project, target: str) -> pd.DataFrame | None:
    """``metrics_for(project, target)`` (own-level + frame metrics, index = row id), cached; None if not computed."""
    return _metrics_for(str(project.root), project.fingerprint, _metrics_stamp(project), target)


def metric_columns(project: Project, target: str) -> dict[str, str]:
    """``{column: display name}`` of the (O)/(P) and (F) metrics joined to ``target``, e.g.
    ``{"relative_area": "Object area – relative (O)", "brightness": "Brightness (F)"}``."""
    catalog = metric_catalog(project)
    table = metrics_for_target(project, target)
    if catalog is None or table is None:
        return {}
    return display_names(catalog, list(table.columns), TARGET_LEVEL[target])


def display_names(catalog: pd.DataFrame, columns: list[str], own_level: str) -> dict[str, str]:
    """Display names ``"Title (L)"`` of ``columns``: the own level (O/P) wins over F when a metric has both."""
    out = {}
    for level in ("F", own_level):
        rows = catalog[catalog["level"] == level]
        for name, title in zip(rows["name"].astype(str), rows["title"].astype(str)):
            if name in columns:
                out[name] = f"{title} ({level})"
    return {c: out[c] for c in columns if c in out}


@st.cache_resource(show_spinner=False, max_entries=32)
def _analysis_table(k: Key, target: str) -> pd.DataFrame:
    rows = outcomes(k, target)
    metrics = metrics_for_target(k.project, target)
    if metrics is None:
        return rows
    metrics = metrics.reindex(rows.index)
    return pd.concat([rows, metrics.drop(columns=[c for c in metrics.columns if c in rows.columns])], axis=1)


def analysis_table(sel: Selection | Key, target: str) -> pd.DataFrame:
    """``outcomes(sel, target)`` with the target's data metrics joined by id (NaN where a metric is missing)."""
    return _analysis_table(_k(sel), target)
