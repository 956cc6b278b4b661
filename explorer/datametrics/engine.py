"""Compute every registered data metric of a project (or a bare image folder) in parallel, cached, into Parquet.

Outputs of ``compute_metrics(project)`` (``<project>/metrics/``)::

    frame.parquet        image_id + one column per F metric       (every image; NaN where undefined)
    labels.parquet       label_id + one column per O metric
    predictions.parquet  pred_id  + one column per P metric       (every run's predictions)
    catalog.json         {"metrics": [one row per (metric, level)], "unavailable": [{name, level, reason}]}

A bare image folder (``compute_frame_metrics`` / ``write_frame_metrics``) gets one row per readable image:
``file_name`` + one column per F metric. Both runs share every step: images listed by
``explorer.io.scan.scan_images``, paths checked by ``explorer.project.paths.safe_join_all``, one image pass
(``_image_pass``), one frame-table builder (``_frame_columns``).

Per-image work (read, hash, decode once, image metrics) runs on a process pool over all cores, in chunks,
with a tqdm progress bar showing images/s. Table metrics (geometry, counts, near-duplicates) are vectorised
over whole tables in the main process. Per-image results are cached by content (``explorer.datametrics.cache``):
a second run recomputes only new/edited images, images whose boxes changed, and new/changed metrics;
``MetricsStats`` counts exactly what was recomputed.

A bare-folder run without a cache or plugin table metrics imports no pandas: on the command line that import
was a fifth of the CPU of a 1,500-image run. So pandas is imported inside the functions that need it, and the
table readers (``load_metrics``, ``metrics_for``, ``MetricTables``, ``LEVEL_TABLES``, from
``explorer.datametrics.tables``) are re-exported here on first access.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.datametrics.pool import IN_PROCESS_BELOW, pool_shape, short_switch_interval, start_pool  # noqa: F401
from explorer.datametrics.worker import MetricsStats, Plan, install, process  # noqa: F401 (MetricsStats: public API)
from explorer.errors import ProblemReport, UserError
from explorer.io.scan import IMAGE_EXTENSIONS, file_name_errors, scan_images, shown_name
from explorer.project.paths import safe_join_all

_TABLE_READERS = ("LEVEL_TABLES", "MetricTables", "load_metrics", "metrics_for")


def __getattr__(name: str):
    """``load_metrics`` & co. from ``explorer.datametrics.tables`` (pandas), imported on first use (PEP 562)."""
    if name in _TABLE_READERS:
        from explorer.datametrics import tables

        return getattr(tables, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def _image_tasks(file_names: list[str], root: Path, boxes_by_image: dict, report: ProblemReport,
                 source: str) -> list:
    """``(pos, resolved path, {level: boxes})`` of every image whose path is safe; the others are reported."""
    tasks = []
    for pos, (name, path) in enumerate(zip(file_names, safe_join_all(root, file_names))):
        if isinstance(path, UserError):
            report.add(source, f"image {name}", str(path), "unsafe_path")
        else:
            tasks.append((pos, str(path), boxes_by_image.get(pos, {})))
    return tasks


def _run_images(tasks: list, plan: Plan, *, workers: int | None, progress: bool, desc: str, fork: bool = False,
                meanwhile=None, executor=None):
    """Yield ``ImageResult`` in task order, over a process pool unless the job is small.

    ``meanwhile()`` runs in this process once the workers are going (the bare-folder run imports pyarrow
    there). ``fork``: see ``explorer.datametrics.pool.start_pool``. ``executor``: run ``process`` elsewhere
    instead: ``executor.imap(tasks, plan)`` yields the results in task order (``workers``/``fork`` unused;
    ``explorer.datametrics.dask_engine.DaskExecutor``); everything else, this pass included, is unchanged.
    """
    processes, chunk = pool_shape(len(tasks), workers)
    pool = bar = results = None
    try:
        if executor is not None:
            results = executor.imap(tasks, plan)
        elif processes == 1:
            install(plan, single_thread=False)
            results = map(process, tasks)
        else:
            pool = start_pool(processes, plan, fork=fork)
            results = pool.imap(process, tasks, chunksize=chunk)
        if meanwhile is not None:
            with short_switch_interval():
                meanwhile()
        if progress:  # after the fork: a tqdm bar starts a monitor thread
            from tqdm import tqdm

            bar = tqdm(total=len(tasks), desc=desc, unit="img", dynamic_ncols=True, smoothing=0.1)
        for r in results:
            if bar is not None:
                bar.update(1)
            yield r
    finally:
        if executor is not None and hasattr(results, "close"):
            results.close()  # an interrupted run: the executor cancels what is still queued
        if pool is not None:
            pool.terminate()
            pool.join()
        if bar is not None:
            bar.close()


@dataclass
class _ImagePass:
    """What the image pass found, per image position (``n`` images of the images table / folder listing).

    ``readable`` (n,) bool: read and decoded (or found whole in the cache). ``item_of`` (n,) object: the cache
    item of a readable image (its content hash; ``"#pos"`` without a cache), ``""`` otherwise. ``sized`` (n,)
    bool: ``width``/``height``/``phash`` (n,) hold the decoded image's values. ``frame``: metric key → (n,)
    values, NaN where not computed (``computed[key]`` (n,) bool says where they were). ``box_item_of``:
    level → {pos: box item}.
    """

    readable: np.ndarray
    item_of: np.ndarray
    sized: np.ndarray
    width: np.ndarray
    height: np.ndarray
    phash: np.ndarray
    frame: dict
    computed: dict
    box_item_of: dict

    @classmethod
    def empty(cls, n: int, plan: Plan) -> "_ImagePass":
        keys = [m.key for m in plan.frame_metrics]
        return cls(readable=np.zeros(n, bool), item_of=np.full(n, "", dtype=object), sized=np.zeros(n, bool),
                   width=np.full(n, np.nan), height=np.full(n, np.nan), phash=np.zeros(n, np.int64),
                   frame={k: np.full(n, np.nan) for k in keys}, computed={k: np.zeros(n, bool) for k in keys},
                   box_item_of={lv: {} for lv in plan.box_metrics})


def _image_pass(file_names: list[str], tasks: list, plan: Plan, *, cache, workers, progress: bool,
                stats: MetricsStats, fork: bool = False, meanwhile=None, executor=None) -> _ImagePass:
    """Run ``tasks`` and collect the results (pandas-free unless ``cache``, a ``MetricCache``, is given).

    Problems (unreadable image, failing metric) go to ``stats.problems`` by file name. With a cache, new
    values are streamed to it as they come (an interrupted run keeps them) and the values it already held are
    filled in at the end; O/P box values live only there (a project run always has a cache).
    """
    found = _ImagePass.empty(len(file_names), plan)
    report = stats.problems
    rows = _CacheRows(cache) if cache is not None else None
    for r in _run_images(tasks, plan, workers=workers, progress=progress, desc="metrics", fork=fork,
                         meanwhile=meanwhile, executor=executor):
        pos, name = r.pos, file_names[r.pos]
        if r.error:
            stats.unreadable += 1
            if r.size is not None:  # too large to decode: kept, its header size known, its pixel metrics NaN
                report.warn(name, "image", r.error, "too_large_image")
                found.sized[pos] = True
                found.width[pos], found.height[pos] = r.size
            else:
                report.add(name, "image", r.error, "unreadable_image")
            continue
        found.readable[pos] = True
        found.item_of[pos] = item = r.item if cache is not None else f"#{pos}"
        for metric_name, message in r.metric_errors:
            report.add(name, f"metric {metric_name}", message, "metric_failed")
        stats.images_decoded += r.decoded
        if r.base is not None:
            found.sized[pos] = True
            found.width[pos], found.height[pos], found.phash[pos] = r.base
        if r.frame:
            stats.frame_images_computed += 1
            stats.frame_values_computed += len(r.frame)
            for k, v in r.frame.items():
                found.frame[k][pos] = v
                found.computed[k][pos] = True
        for lv, box_item in r.box_items.items():
            found.box_item_of[lv][pos] = box_item if cache is not None else f"#{pos}"
        for lv, (_, values) in r.boxes.items():
            stats.box_images_computed[lv] += 1
            stats.box_values_computed[lv] += sum(len(v) for v in values.values())
        if rows is not None:
            rows.add(item, r)
    if rows is not None:
        rows.flush()
        _fill_from_cache(found, cache)
    return found


def _report_cache_notes(cache, report: ProblemReport) -> None:
    """Damaged cache files met on reading (treated as missing, recomputed), flagged by file name."""
    for file, message in cache.notes:
        report.warn(file, "metrics cache", message, "damaged_cache")


class _CacheRows:
    """New per-image values on their way to the cache, appended in batches (one journal file per kind each), at
    least every ``FLUSH_SECONDS``."""

    FLUSH_SECONDS = 1.0  # at most this much finished work is lost when the run is killed (a few ms per flush)

    def __init__(self, cache):
        self.cache = cache
        self.base, self.frame, self.boxes = [], [], []
        self.last = time.monotonic()

    def add(self, item: str, r) -> None:
        if r.base is not None:
            self.base.append((item, *r.base))
        self.frame.extend((k, item, v) for k, v in r.frame.items())
        for box_item, values in r.boxes.values():
            self.boxes.extend((k, box_item, v) for k, v in values.items())
        if (len(self.frame) >= 4096 or len(self.boxes) >= 256
                or time.monotonic() - self.last >= self.FLUSH_SECONDS):
            self.flush()

    def flush(self) -> None:
        import pandas as pd

        self.last = time.monotonic()
        if not (self.base or self.frame or self.boxes):
            return

        # base last: an image's base row is written only once its frame and box values are (a run killed
        # between the files decodes that batch again, instead of trusting a base row whose values are missing)
        if self.boxes:
            self.cache.append("boxes", pd.concat(
                [pd.DataFrame({"key": k, "item": bi, "box": np.arange(len(v), dtype=np.int32), "value": v})
                 for k, bi, v in self.boxes], ignore_index=True))
        self.cache.append("frame", pd.DataFrame(self.frame, columns=["key", "item", "value"]))
        self.cache.append("base", pd.DataFrame(self.base, columns=["item", "width", "height", "phash"]))
        self.base, self.frame, self.boxes = [], [], []


def _fill_from_cache(found: _ImagePass, cache) -> None:
    """Sizes, hashes and frame values of readable images that the run did not recompute, from the cache."""
    import pandas as pd

    base = cache.table("base").set_index("item")
    need = found.readable & ~found.sized & (pd.Index(base.index).get_indexer(found.item_of) >= 0)
    if need.any():
        rows = base.loc[found.item_of[need]]
        found.width[need], found.height[need] = rows["width"].to_numpy(), rows["height"].to_numpy()
        found.phash[need] = rows["phash"].to_numpy(np.int64)
        found.sized |= need
    values = cache.table("frame")
    for key, col in found.frame.items():
        todo = found.readable & ~found.computed[key]
        if todo.any():
            cached = values[values["key"] == key].set_index("item")["value"]
            col[todo] = cached.reindex(found.item_of[todo]).to_numpy(np.float64)


def _frame_columns(metrics: list, found: _ImagePass, *, image_ids: np.ndarray, width: np.ndarray,
                   height: np.ndarray, labels, has_pixels: bool, report: ProblemReport, source: str,
                   unavailable: dict) -> dict[str, np.ndarray]:
    """One (n,) float64 column per available F metric, in ``metrics`` order (NaN where undefined).

    Image metrics come from the image pass (NaN for unreadable images); table metrics get a ``FrameTable``
    of ``image_id, width, height, phash, has_pixels`` (``width``/``height``: original pixels, NaN unknown)
    and ``labels`` (None for a bare folder). Unavailable metrics are recorded in ``unavailable``.
    """
    from metrics.tables import FrameTable

    n = len(image_ids)
    info = {"image_id": image_ids, "width": width, "height": height, "phash": found.phash,
            "has_pixels": found.readable}
    has_size = bool(np.isfinite(width).any())
    frame_df = None
    columns = {}
    for m in [m for m in metrics if m.is_frame]:
        reason = _availability(m, "F", has_pixels=has_pixels, has_size=has_size,
                               has_labels_table=labels is not None, n_rows=n)
        if reason:
            unavailable[(m.name, "F")] = reason
            continue
        if m.kind == "image":
            values = found.frame.get(m.key)
            col = np.full(n, np.nan) if values is None else np.where(found.readable, values, np.nan)
        else:
            if m.source == "builtin":  # they read columns only (to_numpy, len): no pandas for a bare folder
                images = _Columns(n, info)
            else:  # a plugin is promised a DataFrame (metrics.tables.FrameTable)
                if frame_df is None:
                    import pandas as pd

                    frame_df = pd.DataFrame(info)
                images = frame_df
            col = _table_metric(m, FrameTable(images=images, labels=labels), n, report, source)
        columns[m.name] = col
    return columns


class _Columns(dict):
    """The part of a DataFrame that the built-in table F metrics read: ``images[col].to_numpy(dtype)``, ``len``."""

    def __init__(self, n: int, columns: dict):
        super().__init__({k: _Column(v) for k, v in columns.items()})
        self._n = n

    def __len__(self) -> int:
        return self._n


class _Column:
    def __init__(self, values: np.ndarray):
        self.values = values

    def to_numpy(self, dtype=None, copy: bool = False) -> np.ndarray:
        return np.array(self.values, dtype=dtype, copy=True) if copy else np.asarray(self.values, dtype=dtype)


def _xyxy(table) -> np.ndarray:
    x, y, w, h = (table[c].to_numpy(np.float64) for c in ("x", "y", "w", "h"))
    return np.stack([x, y, x + w, y + h], axis=1)


def _gather_box_values(values, rows_by_pos: dict, box_item_of: dict, readable: np.ndarray, n: int) -> np.ndarray:
    """Scatter cached per-box values (item, box index) back to table rows; NaN for unreadable images."""
    import pandas as pd

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
                "needs": list(m.needs), "version": m.version, "source": m.source, "unit": m.unit,
                "available": (m.name, lv) not in unavailable, "reason": unavailable.get((m.name, lv)),
            })
    return rows


def _json_number(x: float):
    return None if not np.isfinite(x) else float(x)


# ---- a project ----------------------------------------------------------------------------------------------
def _compute_project(project, *, metrics: list, sources: tuple, cache, workers, progress: bool,
                     stats: MetricsStats, executor=None):
    """The metric tables of a project: ``(frame, {"O": labels, "P": predictions}, unavailable, image pass)``."""
    import pandas as pd

    from explorer.datametrics.catalog import LEVEL_TABLES

    images, root, source = project.images, project.images_root, str(project.root)
    report = stats.problems
    has_pixels = root is not None and Path(root).is_dir()
    # data metrics cover every run's predictions (pred_id is unique across runs)
    box_tables = {"O": project.labels, "P": project.all_predictions}
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

    base_done, frame_done, box_done = cache.done()
    plan = Plan(frame_metrics=frame_image, box_metrics=box_image, use_cache=True, base_done=base_done,
                frame_done=frame_done, box_done=box_done, plugin_sources=sources)
    names = images["file_name"].astype(str).tolist()
    tasks = _image_tasks(names, root, boxes_by_image, report, source) if has_pixels else []
    found = _image_pass(names, tasks, plan, cache=cache, workers=workers, progress=progress, stats=stats,
                        executor=executor)

    # ---- frame table: decoded sizes where known, else the images table's ----------------------------------
    def table_size(col: str) -> np.ndarray:
        return images[col].to_numpy(np.float64) if col in images else np.full(len(images), np.nan)

    width = np.where(found.sized, found.width, table_size("width"))
    height = np.where(found.sized, found.height, table_size("height"))
    unavailable: dict = {}
    columns = _frame_columns(metrics, found, image_ids=image_ids, width=width, height=height,
                             labels=project.labels, has_pixels=has_pixels, report=report, source=source,
                             unavailable=unavailable)
    frame = pd.DataFrame({"image_id": image_ids, **columns})
    has_size = bool(np.isfinite(width).any())

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
        runs = _run_groups(rows) if lv == "P" else None
        for m in [m for m in metrics if lv in m.levels]:
            reason = _availability(m, lv, has_pixels=has_pixels, has_size=has_size, has_labels_table=True,
                                   n_rows=len(table))
            if reason:
                unavailable[(m.name, lv)] = reason
                continue
            if m.kind == "image":
                col = _gather_box_values(box_values[box_values["key"] == m.key], rows_by_level.get(lv, {}),
                                         found.box_item_of.get(lv, {}), found.readable, len(table))
            else:
                col = _box_table_metric(m, rows, lv, runs, report, source)
            out[m.name] = col
        out_tables[lv] = out
    return frame, out_tables, unavailable, found


def _run_groups(predictions) -> list[np.ndarray] | None:
    """Row positions of each run of a predictions table; None for one run (or a table without runs)."""
    from explorer.project.schema import RUN

    if RUN not in predictions or predictions[RUN].nunique() <= 1:
        return None
    return list(predictions.groupby(RUN, sort=False).indices.values())


def _box_table_metric(metric, rows, level: str, runs: list[np.ndarray] | None, report: ProblemReport,
                      source: str) -> np.ndarray:
    """A table O/P metric over ``rows``; over each run's rows apart when ``runs`` is given: a prediction is
    compared with its own model's boxes only (``duplicate_iou`` of one model must not see another's boxes),
    so adding a run leaves the other runs' values unchanged."""
    from metrics.tables import BoxTable

    if runs is None:
        return _table_metric(metric, BoxTable(rows=rows, level=level), len(rows), report, source)
    col = np.full(len(rows), np.nan)
    for idx in runs:
        part = rows.iloc[idx].reset_index(drop=True)
        col[idx] = _table_metric(metric, BoxTable(rows=part, level=level), len(idx), report, source)
    return col


