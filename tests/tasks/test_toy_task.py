"""Adding a task = one module plus its pages: the toy plugin (``toy_plugin.py``) is imported, evaluated, exported
and navigable in the real app, and nothing outside the plugin names it.

The plugin and its two page scripts are placed in ``tmp_path`` and found through ``$EXPLORER_TASK_PLUGINS``, the
documented way to add a task to the app, the CLI and library calls.
"""
from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import explorer
from explorer import tasks
from explorer.cli import main
from explorer.errors import UserError
from explorer.export.all_metrics import export_all_metrics
from explorer.project.folder import Project
from explorer.project.selection import Selection
from explorer.ui.state import PROJECTS_ENV

APP = Path(explorer.__file__).resolve().parent / "app.py"
PAGE_VALUES = """
    import streamlit as st

    from explorer import tasks
    from explorer.ui.state import selection

    sel = selection()
    task = tasks.get(sel.project.task)
    st.title("Toy Values")
    table = task.outcome_table(sel.project, sel.core, "images")
    st.markdown(f"{task.outcome('images').title}: {int(table['close'].sum())} of {len(table)} images")
    st.dataframe(table)
"""
PAGE_SUMMARY = """
    import streamlit as st

    from explorer import tasks
    from explorer.ui.state import selection

    sel = selection()
    st.title("Toy Summary")
    st.metric("MAE", f"{tasks.get(sel.project.task).evaluate(sel.project, sel.core)['mae']:.3f}")
"""


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy plugin and its pages in ``tmp_path/plugin``, listed in ``$EXPLORER_TASK_PLUGINS``; input CSVs."""
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    shutil.copy(Path(__file__).with_name("toy_plugin.py"), plugin / "toy_plugin.py")
    (plugin / "toy_values.py").write_text(textwrap.dedent(PAGE_VALUES))
    (plugin / "toy_summary.py").write_text(textwrap.dedent(PAGE_SUMMARY))
    monkeypatch.setenv(tasks.PLUGINS_ENV, str(plugin / "toy_plugin.py"))
    (tmp_path / "labels.csv").write_text("image,value\na.png,1.0\nb.png,2.0\nc.png,4.0\n")
    (tmp_path / "predictions.csv").write_text("image,value\na.png,1.5\nb.png,4.0\n")  # c.png is not predicted
    yield tmp_path
    tasks.unregister("toy")


def test_toy_task_imported_evaluated_exported(toy):
    assert "toy" in tasks.names()
    task = tasks.get("toy")
    project, report = explorer.import_project(toy / "proj", task="toy", labels=toy / "labels.csv",
                                              predictions=toy / "predictions.csv", name="toy values")
    assert project.task == "toy" and report.kept["images"] == 3
    assert Project.load(toy / "proj").images["file_name"].tolist() == ["a.png", "b.png", "c.png"]

    # |1.5 - 1| = 0.5 (close at tolerance 1), |4 - 2| = 2 (not close); c.png has no prediction
    assert task.evaluate(project, Selection()) == {"n_predicted": 2, "mae": 1.25, "share_close": 0.5}
    assert task.evaluate(project, Selection(options={"tolerance": 2.0}))["share_close"] == 1.0
    table = task.outcome_table(project, Selection(), "images")
    assert table.index.tolist() == [1, 2] and table["close"].tolist() == [True, False]

    doc = export_all_metrics(project)
    assert doc["project"]["task"] == "toy" and list(doc["splits"]) == ["all"]
    entry = doc["splits"]["all"]
    assert entry["dataset"]["n_images"] == 3
    assert entry["evaluation"] == {
        "n_predicted": 2, "mae": 1.25, "share_close": 0.5,
        "per_image": [{"image_id": 1, "value": 1.0, "prediction": 1.5, "abs_error": 0.5, "close": True},
                      {"image_id": 2, "value": 2.0, "prediction": 4.0, "abs_error": 2.0, "close": False}]}
    assert entry["data_metrics"]["available"] is False


def test_toy_task_options_and_cli(toy, capsys):
    with pytest.raises(UserError, match=r"unknown option\(s\) for toy import: colour \(known: none\)"):
        explorer.import_project(toy / "p", task="toy", labels=toy / "labels.csv", colour="red")
    with pytest.raises(UserError, match="--format applies to detection labels only, not to task 'toy'"):
        explorer.import_project(toy / "p", task="toy", labels=toy / "labels.csv", format="coco")
    # the CLI offers the plugin task (its --task choices are the registry's names)
    assert main(["import", "--task", "toy", "--labels", str(toy / "labels.csv"), "--out", str(toy / "cli")]) == 0
    assert "imported toy project 'cli'" in capsys.readouterr().out
    assert Project.load(toy / "cli").task == "toy"


def test_toy_task_is_navigable_in_the_app(toy, monkeypatch):
    explorer.import_project(toy / "proj", task="toy", labels=toy / "labels.csv", predictions=toy / "predictions.csv")
    monkeypatch.setenv(PROJECTS_ENV, str(toy / "proj"))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()  # the first page of the task's navigation
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Toy Values"]
    assert [m.value for m in at.markdown] == ["close: 1 of 2 images"]
    assert "toy" in at.sidebar.caption[0].value  # the sidebar summary line names the task
    at.switch_page(os.path.relpath(toy / "plugin" / "toy_summary.py", APP.parent)).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Toy Summary"]
    assert at.metric[0].label == "MAE" and at.metric[0].value == "1.250"


def test_nothing_in_the_package_names_the_toy_task():
    repo = Path(__file__).resolve().parents[2]
    named = [str(p.relative_to(repo)) for folder in ("explorer", "pages") for p in (repo / folder).rglob("*.py")
             if '"toy"' in p.read_text() or "'toy'" in p.read_text()]  # the name as a string (docs may cite the file)
    assert named == []
