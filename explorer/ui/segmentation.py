"""Segmentation UI helpers: class colours, mask overlays, cached evaluation.

The per-image outcome is the image's mean IoU over the classes present (``explorer.evaluation.segmentation
.outcomes``); importance and performance by metric need a yes/no outcome, so Y is "mIoU ≥ target" (the task's
outcome table, ``explorer.analysis.outcomes.segmentation_outcomes``) with the target set on the Segmentation page
(``seg_good_iou``, the selection option ``target_iou``; default the task's ``DEFAULT_TARGET_IOU``).
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import streamlit as st

from explorer.errors import UserError
from explorer.project.folder import Project
from explorer.evaluation import segmentation as seg
from explorer.tasks.segmentation import DEFAULT_TARGET_IOU as DEFAULT_GOOD_IOU
from explorer.ui.persist import keep
from explorer.ui.state import OPTION_KEYS

GOOD_IOU_KEY = OPTION_KEYS["target_iou"]  # the widget that sets Selection option "target_iou"
IGNORE_RGB = (255, 255, 255)
# a fixed qualitative palette: Tableau 20 with its dark tones first (20 well-separated colours; class 0 is
# usually background), then colours chosen one by one as far as possible (CIELAB) from all earlier ones
_TAB20 = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
          (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
          (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
          (219, 219, 141), (158, 218, 229)]
MAX_COLOURS = 256


def _lab(rgb: np.ndarray) -> np.ndarray:
    """``(n, 3)`` uint8 sRGB -> ``(n, 3)`` float CIELAB (D65), for colour distances."""
    c = rgb.astype(np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]])
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


@functools.lru_cache(maxsize=1)
def _sequence() -> np.ndarray:
    """The ``MAX_COLOURS`` palette colours in order (greedy farthest point in CIELAB after Tableau 20, avoiding
    the ignore white): deterministic, and each prefix is the palette of fewer classes."""
    levels = np.linspace(0, 255, 12).round()
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3).astype(np.uint8)
    chosen = np.asarray(_TAB20, np.uint8)
    lab_grid = _lab(grid)
    taken = np.vstack([_lab(chosen), _lab(np.asarray([IGNORE_RGB], np.uint8))])
    nearest = np.min(((lab_grid[:, None, :] - taken[None, :, :]) ** 2).sum(-1), axis=1)
    out = [chosen]
    for _ in range(MAX_COLOURS - len(chosen)):  # one vectorised distance update per added colour
        i = int(np.argmax(nearest))
        out.append(grid[i:i + 1])
        nearest = np.minimum(nearest, ((lab_grid - lab_grid[i]) ** 2).sum(-1))
    return np.vstack(out)


def palette(num_classes: int) -> np.ndarray:
    """``(num_classes, 3)`` uint8 RGB colour per class index: Tableau 20, then maximally distinct colours; the
    same class index has the same colour in every view and project (cycling beyond ``MAX_COLOURS``)."""
    sequence = _sequence()
    return sequence[np.arange(num_classes) % len(sequence)].reshape(-1, 3)


def target_iou_control(sel, where=None) -> float:
    """The target IoU slider (Y = per-image mIoU ≥ target), one session key kept across pages; returns the
    target in force for ``sel``."""
    where = where or st
    where.slider("Target mIoU: an image is good when its per-image mIoU ≥ this", 0.05, 1.0, DEFAULT_GOOD_IOU, 0.05,
                 help="Y of Metric Importance and Performance by Metric (one setting, shared by both pages).",
                 **keep(GOOD_IOU_KEY))
    return float(sel.core.option("target_iou", DEFAULT_GOOD_IOU))


def colorize(mask: np.ndarray, colours: np.ndarray, *, ignore_index: int = seg.IGNORE_INDEX) -> np.ndarray:
    """``(H, W, 3)`` uint8 colour image of a class-index mask (one table lookup; ignore and unknown = white)."""
    k = len(colours)
    lut = np.vstack([colours, np.asarray([IGNORE_RGB], np.uint8)])
    index = np.where((mask >= 0) & (mask < k), mask, k)
    return lut[index]


def overlay(image: np.ndarray | None, mask: np.ndarray, colours: np.ndarray, *, alpha: float = 0.5,
            ignore_index: int = seg.IGNORE_INDEX) -> np.ndarray:
    """The mask's colours blended over the RGB image (``alpha`` = mask weight); the mask alone without image."""
    colour = colorize(mask, colours, ignore_index=ignore_index)
    if image is None or image.shape[:2] != mask.shape:
        return colour
    blended = (1 - alpha) * image.astype(np.float32) + alpha * colour.astype(np.float32)
    return np.clip(blended, 0, 255).astype(np.uint8)


