"""Reading computed data metrics: ``load_metrics(project) -> MetricTables`` and ``metrics_for(project, target)``.

Both are re-exported by ``explorer.datametrics.engine`` (the documented entry point). The names (levels, tables,
id columns, display names) are those of ``explorer.datametrics.catalog``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.datametrics.catalog import LEVEL_TABLES, TARGET_ID, TARGET_LEVEL, catalog_frame
from explorer.errors import UserError
from explorer.project.files import read_parquet
from explorer.project.folder import METRICS_REPAIR, Project

__all__ = ["LEVEL_TABLES", "MetricTables", "load_metrics", "metrics_for"]


@dataclass
class MetricTables:
    """Computed metrics of a project: ``frame`` (index image_id), ``labels`` (index label_id), ``predictions``
    (index pred_id, every run's predictions), ``catalog`` (``explorer.datametrics.catalog.catalog_frame``: one row
    per (metric, level) with its name, title, display name, table, id column, unit, direction…), ``unavailable`` (``{(name, level): reason}`` for metrics that could not be computed)."""

    frame: pd.DataFrame
    labels: pd.DataFrame
    predictions: pd.DataFrame
    catalog: pd.DataFrame
    unavailable: dict = field(default_factory=dict)


def load_metrics(project: Project | str | Path) -> MetricTables:
    """The computed metric tables of a project (``UserError`` if ``explorer metrics`` has not been run)."""
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
    tables = {}
    for lv, (file, id_col) in LEVEL_TABLES.items():
        path = folder / f"{file}.parquet"
        df = read_parquet(path, repair=repair) if path.is_file() else pd.DataFrame({id_col: pd.Series(dtype="int64")})
        tables[lv] = df.set_index(id_col)
    catalog = catalog_frame(info.get("metrics", []))
    # the column must exist in its table (a catalogue row without data would break a page)
    present = [name in tables[lv].columns for name, lv in zip(catalog["name"], catalog["level"])]
    catalog = catalog[np.asarray(present, dtype=bool)].reset_index(drop=True)
    unavailable = {(u["name"], u["level"]): u["reason"] for u in info.get("unavailable", [])}
    return MetricTables(frame=tables["F"], labels=tables["O"], predictions=tables["P"], catalog=catalog,
                        unavailable=unavailable)


def metrics_for(project: Project | str | Path, target: str) -> pd.DataFrame:
    """One row per target id (``"images"`` → image_id, ``"labels"`` → label_id, ``"predictions"`` → pred_id of the
    project's current run): its own-level metrics plus the F metrics of its image joined in (that is how F metrics
    join model results). Columns: own-level metrics, then F metrics (``catalog.target_levels``)."""
    project = project if isinstance(project, Project) else Project.load(project)
    if target not in TARGET_LEVEL:
        raise UserError(f"metrics_for: target must be 'images', 'labels' or 'predictions', got {target!r}")
    tables = load_metrics(project)
    if target == "images":
        return tables.frame
    own = tables.labels if target == "labels" else tables.predictions
    source = getattr(project, target)  # a run's view holds only that run's predictions
    id_col = TARGET_ID[target]
    own = own[own.index.isin(source[id_col].to_numpy())]
    image_of = source.set_index(id_col)["image_id"].reindex(own.index)
    frame = tables.frame.reindex(image_of.to_numpy())
    frame.index = own.index
    return pd.concat([own, frame], axis=1)
