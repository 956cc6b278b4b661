"""Uncertainty on the Metrics page: bootstrap intervals (images resampled) on the headline mAP/mAR and per-class AP.

The numbers are ``explorer.analysis.intervals.bootstrap_ap`` of the selection's match (sidebar IoU and
confidence thresholds, selected classes and split), cached per project fingerprint (which names the run) and core
selection. Up to ``AUTO_IMAGES`` images they are computed with the headline; above, on a click (once per
selection). An IoU move costs one compiled pass of all 200 replicates for every class (the draws and the
threshold-free layout kept); a class change slices the kept replicates.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.analysis import outcomes as core
from explorer.analysis.intervals import N_RESAMPLES, SEED, ApBootstrap, bootstrap_ap, match_source
from explorer.ui.charts import table_once
from explorer.ui.text import UNDEFINED

AUTO_IMAGES = 200_000  # above this many images in the selection the intervals wait for a click (cost ∝ predictions)


@st.cache_resource(show_spinner=f"Bootstrapping AP ({N_RESAMPLES} image resamples)…", max_entries=16)
def _bootstrap(path: str, fingerprint: str, sel, _project) -> ApBootstrap:
    return _bootstrap_of(_project, sel)


def _bootstrap_of(project, sel) -> ApBootstrap:
    """``bootstrap_ap`` of the core selection's match: core calls only, so a worker thread can run it (``prefetch``)."""
    # named by its source: every class's replicates are kept per (run, IoU, confidence, images), so a class change
    # slices them and the Compare page's run A is this one
    m = core.match(project, sel)
    return bootstrap_ap(m, classes=sel.class_list(), image_ids=sel.image_ids(project), source=match_source(project))


def prefetch(sel) -> list:
    """The headline bootstrap as a zero-argument call of core functions, for a worker thread started at the top of
    the page (``detection.start``; the replicates land in the core's cache, which ``render_headline_intervals``
    then reads, waiting for them if still being made); [] when the page would not compute them now."""
    if len(sel.image_ids) == 0 or not sel.project.has_predictions:
        return []
    if len(sel.image_ids) > AUTO_IMAGES and not st.session_state.get(_asked(sel)):
        return []
    return [lambda: _bootstrap_of(sel.project, sel.core)]


def headline_bootstrap(sel) -> ApBootstrap:
    """The selection's ``ApBootstrap`` (cached)."""
    project = sel.project
    return _bootstrap(str(project.root), project.fingerprint, sel.core, project)


def _asked(sel) -> str:
    """Session key: the user asked for this selection's intervals (a large selection computes them on demand)."""
    p = sel.project
    return f"_bootstrap_asked:{p.root}:{p.fingerprint}:{hash(sel.core)}"


def _bounds(lo: float, hi: float) -> str:
    return UNDEFINED if not (np.isfinite(lo) and np.isfinite(hi)) else f"[{lo:.4f}, {hi:.4f}]"


def _outside_note(h: dict) -> str:
    """A sentence when a percentile interval leaves out its own point estimate (it can: module docstring of
    ``explorer.analysis.intervals``), else ''."""
    out = [name for name in ("mAP", "mAR") if np.isfinite(h[name]) and np.isfinite(h[f"{name}_lo"])
           and not h[f"{name}_lo"] <= h[name] <= h[f"{name}_hi"]]
    if not out:
        return ""
    return (f" The {' and '.join(out)} shown lies outside its interval: a percentile interval is the middle 95% of "
            "the resampled values, and AP is not an average of per-image numbers, so its resamples can lie to one "
            "side of the value on all images — a known property of percentile bootstraps, not an error.")


def render_headline_intervals(sel) -> None:
    """A caption with the 95% bootstrap intervals of mAP and mAR, and an expander with per-class AP intervals."""
    n_images = len(sel.image_ids)
    if n_images == 0 or not sel.project.has_predictions:
        return
    if n_images > AUTO_IMAGES and not st.session_state.get(_asked(sel)):
        # ~1 s of CPU per 100k images: on a larger selection the headline stays interactive until asked
        if st.button(f"Compute 95% bootstrap intervals ({N_RESAMPLES} resamples of {n_images:,} images)",
                     key="mq_bootstrap"):
            st.session_state[_asked(sel)] = True
        else:
            return
    b = headline_bootstrap(sel)
    h = b.headline()
    st.caption(f"95% bootstrap intervals ({b.n_resamples:d} resamples of the {b.n_images:,} images, seed {SEED}): "
               f"mAP {_bounds(h['mAP_lo'], h['mAP_hi'])} · mAR {_bounds(h['mAR_lo'], h['mAR_hi'])}. "
               "Each resample draws the selection's images with replacement and re-counts their matches."
               + _outside_note(h))
    with st.expander("Per-class AP and AR with 95% bootstrap intervals"):
        fmt = {c: st.column_config.NumberColumn(c, format="%.4f") for c in ("ap", "ap_lo", "ap_hi", "ar", "ar_lo", "ar_hi")}
        st.dataframe(_class_table(sel, b), hide_index=True, column_config=fmt)


def _class_table(sel, b: ApBootstrap):
    """``class, ap, ap_lo, ap_hi, ar, ar_lo, ar_hi`` of ``b`` (the selection's bootstrap) as shown, kept per (view,
    core selection) for every session (``charts.table_once``): the quantiles of 80 classes cost ~15 ms a rerun."""
    p = sel.project

    def make() -> pd.DataFrame:
        names = p.category_names
        table = b.per_class()
        table.insert(0, "class", table["category_id"].map(lambda c: names.get(int(c), str(c))))
        return pd.DataFrame(table.drop(columns=["category_id"]))

    return table_once(("bootstrap per class", str(p.root), p.fingerprint, sel.core), make)
