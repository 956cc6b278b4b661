"""Helpers of the Data Quality page: metric choices, the rows a metric is shown over, the histogram figure and
the gallery items (whose image, what to highlight).

The data functions (``metric_choices``, ``metric_rows``, ``gallery_order``/``gallery_window``) are plain
pandas/NumPy so tests can call them directly; only the cached loaders (``empty_metrics``, ``selection_rows``) and
the drawing helpers touch Streamlit. At millions of rows a rerun reads the cached rows and their statistics
(keyed by metric, split and classes) and selects only the gallery page shown (``gallery_window``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.datametrics.catalog import LEVEL_ID, LEVEL_WORD, MetricEntry, entries
from explorer.project.folder import Project
from explorer.ui import outcomes
from explorer.ui.text import number
from explorer.drawing.render import LABEL_COLOUR, PREDICTION_COLOUR, DrawItem
from explorer.analysis.failure_buckets import sorted_window
from explorer.analysis.outcomes import image_rows
from explorer.analysis.stats import Histogram, Outliers, histogram, iqr_outliers, summarize
from explorer.drawing.tiles import ImageObjects, Tile, dim


# ---- metric tables ---------------------------------------------------------------------------------------------
def metric_tables(project: Project):
    """``explorer.datametrics.tables.load_metrics(project)``, cached (``UserError`` when metrics were not computed)."""
    return outcomes.metric_tables(project)


def _level_table(tables, level: str) -> pd.DataFrame | None:
    return {"F": tables.frame, "O": tables.labels, "P": tables.predictions}[level]


def metric_choices(tables) -> list[MetricEntry]:
    """Every catalogued (metric, level) whose level table holds a column for it, in catalogue order.

    Plugin metrics are in the catalogue like built-ins, so they are offered too. A level whose table is absent
    (e.g. frame metrics of a project without images) contributes nothing.
    """
    out = []
    for entry in entries(tables.catalog):
        table = _level_table(tables, entry.level)
        if table is not None and entry.name in table.columns:
            out.append(entry)
    return out


def has_values(tables, choice: MetricEntry) -> bool:
    """Whether the metric has at least one finite value in its level table (over the whole project)."""
    column = _level_table(tables, choice.level)[choice.name]
    return bool(np.isfinite(pd.to_numeric(column, errors="coerce").to_numpy(np.float64)).any())


def order_with_values_first(tables, choices: list[MetricEntry], *, empty: set[str] | None = None
                            ) -> tuple[list[MetricEntry], set[str]]:
    """``choices`` with the metrics that have values first (catalogue order kept in each part), and the keys of
    those without any value (e.g. object metrics of a classification project), so the page never opens on an
    empty chart. ``empty``: those keys when already known (``empty_metrics``)."""
    empty = {c.key for c in choices if not has_values(tables, c)} if empty is None else set(empty)
    return [c for c in choices if c.key not in empty] + [c for c in choices if c.key in empty], empty


def metric_rows(project: Project, tables, choice: MetricEntry, *, image_ids: np.ndarray,
                classes: tuple[int, ...] | None) -> pd.DataFrame:
    """The rows a metric is shown over, with its value: columns ``item_id, image_id, category_id, value``.

    - ``F``: one row per image of ``image_ids`` (the split); with a class subset, only images holding a label or
      a prediction of a selected class. ``category_id`` is -1.
    - ``O`` / ``P``: one row per label / prediction on those images whose class is selected.

    ``classes=None`` means all classes (images without any object stay in). Rows are taken from the project's
    tables and the metric is joined by id, so an item without a computed value appears with ``value`` NaN
    (counted as missing) rather than disappearing.
    """
    image_ids = np.asarray(image_ids)
    metric = _level_table(tables, choice.level)[choice.name]
    if choice.level == "F":
        ids = image_ids
        if classes is not None:
            holds = np.zeros(len(ids), bool)  # images holding a label or a prediction of a selected class
            for t in (project.labels, project.predictions):
                holds |= _member(ids, t["image_id"].to_numpy()[_member(t["category_id"].to_numpy(), classes)])
            ids = ids[holds]
        return pd.DataFrame({
            "item_id": ids.astype(np.int64),
            "image_id": ids.astype(np.int64),
            "category_id": np.full(len(ids), -1, dtype=np.int64),
            "value": _values_at(metric, ids),
        })
    objects = project.labels if choice.level == "O" else project.predictions
    image, category = objects["image_id"].to_numpy(), objects["category_id"].to_numpy()
    keep = _member(image, image_ids)
    if classes is not None:
        keep &= _member(category, classes)
    item_ids = objects[LEVEL_ID[choice.level]].to_numpy(np.int64)[keep]
    return pd.DataFrame({
        "item_id": item_ids,
        "image_id": image[keep].astype(np.int64),
        "category_id": category[keep].astype(np.int64),
        "value": _values_at(metric, item_ids),
    })


def _values_at(metric: pd.Series, ids: np.ndarray) -> np.ndarray:
    """``metric.reindex(ids)`` as float64 (NaN for an id without a value) by the one id look-up, not a hash
    re-index of millions of ids."""
    from explorer.evaluation.layout import lookup

    at = lookup(metric.index.to_numpy(np.int64), np.asarray(ids, np.int64))
    values = metric.to_numpy(np.float64, na_value=np.nan)
    return np.where(at >= 0, values[np.maximum(at, 0)], np.nan) if len(values) else np.full(len(at), np.nan)


def _member(values: np.ndarray, wanted) -> np.ndarray:
    """``isin(values, wanted)`` for integer ids by the one id look-up (``layout.lookup``: a table gather when the
    ids fit one, else a binary search; a repeated wanted id is found all the same), no hash probe per row."""
    from explorer.evaluation.layout import lookup

    return lookup(np.asarray(wanted, np.int64), np.asarray(values, np.int64)) >= 0


@st.cache_resource(show_spinner=False, max_entries=1)
def _empty(path: str, fingerprint: str, stamp: float, _tables, _choices) -> frozenset:
    return frozenset(c.key for c in _choices if not has_values(_tables, c))


def empty_metrics(project: Project, tables, choices: list[MetricEntry]) -> tuple[list[MetricEntry], set[str]]:
    """``order_with_values_first``, its scan of every metric column cached per project and metrics run."""
    empty = _empty(str(project.root), project.fingerprint, outcomes.metrics_stamp(project), tables, tuple(choices))
    return order_with_values_first(tables, choices, empty=empty)


@st.cache_resource(show_spinner=False, max_entries=4)
def _selection_rows(path: str, fingerprint: str, stamp: float, key: str, split, classes, _project, _tables, _choice,
                    _image_ids):
    rows = metric_rows(_project, _tables, _choice, image_ids=_image_ids, classes=classes)
    values = rows["value"].to_numpy(np.float64)
    return rows, values, summarize(values), iqr_outliers(values)


def selection_rows(project: Project, tables, choice: MetricEntry, *, split, image_ids: np.ndarray,
                   classes: tuple[int, ...] | None):
    """``(rows, values, summary, outliers)``: ``metric_rows`` of the selection with its statistics, cached by
    metric, split and classes (the sliders and the gallery controls change none of them)."""
    return _selection_rows(str(project.root), project.fingerprint, outcomes.metrics_stamp(project), choice.key, split,
                           None if classes is None else tuple(classes), project, tables, choice, image_ids)


@st.cache_resource(show_spinner=False, max_entries=8)
def _histogram(path: str, fingerprint: str, stamp: float, key: str, split, classes, bins: int, _values) -> Histogram:
    return histogram(_values, bins=bins)


def selection_histogram(project: Project, choice: MetricEntry, *, split, classes, bins: int, values: np.ndarray,
                        outliers: Outliers) -> tuple[Histogram, go.Figure | None]:
    """``(histogram(values, bins=bins), its figure)`` for ``selection_rows``' values, both made once per (metric,
    split, classes, bins): a rerun that changes none of them (an IoU move, a gallery page) rebuilds neither
    (the figure through ``charts.figure_once``, escaped once). The figure is None when nothing is finite."""
    from explorer.ui.charts import figure_once

    classes = None if classes is None else tuple(classes)
    key = (str(project.root), project.fingerprint, outcomes.metrics_stamp(project), choice.key, split, classes,
           int(bins))
    hist = _histogram(*key, values)
    if not len(hist.counts):
        return hist, None
    return hist, figure_once(("dq_histogram", *key, choice.display_name),
                             lambda: histogram_figure(hist, outliers, title=choice.display_name))


# ---- gallery order ---------------------------------------------------------------------------------------------
def gallery_window(values: np.ndarray, keep: np.ndarray, *, descending: bool, start: int, stop: int) -> np.ndarray:
    """Positions ``gallery_order(values, keep, descending=...)[start:stop]``, selecting only that window (O(n),
    ``explorer.analysis.failure_buckets.sorted_window``): missing values last, then the value, then position."""
    positions = np.flatnonzero(keep)
    v = values[positions]
    missing = ~np.isfinite(v)
    key = np.where(missing, 0.0, -v if descending else v)
    return positions[sorted_window(missing.astype(np.int64), key, start, stop)]


def gallery_order(values: np.ndarray, keep: np.ndarray, *, descending: bool) -> np.ndarray:
    """Row positions of ``keep`` rows sorted by value (stable; missing values last in both orders).

    ``values``: shape ``(n,)`` float; ``keep``: shape ``(n,)`` bool. Returns int positions, shape ``(keep.sum(),)``.
    """
    return gallery_window(values, keep, descending=descending, start=0, stop=int(np.count_nonzero(keep)))


# ---- figures ---------------------------------------------------------------------------------------------------
def histogram_figure(hist: Histogram, outliers: Outliers, *, title: str) -> go.Figure:
    """Plotly bars of the server-side bins (only ``n_bins`` numbers go to the browser) with the IQR fences."""
    fig = go.Figure(go.Bar(
        x=hist.centers.tolist(), y=hist.counts.tolist(), width=hist.widths.tolist(),
        marker_color="#4C78A8", name="count",
        customdata=np.stack([hist.edges[:-1], hist.edges[1:]], axis=1).tolist() if len(hist.counts) else [],
        hovertemplate="[%{customdata[0]:.4g}, %{customdata[1]:.4g}): %{y}<extra></extra>",
    ))
    if len(hist.counts):
        lo, hi = hist.edges[0], hist.edges[-1]
        for fences, colour, word in ((outliers.moderate_fences, "#F58518", "1.5×IQR"),
                                     (outliers.severe_fences, "#E45756", "3×IQR")):
            for x in fences:
                if np.isfinite(x) and lo <= x <= hi:
                    fig.add_vline(x=float(x), line_dash="dash", line_color=colour, annotation_text=word,
                                  annotation_position="top")
    fig.update_layout(title=title, xaxis_title=title, yaxis_title="count", bargap=0.02, height=360,
                      margin=dict(l=10, r=10, t=50, b=10), showlegend=False)
    return fig


# ---- gallery tiles ---------------------------------------------------------------------------------------------
def draw_items(project: Project, image_id: int, *, level: str, item_id: int, with_predictions: bool,
               objects: dict | None = None, names: dict | None = None):
    """``(items, focus, boxless)`` for one image: DrawItems of its labels and (optionally) predictions, the box of
    the item, and the names of box-less labels/predictions (classification rows carry NaN boxes: they are
    named in the caption instead of drawn). For an (O)/(P) item the item itself is drawn thick, in full colour,
    with its mask and last (on top); the image's other objects thin, dimmed and without captions. ``objects``:
    ``page_objects`` of a page holding this image (else gathered for this image alone); ``names``: the project's
    ``category_names`` when the caller has them."""
    names = project.category_names if names is None else names
    if objects is None:
        objects = page_objects(project, [image_id], with_predictions=with_predictions)
    items, highlighted, focus, boxless = [], [], None, []
    for lvl, colour in (("O", LABEL_COLOUR), ("P", PREDICTION_COLOUR)):
        table = objects.get(lvl)
        if table is None:
            continue
        for i in table.of_image(image_id):  # one image: a handful of objects, in table order
            caption = names.get(int(table.category[i]), str(table.category[i]))
            if lvl == "P" and np.isfinite(table.score[i]):
                caption += f" {table.score[i]:.2f}"
            box = table.xywh[i]
            if not np.isfinite(box).all():
                boxless.append(f"{'label' if lvl == 'O' else 'prediction'}: {caption}")
                continue
            is_item = level == lvl and int(table.ids[i]) == item_id
            faded = level != "F" and not is_item
            it = DrawItem(*box, colour=dim(colour, 0.55) if faded else colour, caption="" if faded else caption,
                          segmentation=table.segmentation[i] if is_item else None,
                          thickness=3 if is_item else (1 if faded else 2))
            (highlighted if is_item else items).append(it)
            if is_item:
                focus = tuple(box)
    return items + highlighted, focus, boxless


def page_objects(project: Project, image_ids, *, with_predictions: bool) -> dict:
    """The labels ("O") and, when drawn, predictions ("P") of a gallery page's images (``ImageObjects``: gathered
    once per page by position, not filtered per tile)."""
    out = {"O": ImageObjects(project, "labels", image_ids)}
    if with_predictions and project.has_predictions:
        out["P"] = ImageObjects(project, "predictions", image_ids)
    return out


def item_tiles(project: Project, rows: pd.DataFrame, *, choice: MetricEntry, with_predictions: bool,
               zoom: bool) -> list[Tile]:
    """Gallery tiles for one page of ``metric_rows`` rows (called by ``show_gallery`` for the current page only):
    the item's whole image (or, with ``zoom``, its neighbourhood) with the item highlighted, captioned with the
    metric value."""
    names = project.category_names
    image_ids = rows["image_id"].to_numpy()
    at = image_rows(project, "images", image_ids)
    files = dict(zip(project.images["image_id"].to_numpy()[at].tolist(), project.images["file_name"].iloc[at].tolist()))
    objects = page_objects(project, image_ids, with_predictions=with_predictions)
    word = LEVEL_WORD[choice.level]
    tiles = []
    for image_id, item_id, value, category in zip(rows["image_id"].tolist(), rows["item_id"].tolist(),
                                                  rows["value"].tolist(), rows["category_id"].tolist()):
        image_id, item_id = int(image_id), int(item_id)  # one page of the gallery: a dozen or so tiles
        items, focus, boxless = draw_items(project, image_id, level=choice.level, item_id=item_id,
                                           with_predictions=with_predictions, objects=objects, names=names)
        caption = f"{choice.display_name} = {format_value(value)} · {Path(str(files.get(image_id, '?'))).name}"
        if choice.level != "F":
            caption += f" · {word} {item_id} ({names.get(int(category), category)})"
        if boxless:
            caption += " · " + ", ".join(boxless)
        tiles.append(Tile(image_id, tuple(items), focus=focus if zoom else None, caption=caption,
                          key=f"{word}:{item_id}"))
    return tiles


def format_value(value: float) -> str:
    """A metric value for a caption or table: 4 significant digits, "—" for NaN/inf (``explorer.ui.text.number``,
    the app's one rendering of an undefined value)."""
    return number(value, ".4g")
