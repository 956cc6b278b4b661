"""Reading computed data metrics: ``load_metrics(project) -> MetricTables`` and ``metrics_for(project, target)``.

Both are re-exported by ``explorer.datametrics.engine`` (the documented entry point). The names (levels, tables,
id columns, display names) are those of ``explorer.datametrics.catalog``.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.datametrics.catalog import LEVEL_TABLES, TARGET_ID, TARGET_LEVEL, catalog_frame
from explorer.errors import UserError
from explorer.project.files import parquet_columns, read_parquet
from explorer.project.folder import METRICS_REPAIR, Project

__all__ = ["LEVEL_TABLES", "MetricTables", "load_metrics", "metrics_for"]


class MetricTables:
    """Computed metrics of a project: ``frame`` (index image_id), ``labels`` (index label_id), ``predictions``
    (index pred_id, every run's predictions), ``catalog`` (``explorer.datametrics.catalog.catalog_frame``: one row
    per (metric, level) with its name, title, display name, table, id column, unit, direction…), ``unavailable``
    (``{(name, level): reason}`` for metrics that could not be computed).

    A level's table is read when it is first used (the catalogue comes from the files' footers): callers that
    want the catalogue, or one level, read no other table (at 1M images the predictions' table alone is ~1.5 GB).
    ``rows(level, ids)`` reads only the rows of some ids (a run's predictions) when the level is not loaded.
    """

    def __init__(self, catalog: pd.DataFrame, unavailable: dict, files: dict[str, Path], repair: str):
        self.catalog = catalog
        self.unavailable = unavailable
        self._files = files  # level -> its Parquet file (absent: the level has no table)
        self._repair = repair
        self._tables: dict[str, pd.DataFrame] = {}
        self._lock = threading.Lock()  # one read per level when sessions share this object

    @property
    def frame(self) -> pd.DataFrame:
        return self.level("F")

    @property
    def labels(self) -> pd.DataFrame:
        return self.level("O")

    @property
    def predictions(self) -> pd.DataFrame:
        return self.level("P")

    def level(self, level: str) -> pd.DataFrame:
        """The whole table of ``level`` (``"F"``, ``"O"``, ``"P"``), index = its id column; read once."""
        with self._lock:
            if level not in self._tables:
                self._tables[level] = self._read(level)
            return self._tables[level]

    def rows(self, level: str, ids: np.ndarray) -> pd.DataFrame:
        """``level(level)`` rows whose id is in ``ids``, in table order: ``t[t.index.isin(ids)]``. Unless the
        level is loaded, only rows with ids in ``[min(ids), max(ids)]`` are read (a run's ``pred_id`` values are
        one range, so a run's view skips the other runs' row groups)."""
        ids = np.asarray(ids)
        with self._lock:
            table = self._tables.get(level)
        if table is None:
            bounds = (int(ids.min()), int(ids.max())) if len(ids) else None
            table = self._read(level, bounds)
        return table[table.index.isin(ids)]

    def _read(self, level: str, bounds: tuple[int, int] | None = None) -> pd.DataFrame:
        file, id_col = LEVEL_TABLES[level]
        path = self._files.get(level)
        if path is None:
            return pd.DataFrame({id_col: pd.Series(dtype="int64")}).set_index(id_col)
        filters = None if bounds is None else [(id_col, ">=", bounds[0]), (id_col, "<=", bounds[1])]
        return read_parquet(path, repair=self._repair, filters=filters).set_index(id_col)


def load_metrics(project: Project | str | Path) -> MetricTables:
    """The computed metric tables of a project (``UserError`` if ``explorer metrics`` has not been run, or a
    table's file is damaged); the tables themselves are read when first used (``MetricTables``)."""
    project = project if isinstance(project, Project) else Project.load(project)
    folder = project.metrics_dir
    if not (folder / "catalog.json").is_file():
        raise UserError(f"data metrics of {project.name!r} are not computed yet: run 'explorer metrics {project.root}'")
    repair = METRICS_REPAIR.format(root=project.root)
    try:
        info = json.loads((folder / "catalog.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{folder / 'catalog.json'}: damaged ({e}); {repair}") from None
    if not isinstance(info, dict):
        raise UserError(f"{folder / 'catalog.json'}: damaged (not a JSON object); {repair}")
    files, columns = {}, {}
    for lv, (file, id_col) in LEVEL_TABLES.items():
        path = folder / f"{file}.parquet"
        if path.is_file():
            files[lv] = path
            columns[lv] = set(parquet_columns(path, repair=repair)) - {id_col}  # the footer: no data read
        else:
            columns[lv] = set()
    catalog = catalog_frame(info.get("metrics", []))
    # the column must exist in its table (a catalogue row without data would break a page)
    present = [name in columns[lv] for name, lv in zip(catalog["name"], catalog["level"])]
    catalog = catalog[np.asarray(present, dtype=bool)].reset_index(drop=True)
    unavailable = {(u["name"], u["level"]): u["reason"] for u in info.get("unavailable", [])}
    return MetricTables(catalog, unavailable, files, repair)


def metrics_for(project: Project | str | Path, target: str) -> pd.DataFrame:
    """One row per target id (``"images"`` → image_id, ``"labels"`` → label_id, ``"predictions"`` → pred_id of the
    project's current run): its own-level metrics plus the F metrics of its image joined in (that is how F metrics
    join model results). Columns: own-level metrics, then F metrics (``catalog.target_levels``). Reads the F table
    and the target's own (for predictions, only the row groups holding the run's ids), never the third."""
    project = project if isinstance(project, Project) else Project.load(project)
    if target not in TARGET_LEVEL:
        raise UserError(f"metrics_for: target must be 'images', 'labels' or 'predictions', got {target!r}")
    tables = load_metrics(project)
    if target == "images":
        return tables.frame
    source = getattr(project, target)  # a run's view holds only that run's predictions
    id_col = TARGET_ID[target]
    own = tables.rows(TARGET_LEVEL[target], source[id_col].to_numpy())
    image_of = source.set_index(id_col)["image_id"].reindex(own.index)
    frame = tables.frame.reindex(image_of.to_numpy())
    frame.index = own.index
    return pd.concat([own, frame], axis=1)
