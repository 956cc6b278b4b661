"""What the all-metrics JSON (``all_metrics``) and the metric tables (``tables``) both need.

The selection helpers (a split's image ids, class ids from names) and the computed data-metric tables live here,
so ``all_metrics`` and ``tables`` import from this module and not from each other (no import cycle).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from explorer.errors import UserError
from explorer.tasks.base import TARGETS

__all__ = ["TARGETS", "as_project", "split_image_ids", "class_ids", "load_metric_tables"]


def as_project(project):
    """A ``Project`` as is, or the project loaded from a folder path."""
    from explorer.project.folder import Project

    return project if isinstance(project, Project) else Project.load(project)


def split_image_ids(project, split: str | None) -> np.ndarray | None:
    """Image ids of ``split`` (None or ``"all"`` = all images: returns None); ``UserError`` for an unknown split."""
    if split in (None, "all"):
        return None
    if split not in project.splits:
        raise UserError(f"project {project.name!r} has no split {split!r}; splits: {', '.join(project.splits) or 'none'}")
    return project.images.loc[project.images["split"] == split, "image_id"].to_numpy(np.int64)


def class_ids(project, classes) -> list[int] | None:
    """Sorted unique category ids from names or ids (None = all classes); ``UserError`` naming an unknown class."""
    if classes is None:
        return None
    names = project.category_names
    by_name = {n: c for c, n in names.items()}
    out = []
    for c in classes:
        if isinstance(c, str) and c in by_name:
            out.append(by_name[c])
        elif str(c).lstrip("-").isdigit() and int(c) in names:
            out.append(int(c))
        else:
            raise UserError(f"unknown class {c!r}; classes: {', '.join(names.values())}")
    return sorted(set(out))


def load_metric_tables(project) -> dict[str, pd.DataFrame] | None:
    """``metrics_for(project, target)`` of each target in ``TARGETS``, or None when the project's data metrics
    were not computed (no ``metrics/catalog.json``)."""
    if not (project.metrics_dir / "catalog.json").is_file():
        return None
    from explorer.datametrics.engine import metrics_for

    return {target: metrics_for(project, target) for target in TARGETS}
