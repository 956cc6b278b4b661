"""A paginated gallery of images with boxes and masks drawn on them (UI; the drawing is ``explorer.drawing.render``).

``show_gallery(items, *, key, ...)`` accepts

* a list of ``explorer.drawing.tiles.Tile`` — one thumbnail each;
* a *box table* — a DataFrame with one row per box (``image_id, x, y, w, h`` and optionally ``colour``,
  ``caption``, ``segmentation``, ``thickness``): one thumbnail per image, every box of it drawn;
* any DataFrame with one row per thumbnail plus ``make_tiles(rows) -> list[Tile]``, which is called only for
  the rows of the current page (so a bucket of 100k rows costs one page of drawing);
* ``Pages(n, tiles)`` — ``n`` items whose tiles ``tiles(start, stop)`` are made only for the page shown (and the
  viewer's one image): the rows of a page are chosen there, so millions of items are never sorted or copied.

Images are read only through ``Project.image_path`` (a name escaping the image root is refused); a missing or
unreadable image becomes a placeholder message in its tile, never a traceback. Thumbnails are cached as PNG
bytes, keyed by project path, fingerprint, the tile's drawing digest and the size.

Each tile has a "View" button opening the image viewer (``explorer.ui.viewer``: full resolution, zoom and pan,
previous/next through the whole gallery with ←/→). ``overlay`` (optional ``(rgb_image, image_id) -> rgb_image``)
is applied to the image the viewer shows, e.g. a heat map.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np
import pandas as pd
import streamlit as st

from explorer.errors import UserError
from explorer.project.folder import Project
from explorer.drawing.attribution import DEFAULT_OPACITY, OPACITY_KEY, overlay_for, overlay_setting
from explorer.drawing.render import render_tile
from explorer.drawing.tiles import Tile, tiles_from_boxes
from explorer.ui.text import plain
from explorer.ui.persist import keep


@dataclass(frozen=True)
class Pages:
    """``n`` gallery items, ``tiles(start, stop)`` the tiles of items ``[start, stop)`` (module docstring)."""

    n: int
    tiles: Callable[[int, int], list[Tile]]


@st.cache_resource(show_spinner=False, max_entries=8)
def _full_image(project_path: str, fingerprint: str, image_id: int) -> np.ndarray | str:
    from explorer.ui.state import load_project

    project = load_project(project_path)
    names = project.images.loc[project.images["image_id"] == image_id, "file_name"]
    if names.empty:
        return f"image id {image_id} is not in the project"
    file_name = str(names.iloc[0])
    try:
        path = project.image_path(file_name)
    except UserError as e:
        return f"{file_name}: {e}"
    # the metrics engine's guards: a regular file only (a FIFO would hang the app), a header size within the
    # pixel bound before decoding (a forged 25000² header), OpenCV errors caught
    from explorer.datametrics.worker import read_image_file
    from metrics.image import TooLargeToDecode, decode_full

    data = read_image_file(str(path)) if path.exists() else "image file missing"
    if isinstance(data, str):
        return f"{file_name}: {data} ({path})"
    try:
        image = decode_full(data)
    except TooLargeToDecode as e:
        return f"{file_name}: {e}"
    if image is None:
        return f"{file_name}: image file missing or unreadable ({path})"
    image.setflags(write=False)  # shared between reruns
    return image


def read_image(project: Project, image_id: int) -> np.ndarray | str:
    """The image ``(H, W, 3)`` BGR uint8 at full resolution (read-only, cached for the last few images), or a
    message saying why it cannot be shown."""
    return _full_image(str(project.root), project.fingerprint, int(image_id))


@st.cache_data(show_spinner=False, max_entries=256)
def _thumbnail_png(project_path: str, fingerprint: str, tile_key: str, max_side: int, _tile: Tile,
                   overlay: tuple = ()) -> bytes | str:
    """PNG bytes of a tile, or a message saying why the image cannot be shown (``str``)."""
    image = _full_image(project_path, fingerprint, int(_tile.image_id))
    if isinstance(image, str):
        return image
    from explorer.ui.state import load_project

    project = load_project(project_path)
    image = overlay_for(project, _tile.image_id, image, overlay)  # attribution heat-map, under the boxes
    images = project.images
    names = images.loc[images["image_id"] == _tile.image_id, "file_name"]
    file_name = str(names.iloc[0]) if len(names) else f"image {_tile.image_id}"
    try:
        tile = render_tile(image, _tile.items, focus=_tile.focus, max_side=max_side)
    except UserError as e:  # e.g. a mask whose size differs from the image
        return f"{file_name}: cannot draw its annotations: {e}"
    ok, png = cv2.imencode(".png", tile)
    return png.tobytes() if ok else f"{file_name}: could not encode the thumbnail"


def _page_controls(n_items: int, *, key: str, per_page: int) -> tuple[int, int]:
    """Page selector; returns the ``[start, stop)`` item range of the current page."""
    n_pages = max(1, -(-n_items // per_page))
    page_key = f"{key}:page"
    if not 1 <= int(st.session_state.get(page_key, 1)) <= n_pages:  # the item set shrank since the last run
        st.session_state[page_key] = 1
    left, right = st.columns([1, 3])
    page = left.number_input(f"Page (of {n_pages})", min_value=1, max_value=n_pages, step=1, **keep(page_key, url=False),
                             disabled=n_pages == 1)
    start = (int(page) - 1) * per_page
    stop = min(start + per_page, n_items)
    right.caption(f"showing {start + 1}–{stop} of {n_items:,}")
    return start, stop


def show_gallery(items: Sequence[Tile] | pd.DataFrame | Pages, *, key: str, project: Project | None = None,
                 per_page: int = 12, columns: int = 4, max_side: int = 300,
                 make_tiles: Callable[[pd.DataFrame], list[Tile]] | None = None,
                 empty_message: str = "Nothing to show for this selection.", viewer: bool = True,
                 overlay: Callable[[np.ndarray, int], np.ndarray] | None = None) -> list[Tile]:
    """Draw one page of the gallery (see the module docstring for ``items``); return the tiles shown.

    ``key`` namespaces the widgets (page number, view buttons), so several galleries can live on one page.
    ``project`` defaults to the sidebar's current project. ``viewer``: a "View" button under each tile opens
    the image viewer on it (previous/next run through every item, not only this page); ``overlay`` is applied
    to the viewer's image (``explorer.ui.viewer``).
    """
    if project is None:
        from explorer.ui.state import selection

        project = selection().project
    if isinstance(items, Pages):
        n_items = int(items.n)
    elif isinstance(items, pd.DataFrame) and make_tiles is None:
        image_ids = pd.unique(items["image_id"].to_numpy(np.int64)) if len(items) else np.empty(0, np.int64)
        n_items = len(image_ids)
    else:
        n_items = len(items)
    if n_items == 0:
        st.info(empty_message)  # our text: callers pass constants
        return []
    start, stop = _page_controls(n_items, key=key, per_page=per_page)

    def tiles_of(a: int, b: int) -> list[Tile]:
        if isinstance(items, Pages):
            return list(items.tiles(a, b))
        if isinstance(items, pd.DataFrame) and make_tiles is None:
            page_ids = image_ids[a:b]
            return tiles_from_boxes(items[items["image_id"].isin(page_ids)], image_ids=page_ids)
        if isinstance(items, pd.DataFrame):
            return make_tiles(items.iloc[a:b])
        return list(items[a:b])

    tiles = tiles_of(start, stop)

    if project.images_root is None:
        st.info("This project has no image folder, so nothing can be drawn; the items of this page are listed instead.")
        st.dataframe(pd.DataFrame({"image_id": [t.image_id for t in tiles], "item": [t.caption for t in tiles]}),
                     hide_index=True)
        return tiles
    from explorer.drawing.attribution import rgb_overlay
    from explorer.ui.viewer import open_viewer, show_if_opened

    grid = st.columns(columns)
    heat = overlay_setting(project, st.session_state.get(OPACITY_KEY, DEFAULT_OPACITY))
    for i, tile in enumerate(tiles):
        with grid[i % columns]:
            thumb = _thumbnail_png(str(project.root), project.fingerprint, tile.cache_key(), max_side, tile, heat)
            if isinstance(thumb, str):
                st.warning(plain(thumb), icon="🖼️")  # names the file: user text
                if tile.caption:
                    st.caption(plain(tile.caption))
            else:
                st.image(thumb, caption=plain(tile.caption) if tile.caption else None, width="stretch")
                if viewer:
                    st.button("View", key=f"{key}:view:{start + i}", on_click=open_viewer, args=(key, start + i),
                              type="tertiary", icon=":material/zoom_in:",
                              help="Open the full image: zoom, pan, previous/next with the arrow keys")
    if viewer:  # the viewer shows the caller's overlay, else the project's attribution heat-map (if any)
        show_if_opened(key, tile_at=lambda i: tiles_of(i, i + 1)[0], n_items=n_items, project=project,
                       overlay=overlay if overlay is not None else rgb_overlay(project, heat))
    return tiles
