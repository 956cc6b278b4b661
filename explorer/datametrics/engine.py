"""Compute every registered data metric of a project (or a bare image folder) in parallel, cached, into Parquet.

Outputs of ``compute_metrics(project)`` (``<project>/metrics/``)::

    frame.parquet        image_id + one column per F metric       (every image; NaN where undefined)
    labels.parquet       label_id + one column per O metric
    predictions.parquet  pred_id  + one column per P metric
    catalog.json         {"metrics": [one row per (metric, level)], "unavailable": [{name, level, reason}]}

Per-image work (read, hash, decode once, image metrics) runs on a process pool over all cores, in chunks,
with a tqdm progress bar showing images/s. Table metrics (geometry, counts, near-duplicates) are vectorised
over whole tables in the main process. Per-image results are cached by content (``explorer.datametrics.cache``):
a second run recomputes only new/edited images, images whose boxes changed, and new/changed metrics;
``MetricsStats`` counts exactly what was recomputed.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.errors import ProblemReport, UserError
from explorer.datametrics.cache import MetricCache
from explorer.datametrics.tables import LEVEL_TABLES, MetricTables, load_metrics, metrics_for  # noqa: F401 (public API)
from explorer.datametrics.pool import IMAGE_SUFFIXES, IN_PROCESS_BELOW, list_images, pool_shape  # noqa: F401 (API)
from explorer.datametrics.pool import EarlyRun, main_module_hidden, worker_context
from explorer.datametrics.worker import MetricsStats, Plan, install, process  # noqa: F401 (MetricsStats: public API)
from explorer.project.folder import Project, safe_join



# ---------------------------------------------------------------------------------------------------------------
def _selected_metrics(plugins) -> list:
    from metrics import REGISTRY, load_plugins
    from metrics.registry import MetricError

    try:
        sources = load_plugins(plugins)
    except MetricError as e:  # metrics/ stands alone; here its errors become ours (CLI exit 2, page message)
        raise UserError(str(e)) from None
    return REGISTRY.selected(sources=sources), sources


def _availability(metric, level: str, *, has_pixels: bool, has_size: bool, has_labels_table: bool,
                  n_rows: int) -> str | None:
    """None when the metric can be computed at this level, else the reason it cannot."""
    if "pixels" in metric.needs and not has_pixels:
        return "needs pixels: the project has no readable image folder"
    if "size" in metric.needs and not has_size:
        return "needs the image size: no images and no width/height in the images table"
    if level == "F" and "labels" in metric.needs and not has_labels_table:
        return "needs labels: a bare image folder has none"
    if level == "O" and n_rows == 0:
        return "no labels"
    if level == "P" and n_rows == 0:
        return "no predictions"
    return None


def _run_images(tasks: list, plan: Plan, *, workers: int | None, progress: bool, desc: str,
                started: EarlyRun | None = None):
    """Yield ``ImageResult`` in task order, over a process pool unless the job is small.

    ``started``: a pool already running on the same tasks with the same plan (``EarlyRun``) is adopted.
    """
    workers, chunk = pool_shape(len(tasks), workers)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), desc=desc, unit="img", dynamic_ncols=True, smoothing=0.1)
    try:
        if started is not None:
            pool, results = started.adopt()
        elif workers == 1:
            install(plan, single_thread=False)
            results = map(process, tasks)
            pool = None
        else:
            with main_module_hidden():
                pool = worker_context().Pool(workers, initializer=install, initargs=(plan,))
            results = pool.imap(process, tasks, chunksize=chunk)
        try:
            for r in results:
                if bar is not None:
                    bar.update(1)
                yield r
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    finally:
        if bar is not None:
            bar.close()


def _image_tasks(images: pd.DataFrame, root: Path | None, boxes_by_image: dict, report: ProblemReport,
                 source: str) -> list:
    tasks = []
    for pos, name in enumerate(images["file_name"].astype(str)):
        try:
            path = safe_join(root, name)
        except UserError as e:
            report.add(source, f"image {name}", str(e), "unsafe_path")
            continue
        tasks.append((pos, str(path), boxes_by_image.get(pos, {})))
    return tasks


def _compute(images: pd.DataFrame, root: Path | None, *, labels: pd.DataFrame | None,
             predictions: pd.DataFrame | None, metrics: list, sources: tuple, cache: MetricCache,
             workers, progress: bool, stats: MetricsStats, source_name: str, started: EarlyRun | None = None):
    """Shared core of project and folder runs. Returns (frame, labels, predictions tables, catalog rows, unavailable)."""
    report = stats.problems
    has_pixels = root is not None and Path(root).is_dir()
    box_tables = {"O": labels, "P": predictions}
    image_ids = images["image_id"].to_numpy()
    pos_of_id = pd.Series(np.arange(len(images)), index=image_ids)

    frame_image = [m for m in metrics if m.is_frame and m.kind == "image"] if has_pixels else []
    box_image = {lv: [m for m in metrics if lv in m.levels and m.kind == "image"]
                 for lv in ("O", "P") if has_pixels and box_tables[lv] is not None and len(box_tables[lv])}
    # boxes per image position, in table order (their order is part of the cache item)
    boxes_by_image: dict[int, dict] = {}
    rows_by_level: dict[str, dict] = {}
    for lv in box_image:
        table = box_tables[lv]
        xyxy = _xyxy(table)
        groups = table.groupby("image_id", sort=False).indices
        rows_by_level[lv] = {}
        for image_id, rows in groups.items():
            if image_id in pos_of_id.index:
                p = int(pos_of_id[image_id])
                boxes_by_image.setdefault(p, {})[lv] = xyxy[rows]
                rows_by_level[lv][p] = rows

    base_done, frame_done, box_done = cache.done() if cache.enabled else (set(), {}, {})
    plan = Plan(frame_metrics=frame_image, box_metrics=box_image, use_cache=cache.enabled, base_done=base_done,
                frame_done=frame_done, box_done=box_done, plugin_sources=sources)
    tasks = _image_tasks(images, root, boxes_by_image, report, source_name) if has_pixels else []
    if started is not None:  # adopt the early pool only if it runs exactly this job
        same_plan = (not cache.enabled and not box_image and not sources  # the workers select built-ins only
                     and all(m.source == "builtin" for m in frame_image))
        if not (started.active and same_plan and started.tasks == tasks):
            started.close()
            started = None
    expected_keys = {m.key for m in frame_image}
    item_of = np.full(len(images), "", dtype=object)
    box_item_of: dict[str, dict[int, str]] = {lv: {} for lv in box_image}
    readable = np.zeros(len(images), dtype=bool)
    base_rows, frame_rows, box_rows = [], [], []

    def flush():
        cache.append("base", pd.DataFrame(base_rows, columns=["item", "width", "height", "phash"]))
        cache.append("frame", pd.DataFrame(frame_rows, columns=["key", "item", "value"]))
        if box_rows:
            cache.append("boxes", pd.concat(box_rows, ignore_index=True))
        base_rows.clear(), frame_rows.clear(), box_rows.clear()

    for r in _run_images(tasks, plan, workers=workers, progress=progress, desc="metrics", started=started):
        name = images["file_name"].iat[r.pos]
        if started is not None and r.decoded and r.frame.keys() != expected_keys:
            raise RuntimeError("early metrics pool computed other metrics than the engine selected")
        if r.error:
            stats.unreadable += 1
            report.add(name, "image", r.error, "unreadable_image")
            continue
        readable[r.pos] = True
        item = r.item if cache.enabled else f"#{r.pos}"
        item_of[r.pos] = item
        for metric_name, message in r.metric_errors:
            report.add(name, f"metric {metric_name}", message, "metric_failed")
        stats.images_decoded += r.decoded
        if r.base is not None:
            base_rows.append((item, *r.base))
        if r.frame:
            stats.frame_images_computed += 1
            stats.frame_values_computed += len(r.frame)
            frame_rows.extend((k, item, v) for k, v in r.frame.items())
        for lv, box_item in r.box_items.items():
            box_item_of[lv][r.pos] = box_item if cache.enabled else f"#{r.pos}"
        for lv, (box_item, values) in r.boxes.items():
            bi = box_item if cache.enabled else f"#{r.pos}"
            stats.box_images_computed[lv] += 1
            for k, v in values.items():
                stats.box_values_computed[lv] += len(v)
                box_rows.append(pd.DataFrame({"key": k, "item": bi, "box": np.arange(len(v), dtype=np.int32), "value": v}))
        if len(frame_rows) >= 4096 or len(box_rows) >= 256:
            flush()
    flush()

    # ---- frame table ---------------------------------------------------------------------------------------
    base = cache.table("base").set_index("item")
    width = images["width"].to_numpy(np.float64).copy() if "width" in images else np.full(len(images), np.nan)
    height = images["height"].to_numpy(np.float64).copy() if "height" in images else np.full(len(images), np.nan)
    phash = np.zeros(len(images), dtype=np.int64)
    hit = readable & (pd.Index(base.index).get_indexer(item_of) >= 0) if len(base) else np.zeros(len(images), bool)
    if hit.any():
        rows = base.loc[item_of[hit]]
        width[hit], height[hit] = rows["width"].to_numpy(), rows["height"].to_numpy()
        phash[hit] = rows["phash"].to_numpy(np.int64)
    frame_info = pd.DataFrame({"image_id": image_ids, "width": width, "height": height, "phash": phash,
                               "has_pixels": readable})
    has_size = bool(np.isfinite(width).any())
    unavailable: dict = {}
    frame = pd.DataFrame({"image_id": image_ids})
    frame_values = cache.table("frame")
    for m in [m for m in metrics if m.is_frame]:
        reason = _availability(m, "F", has_pixels=has_pixels, has_size=has_size,
                               has_labels_table=labels is not None, n_rows=len(images))
        if reason:
            unavailable[(m.name, "F")] = reason
            continue
        if m.kind == "image":
            values = frame_values[frame_values["key"] == m.key].set_index("item")["value"]
            col = values.reindex(item_of).to_numpy(np.float64, copy=True)
            col[~readable] = np.nan
        else:
            from metrics.tables import FrameTable

            col = _table_metric(m, FrameTable(images=frame_info, labels=labels), len(images), report, source_name)
        frame[m.name] = col

    # ---- O / P tables ----------------------------------------------------------------------------------------
    out_tables = {}
    box_values = cache.table("boxes")
    for lv, table in box_tables.items():
        if table is None:
            continue
        id_col = LEVEL_TABLES[lv][1]
        out = pd.DataFrame({id_col: table[id_col].to_numpy()})
        pos = pos_of_id.reindex(table["image_id"].to_numpy()).to_numpy()
        known = ~np.isnan(pos)
        pos_i = np.where(known, pos, 0).astype(np.int64)
        rows = table.copy()
        rows["image_width"] = np.where(known, width[pos_i], np.nan)
        rows["image_height"] = np.where(known, height[pos_i], np.nan)
        for m in [m for m in metrics if lv in m.levels]:
            reason = _availability(m, lv, has_pixels=has_pixels, has_size=has_size, has_labels_table=True,
                                   n_rows=len(table))
            if reason:
                unavailable[(m.name, lv)] = reason
                continue
            if m.kind == "image":
                col = _gather_box_values(box_values[box_values["key"] == m.key], rows_by_level.get(lv, {}),
                                         box_item_of.get(lv, {}), readable, len(table))
            else:
                from metrics.tables import BoxTable

                col = _table_metric(m, BoxTable(rows=rows, level=lv), len(table), report, source_name)
            out[m.name] = col
        out_tables[lv] = out
    return frame, out_tables, unavailable, readable, item_of, box_item_of


def _xyxy(table: pd.DataFrame) -> np.ndarray:
    x, y, w, h = (table[c].to_numpy(np.float64) for c in ("x", "y", "w", "h"))
    return np.stack([x, y, x + w, y + h], axis=1)


def _gather_box_values(values: pd.DataFrame, rows_by_pos: dict, box_item_of: dict, readable: np.ndarray,
                       n: int) -> np.ndarray:
    """Scatter cached per-box values (item, box index) back to table rows; NaN for unreadable images."""
    col = np.full(n, np.nan)
    if not rows_by_pos or not len(values):
        return col
    positions = [p for p in rows_by_pos if readable[p] and p in box_item_of]
    if not positions:
        return col
    rows = np.concatenate([rows_by_pos[p] for p in positions])
    items = np.concatenate([np.full(len(rows_by_pos[p]), box_item_of[p], dtype=object) for p in positions])
    boxes = np.concatenate([np.arange(len(rows_by_pos[p])) for p in positions])
    lookup = values.set_index(["item", "box"])["value"]
    wanted = pd.MultiIndex.from_arrays([items, boxes.astype(np.int32)])
    col[rows] = lookup.reindex(wanted).to_numpy(np.float64)
    return col


def _table_metric(metric, table, n: int, report: ProblemReport, source: str) -> np.ndarray:
    try:
        col = np.asarray(metric.fn(table), dtype=np.float64).reshape(-1)
        if len(col) != n:
            raise ValueError(f"returned {len(col)} values for {n} rows")
        return col
    except Exception as e:  # a plugin's bug: report it and keep the other metrics
        report.add(source, f"metric {metric.name}", f"{type(e).__name__}: {e}", "metric_failed")
        return np.full(n, np.nan)


def _catalog_rows(metrics: list, unavailable: dict, levels: tuple) -> list[dict]:
    rows = []
    for m in metrics:
        for lv in m.levels:
            if lv not in levels:
                continue
            rows.append({
                "name": m.name, "title": m.title, "level": lv, "display_name": m.display_name(lv),
                "direction": m.direction, "lo": m.range[0], "hi": m.range[1], "description": m.description,
                "needs": list(m.needs), "version": m.version, "source": m.source,
                "available": (m.name, lv) not in unavailable, "reason": unavailable.get((m.name, lv)),
            })
    return rows


def _json_number(x: float):
    return None if not np.isfinite(x) else float(x)


# ---------------------------------------------------------------------------------------------------------------
def compute_metrics(project: Project | str | Path, *, plugins=(), progress: bool = True,
                    workers: int | None = None) -> MetricsStats:
    """Compute all registered metrics (built-ins + ``plugins`` files) of a project into ``<project>/metrics/``.

    Cached by content under ``<project>/cache/metrics``; returns ``MetricsStats`` (what was recomputed, and the
    problems met: unreadable images are reported by name, their pixel metrics are NaN, the rest is computed).
    """
    project = project if isinstance(project, Project) else Project.load(project)
    start = time.perf_counter()
    metrics, sources = _selected_metrics(plugins)
    stats = MetricsStats(images=len(project.images))
    cache = MetricCache(project.root / "cache" / "metrics")
    try:
        frame, boxes, unavailable, _, item_of, box_items = _compute(
            project.images, project.images_root, labels=project.labels, predictions=project.all_predictions,
            metrics=metrics, sources=sources, cache=cache, workers=workers, progress=progress, stats=stats,
            source_name=str(project.root))
    except BaseException:
        cache.close()
        raise
    current = {i for i in item_of if i} | {i for d in box_items.values() for i in d.values() if i}
    cache.commit(items=current)
    out = project.metrics_dir
    out.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out / "frame.parquet", index=False)
    boxes["O"].to_parquet(out / "labels.parquet", index=False)
    boxes["P"].to_parquet(out / "predictions.parquet", index=False)
    catalog = {
        "metrics": [r for r in _catalog_rows(metrics, unavailable, ("F", "O", "P")) if r["available"]],
        "unavailable": [{"name": n, "level": lv, "reason": why} for (n, lv), why in unavailable.items()],
        "plugins": list(sources),
        "project_fingerprint": project.fingerprint,
    }
    for row in catalog["metrics"]:
        row["lo"], row["hi"] = _json_number(row["lo"]), _json_number(row["hi"])
    (out / "catalog.json").write_text(json.dumps(catalog, indent=1))
    if len(stats.problems):
        (out / "problems.json").write_text(json.dumps(stats.problems.to_dict(), indent=1))
    stats.seconds = time.perf_counter() - start
    return stats


def compute_frame_metrics(images_dir: str | Path, out: str | Path | None = None, *, plugins=(), progress: bool = True,
                          workers: int | None = None, cache_dir: str | Path | None = None,
                          started: EarlyRun | None = None) -> tuple[pd.DataFrame, MetricsStats]:
    """Frame metrics of a bare image folder: one row per readable image, ``file_name`` + one column per F metric.

    Unreadable or corrupt images are reported (``stats.problems``) and left out; the others are computed.
    Metrics that need labels are absent. Written to ``out`` (Parquet) when given. No cache unless ``cache_dir``.
    ``started``: an ``explorer.datametrics.pool.EarlyRun`` on this folder, adopted when it runs the same job
    (no plugins, no cache); otherwise it is closed.
    """
    folder = Path(images_dir)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder of images")
    start = time.perf_counter()
    if started is not None and (started.wait().folder != folder or started.names is None):
        started.close()
        started = None
    names = started.names if started is not None else list_images(folder)
    if not names:
        if started is not None:
            started.close()
        raise UserError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {folder}")
    metrics, sources = _selected_metrics(plugins)
    metrics = [m for m in metrics if m.is_frame]
    images = pd.DataFrame({"image_id": np.arange(len(names), dtype=np.int64), "file_name": names,
                           "width": np.nan, "height": np.nan})
    stats = MetricsStats(images=len(names))
    cache = MetricCache(None if cache_dir is None else Path(cache_dir))
    frame, _, _, readable, item_of, _ = _compute(
        images, folder, labels=None, predictions=None, metrics=metrics, sources=sources, cache=cache,
        workers=workers, progress=progress, stats=stats, source_name=str(folder), started=started)
    cache.commit(items={i for i in item_of if i})
    table = frame[readable].drop(columns=["image_id"])
    table.insert(0, "file_name", images["file_name"].to_numpy()[readable])
    table = table.reset_index(drop=True)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(out, index=False)
    stats.seconds = time.perf_counter() - start
    return table, stats