def compute_metrics(project, *, plugins=(), progress: bool = True, workers: int | None = None,
                    executor=None) -> MetricsStats:
    """Compute all registered metrics (built-ins + ``plugins`` files) of a project into ``<project>/metrics/``.

    ``project``: a ``Project`` or its folder. Predictions of every run are measured. Cached by content under
    ``<project>/cache/metrics``; returns ``MetricsStats`` (what was recomputed, and the problems met:
    unreadable images are reported by name, their pixel metrics are NaN, the rest is computed).
    ``executor``: where the per-image work runs instead of the local pool (``dask_engine.dask_executor()``).
    """
    from explorer.project.folder import Project
    from explorer.project.lock import project_lock

    project = project if isinstance(project, Project) else Project.load(project)
    with project_lock(project.root, "metrics"):  # one writer per project (a second run refuses, naming the lock)
        return _compute_metrics_locked(project, plugins=plugins, progress=progress, workers=workers,
                                       executor=executor)


def _compute_metrics_locked(project, *, plugins, progress: bool, workers, executor) -> MetricsStats:
    from explorer.datametrics.cache import MetricCache
    from explorer.project.files import atomic_parquet, atomic_text

    from explorer.datametrics.plugins import plugin_files, remember

    start = time.perf_counter()
    stats = MetricsStats(images=len(project.images))
    plugins = plugin_files(project, plugins, stats.problems)  # the project's remembered plugins + these
    metrics, sources = _selected_metrics(plugins)
    cache = MetricCache(project.root / "cache" / "metrics")
    _report_cache_notes(cache, stats.problems)
    try:
        frame, boxes, unavailable, found = _compute_project(project, metrics=metrics, sources=sources, cache=cache,
                                                            workers=workers, progress=progress, stats=stats,
                                                            executor=executor)
    except BaseException:
        cache.close()
        raise
    current = {i for i in found.item_of if i} | {i for d in found.box_item_of.values() for i in d.values() if i}
    cache.commit(items=current)
    from explorer.datametrics.attributions import add_attribution_columns

    metrics = [*metrics, *add_attribution_columns(project, frame, boxes, found, stats.problems)]  # maps' metrics
    out = project.metrics_dir
    out.mkdir(parents=True, exist_ok=True)
    # each file replaced atomically; catalog.json last: it is what says "metrics computed"
    atomic_parquet(frame, out / "frame.parquet")
    atomic_parquet(boxes["O"], out / "labels.parquet")
    atomic_parquet(boxes["P"], out / "predictions.parquet")
    catalog = {
        "metrics": [r for r in _catalog_rows(metrics, unavailable, ("F", "O", "P")) if r["available"]],
        "unavailable": [{"name": n, "level": lv, "reason": why} for (n, lv), why in unavailable.items()],
        "plugins": list(sources),
        "project_fingerprint": project.fingerprint,
    }
    for row in catalog["metrics"]:
        row["lo"], row["hi"] = _json_number(row["lo"]), _json_number(row["hi"])
    if len(stats.problems):
        atomic_text(out / "problems.json", json.dumps(stats.problems.to_dict(), indent=1))
    else:  # a clean rerun must not leave the last run's problems behind
        (out / "problems.json").unlink(missing_ok=True)
    atomic_text(out / "catalog.json", json.dumps(catalog, indent=1))
    remember(project, sources)
    stats.seconds = time.perf_counter() - start
    return stats


