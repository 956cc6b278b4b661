"""App state: which projects the app serves, the loaded project, and the sidebar's global selection.

UI code (imports Streamlit). Pages call ``selection()`` to read the global controls; heavy objects are cached
with ``st.cache_resource`` keyed by the project's path and fingerprint plus small parameters, never by a
DataFrame argument (Streamlit hashes only a sample of a large frame).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from explorer.project import selection as core_selection
from explorer.project.folder import MANIFEST, Project

PROJECTS_ENV = "EXPLORER_PROJECTS"  # os.pathsep-separated project folders (used by tests and AppTest)
# task option (``Selection.options``) -> the session-state key of the widget that sets it (on the task's page)
OPTION_KEYS = {"target_iou": "seg_good_iou", "tolerance": "reg_tolerance"}


def served_projects() -> list[Path]:
    """Project folders given on the command line (``-- --project P``) or in ``$EXPLORER_PROJECTS``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--project", action="append", default=[])
    known, _ = parser.parse_known_args(sys.argv[1:])
    paths = list(known.project)
    env = os.environ.get(PROJECTS_ENV, "")
    paths += [p for p in env.split(os.pathsep) if p]
    out, seen = [], set()
    for p in paths:
        path = Path(p).resolve()
        if path not in seen and (path / MANIFEST).is_file():
            seen.add(path)
            out.append(path)
    return out


@st.cache_resource(show_spinner="Loading project…", max_entries=8)
def _load(path: str, stamp: float) -> Project:
    return Project.load(path)


def load_project(path: Path | str) -> Project:
    """The project at ``path``, cached until its manifest is rewritten. A project that cannot be loaded (damaged
    ``project.json`` or table: ``UserError`` naming the file and the repair) is shown as an error and the page
    stops: never a traceback."""
    from explorer.errors import UserError
    from explorer.ui.text import plain

    path = Path(path)
    try:
        return _load(str(path), (path / MANIFEST).stat().st_mtime)
    except (UserError, OSError) as e:
        st.error(f"Cannot open project {plain(path)}: {plain(e)}")
        st.stop()


@dataclass(frozen=True)
class Selection:
    """The sidebar's global controls, as pages read them.

    ``project`` is the loaded project's view of the selected ``run`` (``Project.for_run``), so every page that
    reads ``project.predictions`` follows the run selector. ``core`` is the same selection for core functions.
    """

    project: Project
    split: str | None  # None = all splits
    classes: tuple[int, ...]  # selected category ids (all by default)
    iou_threshold: float
    confidence_threshold: float
    run: str | None = None  # None: the project has no predictions (no run)
    options: tuple[tuple[str, object], ...] = ()  # task options set on the task's page, e.g. (("tolerance", 0.4),)

    @property
    def image_ids(self):
        """Ids of the images in the selected split (all images when no split is chosen)."""
        images = self.project.images
        if self.split is None:
            return images["image_id"].to_numpy()
        return images.loc[images["split"] == self.split, "image_id"].to_numpy()

    @property
    def all_classes(self) -> bool:
        return len(self.classes) == len(self.project.categories)

    @property
    def core(self) -> core_selection.Selection:
        """The core ``explorer.project.selection.Selection`` (``classes=None`` when every class is selected)."""
        return core_selection.Selection(split=self.split, classes=None if self.all_classes else self.classes,
                                        iou_threshold=self.iou_threshold,
                                        confidence_threshold=self.confidence_threshold, run=self.run,
                                        options=self.options)


def selection() -> Selection:
    """Read the global controls set by the sidebar of ``explorer/app.py`` (and the task options of its pages)."""
    from explorer import tasks

    s = st.session_state
    project = load_project(s["project"])
    run = s.get("run")
    project = project.for_run(run if run in project.runs else None)  # None: the first run (or no predictions)
    names = project.category_names
    chosen = [c for c, n in names.items() if n in (s.get("classes") or [])] or list(names)
    split = s.get("split")
    option_names = tasks.get(project.task).option_defaults
    options = tuple((name, s[OPTION_KEYS[name]]) for name in option_names
                    if OPTION_KEYS.get(name) in s and s[OPTION_KEYS[name]] is not None)
    return Selection(
        project=project,
        split=None if split in (None, "all") else split,
        classes=tuple(chosen),
        iou_threshold=float(s.get("iou_threshold", 0.5)),
        confidence_threshold=float(s.get("confidence_threshold", 0.0)),
        run=project.run,
        options=options,
    )
