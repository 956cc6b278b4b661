"""The image viewer: one gallery item at full resolution in a dialog, with zoom, pan and previous/next.

Every gallery (``explorer.ui.gallery.show_gallery``) puts a "View" button under each tile; clicking it opens
``st.dialog`` on that item. The dialog shows

* the whole image at full resolution in a Plotly figure (scroll or drag to zoom, double-click to reset, pan),
  boxes as shapes (hover a box's corner for its class, score and outcome), masks painted into the image;
* "◀ Previous" / "Next ▶" (keyboard: ←/→ via ``st.button(shortcut=…)``) through the **whole** gallery the tile
  came from, not only its page; the position lives in ``st.session_state[VIEWER]``;
* toggles for labels, predictions and each outcome (TP, FP, FN, ignored) on projects with matching (detection),
  colour by outcome or by class, and a legend in the figure (outcomes, or the 12 most frequent classes drawn
  and the rest grouped);
* the item's data-metric values (the label or prediction the tile is about, plus its image's frame metrics).

``overlay``: an optional ``Callable[[np.ndarray, int], np.ndarray]`` taking the RGB image ``(H, W, 3)`` uint8
and the image id and returning the image to show (same shape), e.g. a heat-map blended over it. It is applied
before boxes and masks are drawn. ``show_gallery(..., overlay=f)`` passes it on.
"""
from __future__ import annotations

import base64
from typing import Callable

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.drawing.render import (FN_COLOUR, FP_COLOUR, LABEL_COLOUR, PREDICTION_COLOUR, TP_COLOUR,
                                     decode_segmentation, paint_masks)
from explorer.drawing.tiles import Tile
from explorer.errors import UserError
from explorer.ui.charts import show_chart, table_height
from explorer.ui.text import number, plain

VIEWER = "_viewer"  # session key: {"gallery": gallery key, "index": position in the gallery, "open": bool}
IGNORED_COLOUR = (160, 160, 160)
OUTCOME_BGR = {"TP": TP_COLOUR, "FP": FP_COLOUR, "FN": FN_COLOUR, "ignored": IGNORED_COLOUR}
OUTCOME_TITLES = {"TP": "true positive", "FP": "false detection", "FN": "missed label", "ignored": "ignored (crowd)"}
LEGEND_TOP_K = 12  # classes named in the legend; the rest are grouped as "N other classes"
MAX_ANNOTATED = 60  # boxes with a class tag drawn on the figure; beyond this only hover text
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354"]

Overlay = Callable[[np.ndarray, int], np.ndarray]


def open_viewer(gallery: str, index: int) -> None:
    """``on_click`` of a tile's "View" button: open the viewer on item ``index`` of gallery ``gallery``."""
    st.session_state[VIEWER] = {"gallery": gallery, "index": int(index), "open": True}


def _step(n_items: int, delta: int) -> None:
    state = st.session_state[VIEWER]
    state["index"] = (int(state["index"]) + delta) % max(n_items, 1)


def show_if_opened(gallery: str, *, tile_at: Callable[[int], Tile], n_items: int, project,
                   overlay: Overlay | None = None) -> bool:
    """Open the dialog when this gallery's "View" button was clicked in this run; True when it did.

    The open flag is consumed here, so a later rerun of the page (another control) does not reopen a dialog the
    user closed; the dialog's own buttons rerun only the dialog (it is a fragment)."""
    state = st.session_state.get(VIEWER)
    if not state or state.get("gallery") != gallery or not state.pop("open", False):
        return False
    _dialog(gallery, tile_at, n_items, project, overlay)
    return True