def error_map(label: np.ndarray, pred: np.ndarray, *, ignore_index: int = seg.IGNORE_INDEX) -> np.ndarray:
    """``(H, W, 3)``: correct pixels green, wrong pixels red, ignored pixels white."""
    out = np.empty((*label.shape, 3), np.uint8)
    out[:] = (214, 39, 40)
    out[label == pred] = (44, 160, 44)
    out[label == ignore_index] = IGNORE_RGB
    return out


def read_image(project: Project, file_name: str) -> np.ndarray | None:
    """The RGB image, or None when the project has no images or the file cannot be read."""
    from PIL import Image

    if project.images_root is None:
        return None
    try:
        path = project.image_path(file_name)  # refuses a name or link leading outside the image folder
        if not path.is_file():  # missing, or a FIFO / device that would block the reader
            return None
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UserError, OSError, ValueError, Image.DecompressionBombError):
        return None


@st.cache_resource(show_spinner="Evaluating masks…", max_entries=4)
def _confusions(path: str, fingerprint: str, _project: Project) -> seg.ProjectConfusions:
    # the sidebar's run view itself (its fingerprint names the run), not a reload of the first run
    return seg.project_confusions(_project)


def confusions(project: Project) -> seg.ProjectConfusions:
    """Per-image pixel confusions of the project (read once per project fingerprint)."""
    return _confusions(str(project.root), project.fingerprint, project)


def outcomes(project: Project) -> pd.DataFrame:
    """``image_id, miou, pixel_accuracy`` per evaluated image (cached through ``confusions``)."""
    confusions(project)
    return seg.outcomes(project)


# ---- per-image gallery (semantic masks: the box gallery draws instances, not class-index masks) ---------------
@st.cache_data(show_spinner=False, max_entries=256)
def _mask_thumbnail(path: str, fingerprint: str, image_id: int, alpha: float, max_side: int,
                    _project: Project) -> np.ndarray | str:
    """``(h, w, 3)`` RGB thumbnail: the prediction mask (else the label mask) in the palette's colours over the
    image, at most ``max_side`` pixels; a message when nothing can be drawn."""
    import cv2

    project = _project
    row = project.images.loc[project.images["image_id"] == image_id]
    if row.empty:
        return f"image id {image_id} is not in the project"
    row = row.iloc[0]
    kind, rel = ("pred", row["pred_mask"]) if isinstance(row.get("pred_mask"), str) else ("label", row.get("label_mask"))
    if not isinstance(rel, str):
        return f"{row['file_name']}: no mask"
    try:
        mask = seg.read_mask(seg.mask_path(project, kind, rel))
    except UserError as e:
        return f"{row['file_name']}: {e}"
    settings = seg.settings(project)
    colours = palette(int(settings["num_classes"]))
    image = read_image(project, str(row["file_name"]))
    out = overlay(image, mask, colours, alpha=alpha, ignore_index=int(settings.get("ignore_index", seg.IGNORE_INDEX)))
    scale = min(max_side / max(out.shape[:2]), 4.0)  # small masks are enlarged (nearest: class edges stay crisp)
    size = (max(1, int(round(out.shape[1] * scale))), max(1, int(round(out.shape[0] * scale))))
    return cv2.resize(out, size, interpolation=cv2.INTER_NEAREST)


def mask_gallery(project: Project, rows: pd.DataFrame, caption, *, key: str, per_page: int = 8, columns: int = 4,
                 alpha: float = 0.5, max_side: int = 240) -> pd.DataFrame:
    """A paginated gallery of ``rows`` (one per image, in their order; ``image_id`` column) with the prediction
    mask over each image and ``caption(row)`` under it (user text goes through ``plain`` here). Returns the rows
    of the page shown."""
    from explorer.ui.text import plain

    if len(rows) == 0:
        st.info("No image to show for this selection.")
        return rows
    n_pages = max(1, -(-len(rows) // per_page))
    page_key = f"{key}:page"
    if not 1 <= int(st.session_state.get(page_key, 1)) <= n_pages:  # the rows changed since the last run
        st.session_state[page_key] = 1
    left, right = st.columns([1, 3])
    page = left.number_input(f"Page (of {n_pages})", min_value=1, max_value=n_pages, step=1, key=page_key,
                             disabled=n_pages == 1)
    start = (int(page) - 1) * per_page
    shown = rows.iloc[start:start + per_page]
    right.caption(f"showing {start + 1}–{start + len(shown)} of {len(rows):,}")
    grid = st.columns(columns)
    for i, row in enumerate(shown.itertuples(index=False)):
        with grid[i % columns]:
            thumb = _mask_thumbnail(str(project.root), project.fingerprint, int(row.image_id), float(alpha),
                                    int(max_side), project)
            if isinstance(thumb, str):
                st.warning(plain(thumb), icon="🖼️")
                st.caption(plain(caption(row)))
            else:
                st.image(thumb, caption=plain(caption(row)), width="stretch")
    return shown
