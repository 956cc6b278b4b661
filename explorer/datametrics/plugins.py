"""Metric plugins a project remembers: ``explorer metrics PROJECT --metrics-plugin FILE`` stores the file in the
project's manifest (``metrics_plugins``: absolute paths, in the order first given), so a later
``explorer metrics PROJECT`` (or any ``compute_metrics(project)``) computes the plugin's metrics again without
the flag. A remembered file that no longer exists is dropped from the manifest and said so, naming the metrics
it gave (from the last ``catalog.json``), instead of its columns silently vanishing.
"""
from __future__ import annotations

import json
from pathlib import Path

from explorer.errors import ProblemReport

MANIFEST_KEY = "metrics_plugins"


def remembered(project) -> list[str]:
    """The plugin files the project's manifest lists (absolute paths)."""
    return [str(p) for p in project.manifest.get(MANIFEST_KEY) or []]


def _last_metrics_of(project, source: str) -> list[str]:
    """Names of the metrics ``source`` gave at the last computation (its catalog), for the dropped message."""
    try:
        catalog = json.loads((project.metrics_dir / "catalog.json").read_text())
    except (OSError, ValueError):
        return []
    return sorted({row["name"] for row in catalog.get("metrics", []) if row.get("source") == source})


def plugin_files(project, given, problems: ProblemReport) -> list[str]:
    """Plugin files to load: the remembered ones still present, then ``given`` (resolved; duplicates once).

    A remembered file that is gone is a ``plugin_dropped`` problem naming it and its metrics.
    """
    out: list[str] = []
    for source in remembered(project):
        if Path(source).is_file():
            out.append(source)
            continue
        names = _last_metrics_of(project, source)
        what = f"its metrics {', '.join(names)} are" if names else "its metrics are"
        problems.add(source, "plugin", f"the metrics plugin this project remembers is gone: {what} dropped from the "
                     "project (pass --metrics-plugin FILE again to bring them back)", "plugin_dropped")
    for path in given:
        source = str(Path(path).expanduser().resolve())
        if source not in out:
            out.append(source)
    return out


def remember(project, sources) -> None:
    """Store the loaded plugin ``sources`` in the manifest (written only when the list changes; the tables and
    so the project's fingerprint are untouched)."""
    sources = [str(s) for s in sources]
    if remembered(project) == sources and (sources or MANIFEST_KEY not in project.manifest):
        return
    if sources:
        project.manifest[MANIFEST_KEY] = sources
    else:
        project.manifest.pop(MANIFEST_KEY, None)
    project.save(tables=())