# ---- what is drawn -----------------------------------------------------------------------------------------------
def image_objects(project, image_id: int) -> pd.DataFrame:
    """Labels and predictions of one image with their outcome at the sidebar's thresholds.

    Columns: ``record`` ("label"/"prediction"), ``id``, ``category_id``, ``x, y, w, h``, ``segmentation``,
    ``score`` (NaN for labels), ``outcome`` ("TP"/"FP"/"FN"/"ignored", or "" when the task has no matching).
    Predictions below the confidence threshold are left out (they are in no count either)."""
    from explorer import tasks
    from explorer.ui.state import selection

    sel = selection()
    labels = project.labels[project.labels["image_id"] == image_id]
    preds = project.predictions[project.predictions["image_id"] == image_id] if project.has_predictions else None
    parts = [pd.DataFrame({"record": "label", "id": labels["label_id"].to_numpy(np.int64),
                           "category_id": labels["category_id"].to_numpy(np.int64),
                           "x": labels["x"].to_numpy(np.float64), "y": labels["y"].to_numpy(np.float64),
                           "w": labels["w"].to_numpy(np.float64), "h": labels["h"].to_numpy(np.float64),
                           "segmentation": labels["segmentation"].to_numpy(object), "score": np.nan})]
    if preds is not None:
        preds = preds[preds["score"].to_numpy(np.float64) >= sel.confidence_threshold]
        parts.append(pd.DataFrame({"record": "prediction", "id": preds["pred_id"].to_numpy(np.int64),
                                   "category_id": preds["category_id"].to_numpy(np.int64),
                                   "x": preds["x"].to_numpy(np.float64), "y": preds["y"].to_numpy(np.float64),
                                   "w": preds["w"].to_numpy(np.float64), "h": preds["h"].to_numpy(np.float64),
                                   "segmentation": preds["segmentation"].to_numpy(object),
                                   "score": preds["score"].to_numpy(np.float64)}))
    objects = pd.concat(parts, ignore_index=True)
    objects["outcome"] = ""
    task = tasks.get(project.task)
    if preds is not None and "predictions" in task.outcome_targets and len(objects):
        from explorer.ui import detection

        m = detection.match(sel)
        p = m.predictions[m.predictions["image_id"] == image_id]
        lab = m.labels[m.labels["image_id"] == image_id]
        pred_outcome = pd.Series(np.where(p["ignored"], "ignored", np.where(p["is_tp"], "TP", "FP")),
                                 index=p["pred_id"].to_numpy(np.int64))
        label_outcome = pd.Series(np.where(lab["ignored"], "ignored", np.where(lab["detected"], "TP", "FN")),
                                  index=lab["label_id"].to_numpy(np.int64))
        is_pred = (objects["record"] == "prediction").to_numpy()
        ids = objects["id"].to_numpy(np.int64)
        out = np.full(len(objects), "", dtype=object)
        out[is_pred] = pred_outcome.reindex(ids[is_pred]).fillna("").to_numpy(object)
        out[~is_pred] = label_outcome.reindex(ids[~is_pred]).fillna("").to_numpy(object)
        objects["outcome"] = out
    return objects


def _css(bgr) -> str:
    return f"rgb({int(bgr[2])},{int(bgr[1])},{int(bgr[0])})"


