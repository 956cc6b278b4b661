"""Gallery tiles: what one thumbnail shows (which image, which boxes, what caption), independent of Streamlit.

A ``Tile`` is one thumbnail: the image ``image_id``, the ``DrawItem``s drawn on it (later ones on top), an
optional ``focus`` box (``x, y, w, h``) to crop to with context, and a caption printed under it. Galleries
(``explorer.ui.gallery.show_gallery``) take either a list of tiles or a *box table* — a DataFrame with one row
per box to draw::

    image_id  x  y  w  h  [colour]  [caption]  [segmentation]  [thickness]

which ``tiles_from_boxes`` turns into one tile per image (in order of first appearance). ``colour`` is a BGR
tuple (default ``LABEL_COLOUR``); ``segmentation`` is polygon/RLE JSON text or null.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from explorer.analysis.outcomes import image_rows
from explorer.project.folder import Project
from explorer.project.schema import boxes_xyxy
from explorer.drawing.render import LABEL_COLOUR, PREDICTION_COLOUR, DrawItem

BOX_COLUMNS = ("image_id", "x", "y", "w", "h")


@dataclass(frozen=True)
class Tile:
    """One gallery thumbnail (see the module docstring)."""

    image_id: int
    items: tuple[DrawItem, ...] = ()
    focus: tuple[float, float, float, float] | None = None
    caption: str = ""
    key: str = field(default="", compare=False)  # stable id for widget keys, e.g. "pred:17"

    def cache_key(self) -> str:
        """Digest of everything that changes the pixels (not the caption), for thumbnail caches."""
        text = repr((self.image_id, self.items, self.focus))
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class ImageObjects:
    """The labels or predictions (``target``) of a few images — a gallery page — as plain columns gathered by
    position from the project table (``outcomes.image_rows``, a per-image index; only the columns a tile reads),
    boxes as Python floats (what a row read from the table gives), with a per-image index: a tile reads a few
    positions instead of filtering frames. ``columns``: ``<id>, image_id, category_id, x, y, w, h`` (and
    ``score``) as arrays of the rows in table order; ``ids``, ``category`` int64, ``xyxy`` ``(n, 4)``
    (``schema.boxes_xyxy``), ``xywh`` a list of 4-lists, ``score`` (None for labels), ``segmentation`` a list."""

    def __init__(self, project: Project, target: str, image_ids):
        table = getattr(project, target)
        at = image_rows(project, target, image_ids)
        cols = ["label_id" if target == "labels" else "pred_id", "image_id", "category_id", "x", "y", "w", "h"]
        cols += [c for c in ("score",) if c in table]
        self.columns = {c: table[c].to_numpy()[at] for c in cols}
        self.ids = self.columns[cols[0]].astype(np.int64)
        self.category = self.columns["category_id"].astype(np.int64)
        xywh = np.stack([self.columns[c].astype(np.float64) for c in ("x", "y", "w", "h")], axis=1)
        self.xyxy = boxes_xyxy(pd.DataFrame(xywh, columns=["x", "y", "w", "h"], copy=False))
        self.xywh = xywh.tolist()
        self.score = self.columns["score"].astype(np.float64) if "score" in self.columns else None
        self.segmentation = table["segmentation"].to_numpy()[at].tolist() if "segmentation" in table else \
            [None] * len(at)
        image = self.columns["image_id"].astype(np.int64)
        self._order = np.argsort(image, kind="stable")  # rows of one image stay in table order
        self._sorted = image[self._order]

    def __len__(self) -> int:
        return len(self.ids)

    def of_image(self, image_id: int) -> np.ndarray:
        """Positions (table order) of the rows of one image."""
        lo, hi = np.searchsorted(self._sorted, [image_id, image_id + 1])
        return self._order[lo:hi]


def dim(colour: tuple[int, int, int], amount: float = 0.5) -> tuple[int, int, int]:
    """A colour moved towards mid-grey by ``amount`` (0 = unchanged, 1 = grey), for context boxes."""
    return tuple(int(round(c + (128 - c) * amount)) for c in colour)


def tiles_from_boxes(boxes: pd.DataFrame, *, image_ids=None, captions: dict[int, str] | None = None) -> list[Tile]:
    """One tile per ``image_id`` of a box table (order of first appearance), whole image, every box drawn.

    With ``image_ids`` the tiles are exactly those images in that order, images without boxes included.

    Raises ``ValueError`` naming missing columns (a programming error in the calling page).
    """
    missing = [c for c in BOX_COLUMNS if c not in boxes.columns]
    if missing:
        raise ValueError(f"box table lacks columns {missing}; got {list(boxes.columns)}")
    if image_ids is None:
        image_ids = pd.unique(boxes["image_id"].to_numpy(np.int64))
    groups = dict(iter(boxes.groupby("image_id", sort=False))) if len(boxes) else {}
    tiles = []
    for image_id in np.asarray(image_ids, dtype=np.int64):  # one tile per image on the current page: a handful
        rows = groups.get(int(image_id), boxes.iloc[:0])
        items = tuple(
            DrawItem(float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]),
                     colour=tuple(r.get("colour", LABEL_COLOUR)), caption=str(r.get("caption", "") or ""),
                     segmentation=r.get("segmentation"), thickness=int(r.get("thickness", 2)))
            for r in rows.to_dict("records")
        )
        tiles.append(Tile(int(image_id), items, caption=(captions or {}).get(int(image_id), ""), key=f"image:{image_id}"))
    return tiles


def image_boxes(project: Project, image_ids, *, labels: bool = True, predictions: bool = False,
                min_score: float = 0.0) -> pd.DataFrame:
    """Box table of the labels (neutral blue, captioned by class) and/or predictions (neutral violet, class and
    score) of the given images, ready for ``tiles_from_boxes``; images keep the order of ``image_ids``."""
    names = project.category_names
    order = {int(i): k for k, i in enumerate(np.asarray(image_ids, dtype=np.int64))}
    parts = []
    if labels:
        df = project.labels[project.labels["image_id"].isin(order)]
        parts.append(df.assign(colour=[LABEL_COLOUR] * len(df),
                               caption=df["category_id"].map(names).fillna("?").astype(str)))
    if predictions and project.has_predictions:
        df = project.predictions[project.predictions["image_id"].isin(order) & (project.predictions["score"] >= min_score)]
        cap = df["category_id"].map(names).fillna("?").astype(str) + " " + df["score"].map("{:.2f}".format)
        parts.append(df.assign(colour=[PREDICTION_COLOUR] * len(df), caption=cap))
    if not parts:
        return pd.DataFrame(columns=[*BOX_COLUMNS, "colour", "caption", "segmentation"])
    out = pd.concat(parts, ignore_index=True)[[*BOX_COLUMNS, "colour", "caption", "segmentation"]]
    out["_order"] = out["image_id"].map(order)
    return out.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
