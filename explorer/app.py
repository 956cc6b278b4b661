"""Streamlit entry script: global controls in the sidebar, then routing to the task's pages.

Launched by ``explorer run``; projects come from ``-- --project P`` arguments or ``$EXPLORER_PROJECTS``.
Navigation and sidebar controls come from the project's task in the registry (``explorer.tasks.get(task)``:
``Task.pages``, ``Task.controls``); tasks defined outside the package are loaded from the Python files listed in
``$EXPLORER_TASK_PLUGINS`` (``explorer.tasks``). The widgets here have fixed keys (``project``, ``run``,
``split``, ``classes``, ``iou_threshold``, ``confidence_threshold``), so every page sees the same selection;
they are kept per project and mirrored in the URL by ``explorer.ui.persist.keep`` (like every page control).
"""
from __future__ import annotations

import streamlit as st

from explorer import tasks
from explorer.errors import UserError
from explorer.project.folder import project_name
from explorer.resources import pages_dir
from explorer.ui.persist import follow_project, keep
from explorer.drawing.attribution import DEFAULT_OPACITY, OPACITY_KEY
from explorer.ui.state import load_project, served_projects
from explorer.ui.text import plain

st.set_page_config(page_title="CV Explorer", page_icon="🔎", layout="wide")

PAGES = pages_dir()


def _run_control(project):
    """The run selectbox (when the project has predictions); returns the project's view of the chosen run."""
    runs = project.runs
    if not runs:
        return project
    if st.session_state.get("run") not in runs:  # a new project, or its run was removed: the first run
        st.session_state["run"] = runs[0]
    st.sidebar.selectbox("Run", runs, help="The model (set of predictions) every page shows.", **keep("run"))
    return project.for_run(st.session_state["run"])


def _iou_control(project) -> None:
    if project.has_predictions:
        st.sidebar.slider("IoU threshold", 0.05, 0.95, step=0.05, value=0.50, **keep("iou_threshold"),
                          help="A prediction is a true positive when it matches an unmatched label of its class "
                               "with IoU ≥ this.")


def _confidence_control(project) -> None:
    if project.has_predictions:
        st.sidebar.slider("Confidence threshold", 0.0, 1.0, step=0.01, value=0.0, **keep("confidence_threshold"),
                          help="Predictions scoring below this are left out.")


# a task's threshold controls (``tasks.CONTROLS`` after "run") -> the widget drawing it; drawn in that order
THRESHOLD_WIDGETS = {"iou_threshold": _iou_control, "confidence_threshold": _confidence_control}


def _set_classes(value: list[str]) -> None:
    st.session_state["classes"] = value


def class_control(names: list[str]) -> None:
    """The class filter, compact for many classes: an expander titled "Classes · N of M" holding an "All
    classes" reset and a searchable multiselect (type to filter, its "Select all" picks every match; empty = every
    class, so picking a few classes starts from an empty list)."""
    chosen = [n for n in st.session_state.get("classes") or [] if n in names]
    n = len(chosen)
    title = "Classes · all" if n in (0, len(names)) else f"Classes · {n:,} of {len(names):,}"
    with st.sidebar.expander(title, expanded=False):
        st.button("All classes", key="classes:all", on_click=_set_classes, args=([],), disabled=n == 0,
                  help="Empty the list: every class is shown. Then pick classes to keep only those.")
        st.multiselect("Classes", names, placeholder=f"All {len(names):,} classes — type to search",
                       label_visibility="collapsed", filter_mode="contains",
                       help="The class filter applies to every page, headline numbers included. Empty = all classes.",
                       **keep("classes"))


def sidebar() -> tasks.Task:
    """Draw the global controls; return the current project's task."""
    projects = served_projects()
    if not projects:
        st.error("No project to show. Start the app with `explorer run` (bundled samples) or `explorer run PROJECT`.")
        st.stop()
    by_path = {str(p): p for p in projects}
    if st.session_state.get("project") not in by_path:
        st.session_state["project"] = str(projects[0])
    sb = st.sidebar
    # named from their manifests: opening one project never loads the others' tables (nor stops on a damaged one)
    sb.selectbox("Project", list(by_path), format_func=project_name, **keep("project"))
    project = load_project(st.session_state["project"])
    task = tasks.get(project.task)
    follow_project(st.session_state["project"])  # each project keeps its own control values

    names = list(project.category_names.values())
    # an empty class list means every class (the URL stays short); a list naming classes this project lacks
    # (an old link) is dropped
    if not set(st.session_state.get("classes") or []) <= set(names):
        st.session_state["classes"] = []
    splits = project.splits  # read from the images table on each call
    if st.session_state.get("split", "all") not in ("all", *splits):
        st.session_state["split"] = "all"

    if "run" in task.controls:
        project = _run_control(project)  # first: the run is what the other controls and the caption apply to
    if splits:
        sb.selectbox("Split", ["all", *splits], format_func=lambda s: "all splits" if s == "all" else s,
                     **keep("split"))
    if task.has_classes and names:
        class_control(names)
    for control, draw in THRESHOLD_WIDGETS.items():
        if control in task.controls:
            draw(project)
    if project.manifest.get("attributions"):  # the heat-map overlay of every gallery and the viewer
        sb.slider("Attribution overlay opacity", 0.0, 1.0, step=0.05, value=DEFAULT_OPACITY, **keep(OPACITY_KEY),
                  help="Opacity of the attribution maps (Grad-CAM, saliency) drawn over the images; 0 hides them.")
    if task.sidebar_caption is not None:
        sb.caption(plain(task.sidebar_caption(project)))  # a task's text (a plugin's) about user data
    else:
        sb.caption(f"{plain(project.task)} · {len(project.images):,} images · {len(project.labels):,} labels · "
                   f"{len(project.predictions):,} predictions")
    return task


def navigation(task: tasks.Task) -> dict[str, list]:
    """``st.navigation`` sections of the task's pages (``Page.file``: in ``pages/``, or an absolute path)."""
    sections: dict[str, list] = {}
    for page in task.pages:
        # an absolute file replaces PAGES when joined (pathlib), so plugin pages work as they are
        sections.setdefault(plain(page.section), []).append(
            st.Page(PAGES / page.file, title=plain(page.title), icon=page.icon, url_path=page.url_path))
    return sections


try:
    st.navigation(navigation(sidebar())).run()
except UserError as e:  # a damaged table or cache a page reads (named, with its repair): an error, never a traceback
    st.error(plain(str(e)))
