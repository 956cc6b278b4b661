"""Drawing boxes and masks on images for galleries (OpenCV, NumPy; no Streamlit).

Conventions
-----------
* Images are ``uint8`` arrays of shape ``(H, W, 3)`` in **BGR** order (what ``cv2.imread`` returns); colours
  are BGR tuples. Nothing is drawn in place: every function returns a new array.
* Boxes are COCO ``x, y, w, h`` in pixels of the *original* image; the box covers the half-open pixel range
  ``[x, x + w) × [y, y + h)``. Its outline is the pixel ring just inside ``round(x) … round(x + w) - 1`` (and
  ``thickness - 1`` rings further *outside*), so the object's own pixels stay visible.
* A segmentation is a COCO polygon list (``[[x1, y1, x2, y2, ...], ...]``), an RLE dict (``{"size": [h, w],
  "counts": ...}``, compressed string or uncompressed list), or the same serialised as JSON text (how the
  project tables store it). It is drawn as a translucent fill plus a one-ring outline.

Thumbnails stay sharp because the image is cropped and scaled *first* and the lines are drawn afterwards, at
the thumbnail's own resolution (``render_tile``).

Colours (``OUTCOME_COLOURS``): TP green, FP red ("false detection"), FN orange ("missed"); labels and
predictions in data views use the neutral ``LABEL_COLOUR`` / ``PREDICTION_COLOUR``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from explorer.errors import UserError

BGR = tuple[int, int, int]

TP_COLOUR: BGR = (60, 180, 60)  # green
FP_COLOUR: BGR = (40, 40, 230)  # red — "false detection"
FN_COLOUR: BGR = (0, 150, 255)  # orange — "missed"
LABEL_COLOUR: BGR = (235, 200, 90)  # neutral light blue: a label in data views / context
PREDICTION_COLOUR: BGR = (220, 110, 200)  # neutral violet: a prediction in data views / context
OUTCOME_COLOURS: dict[str, BGR] = {"TP": TP_COLOUR, "FP": FP_COLOUR, "FN": FN_COLOUR}
OUTCOME_WORDS = {"TP": "true positive", "FP": "false detection", "FN": "missed"}


@dataclass(frozen=True)
class DrawItem:
    """One thing to draw: a box (``x, y, w, h`` in original-image pixels), its colour, an optional caption
    printed on the image and an optional segmentation (polygon / RLE / JSON text of either)."""

    x: float
    y: float
    w: float
    h: float
    colour: BGR = LABEL_COLOUR
    caption: str = ""
    segmentation: object = None
    thickness: int = 2


# ---- segmentation ---------------------------------------------------------------------------------------
def parse_segmentation(segmentation) -> list | dict | None:
    """The segmentation as a Python polygon list or RLE dict (``None`` for box-only or empty values).

    Raises ``UserError`` for JSON text that does not parse or a value that is neither a polygon nor an RLE.
    """
    if segmentation is None or (isinstance(segmentation, float) and np.isnan(segmentation)):
        return None
    if isinstance(segmentation, str):
        if not segmentation.strip():
            return None
        try:
            segmentation = json.loads(segmentation)
        except json.JSONDecodeError as e:
            raise UserError(f"segmentation is not valid JSON ({e}): {segmentation[:80]!r}") from None
    if isinstance(segmentation, dict):
        if "counts" not in segmentation or "size" not in segmentation:
            raise UserError(f"RLE segmentation needs 'size' and 'counts', got keys {sorted(segmentation)}")
        return segmentation
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if len(p) >= 6]  # a polygon needs 3 points
        return polygons or None
    raise UserError(f"segmentation must be a polygon list or an RLE dict, got {type(segmentation).__name__}")


def decode_segmentation(segmentation, height: int, width: int) -> np.ndarray | None:
    """Binary mask ``(height, width)`` of ``bool`` for a polygon/RLE segmentation (``None`` when absent).

    Polygons are rasterised by pycocotools at ``height × width``; an RLE must have that size (``UserError``
    otherwise, naming both sizes).
    """
    seg = parse_segmentation(segmentation)
    if seg is None:
        return None
    if isinstance(seg, dict):
        rle_h, rle_w = (int(v) for v in seg["size"])
        if (rle_h, rle_w) != (height, width):
            raise UserError(f"RLE mask size {rle_h}×{rle_w} (h×w) differs from the image size {height}×{width}")
        if isinstance(seg["counts"], list):
            rle = mask_utils.frPyObjects(seg, height, width)
        else:
            rle = {"size": [height, width], "counts": seg["counts"].encode() if isinstance(seg["counts"], str) else seg["counts"]}
    else:
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    return mask_utils.decode(rle).astype(bool)


# ---- geometry -------------------------------------------------------------------------------------------
def context_window(box_xywh: Sequence[float], image_shape: tuple[int, ...], *, margin: float = 1.0,
                   min_side: int = 48) -> tuple[int, int, int, int]:
    """Crop window ``(x0, y0, x1, y1)`` (pixel indices, half-open) around an object, clipped to the image.

    The window is the box grown by ``margin × max(w, h)`` on every side and at least ``min_side`` pixels wide
    and high (when the image allows), so a tiny object is shown with its surroundings.
    """
    height, width = image_shape[:2]
    x, y, w, h = (float(v) for v in box_xywh)
    cx, cy = x + w / 2, y + h / 2
    half = max(max(w, h) * (0.5 + margin), min_side / 2)
    x0 = int(np.clip(np.floor(cx - half), 0, width))
    x1 = int(np.clip(np.ceil(cx + half), 0, width))
    y0 = int(np.clip(np.floor(cy - half), 0, height))
    y1 = int(np.clip(np.ceil(cy + half), 0, height))
    if x1 <= x0 or y1 <= y0:  # box entirely outside the image: show the whole image instead
        return 0, 0, width, height
    return x0, y0, x1, y1


def crop_to_context(image_bgr: np.ndarray, box_xywh: Sequence[float], *, margin: float = 1.0,
                    min_side: int = 48) -> tuple[np.ndarray, tuple[int, int]]:
    """The object's neighbourhood: ``(crop, (x0, y0))`` with ``(x0, y0)`` the crop's offset in the image."""
    x0, y0, x1, y1 = context_window(box_xywh, image_bgr.shape, margin=margin, min_side=min_side)
    return image_bgr[y0:y1, x0:x1].copy(), (x0, y0)


def thumbnail_scale(shape: tuple[int, ...], *, max_side: int, max_upscale: float = 4.0) -> float:
    """Factor that fits an image of ``shape`` into ``max_side × max_side`` (small crops are enlarged, at most
    ``max_upscale`` times)."""
    height, width = shape[:2]
    return float(min(max_side / max(height, width, 1), max_upscale))


def resize(image: np.ndarray, scale: float) -> np.ndarray:
    """Scale an image by ``scale``: area averaging when shrinking (no aliasing), nearest when enlarging
    (pixels stay crisp)."""
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return image.copy()
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST)


# ---- drawing --------------------------------------------------------------------------------------------
def _box_pixels(items: Sequence[DrawItem], offset=(0.0, 0.0), scale: float = 1.0) -> np.ndarray:
    """Integer outline corners ``(n, 4)``: ``x1, y1, x2, y2`` inclusive, after offset and scale (vectorised)."""
    xywh = np.array([[it.x, it.y, it.w, it.h] for it in items], dtype=np.float64).reshape(-1, 4)
    x1 = np.round((xywh[:, 0] - offset[0]) * scale)
    y1 = np.round((xywh[:, 1] - offset[1]) * scale)
    x2 = np.maximum(np.round((xywh[:, 0] + xywh[:, 2] - offset[0]) * scale) - 1, x1)
    y2 = np.maximum(np.round((xywh[:, 1] + xywh[:, 3] - offset[1]) * scale) - 1, y1)
    return np.stack([x1, y1, x2, y2], axis=1).astype(np.int64)


def _ascii(text: str) -> str:
    # OpenCV's Hershey fonts only have ASCII glyphs
    return text.encode("ascii", "replace").decode("ascii")


def _caption_rect(text: str, x: int, y: int, shape: tuple[int, ...], *, font_scale: float,
                  taken: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """Where a caption goes: ``(left, top, right, bottom)`` pixels, above the box when there is room, else just
    inside its top edge, moved down one text line at a time until it overlaps no caption already in ``taken``
    (tags never cover each other; after a column of tries the last place is used)."""
    (tw, th), base = cv2.getTextSize(_ascii(text), cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
    height, width = shape[:2]
    h = th + base + 2
    left = int(np.clip(x, 0, max(width - tw - 2, 0)))
    top = y - h if y - h >= 0 else y + 2  # above the box when there is room
    rect = (left, top, left + tw + 2, top + h)
    for _ in range(max(height // max(h, 1), 1)):
        if not any(rect[0] < r[2] and r[0] < rect[2] and rect[1] < r[3] and r[1] < rect[3] for r in taken):
            break
        top = rect[3] + 1 if rect[3] + 1 + h <= height else max(rect[1] - h - 1, 0)
        if top == rect[1]:
            break
        rect = (left, top, left + tw + 2, top + h)
    return rect


def _put_caption(image: np.ndarray, text: str, x: int, y: int, colour: BGR, *, font_scale: float,
                 taken: list[tuple[int, int, int, int]] | None = None) -> tuple[int, int, int, int]:
    """Draw a filled tag with ``text`` near ``(x, y)`` (see ``_caption_rect``); returns its rectangle and adds
    it to ``taken``."""
    taken = [] if taken is None else taken
    text = _ascii(text)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
    left, top, right, bottom = _caption_rect(text, x, y, image.shape, font_scale=font_scale, taken=taken)
    cv2.rectangle(image, (left, top), (right, bottom), colour, thickness=-1)
    luma = 0.114 * colour[0] + 0.587 * colour[1] + 0.299 * colour[2]
    ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
    cv2.putText(image, text, (left + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, ink, 1, cv2.LINE_AA)
    taken.append((left, top, right, bottom))
    return left, top, right, bottom


def paint_masks(image_bgr: np.ndarray, masks: np.ndarray, colours: np.ndarray, *, alpha: float = 0.4,
                outline: bool = True) -> np.ndarray:
    """Blend masks into an image: ``out = (1 - alpha)·image + alpha·colour`` inside each mask, plus the mask's
    one-pixel boundary in full colour.

    ``masks``: ``(n, H, W)`` bool; ``colours``: ``(n, 3)`` BGR. Where masks overlap, the later one wins (it is
    drawn on top). Vectorised over masks and pixels.
    """
    out = image_bgr.copy()
    if masks.shape[0] == 0:
        return out
    colours = np.asarray(colours, dtype=np.float64).reshape(-1, 3)
    n = masks.shape[0]
    top = n - 1 - np.argmax(masks[::-1], axis=0)  # index of the last mask covering each pixel
    covered = masks.any(axis=0)
    blended = (1 - alpha) * out[covered].astype(np.float64) + alpha * colours[top[covered]]
    out[covered] = np.round(blended).astype(np.uint8)
    if outline:
        # boundary = mask pixel with a 4-neighbour outside the mask (the image border counts as outside)
        padded = np.pad(masks, ((0, 0), (1, 1), (1, 1)))
        interior = (padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:])
        edge = masks & ~interior
        edge_top = n - 1 - np.argmax(edge[::-1], axis=0)
        on_edge = edge.any(axis=0)
        out[on_edge] = colours[edge_top[on_edge]].astype(np.uint8)
    return out


def draw_annotations(image_bgr: np.ndarray, items: Iterable[DrawItem], *, offset: tuple[float, float] = (0, 0),
                     scale: float = 1.0, fill_alpha: float = 0.4, font_scale: float = 0.4,
                     source_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Draw items (masks, then boxes, then captions) on a copy of ``image_bgr``.

    ``offset``/``scale`` map original-image coordinates to ``image_bgr`` pixels (``(x - offset) · scale``), for
    drawing on a crop or thumbnail. Segmentations are decoded at ``source_shape`` (original ``(H, W)``; default
    ``image_bgr``'s own size) and mapped the same way. Later items are drawn over earlier ones.
    """
    items = list(items)
    out = np.ascontiguousarray(image_bgr.copy())
    if not items:
        return out
    height, width = out.shape[:2]
    source_h, source_w = source_shape or (height, width)
    crop_h = min(source_h - int(offset[1]), int(np.ceil(height / scale)))
    crop_w = min(source_w - int(offset[0]), int(np.ceil(width / scale)))

    masks, mask_colours = [], []
    for it in items:
        mask = decode_segmentation(it.segmentation, source_h, source_w)
        if mask is None:
            continue
        mask = mask[int(offset[1]):int(offset[1]) + crop_h, int(offset[0]):int(offset[0]) + crop_w]
        mask = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
        masks.append(mask)
        mask_colours.append(it.colour)
    if masks:
        out = paint_masks(out, np.stack(masks), np.array(mask_colours), alpha=fill_alpha)

    corners = _box_pixels(items, offset, scale)
    for it, (x1, y1, x2, y2) in zip(items, corners):  # one C call per ring; an image holds few boxes
        for k in range(max(int(it.thickness), 1)):
            cv2.rectangle(out, (int(x1 - k), int(y1 - k)), (int(x2 + k), int(y2 + k)), it.colour, 1, cv2.LINE_8)
    taken: list[tuple[int, int, int, int]] = []
    # the top item's tag is placed first (it keeps the spot above its box); the others move out of its way
    for it, (x1, y1, _, _) in reversed(list(zip(items, corners))):
        if it.caption:
            _put_caption(out, it.caption, int(x1) - it.thickness + 1, int(y1) - it.thickness + 1, it.colour,
                         font_scale=font_scale, taken=taken)
    return out