def _hex_bgr(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    r, g, b = (int(value[i:i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def object_colours(objects: pd.DataFrame, by: str, class_order: list[int]) -> list[tuple[int, int, int]]:
    """BGR colour per object: by outcome (TP green, FP red, FN orange, ignored grey; neutral label / prediction
    colours when there is no outcome) or by class (``PALETTE`` in ``class_order``)."""
    if by == "class":
        slot = {c: i for i, c in enumerate(class_order)}
        return [_hex_bgr(PALETTE[slot.get(int(c), 0) % len(PALETTE)]) for c in objects["category_id"]]
    neutral = np.where(objects["record"].to_numpy() == "label", 0, 1)
    return [OUTCOME_BGR.get(o, (LABEL_COLOUR, PREDICTION_COLOUR)[n]) for o, n in zip(objects["outcome"], neutral)]


def viewer_figure(image_rgb: np.ndarray, objects: pd.DataFrame, colours: list, names: dict[int, str],
                  focus: tuple[str, int] | None = None, legend: list[tuple[str, str]] | None = None) -> go.Figure:
    """The image (JPEG data URI, full resolution) with one rectangle shape per object and hover text at each box's
    top-left corner (raw text: ``show_chart`` escapes it); the ``focus`` object (``(record, id)``: the tile's item)
    drawn thicker; the y axis runs down like image rows, and the figure keeps the image's aspect ratio."""
    height, width = image_rgb.shape[:2]
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode() if ok else None
    fig = go.Figure(go.Image(source=uri, hoverinfo="skip"))
    shapes, annotations = [], []
    dashed = objects["record"].to_numpy() == "prediction"
    for k, (row, colour) in enumerate(zip(objects.itertuples(index=False), colours)):  # one image: few boxes
        if not np.isfinite([row.x, row.y, row.w, row.h]).all():
            continue
        shapes.append(dict(type="rect", x0=row.x, y0=row.y, x1=row.x + row.w, y1=row.y + row.h, xref="x", yref="y",
                           line=dict(color=_css(colour), width=4 if (row.record, row.id) == focus else 2,
                                     dash="dash" if dashed[k] else "solid")))
    hover = [f"{names.get(int(r.category_id), r.category_id)} · {r.record}"
             + (f" {r.score:.2f}" if np.isfinite(r.score) else "")
             + (f" · {OUTCOME_TITLES.get(r.outcome, r.outcome)}" if r.outcome else "")
             for r in objects.itertuples(index=False)]
    if len(objects) <= MAX_ANNOTATED:
        # a label's tag above its box's top-left corner, a prediction's below its bottom-left corner: a label and
        # the prediction on it never cover each other's tag
        for row, colour, text, is_pred in zip(objects.itertuples(index=False), colours, hover, dashed):
            if np.isfinite([row.x, row.y, row.h]).all():
                annotations.append(dict(x=row.x, y=row.y + row.h if is_pred else row.y, xref="x", yref="y",
                                        text=text.split(" · ")[0], showarrow=False, xanchor="left",
                                        yanchor="top" if is_pred else "bottom", font=dict(size=10, color="white"),
                                        bgcolor=_css(colour), opacity=0.85))
    if len(objects):
        fig.add_trace(go.Scatter(x=objects["x"], y=objects["y"], mode="markers", hovertext=hover, hoverinfo="text",
                                 marker=dict(size=10, color=[_css(c) for c in colours], opacity=0.6), showlegend=False))
    for colour, text in legend or []:  # legend-only entries: what the colours mean (names escaped by show_chart)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=text, hoverinfo="skip",
                                 marker=dict(color=colour, size=11, symbol="square")))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="solid: label, dashed: prediction",
                             hoverinfo="skip", line=dict(color="#555", dash="dash")))
    fig.update_layout(showlegend=True, legend=dict(orientation="h", x=0, y=-0.02, yanchor="top"))
    fig.update_layout(shapes=shapes, annotations=annotations, margin=dict(l=0, r=0, t=0, b=40), dragmode="zoom",
                      height=min(780, max(320, int(900 * height / max(width, 1)))),
                      xaxis=dict(visible=False, range=[0, width], constrain="domain"),
                      yaxis=dict(visible=False, range=[height, 0], scaleanchor="x", constrain="domain"))
    return fig


def paint_object_masks(image_rgb: np.ndarray, objects: pd.DataFrame, colours: list) -> np.ndarray:
    """The image with every object's mask (when it has one) blended in its colour (``paint_masks``)."""
    height, width = image_rgb.shape[:2]
    masks, mask_colours = [], []
    for seg, colour in zip(objects["segmentation"], colours):
        try:
            mask = decode_segmentation(seg, height, width)
        except UserError:  # a damaged mask: the box is still drawn
            continue
        if mask is not None:
            masks.append(mask)
            mask_colours.append(colour[::-1])  # BGR -> RGB: the image here is RGB
    if not masks:
        return image_rgb
    return paint_masks(image_rgb, np.stack(masks), np.array(mask_colours), alpha=0.35)


def legend_entries(objects: pd.DataFrame, colours: list, names: dict[int, str], by: str) -> list[tuple[str, str]]:
    """``(css colour, text)`` of what the colours mean: the outcomes, or the classes drawn (the top
    ``LEGEND_TOP_K`` by count, the rest grouped as "N other classes")."""
    chips = []
    if by == "class":
        counts = objects["category_id"].value_counts()
        first = {int(c): col for c, col in zip(objects["category_id"], colours)}
        for c, n in counts.iloc[:LEGEND_TOP_K].items():
            chips.append((_css(first[int(c)]), f"{names.get(int(c), c)} ({n})"))
        rest = counts.iloc[LEGEND_TOP_K:]
        if len(rest):
            chips.append(("#999", f"{len(rest)} other classes ({int(rest.sum())})"))
    else:
        for outcome, n in objects["outcome"].value_counts().items():
            if outcome:
                chips.append((_css(OUTCOME_BGR[outcome]), f"{OUTCOME_TITLES[outcome]} ({n})"))
        if (objects["outcome"] == "").any():
            chips += [(_css(LABEL_COLOUR), "label"), (_css(PREDICTION_COLOUR), "prediction")]
    return chips