# ---- a bare image folder ------------------------------------------------------------------------------------
def _folder_table(images_dir, *, plugins, progress: bool, workers: int | None, cache_dir, fork: bool = False,
                  executor=None):
    """Frame metrics of a bare folder as a ``pyarrow.Table`` (one row per readable image) and ``MetricsStats``.

    Rows follow ``scan_images``; columns ``file_name`` (large_string, as pandas writes its text columns; a
    null column when no image is readable, as pandas writes an empty one) then one float64 column per
    available F metric. Metrics that need labels are absent.
    """
    folder = Path(images_dir)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder of images")
    names = scan_images(folder)
    if not names:
        raise UserError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found under {folder}")
    metrics, sources = _selected_metrics(plugins)
    metrics = [m for m in metrics if m.is_frame]
    stats = MetricsStats(images=len(names))
    bad = dict(file_name_errors(names))  # a name no table can store (not UTF-8, control characters): that file only
    for i, error in bad.items():
        stats.problems.add(str(folder / shown_name(names[i], quoted=False)), shown_name(names[i]),
                           f"{error}; not measured", "bad_file_name")
    names = [n for i, n in enumerate(names) if i not in bad] if bad else names
    if cache_dir is not None:
        from explorer.datametrics.cache import MetricCache
        from explorer.project.lock import project_lock

        with project_lock(Path(cache_dir), "metrics", create=True):  # one writer per cache folder
            return _folder_table_cached(folder, names, metrics, sources, stats, MetricCache(Path(cache_dir)),
                                        progress=progress, workers=workers, fork=fork, executor=executor)
    return _folder_table_cached(folder, names, metrics, sources, stats, None, progress=progress, workers=workers,
                                fork=fork, executor=executor)


