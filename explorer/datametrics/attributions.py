"""Data metrics of a project's attribution maps (``metrics.attribution``), cached by the map's fingerprint.

``attribution_metrics(project, width, height, report)`` returns the columns the engine adds to its tables:

* F (one per image, images-table order): ``attribution_entropy``, ``attribution_spread`` — NaN for an image
  without a map;
* O (labels order) and P (every run's predictions, in ``all_predictions`` order): ``attribution_in_box``, the
  energy pointing game of the row's box in its image's map.

and the ``metrics.Metric`` descriptions of the columns, for the catalogue (so they show in importance, buckets,
correlation and export like any other metric). A project without maps gets none of them (no columns, no
catalogue rows).

Cache (``<project>/cache/attributions/{frame,boxes}.parquet``): F values by *map item* = BLAKE2b of (the stored
map's fingerprint, the formulas' source); box values by *box item* = BLAKE2b of (map item, image width and
height, the image's boxes ``x, y, w, h`` in table order), one row per box. A changed map, image size, box or
formula changes the item, so only that image is recomputed; items no longer used are dropped at each run.
The loop is per image (one map file read each); the boxes of an image are one vectorised call.
"""
from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.errors import ProblemReport

CACHE_DIR = ("cache", "attributions")


def _formula_digest() -> str:
    import metrics.attribution as module

    return hashlib.blake2b(inspect.getsource(module).encode(), digest_size=8).hexdigest()


def _digest(*parts) -> str:
    h = hashlib.blake2b(digest_size=12)
    for p in parts:
        h.update(p if isinstance(p, bytes) else repr(p).encode())
        h.update(b"\0")
    return h.hexdigest()


def _read_cache(path: Path, columns: list[str], report: ProblemReport) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype=object if c == "item" else np.float64) for c in columns})
    try:
        df = pd.read_parquet(path)
        if list(df.columns) != columns:
            raise ValueError(f"columns {list(df.columns)}")
        return df
    except Exception as e:  # noqa: BLE001 — a damaged cache is recomputed, never fatal
        report.warn(str(path), "metrics cache", f"damaged, recomputed ({type(e).__name__})", "damaged_cache")
        return pd.DataFrame({c: pd.Series(dtype=object if c == "item" else np.float64) for c in columns})