def object_metrics(project, tile: Tile) -> pd.DataFrame | None:
    """The data-metric values of the tile's item (``Tile.key`` "label:ID"/"prediction:ID"/"image:ID"), as a
    two-column table (metric, value); None when the project has no metrics or the key names no item."""
    from explorer.ui.outcomes import metric_names, metrics_for_target

    kind, _, raw = (tile.key or "").partition(":")
    target = {"label": "labels", "prediction": "predictions", "pred": "predictions", "image": "images",
              "img": "images"}.get(kind)
    if target is None or not raw.lstrip("-").isdigit():
        target, raw = "images", str(tile.image_id)
    table = metrics_for_target(project, target)
    if table is None or int(raw) not in table.index:
        return None
    row = table.loc[int(raw)]
    names = metric_names(project, target)
    values = [row[c] for c in names]
    return pd.DataFrame({"metric": list(names.values()),
                         "value": [number(v, ".4g") if isinstance(v, (int, float, np.floating, np.integer))
                                   else str(v) for v in values]})


# ---- the dialog --------------------------------------------------------------------------------------------------
@st.dialog("Image viewer", width="large")
def _dialog(gallery: str, tile_at: Callable[[int], Tile], n_items: int, project, overlay: Overlay | None) -> None:
    from explorer.ui.gallery import read_image

    state = st.session_state[VIEWER]
    index = int(state["index"]) % max(n_items, 1)
    tile = tile_at(index)
    files = project.images.set_index("image_id")["file_name"]
    left, mid, right = st.columns([1, 4, 1])
    left.button("◀ Previous", key="viewer:prev", on_click=_step, args=(n_items, -1), shortcut="Left",
                disabled=n_items <= 1, width="stretch")
    right.button("Next ▶", key="viewer:next", on_click=_step, args=(n_items, 1), shortcut="Right",
                 disabled=n_items <= 1, width="stretch")
    mid.markdown(f"**{index + 1:,} of {n_items:,}** · {plain(files.get(tile.image_id, tile.image_id))}")
    if tile.caption:
        st.caption(plain(tile.caption))
    image = read_image(project, tile.image_id)
    if isinstance(image, str):
        st.warning(plain(image), icon="🖼️")
        return
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if overlay is not None:
        image = np.asarray(overlay(image, int(tile.image_id)), np.uint8)

    objects = image_objects(project, int(tile.image_id))
    has_outcomes = bool((objects["outcome"] != "").any())
    a, b, c = st.columns([2, 3, 2])
    layers = a.pills("Show", ["labels", "predictions"], selection_mode="multi", default=["labels", "predictions"],
                     key="viewer:layers")
    outcomes = [o for o in OUTCOME_TITLES if (objects["outcome"] == o).any()]
    chosen = b.pills("Outcomes", outcomes, selection_mode="multi", default=outcomes, key="viewer:outcomes",
                     format_func=OUTCOME_TITLES.get, disabled=not has_outcomes)
    by = c.segmented_control("Colour by", ["outcome", "class"], default="outcome" if has_outcomes else "class",
                             key="viewer:colour") or "outcome"
    visible = objects["record"].map({"label": "labels", "prediction": "predictions"}).isin(layers or []).to_numpy()
    if has_outcomes:
        visible = visible & (objects["outcome"].isin(chosen or []).to_numpy() | (objects["outcome"] == "").to_numpy())
    shown = objects[visible].reset_index(drop=True)
    class_order = list(objects["category_id"].value_counts().index)
    colours = object_colours(shown, by, class_order)
    names = project.category_names
    kind, _, raw = (tile.key or "").partition(":")
    focus = ({"pred": "prediction", "prediction": "prediction", "label": "label"}.get(kind), int(raw)) \
        if raw.lstrip("-").isdigit() else None
    fig = viewer_figure(paint_object_masks(image, shown, colours), shown, colours, names, focus=focus,
                        legend=legend_entries(shown, colours, names, by))
    show_chart(fig, key="viewer:figure", config={"scrollZoom": True, "displaylogo": False})
    height, width = image.shape[:2]
    st.caption(f"{width:d}×{height:d} px · {int((shown['record'] == 'label').sum()):,} label(s), "
               f"{int((shown['record'] == 'prediction').sum()):,} prediction(s) shown · scroll or drag to zoom, "
               "double-click to reset · ←/→ for the previous/next image")
    metrics = object_metrics(project, tile)
    if metrics is not None and len(metrics):
        with st.expander("Data metrics of this item", expanded=True):
            st.dataframe(metrics, hide_index=True, height=table_height(len(metrics), max_rows=12))