def _folder_table_cached(folder: Path, names: list[str], metrics: list, sources: tuple, stats: MetricsStats, cache,
                         *, progress: bool, workers, fork: bool, executor):
    """``_folder_table`` once its cache (or None) is open."""
    if cache is not None:
        _report_cache_notes(cache, stats.problems)
    base_done, frame_done, _ = cache.done() if cache is not None else (set(), {}, {})
    plan = Plan(frame_metrics=[m for m in metrics if m.kind == "image"], box_metrics={},
                use_cache=cache is not None, base_done=base_done, frame_done=frame_done, plugin_sources=sources)
    tasks = _image_tasks(names, folder, {}, stats.problems, str(folder))
    try:
        # pyarrow is imported (~0.1 s) while the workers compute, after the fork (it starts threads)
        found = _image_pass(names, tasks, plan, cache=cache, workers=workers, progress=progress, stats=stats,
                            fork=fork, meanwhile=_import_pyarrow, executor=executor)
    except BaseException:
        if cache is not None:
            cache.close()
        raise
    if cache is not None:
        cache.commit(items={i for i in found.item_of if i})
    columns = _frame_columns(metrics, found, image_ids=np.arange(len(names), dtype=np.int64), width=found.width,
                             height=found.height, labels=None, has_pixels=True, report=stats.problems,
                             source=str(folder), unavailable={})
    import pyarrow as pa

    keep = np.flatnonzero(found.readable | found.sized)  # sized, not readable: too large to decode (NaN pixels)
    arrays = [_string_array([names[i] for i in keep])]
    for col in columns.values():  # from buffers: pa.array would import pandas to sniff its input
        kept = np.ascontiguousarray(col[keep], dtype=np.float64)
        arrays.append(pa.Array.from_buffers(pa.float64(), len(kept), [None, pa.py_buffer(kept)]))
    return pa.Table.from_arrays(arrays, names=["file_name", *columns]), stats


