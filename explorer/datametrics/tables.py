"""Reading computed data metrics: ``load_metrics(project) -> MetricTables`` and ``metrics_for(project, target)``.

Both are re-exported by ``explorer.datametrics.engine`` (the documented entry point).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.errors import UserError
from explorer.project.folder import Project

LEVEL_TABLES = {"F": ("frame", "image_id"), "O": ("labels", "label_id"), "P": ("predictions", "pred_id")}


@dataclass
class MetricTables:
    """Computed metrics of a project: ``frame`` (index image_id), ``labels`` (index label_id), ``predictions``
    (index pred_id), ``catalog`` (``name, title, level, display_name, direction, lo, hi, description``, one row
    per (metric, level)), ``unavailable`` (``{(name, level): reason}`` for metrics that could not be computed)."""

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
    info = json.loads((folder / "catalog.json").read_text())
    tables = {}
    for lv, (file, id_col) in LEVEL_TABLES.items():
        path = folder / f"{file}.parquet"
        df = pd.read_parquet(path) if path.is_file() else pd.DataFrame({id_col: pd.Series(dtype="int64")})
        tables[lv] = df.set_index(id_col)
    catalog = pd.DataFrame(info.get("metrics", []), columns=[
        "name", "title", "level", "display_name", "direction", "lo", "hi", "description", "needs", "version",
        "source", "available", "reason"])
    catalog["lo"] = catalog["lo"].astype(float).fillna(-np.inf)
    catalog["hi"] = catalog["hi"].astype(float).fillna(np.inf)
    # the column must exist in its table (a catalogue row without data would break a page)
    present = [name in tables[lv].columns for name, lv in zip(catalog["name"], catalog["level"])]
    catalog = catalog[np.asarray(present, dtype=bool)].reset_index(drop=True)
    unavailable = {(u["name"], u["level"]): u["reason"] for u in info.get("unavailable", [])}
    return MetricTables(frame=tables["F"], labels=tables["O"], predictions=tables["P"], catalog=catalog,
                        unavailable=unavailable)


def metrics_for(project: Project | str | Path, target: str) -> pd.DataFrame:
    """One row per target id (``"images"`` → image_id, ``"labels"`` → label_id, ``"predictions"`` → pred_id):
    its own-level metrics plus the F metrics of its image joined in (that is how F metrics join model results)."""
    project = project if isinstance(project, Project) else Project.load(project)
    tables = load_metrics(project)
    if target == "images":
        return tables.frame
    if target not in ("labels", "predictions"):
        raise UserError(f"metrics_for: target must be 'images', 'labels' or 'predictions', got {target!r}")
    own = tables.labels if target == "labels" else tables.predictions
    source = project.labels if target == "labels" else project.predictions
    id_col = "label_id" if target == "labels" else "pred_id"
    image_of = source.set_index(id_col)["image_id"].reindex(own.index)
    frame = tables.frame.reindex(image_of.to_numpy())
    frame.index = own.index
    return pd.concat([own, frame], axis=1)