def attribution_metrics(project, width: np.ndarray, height: np.ndarray, report: ProblemReport
                        ) -> tuple[list, dict[str, dict[str, np.ndarray]]]:
    """``(metric descriptions, {"F": {name: (n_images,)}, "O": {name: (n_labels,)}, "P": {name: (n_preds,)}})``.

    ``width``/``height`` (n_images,): each image's size in pixels (the engine's: decoded, else the images
    table's; NaN unknown), in images-table order. ``([], {})`` when the project has no maps. A stored map that
    cannot be read is reported (``bad_map``) and its values are NaN.
    """
    from explorer.io.attributions import attribution_index, has_attributions, load_stored_map
    from explorer.project.files import atomic_parquet
    from metrics.attribution import ATTRIBUTION_METRICS, box_energy, map_metrics

    if not has_attributions(project):
        return [], {}
    index = attribution_index(project)
    images = project.images
    n = len(images)
    image_ids = images["image_id"].to_numpy(np.int64)
    formula = _formula_digest()
    tables = {"O": project.labels, "P": project.all_predictions}
    groups = {lv: t.groupby("image_id", sort=False).indices if len(t) else {} for lv, t in tables.items()}
    xywh = {lv: t[["x", "y", "w", "h"]].to_numpy(np.float64) for lv, t in tables.items()}

    folder = Path(project.root).joinpath(*CACHE_DIR)
    frame_cache = _read_cache(folder / "frame.parquet", ["item", "entropy", "spread"], report)
    box_cache = _read_cache(folder / "boxes.parquet", ["item", "box", "value"], report)
    frame_known = dict(zip(frame_cache["item"], zip(frame_cache["entropy"], frame_cache["spread"])))
    box_known = set(box_cache["item"])

    entropy, spread = np.full(n, np.nan), np.full(n, np.nan)
    box_item_rows: dict[str, list] = {"O": [], "P": []}  # (item, table rows) per image, for the gather below
    new_frame, new_boxes = [], []
    used_frame, used_boxes = set(), set()
    for pos in range(n):  # one map file per image at most: the loop is I/O, the boxes are vectorised
        entry = index.get(int(image_ids[pos]))
        if entry is None:
            continue
        item = _digest(entry.get("fingerprint"), formula)
        used_frame.add(item)
        W, H = float(width[pos]), float(height[pos])
        box_items = {}
        for lv in ("O", "P"):
            rows = groups[lv].get(image_ids[pos])
            if rows is not None:
                box_items[lv] = (_digest(item, W, H, np.ascontiguousarray(xywh[lv][rows]).tobytes()), rows)
                used_boxes.add(box_items[lv][0])
        need_frame = item not in frame_known
        need_boxes = [lv for lv, (bi, _) in box_items.items() if bi not in box_known]
        amap = load_stored_map(project, entry) if (need_frame or need_boxes) else None
        if (need_frame or need_boxes) and amap is None:
            report.add(str(Path(project.root) / "attributions" / str(entry.get("file"))), "attribution map",
                       "stored map missing or damaged: run 'explorer add-attributions ... --replace' again",
                       "bad_map")
            continue
        if need_frame:
            frame_known[item] = map_metrics(amap)
            new_frame.append(item)
        entropy[pos], spread[pos] = frame_known[item]
        for lv, (bi, rows) in box_items.items():
            if lv in need_boxes:
                new_boxes.append((bi, box_energy(amap, xywh[lv][rows], W, H)))  # one frame at the end
                box_known.add(bi)
            box_item_rows[lv].append((bi, rows))

    if new_boxes:
        fresh = pd.DataFrame({
            "item": np.concatenate([np.full(len(v), bi, dtype=object) for bi, v in new_boxes]),
            "box": np.concatenate([np.arange(len(v), dtype=np.float64) for _, v in new_boxes]),
            "value": np.concatenate([v for _, v in new_boxes])})
        all_boxes = pd.concat([box_cache, fresh], ignore_index=True) if len(box_cache) else fresh
    else:
        all_boxes = box_cache
    lookup = all_boxes.drop_duplicates(["item", "box"]).set_index(["item", "box"])["value"]
    columns = {"F": {"attribution_entropy": entropy, "attribution_spread": spread}}
    for lv, table in tables.items():
        col = np.full(len(table), np.nan)
        pairs = box_item_rows[lv]
        if pairs:
            rows = np.concatenate([r for _, r in pairs])
            items = np.concatenate([np.full(len(r), bi, dtype=object) for bi, r in pairs])
            boxes = np.concatenate([np.arange(len(r), dtype=np.float64) for _, r in pairs])
            col[rows] = lookup.reindex(pd.MultiIndex.from_arrays([items, boxes])).to_numpy(np.float64)
        columns[lv] = {"attribution_in_box": col}

    # the cache keeps what this run used (a replaced map's old values go)
    kept = sorted(used_frame & set(frame_known))
    frame_out = pd.DataFrame({"item": pd.Series(kept, dtype=object),
                              "entropy": np.array([frame_known[i][0] for i in kept], np.float64),
                              "spread": np.array([frame_known[i][1] for i in kept], np.float64)})
    boxes_out = all_boxes[all_boxes["item"].isin(used_boxes)].drop_duplicates(["item", "box"])
    if new_frame or new_boxes or len(frame_out) != len(frame_cache) or len(boxes_out) != len(box_cache):
        atomic_parquet(frame_out, folder / "frame.parquet")
        atomic_parquet(boxes_out.reset_index(drop=True), folder / "boxes.parquet")
    return list(ATTRIBUTION_METRICS), columns


def add_attribution_columns(project, frame: pd.DataFrame, boxes: dict, found, report: ProblemReport) -> list:
    """The engine's hook: add the attribution columns to its ``frame`` and ``boxes["O"]``/``boxes["P"]`` tables in
    place; return their descriptions for the catalogue ([] without maps). ``found``: the engine's image pass
    (``width``/``height`` where ``sized``; else the images table's size)."""
    images = project.images
    size = {c: images[c].to_numpy(np.float64) if c in images else np.full(len(images), np.nan)
            for c in ("width", "height")}
    described, columns = attribution_metrics(project, np.where(found.sized, found.width, size["width"]),
                                             np.where(found.sized, found.height, size["height"]), report)
    for lv, cols in columns.items():
        table = frame if lv == "F" else boxes[lv]
        for name, col in cols.items():
            table[name] = col
    return described
