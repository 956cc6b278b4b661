"""Streamlit entry script: global controls in the sidebar, then routing to the task's pages.

Launched by ``explorer run``; projects come from ``-- --project P`` arguments or ``$EXPLORER_PROJECTS``.
The widgets here have fixed keys (``project``, ``split``, ``classes``, ``iou_threshold``,
``confidence_threshold``), so every page sees the same selection and it persists across pages.
"""
from __future__ import annotations

import streamlit as st

from explorer.resources import pages_dir
from explorer.ui.state import load_project, served_projects

st.set_page_config(page_title="CV Explorer", page_icon="🔎", layout="wide")

PAGES = pages_dir()

# task -> [(section, file, title, icon)]
NAVIGATION = {
    "detection": [
        ("Data", "data_quality.py", "Data Quality", ":material/science:"),
        ("Model Quality", "model_metrics.py", "Metrics", ":material/target:"),
        ("Model Quality", "performance_by_metric.py", "Performance by Metric", ":material/bar_chart:"),
        ("Model Quality", "failures.py", "Failure Explorer", ":material/manage_search:"),
        ("Model Quality", "confusion_matrix.py", "Confusion Matrix", ":material/grid_on:"),
        ("Project", "export.py", "Export", ":material/download:"),
    ],
    "classification": [
        ("Data", "data_quality.py", "Data Quality", ":material/science:"),
        ("Model Quality", "classification.py", "Classification", ":material/label:"),
        ("Model Quality", "model_metrics.py", "Metric Importance", ":material/target:"),
        ("Model Quality", "performance_by_metric.py", "Performance by Metric", ":material/bar_chart:"),
        ("Project", "export.py", "Export", ":material/download:"),
    ],
    "segmentation": [
        ("Data", "data_quality.py", "Data Quality", ":material/science:"),
        ("Model Quality", "segmentation.py", "Segmentation", ":material/layers:"),
        ("Model Quality", "model_metrics.py", "Metric Importance", ":material/target:"),
        ("Model Quality", "performance_by_metric.py", "Performance by Metric", ":material/bar_chart:"),
        ("Project", "export.py", "Export", ":material/download:"),
    ],
    "regression": [
        ("Data", "data_quality.py", "Data Quality", ":material/science:"),
        ("Model Quality", "regression.py", "Regression", ":material/scatter_plot:"),
        ("Model Quality", "performance_by_metric.py", "Performance by Metric", ":material/bar_chart:"),
        ("Project", "export.py", "Export", ":material/download:"),
    ],
    "training": [
        ("Model Quality", "training_curves.py", "Training Curves", ":material/show_chart:"),
        ("Project", "export.py", "Export", ":material/download:"),
    ],
}


def sidebar() -> str:
    """Draw the global controls; return the current project's task."""
    projects = served_projects()
    if not projects:
        st.error("No project to show. Start the app with `explorer run` (bundled samples) or `explorer run PROJECT`.")
        st.stop()
    by_path = {str(p): p for p in projects}
    if st.session_state.get("project") not in by_path:
        st.session_state["project"] = str(projects[0])
    sb = st.sidebar
    sb.selectbox("Project", list(by_path), key="project", format_func=lambda p: load_project(p).name)
    project = load_project(st.session_state["project"])

    # a new project invalidates the previous project's class and split choices
    names = list(project.category_names.values())
    if st.session_state.get("_project_for_controls") != st.session_state["project"]:
        st.session_state["_project_for_controls"] = st.session_state["project"]
        st.session_state["classes"] = names
        st.session_state["split"] = "all"
    # a run interrupted before the widgets were drawn can lose their state: default again, never to "none"
    if "classes" not in st.session_state or not set(st.session_state["classes"]) <= set(names):
        st.session_state["classes"] = names
    st.session_state.setdefault("split", "all")

    if project.splits:
        sb.selectbox("Split", ["all", *project.splits], key="split", format_func=lambda s: "all splits" if s == "all" else s)
    if names:
        sb.multiselect("Classes", names, key="classes", placeholder="All classes",  # empty means all
                       help="The class filter applies to every page, headline numbers included. Empty = all classes.")
    if project.task == "detection" and project.has_predictions:
        sb.slider("IoU threshold", 0.05, 0.95, step=0.05, value=0.50, key="iou_threshold",
                  help="A prediction is a true positive when it matches an unmatched label of its class with IoU ≥ this.")
    if project.task in ("detection", "classification") and project.has_predictions:
        sb.slider("Confidence threshold", 0.0, 1.0, step=0.01, value=0.0, key="confidence_threshold",
                  help="Predictions scoring below this are left out.")
    if project.task == "training":
        log = project.extra.get("training_log")
        sb.caption(f"training log · {0 if log is None else len(log):,} rows")
    else:
        sb.caption(f"{project.task} · {len(project.images):,} images · {len(project.labels):,} labels · "
                   f"{len(project.predictions):,} predictions")
    return project.task


task = sidebar()
sections: dict[str, list] = {}
for section, file, title, icon in NAVIGATION[task]:
    sections.setdefault(section, []).append(st.Page(PAGES / file, title=title, icon=icon, url_path=file[:-3]))
st.navigation(sections).run()