def _import_pyarrow() -> None:
    import pyarrow  # noqa: F401
    import pyarrow.parquet  # noqa: F401


def _string_array(values: list[str]):
    """A pyarrow large_string array built from its buffers (``pa.array`` would import pandas to sniff its input)."""
    import pyarrow as pa

    if not values:  # what pandas writes for an empty text column
        return pa.nulls(0)
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.Array.from_buffers(pa.large_string(), len(encoded),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])


def _write_parquet(table, out) -> Path:
    import pyarrow.parquet as pq

    from explorer.project.files import atomic_write

    return atomic_write(out, lambda tmp: pq.write_table(table, tmp))  # a killed run leaves no half file


def write_frame_metrics(images_dir: str | Path, out: str | Path, *, plugins=(), progress: bool = True,
                        workers: int | None = None, cache_dir: str | Path | None = None,
                        fork: bool = False, executor=None) -> MetricsStats:
    """``compute_frame_metrics(images_dir, out)`` without building a DataFrame: the command line's run.

    Same file, same problems; without ``cache_dir`` or plugin table metrics it never imports pandas.
    ``fork=True`` only for a fresh process that is nothing but this command (``explorer metrics DIR --out``
    on Linux): the workers are forked from it (``explorer.datametrics.pool.start_pool``).
    """
    start = time.perf_counter()
    table, stats = _folder_table(images_dir, plugins=plugins, progress=progress, workers=workers,
                                 cache_dir=cache_dir, fork=fork, executor=executor)
    _write_parquet(table, out)
    stats.seconds = time.perf_counter() - start
    return stats


def compute_frame_metrics(images_dir: str | Path, out: str | Path | None = None, *, plugins=(), progress: bool = True,
                          workers: int | None = None, cache_dir: str | Path | None = None, executor=None):
    """Frame metrics of a bare image folder: ``(DataFrame, MetricsStats)``, one row per readable image
    (``explorer.io.scan.scan_images`` order), ``file_name`` + one column per F metric.

    Unreadable or corrupt images and paths leaving the folder are reported (``stats.problems``) and left out;
    the others are computed. Metrics that need labels are absent. Written to ``out`` (Parquet) when given. No
    cache unless ``cache_dir``.
    """
    start = time.perf_counter()
    table, stats = _folder_table(images_dir, plugins=plugins, progress=progress, workers=workers,
                                 cache_dir=cache_dir, executor=executor)
    if out is not None:
        _write_parquet(table, out)
    stats.seconds = time.perf_counter() - start
    return table.to_pandas(), stats
