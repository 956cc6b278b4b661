"""AppTest smoke test: the real ``explorer/app.py`` on every bundled sample project, every page of its task.

Pages are registered by ``st.navigation`` with a custom ``url_path``; in Streamlit 1.67 ``AppTest.switch_page``
matches the page *file* relative to the main script (``../pages/x.py`` in a checkout, ``pages/x.py`` when
installed), after a first ``run()`` has registered the pages.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import explorer
from explorer.resources import pages_dir
from explorer.ui.state import PROJECTS_ENV

APP = Path(explorer.__file__).resolve().parent / "app.py"
TIMEOUT = 120  # seconds per run: the first run of a page loads tables and matches on a shared machine


def page_path(file: str) -> str:
    """A page file as ``AppTest.switch_page`` wants it: relative to the main script's folder."""
    return os.path.relpath(pages_dir() / file, APP.parent)


def navigation() -> dict[str, list[str]]:
    """task -> page files, read from the task registry (what the app's navigation is built from)."""
    from explorer import tasks

    return {task.name: [page.file for page in task.pages] for task in tasks.all_tasks()}


def open_app(project: Path) -> AppTest:
    os.environ[PROJECTS_ENV] = str(project)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    return at


def errors_of(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def test_every_page_of_every_sample_renders(sample_projects):
    table = navigation()
    checked = []
    for name, project in sample_projects.items():
        from explorer.project.folder import Project

        task = Project.load(project).task
        at = open_app(project)
        assert not errors_of(at), f"{name}: first page: {errors_of(at)}"
        for file in table[task]:
            at.switch_page(page_path(file)).run()
            assert not errors_of(at), f"sample {name!r} ({task}), page {file}: {errors_of(at)}"
            assert len(at.main.children) > 0, f"sample {name!r}, page {file} rendered nothing"
            checked.append((name, file))
    assert {n for n, _ in checked} == set(sample_projects)


@pytest.mark.parametrize("iou", [0.5, 0.75])
def test_detection_pages_render_at_both_iou_thresholds(detection_project, iou):
    at = open_app(detection_project)
    at.slider(key="iou_threshold").set_value(iou).run()
    for file in navigation()["detection"]:
        at.switch_page(page_path(file)).run()
        assert not errors_of(at), f"IoU {iou}, page {file}: {errors_of(at)}"


def test_run_selector_switches_the_project_view(detection_project):
    """The sidebar's run selectbox (default: the first run) changes the predictions every page reads."""
    from explorer.project.folder import Project

    project = Project.load(detection_project)
    counts = {run: len(project.for_run(run).predictions) for run in project.runs}
    assert list(counts) == ["baseline", "weaker"] and counts["baseline"] != counts["weaker"]
    at = open_app(detection_project)
    run = at.selectbox(key="run")
    assert run.options == ["baseline", "weaker"] and run.value == "baseline"
    assert f"{counts['baseline']:,} predictions" in at.sidebar.caption[0].value
    run.set_value("weaker").run()
    assert not errors_of(at)
    assert f"{counts['weaker']:,} predictions" in at.sidebar.caption[0].value
    for file in navigation()["detection"]:
        at.switch_page(page_path(file)).run()
        assert not errors_of(at), f"run 'weaker', page {file}: {errors_of(at)}"
        assert at.selectbox(key="run").value == "weaker"  # the run persists across pages


def test_a_project_without_runs_has_no_run_selector(sample_projects):
    at = open_app(sample_projects["training"])
    assert not errors_of(at)
    assert "run" not in [s.key for s in at.selectbox]
    assert at.sidebar.caption[0].value.startswith("training log · ")


def test_opening_one_project_loads_no_other(tmp_path, monkeypatch):
    """The project selector names every served project from its manifest: opening the first never reads the
    second's tables, so a damaged second project neither slows nor stops it (it is named only when chosen)."""
    from explorer.ui.state import _load
    from tests.metrics.helpers import make_project, standard_labels, standard_predictions

    first = make_project(tmp_path / "first", ["a.png", "b.png"], images_root=None, labels=standard_labels(),
                         predictions=standard_predictions())
    second = make_project(tmp_path / "second", ["c.png"], images_root=None, labels=standard_labels())
    labels = second.root / "labels.parquet"
    labels.write_bytes(labels.read_bytes()[:50])  # unreadable: loading it would be an error on the page
    _load.clear()
    monkeypatch.setenv(PROJECTS_ENV, os.pathsep.join([str(first.root), str(second.root)]))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not errors_of(at), errors_of(at)
    box = at.sidebar.selectbox(key="project")
    assert box.options == ["first", "second"] and box.value == str(first.root.resolve())
    assert "2 images" in " ".join(c.value for c in at.sidebar.caption)  # the first project's caption
    box.set_value(str(second.root.resolve())).run()  # chosen: now it is loaded, and its damage named
    assert any("labels.parquet" in e and "explorer import" in e for e in errors_of(at)), errors_of(at)
