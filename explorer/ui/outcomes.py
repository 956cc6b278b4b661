"""Cached reads for the pages: the data-metric tables and catalogue, and the task's outcome tables.

* ``metric_tables(project)`` — ``load_metrics`` (``UserError`` before ``explorer metrics`` ran);
  ``metric_catalog(project)`` / ``metrics_for_target(project, target)`` — the catalogue and ``metrics_for``, None
  before metrics exist; ``metric_names(project, target)`` — ``{column: "Title (L)"}`` of the target's metric
  columns (``explorer.datametrics.catalog.names_for``); ``metric_levels(project, target)`` — their levels;
* ``outcome_table(sel, target)`` — ``explorer.tasks.get(project.task).outcome_table(project, sel.core, target)``:
  the rows every importance, bucket and gallery view of the selection reads (``explorer.analysis.outcomes``).

The metric tables are cached with ``st.cache_resource`` keyed by project path + fingerprint (which names the run)
+ the metric catalogue's modification time; the project itself is passed un-hashed. The outcome tables and the
joined metric frames live in the core's bounded caches (``explorer.analysis.outcomes``), shared by every session.
Returned frames may be shared between reruns: do not mutate.
"""
from __future__ import annotations

from collections import OrderedDict

import pandas as pd
import streamlit as st

from explorer.datametrics import catalog as vocabulary
from explorer.project.folder import Project


def metrics_stamp(project: Project) -> float:
    """Modification time of the metric catalogue (0 when metrics were never computed): part of every cache key."""
    path = project.metrics_dir / "catalog.json"
    return path.stat().st_mtime if path.is_file() else 0.0


@st.cache_resource(show_spinner="Loading data metrics…", max_entries=8)
def _metric_tables(path: str, fingerprint: str, stamp: float, _project: Project):
    from explorer.datametrics.tables import load_metrics

    return load_metrics(_project)


def metric_tables(project: Project):
    """``explorer.datametrics.tables.load_metrics(project)``, cached (``UserError`` when metrics were not computed)."""
    return _metric_tables(str(project.root), project.fingerprint, metrics_stamp(project), project)


def metric_catalog(project: Project) -> pd.DataFrame | None:
    """The metric catalogue (``explorer.datametrics.catalog.CATALOG_COLUMNS``), None when metrics were never computed."""
    return metric_tables(project).catalog if metrics_stamp(project) else None


def metrics_for_target(project: Project, target: str) -> pd.DataFrame | None:
    """``metrics_for(project, target)`` (own-level + frame metrics, index = row id), None if not computed: the
    frame the core's outcome tables join (``explorer.analysis.outcomes.metric_frame``, kept once per view)."""
    from explorer.analysis.outcomes import metric_frame

    return metric_frame(project, target)


# the catalogue's names and levels per (project view, metrics run, target): every rerun of a page asks for them,
# and reading them from the catalogue frame (one record per metric and level) cost ~10 ms per rerun and session
_VOCABULARY: OrderedDict = OrderedDict()


def _vocabulary(project: Project, target: str, what: str, make):
    from explorer.analysis.outcomes import _remember  # the core's bounded single-flight cache

    key = (str(project.root), project.fingerprint, metrics_stamp(project), target, what)
    return _remember(_VOCABULARY, key, make, size=64)


def metric_names(project: Project, target: str, *, numeric: bool = False) -> dict[str, str]:
    """``{column: display name}`` of ``target``'s metric columns (own level, then F), e.g. for labels
    ``{"relative_area": "Object area – relative (O)", "brightness": "Brightness (F)"}``; {} before metrics exist.
    ``numeric``: only columns with a numeric dtype. A new dict each call (the kept one is shared)."""

    def make() -> dict[str, str]:
        table = metrics_for_target(project, target)
        if table is None:
            return {}
        return vocabulary.names_for(metric_catalog(project), target, list(table.columns),
                                    numeric_of=table if numeric else None)

    return dict(_vocabulary(project, target, "numeric names" if numeric else "names", make))


def metric_levels(project: Project, target: str) -> dict[str, str]:
    """``{column: level}`` (``"F"``, ``"O"`` or ``"P"``) of every catalogue metric that is a column of ``target``'s
    joined table (``explorer.datametrics.catalog.entries_for``); {} before metrics exist. A new dict each call."""

    def make() -> dict[str, str]:
        catalog = metric_catalog(project)
        return {e.name: e.level for e in vocabulary.entries_for(catalog, target)} if catalog is not None else {}

    return dict(_vocabulary(project, target, "levels", make))


def outcome_table(sel, target: str) -> pd.DataFrame:
    """The task's outcome table of the sidebar selection for ``target`` (``explorer.analysis.outcomes``). The
    core keeps the built-in tasks' tables in its bounded cache (by bytes, shared by every session), so there is
    no second copy here."""
    from explorer import tasks

    return tasks.get(sel.project.task).outcome_table(sel.project, sel.core, target)
