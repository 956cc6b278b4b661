"""The one metric vocabulary: for each computed (metric, level) its name, title, display name, table, id column,
unit and direction — what every page, export and doc names a data metric by.

A data metric lives at one or more levels: ``F`` (frame: one value per image), ``O`` (object: per label) and
``P`` (prediction: per prediction). The level ↔ target ↔ id maps come from ``explorer.tasks.base``
(``TARGET_LEVEL``, ``TARGET_ID``); this module derives the per-level view of them and adds the metric tables'
files. ``catalog_frame(rows)`` turns the rows of ``<project>/metrics/catalog.json`` (written by the engine) into
the catalogue DataFrame, one row per (metric, level), columns ``CATALOG_COLUMNS``:

* ``name`` — the column name of the metric (unique over all levels, so a column of a joined table names one
  metric); ``level``; ``title`` ("Object area – relative"); ``display_name`` — ``"Title (L)"``, as the metric
  registry writes it (``metrics.registry.Metric.display_name``);
* ``table`` — the metric table's file stem under ``metrics/`` (``frame``/``labels``/``predictions``),
  ``id_column`` — its index (``image_id``/``label_id``/``pred_id``), ``target`` — the rows it belongs to
  (``images``/``labels``/``predictions``);
* ``unit`` — the metric's unit when it declares one ("" otherwise: most metrics are ratios or counts),
  ``direction`` (``higher_is_better``/``lower_is_better``/``neutral``), ``lo``/``hi`` (the declared range,
  ±inf when open), ``description``, ``source`` (builtin or the plugin file), ``available``/``reason``.

A joined table of a target (``explorer.datametrics.tables.metrics_for``, the outcome tables of
``explorer.analysis.outcomes``) holds the target's own-level metrics and the F metrics of the image:
``entries_for(catalog, target, columns)`` / ``names_for(...)`` name those columns. Nothing parses a display
string back into a name: widgets carry the ``MetricEntry`` (or its ``key`` ``"name@level"``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.tasks.base import TARGET_ID, TARGET_LEVEL, TARGETS

LEVELS = ("F", "O", "P")
#: the rows a level's values belong to, and their id column (inverse of ``TARGET_LEVEL``)
LEVEL_TARGET = {level: target for target, level in TARGET_LEVEL.items()}
LEVEL_ID = {level: TARGET_ID[target] for target, level in TARGET_LEVEL.items()}
#: file stem of each level's table under ``<project>/metrics/``
LEVEL_FILE = {"F": "frame", "O": "labels", "P": "predictions"}
#: ``(file stem, id column)`` per level (the engine writes the tables with it)
LEVEL_TABLES = {level: (LEVEL_FILE[level], LEVEL_ID[level]) for level in LEVELS}
#: one row of a level, in words ("3 labels")
LEVEL_WORD = {"F": "image", "O": "label", "P": "prediction"}

#: what ``catalog.json`` rows carry (engine ``_catalog_rows``)
_JSON_COLUMNS = ("name", "title", "level", "display_name", "direction", "lo", "hi", "description", "needs", "version",
                 "source", "available", "reason", "unit")
CATALOG_COLUMNS = ("name", "level", "title", "display_name", "table", "id_column", "target", "unit", "direction",
                   "lo", "hi", "description", "needs", "version", "source", "available", "reason")


def target_levels(target: str) -> tuple[str, ...]:
    """Levels whose metrics are columns of ``target``'s joined table: its own level, then F (F joins every row
    through its image). ``"images"`` → ``("F",)``, ``"labels"`` → ``("O", "F")``."""
    own = TARGET_LEVEL[target]
    return (own,) if own == "F" else (own, "F")


def level_targets(level: str, targets=TARGETS) -> tuple[str, ...]:
    """Those of ``targets`` whose joined table holds ``level`` metrics: an O metric is over labels, a P metric
    over predictions, an F metric over every target (the image's value joined to each row)."""
    return tuple(t for t in targets if level in target_levels(t))


def catalog_frame(rows: list[dict]) -> pd.DataFrame:
    """The catalogue DataFrame (columns ``CATALOG_COLUMNS``) of ``catalog.json``'s ``metrics`` rows."""
    raw = pd.DataFrame(rows, columns=list(_JSON_COLUMNS))
    level = raw["level"].astype(str)
    out = pd.DataFrame({
        "name": raw["name"].astype(str),
        "level": level,
        "title": raw["title"].astype(str),
        "display_name": raw["display_name"].astype(str),
        "table": level.map(LEVEL_FILE),
        "id_column": level.map(LEVEL_ID),
        "target": level.map(LEVEL_TARGET),
        "unit": _text(raw["unit"], ""),
        "direction": _text(raw["direction"], "neutral"),
        # an open range is stored as null in JSON
        "lo": raw["lo"].astype(float).fillna(-np.inf),
        "hi": raw["hi"].astype(float).fillna(np.inf),
        "description": _text(raw["description"], ""),
        "needs": raw["needs"],
        "version": raw["version"],
        "source": raw["source"],
        "available": raw["available"],
        "reason": raw["reason"],
    })
    return out[list(CATALOG_COLUMNS)]


def _text(column: pd.Series, default: str) -> pd.Series:
    """Strings with ``default`` for missing values (a key absent from every JSON row is an all-NaN float column)."""
    column = column.astype(object)
    return column.where(column.notna(), default).astype(str)


@dataclass(frozen=True)
class MetricEntry:
    """One (metric, level) of the catalogue, e.g. ``relative_area`` at ``O``: "Object area – relative (O)"."""

    name: str
    level: str
    title: str
    display_name: str
    table: str
    id_column: str
    target: str
    unit: str = ""
    direction: str = "neutral"
    lo: float = -np.inf
    hi: float = np.inf
    description: str = ""
    source: str = ""

    @property
    def key(self) -> str:
        """``"name@level"``: a widget value that names the entry without parsing its display name."""
        return f"{self.name}@{self.level}"

    @property
    def targets(self) -> tuple[str, ...]:
        """The targets whose joined tables hold this metric (``level_targets``)."""
        return level_targets(self.level)


def entries(catalog: pd.DataFrame | None) -> list[MetricEntry]:
    """Every (metric, level) of the catalogue, in catalogue order ([] without a catalogue)."""
    if catalog is None:
        return []
    fields = MetricEntry.__dataclass_fields__
    return [MetricEntry(**{k: v for k, v in row.items() if k in fields})
            for row in catalog.to_dict(orient="records")]


def entries_for(catalog: pd.DataFrame | None, target: str, columns=None) -> list[MetricEntry]:
    """The entries that are columns of ``target``'s joined table (own level + F), in ``columns`` order when given
    (only those present), else in catalogue order. Metric names are unique over levels, so a column is one entry."""
    levels = target_levels(target)
    found = {e.name: e for e in entries(catalog) if e.level in levels}
    if columns is None:
        return list(found.values())
    return [found[c] for c in columns if c in found]


def names_for(catalog: pd.DataFrame | None, target: str, columns=None, *, numeric_of: pd.DataFrame | None = None
              ) -> dict[str, str]:
    """``{column: display name}`` of ``target``'s metric columns, e.g. for labels
    ``{"relative_area": "Object area – relative (O)", "brightness": "Brightness (F)"}``; with ``numeric_of`` only
    the columns of that frame with a numeric dtype."""
    if numeric_of is not None:
        cols = [c for c in (numeric_of.columns if columns is None else columns)
                if c in numeric_of.columns and pd.api.types.is_numeric_dtype(numeric_of[c])]
        columns = cols
    return {e.name: e.display_name for e in entries_for(catalog, target, columns)}
