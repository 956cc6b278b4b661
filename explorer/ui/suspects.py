"""Cached suspected label errors (``explorer.analysis.suspects``) and their gallery tiles, for pages/suspects.py.

The page works on the selection's ``SuspectQueue`` (NumPy columns, kept by the core per selection): filters are
bool masks over its rows, the table and each gallery page are the ``best`` rows of the mask (only those rows
become a DataFrame), and "mAP if fixed" is cached per (selection, suspects chosen).

Stable texts for browser tests: the page title "Suspected label errors", the filters "Reasons", "Label classes"
and "Metric", the metric "mAP if these were fixed", the buttons "Compute mAP if fixed" and "Open in Failure
Explorer", and the gallery's "View" buttons (key ``suspects_gallery``).
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from explorer.analysis.suspects import REASONS, SuspectQueue
from explorer.drawing.render import LABEL_COLOUR, PREDICTION_COLOUR, DrawItem
from explorer.drawing.tiles import Tile
from explorer.project.folder import Project

SHORT = {"missing_label": "missing label?", "wrong_class": "wrong class?", "loose_box": "loose box?",
         "duplicate_label": "duplicate label?", "missed_label": "spurious label?"}


def _queue(project: Project, core) -> SuspectQueue:
    from explorer.analysis.suspects import suspect_queue

    # the core keeps the queues (bounded by count and bytes, shared by sessions): no second cache here
    with st.spinner("Looking for suspected label errors…"):
        return suspect_queue(project, core)


def queue(sel) -> SuspectQueue:
    """The ``SuspectQueue`` of the UI selection (kept by the core per project view and core selection; read
    only)."""
    return _queue(sel.project, sel.core)


def rows_key(positions: np.ndarray) -> tuple:
    """A small key naming a set of queue rows (count and digest): the cache and the session state hold this,
    not up to a queue's length of ints."""
    positions = np.ascontiguousarray(positions, np.int64)
    return len(positions), hashlib.blake2b(positions.tobytes(), digest_size=16).hexdigest()


@st.cache_resource(show_spinner="Re-evaluating with the fixes…", max_entries=16)
def _if_fixed(path: str, fingerprint: str, core, key: tuple, _positions: np.ndarray, _project: Project) -> dict:
    from explorer.analysis.suspects import map_if_fixed, suspect_queue

    return map_if_fixed(_project, core, suspect_queue(_project, core).frame(_positions))


def if_fixed(sel, positions: np.ndarray) -> dict:
    """``map_if_fixed`` of the queue rows at ``positions`` (cached per selection and ``rows_key``)."""
    p = sel.project
    return _if_fixed(str(p.root), p.fingerprint, sel.core, rows_key(positions), np.asarray(positions, np.int64), p)


@st.cache_resource(show_spinner=False, max_entries=4)  # an int per queue row each
def _bucket_of(path: str, fingerprint: str, stamp: float, core, metric: str, n_buckets: int, _project: Project):
    """(bucket index per queue row, range labels) of ``metric``: a suspect's value is its label's, else its
    prediction's (frame metrics: its image's)."""
    from explorer.analysis.buckets import bucketize
    from explorer.analysis.outcomes import with_metrics
    from explorer.analysis.suspects import suspect_queue

    q = suspect_queue(_project, core)

    def values(target: str, ids) -> np.ndarray:
        frame = with_metrics(pd.DataFrame(index=pd.Index(ids)), _project, target)
        return frame[metric].to_numpy(np.float64, na_value=np.nan) if metric in frame else np.full(len(ids), np.nan)

    v = values("labels", q.label_id)
    v = np.where(np.isfinite(v), v, values("predictions", q.pred_id))
    b = bucketize(v, n_buckets=n_buckets)
    return b.index, b.labels()


def bucket_of(sel, metric: str, n_buckets: int):
    """``(index, labels)``: the bucket of ``metric`` of each queue row (row order of the ``SuspectQueue``)."""
    from explorer.ui.outcomes import metrics_stamp

    p = sel.project
    return _bucket_of(str(p.root), p.fingerprint, metrics_stamp(p), sel.core, metric, n_buckets, p)


def tiles(project: Project, rows: pd.DataFrame) -> list[Tile]:
    """One tile per suspect: the label (blue) and the detection (violet) drawn, cropped around both, captioned
    with the reason, the score and the classes. Only the rows of one gallery page: a handful."""
    from explorer.evaluation.layout import lookup

    names = project.category_names
    # the page's rows only, looked up by position: no index over the 700k labels and every run's predictions
    lab_ids = rows["label_id"].fillna(-1).to_numpy(np.int64)
    pred_ids = rows["pred_id"].fillna(-1).to_numpy(np.int64)
    labels = project.labels.iloc[np.flatnonzero(np.isin(project.labels["label_id"].to_numpy(np.int64), lab_ids))]
    preds = project.all_predictions
    preds = preds.iloc[np.flatnonzero(np.isin(preds["pred_id"].to_numpy(np.int64), pred_ids))]
    lab_at = np.where(rows["label_id"].notna().to_numpy(), lookup(labels["label_id"].to_numpy(np.int64), lab_ids), -1)
    pred_at = np.where(rows["pred_id"].notna().to_numpy(), lookup(preds["pred_id"].to_numpy(np.int64), pred_ids), -1)
    out = []
    for i, r in enumerate(rows.itertuples(index=False)):
        items, boxes = [], []
        if lab_at[i] >= 0:
            lab = labels.iloc[lab_at[i]]
            box = (float(lab.x), float(lab.y), float(lab.w), float(lab.h))
            items.append(DrawItem(*box, colour=LABEL_COLOUR, caption=f"label {names.get(int(lab.category_id), '?')}"))
            boxes.append(box)
        if pred_at[i] >= 0:
            p = preds.iloc[pred_at[i]]
            box = (float(p.x), float(p.y), float(p.w), float(p.h))
            items.append(DrawItem(*box, colour=PREDICTION_COLOUR,
                                  caption=f"{names.get(int(p.category_id), '?')} {float(p.score):.2f}"))
            boxes.append(box)
        focus = None
        if boxes:
            b = np.array(boxes)
            x0, y0 = b[:, 0].min(), b[:, 1].min()
            focus = (float(x0), float(y0), float((b[:, 0] + b[:, 2]).max() - x0), float((b[:, 1] + b[:, 3]).max() - y0))
        caption = f"{SHORT.get(r.reason_code, r.reason_code)} · score {float(r.score):.2f} · {r.file_name}"
        key = f"suspect:{r.reason_code}:{'' if pd.isna(r.label_id) else int(r.label_id)}:{'' if pd.isna(r.pred_id) else int(r.pred_id)}"
        out.append(Tile(int(r.image_id), tuple(items), focus=focus, caption=caption, key=key))
    return out


def gallery_pages(project: Project, q: SuspectQueue, keep: np.ndarray | None):
    """``explorer.ui.gallery.Pages`` of the rows ``keep`` in queue order: a page's tiles are made from the
    ``best`` rows up to its end, so the queue is never sorted for the gallery."""
    from explorer.ui.gallery import Pages

    n = len(q) if keep is None else int(np.count_nonzero(keep))
    return Pages(n, lambda a, b: tiles(project, q.frame(q.best(b, keep)[a:b])))


def reason_words(code: str) -> str:
    return f"{SHORT.get(code, code)} — {REASONS.get(code, '')}"