def draw_boxes(image_bgr: np.ndarray, boxes_xywh: np.ndarray, *, colours: Sequence[BGR] | BGR = LABEL_COLOUR,
               captions: Sequence[str] | None = None, thickness: int = 2) -> np.ndarray:
    """Draw ``(n, 4)`` COCO boxes on a copy of the image; one colour for all or one per box."""
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    if len(colours) == 3 and np.isscalar(colours[0]):
        colours = [tuple(colours)] * len(boxes)
    captions = captions if captions is not None else [""] * len(boxes)
    items = [DrawItem(*b, colour=tuple(c), caption=t, thickness=thickness) for b, c, t in zip(boxes, colours, captions)]
    return draw_annotations(image_bgr, items)


def render_tile(image_bgr: np.ndarray, items: Sequence[DrawItem], *, focus: Sequence[float] | None = None,
                max_side: int = 320, margin: float = 1.0, fill_alpha: float = 0.4) -> np.ndarray:
    """A gallery thumbnail: crop to ``focus`` (an ``x, y, w, h`` box; whole image when ``None``), scale to fit
    ``max_side``, then draw ``items`` at the thumbnail's resolution so lines and captions stay sharp."""
    offset = (0, 0)
    if focus is not None:
        image, offset = crop_to_context(image_bgr, focus, margin=margin)
    else:
        image = image_bgr
    scale = thumbnail_scale(image.shape, max_side=max_side)
    small = resize(image, scale)
    return draw_annotations(small, items, offset=offset, scale=scale, fill_alpha=fill_alpha,
                            source_shape=image_bgr.shape[:2])
